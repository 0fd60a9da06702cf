//! Worker select strategies (Druid's `WorkerSelectStrategy`): which runnable worker gets a task.
//!
//! The runner decides which workers are *runnable* for a task (capacity, availability group,
//! version, blacklist); a strategy only orders them. Ties go to the lowest host name, so the
//! choice is deterministic and testable.

use serde::{Deserialize, Serialize};

/// A runnable worker as a strategy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub host: &'a str,
    pub capacity: u32,
    pub used: u32,
}

/// Druid's `selectStrategy` types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum WorkerSelectStrategy {
    /// The worker with the most free capacity (Druid's default).
    #[default]
    EqualDistribution,
    /// The worker with the most capacity in use: fills one worker before the next.
    FillCapacity,
}

impl WorkerSelectStrategy {
    pub fn choose<'a>(
        self,
        candidates: impl IntoIterator<Item = Candidate<'a>>,
    ) -> Option<&'a str> {
        let key = |c: &Candidate<'a>| match self {
            WorkerSelectStrategy::EqualDistribution => c.capacity.saturating_sub(c.used),
            WorkerSelectStrategy::FillCapacity => c.used,
        };
        candidates
            .into_iter()
            // max_by_key keeps the last maximum; reversing the host order makes ties go to the
            // lowest host.
            .max_by(|a, b| key(a).cmp(&key(b)).then_with(|| b.host.cmp(a.host)))
            .map(|c| c.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(host: &str, capacity: u32, used: u32) -> Candidate<'_> {
        Candidate {
            host,
            capacity,
            used,
        }
    }

    #[test]
    fn equal_distribution_prefers_most_free_capacity() {
        let s = WorkerSelectStrategy::EqualDistribution;
        assert_eq!(
            s.choose([c("a", 4, 3), c("b", 4, 1), c("c", 2, 0)]),
            Some("b")
        );
        assert_eq!(s.choose([c("b", 4, 0), c("a", 4, 0)]), Some("a"));
        assert_eq!(s.choose([]), None);
    }

    #[test]
    fn fill_capacity_prefers_busiest_worker() {
        let s = WorkerSelectStrategy::FillCapacity;
        assert_eq!(
            s.choose([c("a", 4, 1), c("b", 4, 3), c("c", 8, 0)]),
            Some("b")
        );
        assert_eq!(s.choose([c("b", 4, 0), c("a", 4, 0)]), Some("a"));
    }
}
