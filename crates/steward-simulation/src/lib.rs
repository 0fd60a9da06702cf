//! The whole cluster as one deterministic simulation: the Overlord's core, several
//! MiddleManagers' cores with their peons and disks, a model of ZooKeeper with its feeds, and
//! the metadata store, driven through faults by one seed and checked after every step.
//!
//! The cores are the production ones (`steward_overlord::OverlordCore`,
//! `steward_worker::WorkerCore`); what surrounds them is a model of what the drivers, ZooKeeper,
//! the store and the peons can do, including the orders and losses they can produce. A seed
//! that breaks an invariant is reported with the command that replays it, so a run depends on
//! nothing but its seed: no hash order, no clock, no thread.
//!
//! - `world`: the run, its steps and its checks.
//! - `overlord`: the leading Overlord and its failover.
//! - `mm`: a MiddleManager process, its session, its peons and its disk.
//! - `zk`: the znodes and the two feeds.
//! - `store`: the task rows, the conditional write of an end, and the lock rows.
//! - `rng`: the seeded generator.
//! - `trace`: every step, event and effect, printed or hashed.

mod mm;
mod overlord;
mod rng;
mod store;
mod trace;
mod world;
mod zk;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub use world::Stats;
use world::World;

/// Steps per run when none are given: enough for every fault to happen in most runs.
pub const DEFAULT_STEPS: usize = 400;

/// Runs one seed; on a broken invariant, the message and the command that replays the run.
pub fn run_seed(seed: u64, steps: usize) -> Result<Stats, String> {
    run(seed, steps, false).map(|(stats, _)| stats)
}

/// Runs one seed as [`run_seed`] does, and hashes its whole trace (every step, event and
/// effect): two runs of one seed must give the same hash.
pub fn run_seed_hashed(seed: u64, steps: usize) -> Result<(Stats, u64), String> {
    run(seed, steps, true).map(|(stats, hash)| (stats, hash.expect("the trace was hashed")))
}

fn run(seed: u64, steps: usize, hash: bool) -> Result<(Stats, Option<u64>), String> {
    replayable(seed, steps, || {
        trace::start(hash);
        let mut world = World::new(seed);
        for _ in 0..steps {
            world.step();
        }
        world.finish();
        (world.stats().clone(), trace::finish())
    })
}

/// Runs `run`, the run of `seed` for `steps` steps; a panic in it (a broken invariant) becomes
/// its message and the command that replays the run.
fn replayable<T>(seed: u64, steps: usize, run: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(run)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string());
        format!(
            "seed {seed} broke an invariant: {message}\n\
             replay: cargo run -p steward-simulation --release -- --seed {seed} --steps {steps}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report of a broken invariant, from a world broken on purpose (a stray copy of a
    /// running task on a second MiddleManager): the seed, the invariant's message, the replay.
    #[test]
    fn a_broken_invariant_names_the_seed_and_the_command_that_replays_it() {
        let failure = replayable(7, DEFAULT_STEPS, || {
            let mut world = World::new(7);
            for _ in 0..DEFAULT_STEPS {
                if world.start_a_stray_copy() {
                    world.check();
                    return;
                }
                world.step();
            }
        })
        .expect_err("a stray copy breaks an invariant");
        assert!(
            failure.starts_with("seed 7 broke an invariant: t"),
            "{failure}"
        );
        assert!(
            failure.contains("none of them withdrawn by the Overlord"),
            "{failure}"
        );
        assert!(
            failure.ends_with(
                "replay: cargo run -p steward-simulation --release -- --seed 7 --steps 400"
            ),
            "{failure}"
        );
    }
}
