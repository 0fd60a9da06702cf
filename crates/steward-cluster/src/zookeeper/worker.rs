//! A worker's feed: the assignment znodes under `tasks/<worker>` turned into
//! [`WorkerEvent::Assigned`], and deletions under `status/<worker>` (the Overlord recorded the
//! end) into [`WorkerEvent::StatusRemoved`].
//!
//! Persistent recursive watches on both directories are installed before they are read.
//! Assignments present at subscription are delivered first, oldest first; each assignment znode
//! is delivered once while it exists. A large task is delivered once its payload has been
//! fetched from the Overlord, and only if its assignment still exists then. After a
//! reconnection the watches are installed again, both directories are read again and the
//! difference is emitted; after a new session every assignment present is delivered again (the
//! MiddleManager ignores tasks it already knows), because what the old session saw cannot be
//! trusted.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;
use steward_model::backoff::Backoff;

use tokio::sync::mpsc;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::codec::{self, Assignment};
use super::config::{child_of, ZkPaths};
use super::payload::Fetcher;
use super::publisher::Publisher;
use super::read::{list, read_children};
use super::session::Session;
use crate::{CoordinatorError, WorkerEvent};

const REWATCH_BACKOFF: Duration = Duration::from_millis(200);
const MAX_REWATCH_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) struct Context {
    pub paths: ZkPaths,
    pub publisher: Arc<Publisher>,
    pub fetcher: Fetcher,
}

/// Subscribes: the assignments present are in the channel (or, for large tasks, being
/// fetched) before this returns.
pub(crate) async fn subscribe(
    session: &Arc<Session>,
    context: Context,
    host: &str,
) -> Result<mpsc::UnboundedReceiver<WorkerEvent>, CoordinatorError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut feed = Feed {
        tasks_dir: context.paths.assignments_of(host),
        status_dir: context.paths.statuses_of(host),
        host: host.to_string(),
        context,
        tx,
        session: None,
        delivered: BTreeSet::new(),
        statuses: BTreeSet::new(),
    };
    let (watchers, tree) = feed
        .watch_and_read(session)
        .await
        .map_err(CoordinatorError::Unavailable)?;
    let weak = Arc::downgrade(session);
    feed.apply_tree(tree, &weak).await;
    tokio::spawn(feed.follow(weak, watchers));
    Ok(rx)
}

struct Watchers {
    tasks: zk::PersistentWatcher,
    statuses: zk::PersistentWatcher,
}

/// The worker's two directories as read at one moment, in one session; assignments oldest
/// first.
struct Tree {
    session: zk::SessionId,
    assignments: Vec<(String, Vec<u8>)>,
    statuses: BTreeSet<String>,
}

struct Feed {
    host: String,
    tasks_dir: String,
    status_dir: String,
    context: Context,
    tx: mpsc::UnboundedSender<WorkerEvent>,
    /// The session the directories were last read in.
    session: Option<zk::SessionId>,
    /// Assignment znodes delivered (or being fetched) that still exist.
    delivered: BTreeSet<String>,
    /// Status znodes of this worker that exist.
    statuses: BTreeSet<String>,
}

impl Feed {
    async fn watch_and_read(&self, session: &Session) -> Result<(Watchers, Tree), String> {
        session
            .run(|client| {
                let (tasks_dir, status_dir) = (self.tasks_dir.clone(), self.status_dir.clone());
                async move {
                    let mode = zk::AddWatchMode::PersistentRecursive;
                    let tasks = client.watch(&tasks_dir, mode).await?;
                    let statuses = client.watch(&status_dir, mode).await?;
                    let tree = read_tree(&client, &tasks_dir, &status_dir).await?;
                    Ok((Watchers { tasks, statuses }, tree))
                }
            })
            .await
            .map_err(|e| format!("cannot read the assignments from ZooKeeper: {e}"))
    }

