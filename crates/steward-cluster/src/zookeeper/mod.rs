//! Coordination through ZooKeeper, in Druid's znode layout, for cluster mode.
//!
//! [`ZkCoordinator`] implements both [`OverlordCoordinator`] and [`WorkerCoordinator`] with the
//! same observable behaviour as the in-process coordinator, so the Overlord's runner and the
//! MiddleManager run unchanged on either; and it reads and writes the znodes a Druid Overlord
//! or MiddleManager would.
//!
//! # Layout
//!
//! Paths come from [`ZkConfig`] (defaults under `/druid/indexer`); `<worker>` is `host:port`.
//!
//! * `announcements/<worker>`: ephemeral, the `Worker` JSON. Written plain; read plain or
//!   gzip, since Druid gzips it by default.
//! * `tasks/<worker>`: persistent parent, `{"created":"<ISO time>"}`, created by the worker.
//! * `tasks/<worker>/<taskId>`: an assignment, the task JSON. Unlike Druid's, these nodes are
//!   **persistent**, not ephemeral on the Overlord's session: Druid loses every assignment not
//!   yet picked up whenever the Overlord's session blips. The worker deletes the node when it
//!   takes the task, and the Overlord's runner deletes the ones it gives up on.
//! * `status/<worker>`: persistent parent, created by the worker.
//! * `status/<worker>/<taskId>`: persistent `TaskAnnouncement` JSON, created or updated by the
//!   worker on every change, deleted by the Overlord once it has recorded the task's end.
//!
//! # Large tasks
//!
//! ZooKeeper refuses znodes over about 1 MB, and Druid fails tasks over `maxZnodeBytes`. Here a
//! task whose JSON fits in `max_znode_bytes` is written into its assignment znode as Druid does;
//! a larger one is written as a small reference,
//! `{"stewardPayloadRef":{"taskId":..,"url":"<payload_url>/druid/indexer/v1/task/<id>","bytes":n}}`,
//! and the worker fetches the task from the Overlord's task API (`{"task":id,"payload":{..}}`,
//! redirects followed) before delivering it, retrying with backoff for
//! `payload_fetch_timeout`. If the fetch fails for good, nothing is delivered and an error is
//! logged: the Overlord's assignment timeout then fails the task.
//!
//! # Sessions
//!
//! Connection loss within a session is handled by the client, which reconnects to any server
//! of the ensemble; operations wait for the connection and retry for up to
//! `connection_timeout`, then fail with `Unavailable`. ZooKeeper does not promise to replay
//! watch events missed while disconnected, and `zookeeper-client` 0.11.2 does not re-register
//! persistent watches when it reconnects (it sends `SetWatches` without them), so after every
//! reconnection each feed installs its watches again, re-reads its znodes and emits only the
//! difference; the worker's values whose write failed are written then. Session expiry is
//! terminal for a client: the supervisor opens a new session, the worker's announcement is
//! created again and its status announcements are written again (see `publisher`), and every
//! feed watches again and emits the difference (the worker's feed delivers its assignments
//! again). Every session transition is logged.
//!
//! # Leader election
//!
//! An Overlord joins Druid's leader election with [`ZkCoordinator::join_election`] (Curator
//! `LeaderLatch` nodes under `<base>/overlord/_OVERLORD`, see `leader`). From then on the
//! coordinator's Overlord-side writes (assignments, their removal, status removal) are fenced:
//! each is a transaction that first checks that this Overlord's latch node exists, so an
//! Overlord that has lost its leadership, or its session, writes nothing more.

mod codec;
mod config;
mod follow;
mod leader;
mod overlord;
mod payload;
mod publisher;
mod read;
mod session;
mod worker;

use std::sync::{Arc, Weak};
use std::time::Duration;
use steward_model::backoff::Backoff;

use async_trait::async_trait;
use steward_model::{Task, TaskAnnouncement, Worker};
use tokio::sync::mpsc;
use zookeeper_client as zk;

pub use config::{ZkConfig, ZkPaths};
pub use leader::ZkLeaderElection;

use crate::{CoordinatorError, OverlordCoordinator, RunnerEvent, WorkerCoordinator, WorkerEvent};
use leader::{Fence, Latch};
use payload::Fetcher;
use publisher::Publisher;
use session::Session;

const PERSISTENT: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
const EPHEMERAL: zk::CreateOptions<'static> =
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());

const FIRST_SESSION_BACKOFF: Duration = Duration::from_millis(200);
const MAX_SESSION_BACKOFF: Duration = Duration::from_secs(5);

