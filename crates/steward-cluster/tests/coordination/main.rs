//! Coordination tests against real implementations: the shared suite runs once against the
//! in-process coordinator and once against ZooKeeper (a private server started by the test
//! kit), and `zookeeper` holds what only ZooKeeper has: its znode layout, compressed
//! announcements from Druid, large tasks, session expiry and server restarts. `election` tests
//! the Overlord leader election and the fencing of a deposed leader's writes.

mod election;
mod harness;
mod suite;
mod zookeeper;

/// Runs every named test of `suite` against both implementations.
macro_rules! run_suite {
    ($($test:ident),* $(,)?) => {
        mod in_process_suite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::suite::$test(crate::harness::in_process().await).await
                }
            )*
        }

        mod zookeeper_suite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::suite::$test(crate::harness::zookeeper().await).await
                }
            )*
        }
    };
}

run_suite!(
    announcing_adds_and_initializes_the_worker,
    a_late_subscriber_gets_the_state_first,
    announcing_other_data_changes_the_worker,
    unannouncing_removes_the_worker,
    an_assignment_exists_once_and_needs_the_worker,
    the_worker_sees_existing_then_new_assignments,
    every_status_change_is_delivered,
    removing_a_status_tells_both_sides,
    a_returning_worker_replays_its_statuses,
    pending_assignments_are_listed_until_removed,
    a_start_announces_running_then_located_and_takes_the_assignment,
);
