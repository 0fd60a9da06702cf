//! The leading Overlord: its core, its feed, and the I/O it has asked for and the world has not
//! carried out yet. A failover replaces it with a new one built the way `Overlord::start_term`
//! builds a term: subscribe (the current state first), read the stored active tasks, their lock
//! rows and the assignments nobody has picked up, adopt, start.

use jiff::Timestamp;
use steward_overlord::{IoEffect, OverlordCore, QueueConfig, RunnerConfig, SegmentCoverage};

use crate::store::Store;
use crate::zk::{OverlordFeed, Tree};

pub struct Leader {
    pub core: OverlordCore,
    /// The election term it leads in; its coordinator writes are fenced by it.
    pub term: u64,
    pub feed: OverlordFeed,
    /// Effects asked for and not carried out, in the order the core emitted them: the driver
    /// runs each on its own task, but those with one target in that order, and the lock rows
    /// through one writer, in that order too.
    pub io: Vec<IoEffect>,
    /// The publishes that passed `begin_publish` here and have not ended: the task and the
    /// segments it writes (a task's sections nest). The pins are this leader's: they vanish
    /// with it.
    pub publishing: Vec<(String, Vec<SegmentCoverage>)>,
}

/// The runner's settings in the simulation: quick to blacklist, so blacklisting happens.
pub fn runner_config() -> RunnerConfig {
    RunnerConfig {
        max_retries_before_blacklist: 1,
        max_percentage_blacklist_workers: 40,
        ..RunnerConfig::default()
    }
}

impl Leader {
    /// The new leader, and the effects of its start for the driver. They come from several
    /// calls to the core, but only the last (the queue's start) can assign a task: nothing is
    /// pending before it.
    pub fn elect(
        term: u64,
        tree: &mut Tree,
        store: &Store,
        now: Timestamp,
    ) -> (Leader, Vec<IoEffect>) {
        let mut core = OverlordCore::new(QueueConfig::default(), runner_config());
        let (feed, events) = OverlordFeed::subscribe(tree);
        let mut io = Vec::new();
        for event in events {
            io.extend(core.cluster_event(event, now));
        }
        let stored = store.active();
        io.extend(core.adopt_assignments(tree.assignment_ids(), &stored, now));
        io.extend(core.start(stored, store.active_task_locks(), now));
        let leader = Leader {
            core,
            term,
            feed,
            io: Vec::new(),
            publishing: Vec::new(),
        };
        (leader, io)
    }
}
