//! Coordination inside one process, for `steward quickstart`.
//!
//! It keeps what ZooKeeper would hold (announcements, assignments, status announcements) in one
//! map behind a mutex and pushes the same events ZooKeeper watches would deliver. The mutex is
//! never held across an await: every operation is a map update plus non-blocking sends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use steward_model::{Task, TaskAnnouncement, Worker};
use tokio::sync::mpsc;

use crate::{CoordinatorError, OverlordCoordinator, RunnerEvent, WorkerCoordinator, WorkerEvent};

#[derive(Default)]
struct State {
    workers: BTreeMap<String, Worker>,
    assignments: HashMap<String, BTreeMap<String, Task>>,
    statuses: HashMap<String, BTreeMap<String, TaskAnnouncement>>,
    overlords: Vec<mpsc::UnboundedSender<RunnerEvent>>,
    workers_subs: HashMap<String, mpsc::UnboundedSender<WorkerEvent>>,
}

impl State {
    fn notify_overlords(&mut self, event: RunnerEvent) {
        self.overlords.retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn notify_worker(&mut self, host: &str, event: WorkerEvent) {
        if let Some(tx) = self.workers_subs.get(host) {
            if tx.send(event).is_err() {
                self.workers_subs.remove(host);
            }
        }
    }
}

/// The in-process coordinator; share it as `Arc<InProcessCoordinator>` between the Overlord and
/// the MiddleManagers of one process.
#[derive(Default)]
pub struct InProcessCoordinator {
    state: Mutex<State>,
}

impl InProcessCoordinator {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("coordinator state poisoned")
    }
}

#[async_trait]
impl OverlordCoordinator for InProcessCoordinator {
    async fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        for (host, worker) in &st.workers {
            let _ = tx.send(RunnerEvent::WorkerAdded(worker.clone()));
            for a in st.statuses.get(host).into_iter().flat_map(|m| m.values()) {
                let _ = tx.send(RunnerEvent::StatusAnnounced {
                    worker: host.clone(),
                    announcement: a.clone(),
                });
            }
            let _ = tx.send(RunnerEvent::WorkerInitialized(host.clone()));
        }
        st.overlords.push(tx);
        Ok(rx)
    }

    async fn assign(&self, worker: &str, task: &Task) -> Result<(), CoordinatorError> {
        let mut st = self.lock();
        if !st.workers.contains_key(worker) {
            return Err(CoordinatorError::NoNode(format!("worker {worker}")));
        }
        let slot = st.assignments.entry(worker.to_string()).or_default();
        if slot.contains_key(task.id()) {
            return Err(CoordinatorError::Exists(format!("{worker}/{}", task.id())));
        }
        slot.insert(task.id().to_string(), task.clone());
        st.notify_worker(worker, WorkerEvent::Assigned(task.clone()));
        Ok(())
    }

    async fn assignments(&self) -> Result<Vec<(String, String)>, CoordinatorError> {
        let st = self.lock();
        Ok(st
            .assignments
            .iter()
            .flat_map(|(w, m)| m.keys().map(move |t| (w.clone(), t.clone())))
            .collect())
    }

    async fn remove_assignment(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
        if let Some(m) = self.lock().assignments.get_mut(worker) {
            m.remove(task_id);
        }
        Ok(())
    }

    async fn remove_status(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
        let mut st = self.lock();
        let removed = st
            .statuses
            .get_mut(worker)
            .and_then(|m| m.remove(task_id))
            .is_some();
        if removed {
            st.notify_overlords(RunnerEvent::StatusRemoved {
                worker: worker.to_string(),
                task_id: task_id.to_string(),
            });
            st.notify_worker(worker, WorkerEvent::StatusRemoved(task_id.to_string()));
        }
        Ok(())
    }
}

#[async_trait]
impl WorkerCoordinator for InProcessCoordinator {
    async fn announce(&self, worker: &Worker) -> Result<(), CoordinatorError> {
        let mut st = self.lock();
        match st.workers.insert(worker.host.clone(), worker.clone()) {
            Some(old) if &old == worker => {}
            Some(_) => st.notify_overlords(RunnerEvent::WorkerChanged(worker.clone())),
            None => {
                st.notify_overlords(RunnerEvent::WorkerAdded(worker.clone()));
                let existing: Vec<TaskAnnouncement> = st
                    .statuses
                    .get(&worker.host)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default();
                for announcement in existing {
                    st.notify_overlords(RunnerEvent::StatusAnnounced {
                        worker: worker.host.clone(),
                        announcement,
                    });
                }
                st.notify_overlords(RunnerEvent::WorkerInitialized(worker.host.clone()));
            }
        }
        Ok(())
    }

    async fn unannounce(&self, host: &str) -> Result<(), CoordinatorError> {
        let mut st = self.lock();
        if st.workers.remove(host).is_some() {
            st.notify_overlords(RunnerEvent::WorkerRemoved(host.to_string()));
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        host: &str,
    ) -> Result<mpsc::UnboundedReceiver<WorkerEvent>, CoordinatorError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        for task in st
            .assignments
            .get(host)
            .into_iter()
            .flat_map(|m| m.values())
        {
            let _ = tx.send(WorkerEvent::Assigned(task.clone()));
        }
        st.workers_subs.insert(host.to_string(), tx);
        Ok(rx)
    }

