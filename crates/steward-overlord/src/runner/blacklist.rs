//! Blacklisting (Druid's `maxRetriesBeforeBlacklist` and `workerBlackListBackoffTime`): a
//! worker whose tasks keep failing gets no new tasks for a while, as long as no more than the
//! allowed share of workers is blacklisted at once.

use jiff::Timestamp;
use tracing::{info, warn};

use super::{after, TaskRunner};

impl TaskRunner {
    fn blacklisted_count(&self) -> usize {
        self.workers
            .values()
            .filter(|w| w.blacklisted_until.is_some())
            .count()
    }

    /// The share of workers that may be blacklisted, as Druid computes it.
    fn blacklist_limit(&self) -> f64 {
        self.workers.len() as f64 * (self.config.max_percentage_blacklist_workers as f64 / 100.0)
    }

    /// Blacklists `host` if its consecutive failures exceed the allowed retries and the share
    /// of blacklisted workers allows one more.
    pub(super) fn maybe_blacklist(&mut self, host: &str, now: Timestamp) {
        let limit = self.blacklist_limit();
        let count = self.blacklisted_count() as f64;
        let max_retries = self.config.max_retries_before_blacklist;
        let backoff = self.config.worker_blacklist_backoff_time;
        let Some(w) = self.workers.get_mut(host) else {
            return;
        };
        if w.blacklisted_until.is_none()
            && w.continuously_failed_tasks > max_retries
            && count <= limit - 1.0
        {
            let until = after(now, backoff);
            warn!(worker = host, failures = w.continuously_failed_tasks, until = %until, "blacklisting worker");
            w.blacklisted_until = Some(until);
            self.schedule_blacklist_check(now);
        }
    }

    /// Makes sure a blacklist check is scheduled, so that a blacklisted worker is let back in.
    pub(super) fn schedule_blacklist_check(&mut self, now: Timestamp) {
        if self.next_blacklist_check.is_none() {
            self.next_blacklist_check =
                Some(after(now, self.config.worker_blacklist_cleanup_period));
        }
    }

    /// Lets back in the workers whose backoff is over, and others while more are blacklisted
    /// than allowed (workers may have left since they were blacklisted).
    fn check_blacklisted_workers(&mut self, now: Timestamp) {
        let hosts: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| w.blacklisted_until.is_some())
            .map(|(h, _)| h.clone())
            .collect();
        for host in hosts {
            let over_limit = self.blacklisted_count() as f64 > self.blacklist_limit();
            let w = self.workers.get_mut(&host).expect("collected above");
            if over_limit || w.blacklisted_until.is_some_and(|t| t <= now) {
                info!(worker = host, "removing worker from the blacklist");
                w.blacklisted_until = None;
                w.continuously_failed_tasks = 0;
            }
        }
    }

    /// Runs the blacklist check once it is due, and schedules the next one while any worker is
    /// still blacklisted.
    pub(super) fn check_blacklist(&mut self, now: Timestamp) {
        if self.next_blacklist_check.is_some_and(|t| t <= now) {
            self.check_blacklisted_workers(now);
            self.next_blacklist_check = self
                .workers
                .values()
                .any(|w| w.blacklisted_until.is_some())
                .then(|| after(now, self.config.worker_blacklist_cleanup_period));
        }
    }
}
