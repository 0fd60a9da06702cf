//! Druid's ZooKeeper settings (`druid.zk.service.*`, `druid.zk.paths.*`,
//! `druid.indexer.runner.maxZnodeBytes`) and the paths they resolve to.

use std::time::Duration;

use steward_http::InternalClient;
use steward_metrics::Metrics;

/// How to reach ZooKeeper and where the indexing service's znodes live.
#[derive(Debug, Clone)]
pub struct ZkConfig {
    /// `druid.zk.service.host`: `host:port`, comma-separated for an ensemble.
    pub connect: String,
    /// `druid.zk.service.sessionTimeoutMs`: how long ZooKeeper keeps the session, and with it
    /// the worker's ephemeral announcement, once it stops hearing from this process.
    pub session_timeout: Duration,
    /// `druid.zk.service.connectionTimeoutMs`: how long connecting, and each operation, waits
    /// for a usable connection before failing with `Unavailable`.
    pub connection_timeout: Duration,
    /// `druid.zk.paths.base`.
    pub base: String,
    /// `druid.zk.paths.indexer.base`; `<base>/indexer` when unset.
    pub indexer_base: Option<String>,
    /// `druid.zk.paths.indexer.announcementsPath`; `<indexer>/announcements` when unset.
    pub announcements_path: Option<String>,
    /// `druid.zk.paths.indexer.tasksPath`; `<indexer>/tasks` when unset.
    pub tasks_path: Option<String>,
    /// `druid.zk.paths.indexer.statusPath`; `<indexer>/status` when unset.
    pub status_path: Option<String>,
    /// `druid.indexer.runner.maxZnodeBytes`: a task whose JSON is larger is not written into
    /// its assignment znode but fetched by the worker from `payload_url`.
    pub max_znode_bytes: usize,
    /// The Overlord's own base URL (`http://host:port`), which workers fetch large task
    /// payloads from. Only the Overlord needs it.
    pub payload_url: Option<String>,
    /// How long a worker keeps trying to fetch a large task payload before giving up on the
    /// assignment (the Overlord's assignment timeout then fails the task).
    pub payload_fetch_timeout: Duration,
    /// How a worker calls the Overlord for a large payload (TLS trust, escalator credentials).
    pub internal_client: InternalClient,
    /// Where this process's ZooKeeper requests are timed (`zk/request/time`).
    pub metrics: Metrics,
}

impl Default for ZkConfig {
    fn default() -> Self {
        ZkConfig {
            connect: "localhost:2181".into(),
            session_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_secs(15),
            base: "/druid".into(),
            indexer_base: None,
            announcements_path: None,
            tasks_path: None,
            status_path: None,
            max_znode_bytes: 512 * 1024,
            payload_url: None,
            payload_fetch_timeout: Duration::from_secs(120),
            internal_client: InternalClient::default(),
            metrics: Metrics::default(),
        }
    }
}

impl ZkConfig {
    /// The configured base path with `druid.zk.paths.base` replaced; the indexer paths follow
    /// it unless they are overridden.
    pub fn with_base(base: impl Into<String>) -> Self {
        ZkConfig {
            base: base.into(),
            ..ZkConfig::default()
        }
    }

    /// Resolves the overrides and checks that every path is absolute.
    pub fn paths(&self) -> Result<ZkPaths, String> {
        let base = absolute("druid.zk.paths.base", &self.base)?;
        let indexer = match &self.indexer_base {
            Some(p) => absolute("druid.zk.paths.indexer.base", p)?,
            None => join(&base, "indexer"),
        };
        let resolve = |name: &str, over: &Option<String>, leaf: &str| match over {
            Some(p) => absolute(name, p),
            None => Ok(join(&indexer, leaf)),
        };
        Ok(ZkPaths {
            overlord_latch: join(&join(&base, "overlord"), "_OVERLORD"),
            announcements: resolve(
                "druid.zk.paths.indexer.announcementsPath",
                &self.announcements_path,
                "announcements",
            )?,
            tasks: resolve(
                "druid.zk.paths.indexer.tasksPath",
                &self.tasks_path,
                "tasks",
            )?,
            status: resolve(
                "druid.zk.paths.indexer.statusPath",
                &self.status_path,
                "status",
            )?,
        })
    }
}

/// The three trees of the indexing service, and the Overlords' leader latch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkPaths {
    /// `<base>/overlord/_OVERLORD`: Druid's Overlord leader latch (Curator `LeaderLatch`).
    pub overlord_latch: String,
    /// `<announcements>/<worker>`: each worker's ephemeral `Worker` JSON.
    pub announcements: String,
    /// `<tasks>/<worker>/<taskId>`: assignments.
    pub tasks: String,
    /// `<status>/<worker>/<taskId>`: status announcements.
    pub status: String,
}

