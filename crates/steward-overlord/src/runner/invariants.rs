//! The runner's accounting invariants, checked by the core after events in debug builds and
//! by the tests: a corrupted map is caught where it happens, not when a task is lost later.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::worker_state::WorkerState;
use super::TaskRunner;

impl TaskRunner {
    /// The runner's accounting invariants, checked by the core after every event in debug
    /// builds (and by the tests): a task is in at most one of pending, running and complete;
    /// the priority order holds exactly the pending tasks; acknowledgement deadlines exist
    /// exactly for running tasks awaiting one; each worker (present or away) holds exactly the
    /// running tasks assigned to it, and its used capacity, availability groups and use by
    /// task type are the sums over them.
    pub(crate) fn check_invariants(&self) {
        for id in self.pending.keys() {
            assert!(
                !self.running.contains_key(id) && !self.complete.contains_key(id),
                "task {id} is pending and also running or complete"
            );
        }
        for id in self.running.keys() {
            assert!(
                !self.complete.contains_key(id),
                "task {id} is running and complete"
            );
        }
        assert_eq!(
            self.pending_order.len(),
            self.pending.len(),
            "pending order"
        );
        for key in &self.pending_order {
            assert!(
                self.pending.get(&key.id).is_some_and(|p| p.key == *key),
                "order key of {} without its pending task",
                key.id
            );
        }
        let awaiting: BTreeSet<(Timestamp, String)> = self
            .running
            .iter()
            .filter_map(|(id, item)| item.ack_deadline.map(|d| (d, id.clone())))
            .collect();
        assert_eq!(
            awaiting, self.ack_deadlines,
            "acknowledgement deadlines differ from the running tasks awaiting one"
        );
        let states = self
            .workers
            .iter()
            .chain(self.lost_workers.iter().map(|(h, l)| (h, &l.state)));
        let mut owned = 0;
        for (host, state) in states {
            let mut expected =
                WorkerState::new(state.worker.clone(), state.last_completed_task_time);
            for id in &state.tasks {
                let item = self
                    .running
                    .get(id)
                    .unwrap_or_else(|| panic!("worker {host} holds {id}, which is not running"));
                assert_eq!(
                    item.worker, *host,
                    "task {id} held by {host}, assigned elsewhere"
                );
                expected.add_task(id, item);
            }
            owned += state.tasks.len();
            assert_eq!(state.used, expected.used, "used capacity of {host}");
            assert_eq!(
                state.availability_groups, expected.availability_groups,
                "availability groups of {host}"
            );
            assert_eq!(
                state.used_by_type, expected.used_by_type,
                "use by type of {host}"
            );
        }
        assert_eq!(
            owned,
            self.running.len(),
            "running tasks held by no worker's accounting"
        );
    }
}
