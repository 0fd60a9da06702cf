//! A worker's feed: the assignment znodes under `tasks/<worker>` turned into
//! [`WorkerEvent::Assigned`], and deletions under `status/<worker>` (the Overlord recorded the
//! end) into [`WorkerEvent::StatusRemoved`].
//!
//! Both directories are followed (see `follow`). Assignments present at subscription are
//! delivered first, oldest first; each assignment znode is delivered once while it exists. A
//! large task is delivered once its payload has been fetched from the Overlord, and only if its
//! assignment still exists then. Whenever the directories are read again, the difference is
//! emitted; after a new session every assignment present is delivered again (the MiddleManager
//! ignores tasks it already knows), because what the old session saw cannot be trusted.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use zookeeper_client as zk;

use super::codec::{self, Assignment};
use super::config::{child_of, ZkPaths};
use super::follow::{self, Follower};
use super::payload::Fetcher;
use super::publisher::Publisher;
use super::read::{list, read_children};
use super::session::Session;
use crate::{CoordinatorError, WorkerEvent};

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
    let feed = Feed {
        name: format!("the assignments of {host}"),
        tasks_dir: context.paths.assignments_of(host),
        status_dir: context.paths.statuses_of(host),
        host: host.to_string(),
        context,
        tx,
        session: None,
        delivered: BTreeSet::new(),
        statuses: BTreeSet::new(),
    };
    follow::start(session, feed).await?;
    Ok(rx)
}

/// The worker's two directories as read at one moment, in one session; assignments oldest
/// first.
struct Tree {
    session: zk::SessionId,
    assignments: Vec<(String, Vec<u8>)>,
    statuses: BTreeSet<String>,
}

struct Feed {
    /// What is followed, for errors and logs.
    name: String,
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

impl Follower for Feed {
    type Tree = Tree;
    type Event = WorkerEvent;

    fn name(&self) -> &str {
        &self.name
    }

    fn roots(&self) -> Vec<String> {
        vec![self.tasks_dir.clone(), self.status_dir.clone()]
    }

    fn subscriber(&self) -> &mpsc::UnboundedSender<WorkerEvent> {
        &self.tx
    }

    async fn read(&self, client: &zk::Client) -> Result<Tree, zk::Error> {
        read_tree(client, &self.tasks_dir, &self.status_dir).await
    }

    /// Delivers assignments not delivered yet (all of them in a new session) and emits the
    /// removal of status znodes that disappeared.
    async fn apply_tree(&mut self, tree: Tree, session: &Arc<Session>) {
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

    /// Applies the events one by one; a failed read does not stop the others, and has the
    /// directories read again.
    async fn apply_events(
        &mut self,
        batch: Vec<zk::WatchedEvent>,
        session: &Arc<Session>,
    ) -> Result<(), zk::Error> {
        let mut read = Ok(());
        for event in &batch {
            let applied = self.apply_event(session, event).await;
            read = read.and(applied);
        }
        read
    }
}

impl Feed {
    async fn apply_event(
        &mut self,
        session: &Arc<Session>,
        event: &zk::WatchedEvent,
    ) -> Result<(), zk::Error> {
        let path = event.path.as_str();
        if let Some(id) = child_of(&self.tasks_dir, path).filter(|id| !id.contains('/')) {
            match event.event_type {
                zk::EventType::NodeCreated if !self.delivered.contains(id) => {
                    match session
                        .timed("readAssignment", session.client().get_data(path))
                        .await
                    {
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
    fn deliver(&self, id: String, data: &[u8], session: &Arc<Session>) {
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
                    Arc::downgrade(session),
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
        .run("readStatuses", |client| {
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