/// Where a znode sits in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node<'a> {
    Worker(&'a str),
    Status { worker: &'a str, task: &'a str },
    Other,
}

impl ZkPaths {
    pub(crate) fn announcement(&self, worker: &str) -> String {
        join(&self.announcements, worker)
    }

    pub(crate) fn assignments_of(&self, worker: &str) -> String {
        join(&self.tasks, worker)
    }

    pub(crate) fn assignment(&self, worker: &str, task: &str) -> String {
        join(&self.assignments_of(worker), task)
    }

    pub(crate) fn statuses_of(&self, worker: &str) -> String {
        join(&self.status, worker)
    }

    pub(crate) fn status(&self, worker: &str, task: &str) -> String {
        join(&self.statuses_of(worker), task)
    }

    /// The deepest path above both announcements and statuses: one recursive watch there
    /// delivers the events of both trees in the order ZooKeeper applied them.
    pub(crate) fn overlord_root(&self) -> String {
        common_ancestor(&self.announcements, &self.status)
    }

    pub(crate) fn classify<'a>(&self, path: &'a str) -> Node<'a> {
        if let Some(worker) = child_of(&self.announcements, path) {
            if !worker.contains('/') {
                return Node::Worker(worker);
            }
        }
        if let Some(rest) = child_of(&self.status, path) {
            if let Some((worker, task)) = rest.split_once('/') {
                if !task.contains('/') {
                    return Node::Status { worker, task };
                }
            }
        }
        Node::Other
    }
}

/// The last component of `path` if `path` lies strictly below `parent`.
pub(crate) fn child_of<'a>(parent: &str, path: &'a str) -> Option<&'a str> {
    let rest = if parent == "/" {
        path.strip_prefix('/')?
    } else {
        path.strip_prefix(parent)?.strip_prefix('/')?
    };
    (!rest.is_empty()).then_some(rest)
}

fn absolute(name: &str, path: &str) -> Result<String, String> {
    let trimmed = path.trim_end_matches('/');
    if !path.starts_with('/') || trimmed.contains("//") {
        return Err(format!(
            "{name} must be an absolute ZooKeeper path, not [{path}]"
        ));
    }
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn common_ancestor(a: &str, b: &str) -> String {
    let common: Vec<&str> = a
        .split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    let path = common.join("/");
    if path.is_empty() {
        "/".into()
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_druid() {
        let paths = ZkConfig::default().paths().unwrap();
        assert_eq!(paths.overlord_latch, "/druid/overlord/_OVERLORD");
        assert_eq!(paths.announcements, "/druid/indexer/announcements");
        assert_eq!(paths.tasks, "/druid/indexer/tasks");
        assert_eq!(paths.status, "/druid/indexer/status");
        assert_eq!(paths.overlord_root(), "/druid/indexer");
        assert_eq!(
            paths.assignment("mm:8091", "t1"),
            "/druid/indexer/tasks/mm:8091/t1"
        );
    }

    #[test]
    fn overrides_and_root_base() {
        let config = ZkConfig {
            status_path: Some("/elsewhere/status/".into()),
            ..ZkConfig::with_base("/")
        };
        let paths = config.paths().unwrap();
        assert_eq!(paths.overlord_latch, "/overlord/_OVERLORD");
        assert_eq!(paths.announcements, "/indexer/announcements");
        assert_eq!(paths.status, "/elsewhere/status");
        assert_eq!(paths.overlord_root(), "/");
        assert!(ZkConfig::with_base("druid").paths().is_err());
    }

    #[test]
    fn classifies_nodes() {
        let paths = ZkConfig::default().paths().unwrap();
        assert_eq!(
            paths.classify("/druid/indexer/announcements/mm:8091"),
            Node::Worker("mm:8091")
        );
        assert_eq!(
            paths.classify("/druid/indexer/status/mm:8091/t1"),
            Node::Status {
                worker: "mm:8091",
                task: "t1"
            }
        );
        assert_eq!(paths.classify("/druid/indexer/status/mm:8091"), Node::Other);
        assert_eq!(
            paths.classify("/druid/indexer/announcementsX/a"),
            Node::Other
        );
        assert_eq!(
            paths.classify("/druid/indexer/tasks/mm:8091/t1"),
            Node::Other
        );
    }
}
