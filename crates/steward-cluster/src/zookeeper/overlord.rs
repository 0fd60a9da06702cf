//! The Overlord's feed: worker announcements and status announcements turned into
//! [`RunnerEvent`]s, with the same order and the same absence of duplicates as the in-process
//! coordinator.
//!
//! One persistent recursive watch, on the deepest path above both trees, is installed before
//! the trees are read, so nothing that changes after the read is missed, and its events arrive
//! in the order ZooKeeper applied the changes. The feed keeps what it has delivered (each
//! worker's data, each status node's data, including the status nodes of workers that are not
//! announced, which are delivered when the worker announces): an event whose node reads the
//! same as delivered emits nothing. After a reconnection (whose missed events ZooKeeper does not
//! promise to replay, and whose persistent watches the client does not restore) and after a new
//! session, a new watch is installed, the trees are read again and only the difference is
//! emitted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;
use steward_model::backoff::Backoff;

use futures::FutureExt;
use steward_model::{TaskAnnouncement, Worker};
use tokio::sync::mpsc;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::codec;
use super::config::{Node, ZkPaths};
use super::read::{list, read_children, read_small};
use super::session::Session;
use crate::{CoordinatorError, RunnerEvent};

const REWATCH_BACKOFF: Duration = Duration::from_millis(200);
/// Most watch events applied together.
const MAX_BATCH: usize = 256;
const MAX_REWATCH_BACKOFF: Duration = Duration::from_secs(5);

/// Subscribes: delivers the current state into the returned channel before returning, then
/// follows changes from a background task.
pub(crate) async fn subscribe(
    session: &Arc<Session>,
    paths: &ZkPaths,
) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut feed = Feed {
        paths: paths.clone(),
        tx,
        workers: BTreeMap::new(),
        statuses: BTreeMap::new(),
    };
    let (watcher, tree) = feed
        .watch_and_read(session)
        .await
        .map_err(CoordinatorError::Unavailable)?;
    feed.apply_tree(tree, false);
    tokio::spawn(feed.follow(Arc::downgrade(session), watcher));
    Ok(rx)
}

/// The announcements and status announcements as read at one moment.
#[derive(Default)]
struct Tree {
    workers: BTreeMap<String, Worker>,
    statuses: BTreeMap<String, BTreeMap<String, TaskAnnouncement>>,
    /// Znodes present but unreadable: what was last read of them stands, as on a watch event.
    unreadable_workers: BTreeSet<String>,
    unreadable_statuses: BTreeSet<(String, String)>,
}

struct Feed {
    paths: ZkPaths,
    tx: mpsc::UnboundedSender<RunnerEvent>,
    workers: BTreeMap<String, Worker>,
    statuses: BTreeMap<String, BTreeMap<String, TaskAnnouncement>>,
}

impl Feed {
    /// Installs the watch, then reads both trees, with one connected client.
    async fn watch_and_read(
        &self,
        session: &Session,
    ) -> Result<(zk::PersistentWatcher, Tree), String> {
        let root = self.paths.overlord_root();
        session
            .run(|client| {
                let (root, paths) = (root.clone(), self.paths.clone());
                async move {
                    let watcher = client
                        .watch(&root, zk::AddWatchMode::PersistentRecursive)
                        .await?;
                    let tree = read_tree(&client, &paths).await?;
                    Ok((watcher, tree))
                }
            })
            .await
            .map_err(|e| format!("cannot read the worker announcements from ZooKeeper: {e}"))
    }

    async fn follow(mut self, session: Weak<Session>, mut watcher: zk::PersistentWatcher) {
        let mut rewatch_at: Option<Instant> = None;
        // A session event met while draining a batch, handled next.
        let mut deferred: Option<zk::WatchedEvent> = None;
        loop {
            let event = match deferred.take() {
                Some(event) => Some(event),
                None => tokio::select! {
                    () = self.tx.closed() => return,
                    event = watcher.changed() => Some(event),
                    () = super::sleep_until(rewatch_at) => None,
                },
            };
            match event {
                Some(event) if event.event_type != zk::EventType::Session => {
                    let Some(client) = session.upgrade().map(|s| s.client()) else {
                        return;
                    };
                    // Take what else is queued already: under load a worker's writes to one
                    // status znode arrive together and are read once, and a batch's znodes are
                    // read with one multi-read.
                    let mut batch = vec![event];
                    while batch.len() < MAX_BATCH {
                        match watcher.changed().now_or_never() {
                            Some(e) if e.event_type != zk::EventType::Session => batch.push(e),
                            Some(e) => {
                                deferred = Some(e);
                                break;
                            }
                            None => break,
                        }
                    }
                    if let Err(e) = self.apply_events(&client, batch).await {
                        tracing::debug!(error = %e, "cannot read a changed znode; reading all again");
                        rewatch_at.get_or_insert_with(|| Instant::now() + REWATCH_BACKOFF);
                    }
                    continue;
                }
                Some(event) if event.session_state == zk::SessionState::Disconnected => continue,
                Some(event) if event.session_state.is_terminated() => {
                    tracing::info!(state = ?event.session_state,
                        "announcement watch ended with its session; watching again");
                }
                _ => {}
            }
            // Reconnected, session replaced, or a read failed. The client (0.11.2) does not
            // restore persistent watches on reconnection, so a new watch is installed every
            // time, before the trees are read again.
            match self.rewatch(&session).await {
                Some(new_watcher) => watcher = new_watcher,
                None => return,
            }
            rewatch_at = None;
        }
    }