    async fn announce_status(
        &self,
        host: &str,
        announcement: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError> {
        let mut st = self.lock();
        st.statuses
            .entry(host.to_string())
            .or_default()
            .insert(announcement.id.clone(), announcement.clone());
        st.notify_overlords(RunnerEvent::StatusAnnounced {
            worker: host.to_string(),
            announcement: announcement.clone(),
        });
        Ok(())
    }

    async fn statuses(&self, host: &str) -> Result<Vec<TaskAnnouncement>, CoordinatorError> {
        Ok(self
            .lock()
            .statuses
            .get(host)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn remove_assignment(&self, host: &str, task_id: &str) -> Result<(), CoordinatorError> {
        OverlordCoordinator::remove_assignment(self, host, task_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_model::{TaskLocation, TaskResource, TaskStatus};

    fn worker(host: &str) -> Worker {
        Worker {
            scheme: "http".into(),
            host: host.into(),
            ip: "127.0.0.1".into(),
            capacity: 2,
            version: "0".into(),
            category: steward_model::DEFAULT_WORKER_CATEGORY.into(),
        }
    }

    fn announcement(id: &str, status: TaskStatus) -> TaskAnnouncement {
        TaskAnnouncement::new(
            "noop",
            "none",
            TaskResource::default_for(id),
            status,
            TaskLocation::unknown(),
        )
    }

    #[tokio::test]
    async fn assignment_status_and_cleanup_flow() {
        let c = InProcessCoordinator::new();
        let w = worker("mm:8091");
        WorkerCoordinator::announce(&c, &w).await.unwrap();
        let mut overlord = OverlordCoordinator::subscribe(&c).await.unwrap();
        assert_eq!(
            overlord.recv().await,
            Some(RunnerEvent::WorkerAdded(w.clone()))
        );
        assert_eq!(
            overlord.recv().await,
            Some(RunnerEvent::WorkerInitialized(w.host.clone()))
        );

        let task = Task::from_json(serde_json::json!({"type":"noop","id":"t1"})).unwrap();
        c.assign(&w.host, &task).await.unwrap();
        assert!(matches!(
            c.assign(&w.host, &task).await,
            Err(CoordinatorError::Exists(_))
        ));
        assert!(matches!(
            c.assign("gone:1", &task).await,
            Err(CoordinatorError::NoNode(_))
        ));
        // A worker that subscribes late still sees the assignment.
        let mut mm = WorkerCoordinator::subscribe(&c, &w.host).await.unwrap();
        assert_eq!(mm.recv().await, Some(WorkerEvent::Assigned(task.clone())));

        let done = announcement("t1", TaskStatus::success("t1"));
        c.announce_status(&w.host, &done).await.unwrap();
        assert_eq!(
            overlord.recv().await,
            Some(RunnerEvent::StatusAnnounced {
                worker: w.host.clone(),
                announcement: done.clone()
            })
        );
        assert_eq!(c.statuses(&w.host).await.unwrap(), vec![done]);
        c.remove_status(&w.host, "t1").await.unwrap();
        assert_eq!(
            overlord.recv().await,
            Some(RunnerEvent::StatusRemoved {
                worker: w.host.clone(),
                task_id: "t1".into()
            })
        );
        assert_eq!(
            mm.recv().await,
            Some(WorkerEvent::StatusRemoved("t1".into()))
        );
        assert!(c.statuses(&w.host).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn worker_return_replays_its_statuses() {
        let c = InProcessCoordinator::new();
        let mut overlord = OverlordCoordinator::subscribe(&c).await.unwrap();
        let w = worker("mm:8091");
        WorkerCoordinator::announce(&c, &w).await.unwrap();
        let running = announcement("t2", TaskStatus::running("t2"));
        c.announce_status(&w.host, &running).await.unwrap();
        c.unannounce(&w.host).await.unwrap();
        let mut disabled = w.clone();
        WorkerCoordinator::announce(&c, &w).await.unwrap();
        disabled.version = String::new();
        WorkerCoordinator::announce(&c, &disabled).await.unwrap();
        let events: Vec<RunnerEvent> = std::iter::from_fn(|| overlord.try_recv().ok()).collect();
        assert_eq!(
            events,
            vec![
                RunnerEvent::WorkerAdded(w.clone()),
                RunnerEvent::WorkerInitialized(w.host.clone()),
                RunnerEvent::StatusAnnounced {
                    worker: w.host.clone(),
                    announcement: running.clone()
                },
                RunnerEvent::WorkerRemoved(w.host.clone()),
                RunnerEvent::WorkerAdded(w.clone()),
                RunnerEvent::StatusAnnounced {
                    worker: w.host.clone(),
                    announcement: running
                },
                RunnerEvent::WorkerInitialized(w.host.clone()),
                RunnerEvent::WorkerChanged(disabled),
            ]
        );
    }
}