    async fn follow(mut self, session: Weak<Session>, mut watchers: Watchers) {
        let mut rewatch_at: Option<Instant> = None;
        loop {
            let event = tokio::select! {
                () = self.tx.closed() => return,
                event = watchers.tasks.changed() => Some(event),
                event = watchers.statuses.changed() => Some(event),
                () = super::sleep_until(rewatch_at) => None,
            };
            match event {
                Some(event) if event.event_type != zk::EventType::Session => {
                    if let Err(e) = self.apply_event(&session, &event).await {
                        tracing::debug!(worker = self.host, error = %e, path = event.path,
                            "cannot read a new assignment; reading all again");
                        rewatch_at.get_or_insert_with(|| Instant::now() + REWATCH_BACKOFF);
                    }
                    continue;
                }
                Some(event) if event.session_state == zk::SessionState::Disconnected => continue,
                Some(event) if event.session_state.is_terminated() => {
                    tracing::info!(worker = self.host, state = ?event.session_state,
                        "assignment watch ended with its session; watching again");
                }
                _ => {}
            }
            // Reconnected, session replaced, or a read failed. The client (0.11.2) does not
            // restore persistent watches on reconnection, so new watches are installed every
            // time, before the directories are read again.
            match self.rewatch(&session).await {
                Some(new_watchers) => watchers = new_watchers,
                None => return,
            }
            rewatch_at = None;
        }
    }

