//! The Overlord's leadership lifecycle (Druid's `DruidOverlord` and `TaskMaster`).
//!
//! Every Overlord process serves HTTP; only the leader runs a queue and a runner. [`TaskMaster`]
//! follows the leadership an election publishes: on becoming leader it starts a fresh term at
//! once ([`Overlord::start_term`]: subscribe to the coordinator, adopt what the workers run,
//! load the active tasks from the store, start the queue; Druid first waits `startDelay`, a
//! minute); on losing it, it stops the term. Workers and their tasks are left alone: the next
//! leader adopts them from their status announcements and records the ends of tasks that
//! finished while no one led.
//!
//! A term does not wait to be told that it is over: its event loop and every I/O task it
//! spawned watch the leadership themselves ([`Term`]) and stop before their next step once the
//! term has ended, so an assignment or a status write of a lost leadership never lands later.
//! Writes to ZooKeeper are fenced by the leader's latch node on top of that (see
//! `steward_cluster::zookeeper`).

use std::future::Future;
use std::time::Duration;

use steward_cluster::{sleep_until, Leadership};
use steward_model::backoff::Backoff;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info};

use crate::driver::{Overlord, OverlordParts};

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// One leadership term of this process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Term {
    id: u64,
    leadership: watch::Receiver<Leadership>,
}

impl Term {
    /// Term `id` of `leadership`; it lasts while `leadership` says this process leads in it.
    pub fn new(id: u64, leadership: watch::Receiver<Leadership>) -> Term {
        Term { id, leadership }
    }

