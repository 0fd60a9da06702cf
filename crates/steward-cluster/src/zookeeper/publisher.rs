//! What a worker publishes (its announcement and the status announcements of its tasks), kept
//! so that it can be published again.
//!
//! Each value is held with whether its last write is known to have reached ZooKeeper. After a
//! reconnection, the values whose write failed are written again (the MiddleManager only logs
//! a failed status announcement). After a new session, the announcement is re-created (the
//! ephemeral died with the old session) and every status announcement is written again; one
//! whose znode is gone although it was written was removed by the Overlord, so it is dropped
//! rather than resurrected. Writes are serialised by one lock so that a re-publication never
//! overtakes a newer value.

use std::collections::BTreeMap;

use steward_model::{TaskAnnouncement, Worker};
use zookeeper_client as zk;

use super::codec;
use super::config::ZkPaths;
use super::session::Session;
use super::{EPHEMERAL, PERSISTENT};
use crate::CoordinatorError;

/// Rounds of create/replace before giving up on a node that another session keeps recreating.
const WRITE_ROUNDS: usize = 5;

struct Held<T> {
    value: T,
    written: bool,
}

#[derive(Default)]
struct Published {
    workers: BTreeMap<String, Held<Worker>>,
    statuses: BTreeMap<(String, String), Held<TaskAnnouncement>>,
}

pub(crate) struct Publisher {
    paths: ZkPaths,
    published: tokio::sync::Mutex<Published>,
}

impl Publisher {
    pub(crate) fn new(paths: ZkPaths) -> Self {
        Publisher {
            paths,
            published: tokio::sync::Mutex::default(),
        }
    }

    pub(crate) async fn announce(
        &self,
        session: &Session,
        worker: &Worker,
    ) -> Result<(), CoordinatorError> {
        let mut published = self.published.lock().await;
        let held = Held {
            value: worker.clone(),
            written: false,
        };
        published.workers.insert(worker.host.clone(), held);
        let path = self.paths.announcement(&worker.host);
        write_worker(session, &self.paths, worker)
            .await
            .map_err(|e| super::coordinator_error(e, &path))?;
        if let Some(held) = published.workers.get_mut(&worker.host) {
            held.written = true;
        }
        Ok(())
    }

    pub(crate) async fn unannounce(
        &self,
        session: &Session,
        host: &str,
    ) -> Result<(), CoordinatorError> {
        let mut published = self.published.lock().await;
        published.workers.remove(host);
        super::delete(session, &self.paths.announcement(host)).await
    }