    async fn rewatch(&mut self, session: &Weak<Session>) -> Option<Watchers> {
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
                Ok((watchers, tree)) => {
                    self.apply_tree(tree, session).await;
                    return Some(watchers);
                }
                Err(e) => {
                    tracing::warn!(worker = self.host, error = %e,
                        "cannot watch the assignments yet; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }

    /// Delivers assignments not delivered yet (all of them in a new session) and emits the
    /// removal of status znodes that disappeared.
    async fn apply_tree(&mut self, tree: Tree, session: &Weak<Session>) {
        if self
            .session
            .replace(tree.session)
            .is_some_and(|s| s != tree.session)
        {
            tracing::info!(
                worker = self.host,
                "new session: delivering every assignment again"
            );
            self.delivered.clear();
        }
        let present: BTreeSet<&String> = tree.assignments.iter().map(|(id, _)| id).collect();
        self.delivered.retain(|id| present.contains(id));
        for (id, data) in tree.assignments {
            if self.delivered.insert(id.clone()) {
                self.deliver(id, &data, session);
            }
        }
        let removed: Vec<String> = self.statuses.difference(&tree.statuses).cloned().collect();
        for id in removed {
            self.status_removed(id).await;
        }
        self.statuses = tree.statuses;
    }

    async fn apply_event(
        &mut self,
        session: &Weak<Session>,
        event: &zk::WatchedEvent,
    ) -> Result<(), zk::Error> {
        let path = event.path.as_str();
        if let Some(id) = child_of(&self.tasks_dir, path).filter(|id| !id.contains('/')) {
            match event.event_type {
                zk::EventType::NodeCreated if !self.delivered.contains(id) => {
                    let Some(client) = session.upgrade().map(|s| s.client()) else {
                        return Ok(());
                    };
                    match client.get_data(path).await {
                        Ok((data, _)) => {
                            self.delivered.insert(id.to_string());
                            self.deliver(id.to_string(), &data, session);
                        }
                        Err(zk::Error::NoNode) => {}
                        Err(e) => return Err(e),
                    }
                }
                zk::EventType::NodeDeleted => {
                    self.delivered.remove(id);
                }
                _ => {}
            }
        } else if let Some(id) = child_of(&self.status_dir, path).filter(|id| !id.contains('/')) {
            match event.event_type {
                zk::EventType::NodeCreated => {
                    self.statuses.insert(id.to_string());
                }
                // Emitted even for a node this feed never listed: the MiddleManager knows its
                // status announcements without the feed, and must learn every removal.
                zk::EventType::NodeDeleted => self.status_removed(id.to_string()).await,
                _ => {}
            }
        }
        Ok(())
    }

    async fn status_removed(&mut self, id: String) {
        self.statuses.remove(&id);
        self.context.publisher.forget_status(&self.host, &id).await;
        let _ = self.tx.send(WorkerEvent::StatusRemoved(id));
    }

    /// Sends the task of assignment znode `id`, fetching it first if the znode holds a
    /// reference. A task that cannot be read is not delivered: the Overlord's assignment
    /// timeout fails it.
    fn deliver(&self, id: String, data: &[u8], session: &Weak<Session>) {
        match codec::decode_assignment(data) {
            Ok(Assignment::Inline(task)) if task.id() == id => {
                let _ = self.tx.send(WorkerEvent::Assigned(task));
            }
            Ok(Assignment::Inline(task)) => tracing::error!(
                worker = self.host,
                znode = id,
                task = task.id(),
                "assignment znode holds another task; ignored"
            ),
            Ok(Assignment::Ref(payload)) => {
                let (tx, fetcher, session) = (
                    self.tx.clone(),
                    self.context.fetcher.clone(),
                    session.clone(),
                );
                let (host, path) = (
                    self.host.clone(),
                    self.context.paths.assignment(&self.host, &id),
                );
                tokio::spawn(async move {
                    tracing::info!(
                        worker = host,
                        task = id,
                        bytes = payload.bytes,
                        url = payload.url,
                        "fetching a large task's payload"
                    );
                    let task = match fetcher.fetch(&payload).await {
                        Ok(task) => task,
                        Err(e) => {
                            tracing::error!(worker = host, task = id, error = %e,
                                "cannot fetch the task's payload; the assignment is left to time out");
                            return;
                        }
                    };
                    let Some(client) = session.upgrade().map(|s| s.client()) else {
                        return;
                    };
                    match client.check_stat(&path).await {
                        Ok(None) => tracing::info!(
                            worker = host,
                            task = id,
                            "assignment withdrawn while its payload was fetched"
                        ),
                        // Unknown is delivered: a task run twice is refused by the worker, a
                        // task never run fails only after the assignment timeout.
                        Ok(Some(_)) | Err(_) => {
                            let _ = tx.send(WorkerEvent::Assigned(task));
                        }
                    }
                });
            }
            Err(e) => tracing::error!(worker = self.host, task = id, error = %e,
                "unreadable assignment ignored; it will time out"),
        }
    }
}

async fn read_tree(
    client: &zk::Client,
    tasks_dir: &str,
    status_dir: &str,
) -> Result<Tree, zk::Error> {
    let mut assignments = read_children(client, tasks_dir).await?;
    assignments.sort_by_key(|(_, _, stat)| stat.czxid);
    let statuses = list(client, status_dir).await?.into_iter().collect();
    Ok(Tree {
        session: client.session_id(),
        assignments: assignments
            .into_iter()
            .map(|(id, data, _)| (id, data))
            .collect(),
        statuses,
    })
}

/// The status announcements of `host`, as the Overlord sees them.
pub(crate) async fn read_statuses(
    session: &Session,
    paths: &ZkPaths,
    host: &str,
) -> Result<Vec<steward_model::TaskAnnouncement>, CoordinatorError> {
    let dir = paths.statuses_of(host);
    let children = session
        .run(|client| {
            let dir = dir.clone();
            async move { read_children(&client, &dir).await }
        })
        .await
        .map_err(|e| super::coordinator_error(e, &dir))?;
    let mut statuses: Vec<_> = children
        .into_iter()
        .filter_map(|(task, data, _)| match codec::parse_announcement(&data) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(worker = host, task, error = %e, "ignoring an unreadable status announcement");
                None
            }
        })
        .collect();
    // In task id order, as the in-process coordinator lists them.
    statuses.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(statuses)
}