/// The ZooKeeper coordinator. Cheap to clone. When the last clone is dropped the session is
/// closed: a worker's announcement disappears at once and every subscription ends.
#[derive(Clone)]
pub struct ZkCoordinator {
    inner: Arc<Inner>,
}

struct Inner {
    config: ZkConfig,
    paths: ZkPaths,
    session: Arc<Session>,
    publisher: Arc<Publisher>,
    fetcher: Fetcher,
    fence: Arc<Fence>,
}

impl ZkCoordinator {
    /// Connects to ZooKeeper; fails with `Unavailable` if no server answers within
    /// `connection_timeout` or the paths are invalid.
    pub async fn connect(config: ZkConfig) -> Result<ZkCoordinator, CoordinatorError> {
        let paths = config.paths().map_err(CoordinatorError::Unavailable)?;
        let fetcher = Fetcher::new(config.payload_fetch_timeout, &config.internal_client)
            .map_err(CoordinatorError::Unavailable)?;
        let session = Arc::new(
            Session::open(&config)
                .await
                .map_err(CoordinatorError::Unavailable)?,
        );
        let publisher = Arc::new(Publisher::new(paths.clone()));
        tokio::spawn(supervise(Arc::downgrade(&session), publisher.clone()));
        Ok(ZkCoordinator {
            inner: Arc::new(Inner {
                config,
                paths,
                session,
                publisher,
                fetcher,
                fence: Arc::new(Fence::new()),
            }),
        })
    }

    /// The current session, e.g. to tell which session owns an ephemeral znode.
    pub fn session_id(&self) -> zk::SessionId {
        self.inner.session.client().session_id()
    }

    /// Joins the Overlord leader election as `participant_id` (the Overlord's
    /// `http://host:port`) on this coordinator's session. From now on the Overlord-side writes
    /// of this coordinator go through only while it leads. Join once per coordinator.
    pub fn join_election(&self, participant_id: impl Into<String>) -> ZkLeaderElection {
        ZkLeaderElection::join(
            &self.inner.session,
            self.inner.fence.clone(),
            self.inner.paths.overlord_latch.clone(),
            participant_id.into(),
        )
    }

    /// Deletes a znode on the Overlord's behalf, fenced by its leadership.
    async fn delete_as_overlord(&self, path: &str) -> Result<(), CoordinatorError> {
        let deleted = self
            .inner
            .session
            .run("deleteAsOverlord", |client| {
                let (latch, path) = (self.inner.fence.latch(), path.to_string());
                async move {
                    let latch = match latch {
                        Latch::Following => return Ok(false),
                        Latch::Leading(latch) => Some(latch),
                        Latch::Unelected => None,
                    };
                    let deleted = match latch {
                        None => client.delete(&path, None).await.map(|()| true),
                        Some(latch) => {
                            let mut writer = client.new_check_writer(&latch, None)?;
                            writer.add_delete(&path, None)?;
                            fenced_commit(writer).await
                        }
                    };
                    match deleted {
                        Err(zk::Error::NoNode) => Ok(true),
                        deleted => deleted,
                    }
                }
            })
            .await;
        match deleted {
            Ok(true) => Ok(()),
            Ok(false) => Err(CoordinatorError::NotLeader),
            Err(e) => Err(coordinator_error(e, path)),
        }
    }
}

/// Commits a transaction whose first operation checks the latch node: `Ok(false)` if the node
/// is gone (the leadership it stood for is over) and nothing was written.
async fn fenced_commit(writer: zk::CheckWriter<'_>) -> Result<bool, zk::Error> {
    match writer.commit().await {
        Ok(_) => Ok(true),
        Err(zk::CheckWriteError::CheckFailed {
            source: zk::Error::NoNode,
        }) => Ok(false),
        Err(
            zk::CheckWriteError::CheckFailed { source }
            | zk::CheckWriteError::RequestFailed { source }
            | zk::CheckWriteError::OperationFailed { source, .. },
        ) => Err(source),
    }
}