    /// Watches again on the current session and emits what changed meanwhile. `None` once the
    /// coordinator or the subscriber is gone.
    async fn rewatch(&mut self, session: &Weak<Session>) -> Option<zk::PersistentWatcher> {
        let mut backoff = Backoff::new(REWATCH_BACKOFF, MAX_REWATCH_BACKOFF);
        loop {
            if self.tx.is_closed() {
                return None;
            }
            let attempt = {
                let session = session.upgrade()?;
                self.watch_and_read(&session).await
            };
            match attempt {
                Ok((watcher, tree)) => {
                    self.apply_tree(tree, true);
                    return Some(watcher);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the announcements yet; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }

    /// Emits the difference between what was delivered and `tree`. The first time
    /// (`live == false`), statuses of workers that are not announced are only remembered, as
    /// the in-process coordinator's snapshot does.
    fn apply_tree(&mut self, tree: Tree, live: bool) {
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
            for (task, announcement) in tasks {
                if joining || (!live && !self.workers.contains_key(worker)) {
                    self.statuses
                        .entry(worker.clone())
                        .or_default()
                        .insert(task.clone(), announcement.clone());
                } else {
                    self.put_status(worker, task, announcement.clone());
                }
            }
        }
        for worker in tree.workers.into_values() {
            self.put_worker(worker);
        }
    }

    /// Reads the znodes a batch of events names and emits what changed. Only the last event of
    /// each znode counts (its read returns the latest data anyway), and znodes are applied in
    /// the order of those last events, which keeps a worker's announcement and its statuses in
    /// ZooKeeper's order.
    async fn apply_events(
        &mut self,
        client: &zk::Client,
        batch: Vec<zk::WatchedEvent>,
    ) -> Result<(), zk::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut last: Vec<(String, bool)> = Vec::new();
        for event in batch.into_iter().rev() {
            let read = match event.event_type {
                zk::EventType::NodeCreated | zk::EventType::NodeDataChanged => true,
                zk::EventType::NodeDeleted => false,
                _ => continue,
            };
            if matches!(self.paths.classify(&event.path), Node::Other)
                || !seen.insert(event.path.clone())
            {
                continue;
            }
            last.push((event.path, read));
        }
        last.reverse();
        let to_read: Vec<&str> = last
            .iter()
            .filter(|(_, read)| *read)
            .map(|(path, _)| path.as_str())
            .collect();
        let mut datas = read_small(client, &to_read).await?.into_iter();
        for (path, read) in &last {
            let data = if *read { datas.next().flatten() } else { None };
            self.apply_node(path, data);
        }
        Ok(())
    }

    /// Emits what changed for one znode, given its data (`None`: it is gone). Data that does
    /// not parse (empty, truncated) changes nothing, as in Druid, whose listener only raises
    /// an alert: the last value read stands, and a running task is not failed for one bad
    /// write.
    fn apply_node(&mut self, path: &str, data: Option<Vec<u8>>) {
        let node = self.paths.classify(path);
        match node {
            Node::Worker(host) => match data.map(|d| parse_worker(host, &d)) {
                Some(Ok(worker)) => self.put_worker(worker),
                Some(Err(e)) => {
                    tracing::warn!(path, error = %e, "ignoring an unreadable worker announcement");
                }
                None => self.remove_worker(host),
            },
            Node::Status { worker, task } => match data.map(|d| codec::parse_announcement(&d)) {
                Some(Ok(announcement)) => self.put_status(worker, task, announcement),
                Some(Err(e)) => {
                    tracing::warn!(path, error = %e, "ignoring an unreadable status announcement");
                }
                None => self.remove_status(worker, task),
            },
            Node::Other => {}
        }
    }

    fn put_worker(&mut self, worker: Worker) {
        match self.workers.insert(worker.host.clone(), worker.clone()) {
            Some(old) if old == worker => {}
            Some(_) => self.send(RunnerEvent::WorkerChanged(worker)),
            None => {
                let host = worker.host.clone();
                self.send(RunnerEvent::WorkerAdded(worker));
                let held: Vec<TaskAnnouncement> = self
                    .statuses
                    .get(&host)
                    .map(|m| m.values().cloned().collect())
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

    fn put_status(&mut self, worker: &str, task: &str, announcement: TaskAnnouncement) {
        let tasks = self.statuses.entry(worker.to_string()).or_default();
        if tasks.get(task) == Some(&announcement) {
            return;
        }
        tasks.insert(task.to_string(), announcement.clone());
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
        // A closed channel ends `follow` at its next turn.
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
    for (host, data, _) in read_children(client, &paths.announcements).await? {
        match parse_worker(&host, &data) {
            Ok(worker) => {
                tree.workers.insert(host, worker);
            }
            Err(e) => {
                tracing::warn!(worker = host, error = %e, "ignoring an unreadable worker announcement");
                tree.unreadable_workers.insert(host);
            }
        }
    }
    for worker in list(client, &paths.status).await? {
        let mut tasks = BTreeMap::new();
        for (task, data, _) in read_children(client, &paths.statuses_of(&worker)).await? {
            match codec::parse_announcement(&data) {
                Ok(announcement) => {
                    tasks.insert(task, announcement);
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
