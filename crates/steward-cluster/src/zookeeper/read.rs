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

/// Status and worker announcements read in one request: a few hundred bytes each, so this many
/// stay far below the 1 MB a ZooKeeper packet may carry.
const MULTI_READ_CHUNK: usize = 64;

/// The data and stat of each of `paths` (`None`: it does not exist), in their order, read with
/// one multi-read request per chunk instead of one request per znode: a busy Overlord reads a
/// batch of status changes for the cost of one request. Only for small znodes.
pub(crate) async fn read_small(
    client: &zk::Client,
    paths: &[&str],
) -> Result<Vec<Option<(Vec<u8>, zk::Stat)>>, zk::Error> {
    let mut datas = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(MULTI_READ_CHUNK) {
        let mut reader = client.new_multi_reader();
        for path in chunk {
            reader.add_get_data(path)?;
        }
        for result in reader.commit().await? {
            datas.push(match result {
                zk::MultiReadResult::Data { data, stat } => Some((data, stat)),
                zk::MultiReadResult::Error {
                    err: zk::Error::NoNode,
                } => None,
                zk::MultiReadResult::Error { err } => return Err(err),
                other => {
                    return Err(zk::Error::UnexpectedError(format!(
                        "multi-read of data answered {other:?}"
                    )))
                }
            });
        }
    }
    Ok(datas)
}