    /// The term of a process that always leads.
    pub fn unending() -> Term {
        let (_, leadership) = watch::channel(Leadership {
            term: Some(1),
            leader: None,
        });
        Term::new(1, leadership)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn is_current(&self) -> bool {
        self.leadership.borrow().term == Some(self.id)
    }

    /// Resolves once the term is over.
    pub async fn ended(&mut self) {
        let id = Some(self.id);
        // An election that has ended leaves its last value standing.
        if self.leadership.wait_for(|l| l.term != id).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Runs `work` while the term lasts: the term is checked before every step of `work`, and
    /// `work` is dropped at its first step after the term has ended.
    pub async fn run(mut self, work: impl Future<Output = ()>) {
        tokio::select! {
            biased;
            () = self.ended() => {}
            () = work => {}
        }
    }
}

/// Holds the current term's [`Overlord`], if this process leads. Cheap to clone.
#[derive(Clone)]
pub struct TaskMaster {
    leadership: watch::Receiver<Leadership>,
    terms: watch::Receiver<Option<Overlord>>,
    /// Asks the lifecycle task to stop; `None` for a process that always leads.
    stop: Option<mpsc::UnboundedSender<oneshot::Sender<()>>>,
}

impl TaskMaster {
    /// Follows `leadership`: starts a term with `parts` whenever this process becomes leader
    /// and stops it when it is not any more.
    pub fn start(parts: OverlordParts, leadership: watch::Receiver<Leadership>) -> TaskMaster {
        let (terms_tx, terms) = watch::channel(None);
        let (stop, stop_rx) = mpsc::unbounded_channel();
        tokio::spawn(lifecycle(parts, leadership.clone(), terms_tx, stop_rx));
        TaskMaster {
            leadership,
            terms,
            stop: Some(stop),
        }
    }

    /// A process that always leads, with its one `overlord`.
    pub fn leading(overlord: Overlord, leadership: watch::Receiver<Leadership>) -> TaskMaster {
        let (_, terms) = watch::channel(Some(overlord));
        TaskMaster {
            leadership,
            terms,
            stop: None,
        }
    }

    /// The running term's Overlord; `None` unless this process leads and its term has started
    /// (Druid's `isLeader`: the latch is held and the leader services are up).
    pub fn overlord(&self) -> Option<Overlord> {
        self.terms
            .borrow()
            .as_ref()
            .filter(|o| o.term().is_current())
            .cloned()
    }

    /// What this process knows about the leadership.
    pub fn leadership(&self) -> Leadership {
        self.leadership.borrow().clone()
    }

    /// Stops the running term and no longer starts new ones.
    pub async fn stop(&self) {
        match &self.stop {
            Some(stop) => {
                let (reply, stopped) = oneshot::channel();
                if stop.send(reply).is_ok() {
                    let _ = stopped.await;
                }
            }
            None => {
                let overlord = self.terms.borrow().clone();
                if let Some(overlord) = overlord {
                    overlord.stop().await;
                }
            }
        }
    }
}

async fn lifecycle(
    parts: OverlordParts,
    mut leadership: watch::Receiver<Leadership>,
    terms: watch::Sender<Option<Overlord>>,
    mut stop: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut election_open = true;
    let mut retry = Backoff::new(FIRST_RETRY, MAX_RETRY);
    loop {
        let wanted = leadership.borrow_and_update().term;
        let running = terms.borrow().as_ref().map(|o| o.term().id());
        if running.is_some() && running != wanted {
            if let Some(overlord) = terms.send_replace(None) {
                info!(
                    term = overlord.term().id(),
                    "no longer leading: stopping the term"
                );
                overlord.stop().await;
            }
        }
        let mut retry_after = None;
        if let Some(id) = wanted.filter(|id| running != Some(*id)) {
            info!(term = id, "leading: starting a term");
            match Overlord::start_term(parts.clone(), Term::new(id, leadership.clone())).await {
                Ok(overlord) => {
                    retry.reset();
                    terms.send_replace(Some(overlord));
                }
                Err(e) => {
                    error!(term = id, error = %e, "cannot start leading; retrying");
                    retry_after = Some(tokio::time::Instant::now() + retry.next_wait());
                }
            }
        }
        tokio::select! {
            changed = leadership.changed(), if election_open => election_open = changed.is_ok(),
            () = sleep_until(retry_after) => {}
            reply = stop.recv() => {
                if let Some(overlord) = terms.send_replace(None) {
                    overlord.stop().await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde_json::json;
    use steward_cluster::{
        CoordinatorError, FileTaskLogs, InProcessCoordinator, OverlordCoordinator, RunnerEvent,
        WorkerCoordinator,
    };
    use steward_metadata::SqliteStore;
    use steward_model::{Task, Worker, DEFAULT_WORKER_CATEGORY};
    use steward_testkit::wait_for;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::config::{QueueConfig, RunnerConfig};

    const DEADLINE: Duration = Duration::from_secs(10);

    /// Counts an assignment dropped before its gate opened, unless it went through.
    struct Abandoned {
        count: Arc<AtomicUsize>,
        passed: bool,
    }

    impl Drop for Abandoned {
        fn drop(&mut self) {
            if !self.passed {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// The in-process coordinator with assignments held at a gate the test opens.
    struct Gated {
        inner: Arc<InProcessCoordinator>,
        gate: Semaphore,
        waiting: AtomicUsize,
        abandoned: Arc<AtomicUsize>,
        written: AtomicUsize,
    }

    #[async_trait]
    impl OverlordCoordinator for Gated {
        async fn subscribe(
            &self,
        ) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError> {
            OverlordCoordinator::subscribe(&*self.inner).await
        }

        async fn assign(&self, worker: &str, task: &Task) -> Result<(), CoordinatorError> {
            let mut abandoned = Abandoned {
                count: self.abandoned.clone(),
                passed: false,
            };
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _open = self.gate.acquire().await.expect("gate open");
            abandoned.passed = true;
            self.written.fetch_add(1, Ordering::SeqCst);
            self.inner.assign(worker, task).await
        }

        async fn remove_assignment(
            &self,
            worker: &str,
            task_id: &str,
        ) -> Result<(), CoordinatorError> {
            OverlordCoordinator::remove_assignment(&*self.inner, worker, task_id).await
        }

        async fn remove_status(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError> {
            self.inner.remove_status(worker, task_id).await
        }

        async fn assignments(&self) -> Result<Vec<(String, String)>, CoordinatorError> {
            self.inner.assignments().await
        }
    }

    #[tokio::test]
    async fn a_term_that_ends_abandons_its_writes_in_flight_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.db"), "druid")
            .await
            .unwrap();
        let inner = Arc::new(InProcessCoordinator::new());
        let worker = Worker {
            scheme: "http".into(),
            host: "mm-a:8091".into(),
            ip: "mm-a".into(),
            capacity: 1,
            version: "0".into(),
            category: DEFAULT_WORKER_CATEGORY.into(),
        };
        inner.announce(&worker).await.unwrap();
        let gated = Arc::new(Gated {
            inner,
            gate: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            abandoned: Arc::new(AtomicUsize::new(0)),
            written: AtomicUsize::new(0),
        });
        let parts = OverlordParts {
            queue: QueueConfig::default(),
            runner: RunnerConfig::default(),
            store: Arc::new(store),
            coordinator: gated.clone(),
            task_logs: FileTaskLogs::new(dir.path().join("logs")),
            internal_client: Default::default(),
        };
        let (elect, elected) = watch::channel(Leadership {
            term: Some(1),
            leader: Some("http://self:8090".into()),
        });
        let overlord = Overlord::start_term(parts, Term::new(1, elected))
            .await
            .unwrap();
        let task = Task::from_json(json!({"type": "noop", "id": "t1"})).unwrap();
        overlord.submit(task).await.unwrap();
        wait_for("the assignment to be under way", DEADLINE, || async {
            (gated.waiting.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;

        elect.send_replace(Leadership::default());
        wait_for("the assignment to be abandoned", DEADLINE, || async {
            (gated.abandoned.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        gated.gate.add_permits(1);
        wait_for("the event loop to stop", DEADLINE, || async {
            overlord
                .query(|c| c.queue.len())
                .await
                .is_none()
                .then_some(())
        })
        .await;
        assert_eq!(gated.written.load(Ordering::SeqCst), 0);
        assert!(!overlord.term().is_current());
    }

    #[tokio::test]
    async fn work_run_in_a_term_stops_at_its_first_step_after_the_end() {
        let (elect, elected) = watch::channel(Leadership {
            term: Some(3),
            leader: None,
        });
        let term = Term::new(3, elected);
        let steps = Arc::new(AtomicUsize::new(0));
        let (next, mut step) = mpsc::unbounded_channel::<()>();
        let work = tokio::spawn(term.clone().run({
            let steps = steps.clone();
            async move {
                while step.recv().await.is_some() {
                    steps.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
        next.send(()).unwrap();
        wait_for("the first step", DEADLINE, || async {
            (steps.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        // A new term is not this term.
        elect.send_replace(Leadership {
            term: Some(4),
            leader: None,
        });
        next.send(()).unwrap();
        work.await.unwrap();
        assert_eq!(steps.load(Ordering::SeqCst), 1);
        assert!(!term.is_current());
        assert!(Term::unending().is_current());
    }
}
