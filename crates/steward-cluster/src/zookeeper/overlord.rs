//! The Overlord's feed: worker announcements and status announcements turned into
//! [`RunnerEvent`]s, with the same order and the same absence of duplicates as the in-process
//! coordinator.
//!
//! One watch, on the deepest path above both trees, is followed (see `follow`), so its events
//! arrive in the order ZooKeeper applied the changes. The feed keeps what it has delivered (each
//! worker's data, each status node's data, including the status nodes of workers that are not
//! announced, which are delivered when the worker announces, each with the creation zxid of its
//! znode). A deletion event emits the removal of what was delivered, even if the node is
//! created again in the same batch; otherwise an event whose node reads the same as delivered
//! emits nothing. Whenever the trees are read again (after a reconnection, after a new session)
//! only the difference is emitted, a node created anew since it was delivered (another creation
//! zxid) counting as removed and announced again even if its data is the same: a status
//! announcement removed and announced again by a restarting worker is not lost either way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use steward_model::{TaskAnnouncement, Worker};
use tokio::sync::mpsc;
use zookeeper_client as zk;

use super::codec;
use super::config::{Node, ZkPaths};
use super::follow::{self, Follower};
use super::read::{list, read_children, read_small};
use super::session::Session;
use crate::{CoordinatorError, RunnerEvent};

/// Subscribes: delivers the current state into the returned channel before returning, then
/// follows changes from a background task.
pub(crate) async fn subscribe(
    session: &Arc<Session>,
    paths: &ZkPaths,
) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let feed = Feed {
        paths: paths.clone(),
        tx,
        workers: BTreeMap::new(),
        statuses: BTreeMap::new(),
        live: false,
    };
    follow::start(session, feed).await?;
    Ok(rx)
}

/// The creation zxid of a znode: a node deleted and created again has another.
type Czxid = i64;

/// The announcements and status announcements as read at one moment.
#[derive(Default)]
struct Tree {
    workers: BTreeMap<String, (Worker, Czxid)>,
    statuses: BTreeMap<String, BTreeMap<String, (TaskAnnouncement, Czxid)>>,
    /// Znodes present but unreadable: what was last read of them stands, as on a watch event.
    unreadable_workers: BTreeSet<String>,
    unreadable_statuses: BTreeSet<(String, String)>,
}

struct Feed {
    paths: ZkPaths,
    tx: mpsc::UnboundedSender<RunnerEvent>,
    workers: BTreeMap<String, (Worker, Czxid)>,
    statuses: BTreeMap<String, BTreeMap<String, (TaskAnnouncement, Czxid)>>,
    /// Whether the first read has been applied: until then, statuses of workers that are not
    /// announced are only remembered, as the in-process coordinator's snapshot does.
    live: bool,
}

impl Follower for Feed {
    type Tree = Tree;
    type Event = RunnerEvent;

    fn name(&self) -> &str {
        "the worker announcements"
    }

    fn roots(&self) -> Vec<String> {
        vec![self.paths.overlord_root()]
    }

    fn subscriber(&self) -> &mpsc::UnboundedSender<RunnerEvent> {
        &self.tx
    }

    async fn read(&self, client: &zk::Client) -> Result<Tree, zk::Error> {
        read_tree(client, &self.paths).await
    }