/// Creates assignment `node` in one transaction that first checks the latch node (when there
/// is one) and the worker's announcement: one request per assignment, and no assignment to a
/// worker that has just gone. `Err(NoNode)` means the node's parent is missing.
async fn create_assignment(
    client: &zk::Client,
    latch: Option<&str>,
    announcement: &str,
    node: &str,
    data: &[u8],
) -> Result<Assigned, zk::Error> {
    let mut writer = client.new_multi_writer();
    // The index of the announcement's check: the operations before it check the latch.
    let checks = usize::from(latch.is_some());
    if let Some(latch) = latch {
        writer.add_check_version(latch, -1)?;
    }
    writer.add_check_version(announcement, -1)?;
    writer.add_create(node, data, &PERSISTENT)?;
    match writer.commit().await {
        Ok(_) => Ok(Assigned::Created),
        Err(zk::MultiWriteError::OperationFailed {
            index,
            source: zk::Error::NoNode,
        }) if index < checks => Ok(Assigned::NotLeader),
        Err(zk::MultiWriteError::OperationFailed {
            index,
            source: zk::Error::NoNode,
        }) if index == checks => Ok(Assigned::NoWorker),
        Err(zk::MultiWriteError::OperationFailed {
            source: zk::Error::NodeExists,
            ..
        }) => Ok(Assigned::Exists),
        Err(
            zk::MultiWriteError::OperationFailed { source, .. }
            | zk::MultiWriteError::RequestFailed { source },
        ) => Err(source),
    }
}