    pub(crate) async fn announce_status(
        &self,
        session: &Session,
        host: &str,
        announcement: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError> {
        let path = self.paths.status(host, &announcement.id);
        self.publish_status(host, announcement, |first| async move {
            write_status(session, &self.paths, host, announcement, first)
                .await
                .map_err(|e| super::coordinator_error(e, &path))
        })
        .await
    }

    /// A task's start in one transaction: its status znode created (or set) with `running`,
    /// set to `located`, and its assignment deleted. The Overlord's watch sees both versions,
    /// as it would see two writes; the MiddleManager pays one request instead of four. When
    /// the transaction cannot apply (a status znode left from before a restart, an assignment
    /// already gone, a missing parent) the same writes are done one at a time.
    pub(crate) async fn announce_started(
        &self,
        session: &Session,
        host: &str,
        running: &TaskAnnouncement,
        located: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError> {
        let path = self.paths.status(host, &located.id);
        let assignment = self.paths.assignment(host, &located.id);
        let (running_data, located_data) = (codec::to_json(running), codec::to_json(located));
        self.publish_status(host, located, |first| async move {
            let in_one = session
                .run("announceStarted", |client| {
                    let (path, assignment) = (&path, &assignment);
                    let (running_data, located_data) = (&running_data, &located_data);
                    async move {
                        let mut writer = client.new_multi_writer();
                        if first {
                            writer.add_create(path, running_data, &PERSISTENT)?;
                        } else {
                            writer.add_set_data(path, running_data, None)?;
                        }
                        writer.add_set_data(path, located_data, None)?;
                        writer.add_delete(assignment, None)?;
                        writer.commit().await.map_err(zk::Error::from)
                    }
                })
                .await;
            if in_one.is_ok() {
                return Ok(());
            }
            for (announcement, first) in [(running, first), (located, false)] {
                write_status(session, &self.paths, host, announcement, first)
                    .await
                    .map_err(|e| super::coordinator_error(e, &path))?;
            }
            super::delete(session, &assignment).await
        })
        .await
    }

    /// Holds `latest` as the task's status announcement and runs `write`, told whether the
    /// znode is new to this publisher (a task's first announcement creates it: trying the
    /// create first saves the set that would fail, one request per task). The value counts as
    /// written once `write` succeeds. The lock is held across the write so that a
    /// re-publication never overtakes it.
    async fn publish_status<F, Fut>(
        &self,
        host: &str,
        latest: &TaskAnnouncement,
        write: F,
    ) -> Result<(), CoordinatorError>
    where
        F: FnOnce(bool) -> Fut,
        Fut: std::future::Future<Output = Result<(), CoordinatorError>>,
    {
        let mut published = self.published.lock().await;
        let key = (host.to_string(), latest.id.clone());
        let held = Held {
            value: latest.clone(),
            written: false,
        };
        let first = published.statuses.insert(key.clone(), held).is_none();
        write(first).await?;
        if let Some(held) = published.statuses.get_mut(&key) {
            held.written = true;
        }
        Ok(())
    }

    /// The Overlord removed this status announcement: stop holding it, unless a newer value
    /// still waits to be written.
    pub(crate) async fn forget_status(&self, host: &str, task: &str) {
        let mut published = self.published.lock().await;
        let key = (host.to_string(), task.to_string());
        if published.statuses.get(&key).is_some_and(|h| h.written) {
            published.statuses.remove(&key);
        }
    }

    /// Writes again what needs it: after a reconnection (`renewed == false`) the values whose
    /// write failed; after a new session everything.
    pub(crate) async fn republish(&self, session: &Session, renewed: bool) {
        let mut published = self.published.lock().await;
        for (host, held) in &mut published.workers {
            if renewed {
                held.written = false;
            }
            if held.written {
                continue;
            }
            match write_worker(session, &self.paths, &held.value).await {
                Ok(()) => {
                    held.written = true;
                    tracing::info!(worker = host, "worker announced again");
                }
                Err(e) => tracing::error!(worker = host, error = %e,
                    "cannot announce the worker again; retrying after the next reconnection"),
            }
        }
        let mut dropped = Vec::new();
        for ((host, task), held) in &mut published.statuses {
            if !held.written {
                match write_status(session, &self.paths, host, &held.value, false).await {
                    Ok(()) => held.written = true,
                    Err(e) => tracing::error!(worker = host, task, error = %e,
                        "cannot publish a status announcement; retrying after the next reconnection"),
                }
            } else if renewed {
                let path = self.paths.status(host, task);
                let data = codec::to_json(&held.value);
                let set = session
                    .run("renewStatus", |client| {
                        let (path, data) = (path.clone(), data.clone());
                        async move { client.set_data(&path, &data, None).await }
                    })
                    .await;
                match set {
                    Ok(_) => {}
                    Err(zk::Error::NoNode) => dropped.push((host.clone(), task.clone())),
                    Err(e) => tracing::warn!(worker = host, task, error = %e,
                        "cannot re-publish a status announcement"),
                }
            }
        }
        for key in dropped {
            published.statuses.remove(&key);
        }
    }
}

/// Creates the worker's parents if absent and its ephemeral announcement, replacing one left by
/// an earlier session of the same worker (which would vanish when that session expires).
async fn write_worker(
    session: &Session,
    paths: &ZkPaths,
    worker: &Worker,
) -> Result<(), zk::Error> {
    let data = codec::to_json(worker);
    let host = worker.host.as_str();
    session
        .run("announceWorker", |client| {
            let data = data.clone();
            async move {
                ensure_parent(&client, &paths.tasks, &paths.assignments_of(host)).await?;
                ensure_parent(&client, &paths.status, &paths.statuses_of(host)).await?;
                ensure_dir(&client, &paths.announcements).await?;
                put_ephemeral(&client, &paths.announcement(host), &data).await
            }
        })
        .await
}

async fn put_ephemeral(client: &zk::Client, path: &str, data: &[u8]) -> Result<(), zk::Error> {
    for _ in 0..WRITE_ROUNDS {
        match client.create(path, data, &EPHEMERAL).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(e),
        }
        let Some(stat) = client.check_stat(path).await? else {
            continue;
        };
        if stat.ephemeral_owner == client.session_id().0 {
            match client.set_data(path, data, Some(stat.version)).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode | zk::Error::BadVersion) => continue,
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(
            path,
            owner = %zk::SessionId(stat.ephemeral_owner),
            "replacing an announcement this worker left in another session"
        );
        match client.delete(path, Some(stat.version)).await {
            Ok(()) | Err(zk::Error::NoNode | zk::Error::BadVersion) => {}
            Err(e) => return Err(e),
        }
    }
    Err(zk::Error::NodeExists)
}

/// Druid's create-or-set of a status znode; `create_first` when the znode is most likely new.
async fn write_status(
    session: &Session,
    paths: &ZkPaths,
    host: &str,
    announcement: &TaskAnnouncement,
    create_first: bool,
) -> Result<(), zk::Error> {
    let path = paths.status(host, &announcement.id);
    let data = codec::to_json(announcement);
    session
        .run("announceStatus", |client| {
            let (path, data) = (path.clone(), data.clone());
            async move {
                for round in 0..WRITE_ROUNDS {
                    if !(create_first && round == 0) {
                        match client.set_data(&path, &data, None).await {
                            Ok(_) => return Ok(()),
                            Err(zk::Error::NoNode) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    match client.create(&path, &data, &PERSISTENT).await {
                        Ok(_) => return Ok(()),
                        Err(zk::Error::NodeExists) => {}
                        Err(zk::Error::NoNode) => {
                            ensure_parent(&client, &paths.status, &paths.statuses_of(host)).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(zk::Error::NoNode)
            }
        })
        .await
}

/// Creates the per-worker parent `node` under `dir` with Druid's `{"created": ...}` data.
pub(crate) async fn ensure_parent(
    client: &zk::Client,
    dir: &str,
    node: &str,
) -> Result<(), zk::Error> {
    let data = codec::parent_data();
    match client.create(node, &data, &PERSISTENT).await {
        Ok(_) | Err(zk::Error::NodeExists) => return Ok(()),
        Err(zk::Error::NoNode) => {}
        Err(e) => return Err(e),
    }
    ensure_dir(client, dir).await?;
    match client.create(node, &data, &PERSISTENT).await {
        Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn ensure_dir(client: &zk::Client, dir: &str) -> Result<(), zk::Error> {
    if dir == "/" {
        return Ok(());
    }
    client.mkdir(dir, &PERSISTENT).await
}