    /// Emits the difference between what was delivered and `tree`.
    async fn apply_tree(&mut self, tree: Tree, _: &Arc<Session>) {
        let gone: Vec<String> = self
            .workers
            .keys()
            .filter(|w| !tree.workers.contains_key(*w) && !tree.unreadable_workers.contains(*w))
            .cloned()
            .collect();
        for worker in gone {
            self.remove_worker(&worker);
        }
        let removed: Vec<(String, String)> = self
            .statuses
            .iter()
            .flat_map(|(w, tasks)| tasks.keys().map(move |t| (w.clone(), t.clone())))
            .filter(|(w, t)| tree.statuses.get(w).is_none_or(|m| !m.contains_key(t)))
            .filter(|key| !tree.unreadable_statuses.contains(key))
            .collect();
        for (worker, task) in removed {
            self.remove_status(&worker, &task);
        }
        for (worker, tasks) in &tree.statuses {
            let joining = tree.workers.contains_key(worker) && !self.workers.contains_key(worker);
            for (task, (announcement, czxid)) in tasks {
                if joining || (!self.live && !self.workers.contains_key(worker)) {
                    self.statuses
                        .entry(worker.clone())
                        .or_default()
                        .insert(task.clone(), (announcement.clone(), *czxid));
                } else {
                    self.put_status(worker, task, announcement.clone(), *czxid);
                }
            }
        }
        for (worker, czxid) in tree.workers.into_values() {
            self.put_worker(worker, czxid);
        }
        self.live = true;
    }

    /// Reads the znodes a batch of events names and emits what changed. Of the creations and
    /// changes of a znode only the last event counts (its read returns the latest data anyway),
    /// but every deletion emits the removal of what was delivered, where it comes: a node
    /// deleted and created again with the same data is removed, then announced again. Znodes
    /// are applied in the order of those events, which keeps a worker's announcement and its
    /// statuses in ZooKeeper's order.
    async fn apply_events(
        &mut self,
        batch: Vec<zk::WatchedEvent>,
        session: &Arc<Session>,
    ) -> Result<(), zk::Error> {
        let mut seen = std::collections::HashSet::new();
        // Oldest first: each deletion, and the last event of each znode (true: read it).
        let mut applied: Vec<(String, bool)> = Vec::new();
        for event in batch.into_iter().rev() {
            let read = match event.event_type {
                zk::EventType::NodeCreated | zk::EventType::NodeDataChanged => true,
                zk::EventType::NodeDeleted => false,
                _ => continue,
            };
            let last = seen.insert(event.path.clone());
            if matches!(self.paths.classify(&event.path), Node::Other) || (read && !last) {
                continue;
            }
            applied.push((event.path, read));
        }
        applied.reverse();
        let to_read: Vec<&str> = applied
            .iter()
            .filter(|(_, read)| *read)
            .map(|(path, _)| path.as_str())
            .collect();
        let client = session.client();
        let read = read_small(&client, &to_read);
        let mut datas = session
            .timed("readChangedStatuses", read)
            .await?
            .into_iter();
        for (path, read) in &applied {
            let data = if *read { datas.next().flatten() } else { None };
            self.apply_node(path, data.map(|(data, stat)| (data, stat.czxid)));
        }
        Ok(())
    }
}

impl Feed {
    /// Emits what changed for one znode, given its data and creation zxid (`None`: it is
    /// gone). Data that does not parse (empty, truncated) changes nothing, as in Druid, whose
    /// listener only raises an alert: the last value read stands, and a running task is not
    /// failed for one bad write.
    fn apply_node(&mut self, path: &str, data: Option<(Vec<u8>, Czxid)>) {
        let node = self.paths.classify(path);
        match node {
            Node::Worker(host) => match data.map(|(d, czxid)| (parse_worker(host, &d), czxid)) {
                Some((Ok(worker), czxid)) => self.put_worker(worker, czxid),
                Some((Err(e), _)) => {
                    tracing::warn!(path, error = %e, "ignoring an unreadable worker announcement");
                }
                None => self.remove_worker(host),
            },
            Node::Status { worker, task } => {
                match data.map(|(d, czxid)| (codec::parse_announcement(&d), czxid)) {
                    Some((Ok(announcement), czxid)) => {
                        self.put_status(worker, task, announcement, czxid)
                    }
                    Some((Err(e), _)) => {
                        tracing::warn!(path, error = %e, "ignoring an unreadable status announcement");
                    }
                    None => self.remove_status(worker, task),
                }
            }
            Node::Other => {}
        }
    }