/// Follows the current session: logs its transitions, has the worker's values written again
/// after a reconnection, and replaces the session when it ends.
async fn supervise(session: Weak<Session>, publisher: Arc<Publisher>) {
    loop {
        let Some((mut states, id)) = session.upgrade().map(|s| {
            let client = s.client();
            (client.state_watcher(), client.session_id())
        }) else {
            return;
        };
        let ended = loop {
            match states.changed().await {
                zk::SessionState::Disconnected => {
                    tracing::warn!(session = %id, "ZooKeeper connection lost; reconnecting");
                }
                state if !state.is_terminated() => {
                    tracing::info!(session = %id, ?state, "ZooKeeper connection re-established");
                    let Some(session) = session.upgrade() else {
                        return;
                    };
                    let publisher = publisher.clone();
                    tokio::spawn(async move { publisher.republish(&session, false).await });
                }
                state => break state,
            }
        };
        if session.strong_count() == 0 {
            tracing::info!(session = %id, "ZooKeeper session closed");
            return;
        }
        tracing::warn!(session = %id, state = ?ended, "ZooKeeper session ended; opening a new one");
        let mut backoff = Backoff::new(FIRST_SESSION_BACKOFF, MAX_SESSION_BACKOFF);
        loop {
            let Some(current) = session.upgrade() else {
                return;
            };
            match current.open_another().await {
                Ok(client) => {
                    tracing::info!(previous = %id, session = %client.session_id(),
                        "new ZooKeeper session established");
                    current.replace(client);
                    publisher.republish(&current, true).await;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open a new ZooKeeper session; retrying");
                    drop(current);
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }
}

pub(crate) fn coordinator_error(e: zk::Error, path: &str) -> CoordinatorError {
    match e {
        zk::Error::NoNode => CoordinatorError::NoNode(path.to_string()),
        zk::Error::NodeExists => CoordinatorError::Exists(path.to_string()),
        e @ (zk::Error::BadArguments(_)
        | zk::Error::InvalidAcl
        | zk::Error::NoChildrenForEphemerals
        | zk::Error::QuotaExceeded
        | zk::Error::MarshallingError) => {
            CoordinatorError::Refused(format!("ZooKeeper refused [{path}]: {e}"))
        }
        e => CoordinatorError::Unavailable(format!("ZooKeeper operation on [{path}] failed: {e}")),
    }
}

/// Deletes a znode; a missing one is fine.
pub(crate) async fn delete(session: &Session, path: &str) -> Result<(), CoordinatorError> {
    let deleted = session
        .run("delete", |client| {
            let path = path.to_string();
            async move { client.delete(&path, None).await }
        })
        .await;
    match deleted {
        Ok(()) | Err(zk::Error::NoNode) => Ok(()),
        Err(e) => Err(coordinator_error(e, path)),
    }
}

pub(crate) use crate::sleep_until;

#[derive(Debug, PartialEq)]
enum Assigned {
    Created,
    Exists,
    NoWorker,
    NotLeader,
}

#[async_trait]
impl OverlordCoordinator for ZkCoordinator {
    async fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError> {
        overlord::subscribe(&self.inner.session, &self.inner.paths).await
    }

    async fn assign(&self, worker: &str, task: &Task) -> Result<(), CoordinatorError> {
        let Inner {
            config,
            paths,
            session,
            ..
        } = &*self.inner;
        let data =
            codec::encode_assignment(task, config.max_znode_bytes, config.payload_url.as_deref())
                .map_err(|e| {
                tracing::error!(task = task.id(), worker, error = %e, "cannot assign the task");
                CoordinatorError::Unavailable(e)
            })?;
        let announcement = paths.announcement(worker);
        let node = paths.assignment(worker, task.id());
        let outcome = session
            .run("assign", |client| {
                let (announcement, node, data) = (announcement.clone(), node.clone(), data.clone());
                let latch = self.inner.fence.latch();
                async move {
                    let latch = match latch {
                        Latch::Following => return Ok(Assigned::NotLeader),
                        Latch::Leading(latch) => Some(latch),
                        Latch::Unelected => None,
                    };
                    let latch = latch.as_deref();
                    let created =
                        create_assignment(&client, latch, &announcement, &node, &data).await;
                    if created != Err(zk::Error::NoNode) {
                        return created;
                    }
                    let parent = paths.assignments_of(worker);
                    publisher::ensure_parent(&client, &paths.tasks, &parent).await?;
                    create_assignment(&client, latch, &announcement, &node, &data).await
                }
            })
            .await
            .map_err(|e| coordinator_error(e, &node))?;
        match outcome {
            Assigned::Created => {
                tracing::debug!(
                    task = task.id(),
                    worker,
                    bytes = data.len(),
                    "assignment written"
                );
                Ok(())
            }
            Assigned::Exists => Err(CoordinatorError::Exists(node)),
            Assigned::NoWorker => Err(CoordinatorError::NoNode(format!("worker {worker}"))),
            Assigned::NotLeader => Err(CoordinatorError::NotLeader),
        }
    }

    async fn remove_assignment(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
        self.delete_as_overlord(&self.inner.paths.assignment(worker, task_id))
            .await
    }

    async fn remove_status(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
        self.delete_as_overlord(&self.inner.paths.status(worker, task_id))
            .await
    }

    async fn assignments(&self) -> Result<Vec<(String, String)>, CoordinatorError> {
        let tasks = self.inner.paths.tasks.clone();
        self.inner
            .session
            .run("readAssignments", |client| {
                let tasks = tasks.clone();
                async move {
                    let mut found = Vec::new();
                    for worker in read::list(&client, &tasks).await? {
                        let dir = config::join(&tasks, &worker);
                        for task in read::list(&client, &dir).await? {
                            found.push((worker.clone(), task));
                        }
                    }
                    Ok(found)
                }
            })
            .await
            .map_err(|e| coordinator_error(e, &tasks))
    }
}

#[async_trait]
impl WorkerCoordinator for ZkCoordinator {
    async fn announce(&self, worker: &Worker) -> Result<(), CoordinatorError> {
        self.inner
            .publisher
            .announce(&self.inner.session, worker)
            .await
    }

    async fn unannounce(&self, host: &str) -> Result<(), CoordinatorError> {
        self.inner
            .publisher
            .unannounce(&self.inner.session, host)
            .await
    }

    async fn subscribe(
        &self,
        host: &str,
    ) -> Result<mpsc::UnboundedReceiver<WorkerEvent>, CoordinatorError> {
        let context = worker::Context {
            paths: self.inner.paths.clone(),
            publisher: self.inner.publisher.clone(),
            fetcher: self.inner.fetcher.clone(),
        };
        worker::subscribe(&self.inner.session, context, host).await
    }

    async fn announce_status(
        &self,
        host: &str,
        announcement: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError> {
        self.inner
            .publisher
            .announce_status(&self.inner.session, host, announcement)
            .await
    }

    async fn statuses(&self, host: &str) -> Result<Vec<TaskAnnouncement>, CoordinatorError> {
        worker::read_statuses(&self.inner.session, &self.inner.paths, host).await
    }

    async fn overlord_urls(&self) -> Result<Vec<String>, CoordinatorError> {
        leader::participants(&self.inner.session, &self.inner.paths.overlord_latch).await
    }

    async fn remove_assignment(&self, host: &str, task_id: &str) -> Result<(), CoordinatorError> {
        delete(
            &self.inner.session,
            &self.inner.paths.assignment(host, task_id),
        )
        .await
    }

    async fn announce_started(
        &self,
        host: &str,
        running: &TaskAnnouncement,
        located: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError> {
        self.inner
            .publisher
            .announce_started(&self.inner.session, host, running, located)
            .await
    }
}
