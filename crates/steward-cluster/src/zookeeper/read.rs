//! Reading a directory of znodes.

use zookeeper_client as zk;

use super::config::join;

/// Children of `path` (none if it does not exist).
pub(crate) async fn list(client: &zk::Client, path: &str) -> Result<Vec<String>, zk::Error> {
    match client.list_children(path).await {
        Ok(children) => Ok(children),
        Err(zk::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Name, data and stat of every child of `path`, read in one pipelined batch; children deleted
/// meanwhile are left out.
pub(crate) async fn read_children(
    client: &zk::Client,
    path: &str,
) -> Result<Vec<(String, Vec<u8>, zk::Stat)>, zk::Error> {
    let names = list(client, path).await?;
    // The client sends each request when its future is created: all reads are on the wire
    // before the first answer is awaited.
    let reads: Vec<_> = names
        .iter()
        .map(|name| client.get_data(&join(path, name)))
        .collect();
    let mut children = Vec::with_capacity(names.len());
    for (name, read) in names
        .into_iter()
        .zip(futures::future::join_all(reads).await)
    {
        match read {
            Ok((data, stat)) => children.push((name, data, stat)),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(children)
}