    /// A worker announcement; one created anew since delivered is removed first.
    fn put_worker(&mut self, worker: Worker, czxid: Czxid) {
        if self
            .workers
            .get(&worker.host)
            .is_some_and(|(_, c)| *c != czxid)
        {
            self.remove_worker(&worker.host);
        }
        match self
            .workers
            .insert(worker.host.clone(), (worker.clone(), czxid))
        {
            Some((old, _)) if old == worker => {}
            Some(_) => self.send(RunnerEvent::WorkerChanged(worker)),
            None => {
                let host = worker.host.clone();
                self.send(RunnerEvent::WorkerAdded(worker));
                let held: Vec<TaskAnnouncement> = self
                    .statuses
                    .get(&host)
                    .map(|m| m.values().map(|(a, _)| a.clone()).collect())
                    .unwrap_or_default();
                for announcement in held {
                    self.send(RunnerEvent::StatusAnnounced {
                        worker: host.clone(),
                        announcement,
                    });
                }
                self.send(RunnerEvent::WorkerInitialized(host));
            }
        }
    }

    fn remove_worker(&mut self, host: &str) {
        if self.workers.remove(host).is_some() {
            self.send(RunnerEvent::WorkerRemoved(host.to_string()));
        }
    }

    /// A status announcement; one created anew since delivered is removed first.
    fn put_status(
        &mut self,
        worker: &str,
        task: &str,
        announcement: TaskAnnouncement,
        czxid: Czxid,
    ) {
        let delivered = self.statuses.get(worker).and_then(|m| m.get(task));
        if delivered.is_some_and(|(_, c)| *c != czxid) {
            self.remove_status(worker, task);
        } else if delivered.is_some_and(|(a, _)| *a == announcement) {
            return;
        }
        let tasks = self.statuses.entry(worker.to_string()).or_default();
        tasks.insert(task.to_string(), (announcement.clone(), czxid));
        self.send(RunnerEvent::StatusAnnounced {
            worker: worker.to_string(),
            announcement,
        });
    }

    fn remove_status(&mut self, worker: &str, task: &str) {
        let Some(tasks) = self.statuses.get_mut(worker) else {
            return;
        };
        if tasks.remove(task).is_none() {
            return;
        }
        if tasks.is_empty() {
            self.statuses.remove(worker);
        }
        self.send(RunnerEvent::StatusRemoved {
            worker: worker.to_string(),
            task_id: task.to_string(),
        });
    }

    fn send(&self, event: RunnerEvent) {
        // A closed channel ends the following at its next turn.
        let _ = self.tx.send(event);
    }
}

/// Parses a worker announcement and checks that it is announced under its own host.
fn parse_worker(znode: &str, data: &[u8]) -> Result<Worker, String> {
    let worker = codec::parse_worker(data)?;
    if worker.host != znode {
        return Err(format!("it names host [{}]", worker.host));
    }
    Ok(worker)
}

/// Reads every announcement and every status announcement, pipelining the reads.
async fn read_tree(client: &zk::Client, paths: &ZkPaths) -> Result<Tree, zk::Error> {
    let mut tree = Tree::default();
    for (host, data, stat) in read_children(client, &paths.announcements).await? {
        match parse_worker(&host, &data) {
            Ok(worker) => {
                tree.workers.insert(host, (worker, stat.czxid));
            }
            Err(e) => {
                tracing::warn!(worker = host, error = %e, "ignoring an unreadable worker announcement");
                tree.unreadable_workers.insert(host);
            }
        }
    }
    for worker in list(client, &paths.status).await? {
        let mut tasks = BTreeMap::new();
        for (task, data, stat) in read_children(client, &paths.statuses_of(&worker)).await? {
            match codec::parse_announcement(&data) {
                Ok(announcement) => {
                    tasks.insert(task, (announcement, stat.czxid));
                }
                Err(e) => {
                    tracing::warn!(worker, task, error = %e, "ignoring an unreadable status announcement");
                    tree.unreadable_statuses.insert((worker.clone(), task));
                }
            }
        }
        if !tasks.is_empty() {
            tree.statuses.insert(worker, tasks);
        }
    }
    Ok(tree)
}
