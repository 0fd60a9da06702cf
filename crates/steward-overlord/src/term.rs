//! One leadership term of this process: the span during which an election says this Overlord
//! leads under one term id.
//!
//! Both the lifecycle ([`crate::master`]), which starts and stops terms, and the driver, whose
//! event loop and I/O tasks must stop on their own once their term is over, need it; it lives
//! apart from both so that neither depends on the other for it. A term does not wait to be
//! told that it is over: whoever holds one can ask whether it is still current, wait for its
//! end, or run work that is dropped at its first step after the end, so a write of a lost
//! leadership never lands later.

use std::future::Future;

use steward_cluster::Leadership;
use tokio::sync::watch;

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use steward_testkit::wait_for;
    use tokio::sync::mpsc;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

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
