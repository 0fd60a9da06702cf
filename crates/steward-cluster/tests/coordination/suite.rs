//! The behaviour every coordinator must have, written once and run against each
//! implementation (see `main.rs`).
//!
//! Where a test must show that nothing else was emitted, it ends with a fence: an action whose
//! event must be the very next one.

use steward_cluster::{CoordinatorError, RunnerEvent, WorkerEvent};
use tokio::sync::mpsc;

use crate::harness::*;

async fn overlord_fence(c: &Cluster, overlord: &mut mpsc::UnboundedReceiver<RunnerEvent>) {
    let fence = worker("fence:1");
    c.worker.announce(&fence).await.unwrap();
    assert_eq!(next(overlord).await, RunnerEvent::WorkerAdded(fence));
}

async fn worker_fence(c: &Cluster, host: &str, mm: &mut mpsc::UnboundedReceiver<WorkerEvent>) {
    let fence = task("fence");
    c.overlord.assign(host, &fence).await.unwrap();
    assert_eq!(next(mm).await, WorkerEvent::Assigned(fence));
}

pub async fn announcing_adds_and_initializes_the_worker(c: Cluster) {
    let mut overlord = c.overlord.subscribe().await.unwrap();
    assert!(queued(&mut overlord).is_empty());
    let w = worker("mm-a:8091");
    c.worker.announce(&w).await.unwrap();
    assert_eq!(
        take(&mut overlord, 2).await,
        vec![
            RunnerEvent::WorkerAdded(w.clone()),
            RunnerEvent::WorkerInitialized(w.host.clone())
        ]
    );
    overlord_fence(&c, &mut overlord).await;
}

pub async fn a_late_subscriber_gets_the_state_first(c: Cluster) {
    let (a, b, away) = (
        worker("mm-a:8091"),
        worker("mm-b:8091"),
        worker("mm-c:8091"),
    );
    c.worker.announce(&b).await.unwrap();
    c.worker.announce(&a).await.unwrap();
    c.worker
        .announce_status(&a.host, &running("t2"))
        .await
        .unwrap();
    c.worker
        .announce_status(&a.host, &succeeded("t1"))
        .await
        .unwrap();
    c.worker
        .announce_status(&away.host, &running("t3"))
        .await
        .unwrap();

    let mut overlord = c.overlord.subscribe().await.unwrap();
    // Already queued when `subscribe` returns: the Overlord drains it with `try_recv`.
    assert_eq!(
        queued(&mut overlord),
        vec![
            RunnerEvent::WorkerAdded(a.clone()),
            status(&a.host, succeeded("t1")),
            status(&a.host, running("t2")),
            RunnerEvent::WorkerInitialized(a.host.clone()),
            RunnerEvent::WorkerAdded(b.clone()),
            RunnerEvent::WorkerInitialized(b.host.clone()),
        ]
    );
    // The status of a worker that was not announced was remembered.
    c.worker.announce(&away).await.unwrap();
    assert_eq!(
        take(&mut overlord, 3).await,
        vec![
            RunnerEvent::WorkerAdded(away.clone()),
            status(&away.host, running("t3")),
            RunnerEvent::WorkerInitialized(away.host.clone()),
        ]
    );
    overlord_fence(&c, &mut overlord).await;
}

pub async fn announcing_other_data_changes_the_worker(c: Cluster) {
    let (mut overlord, w) = announced(&*c.overlord, &*c.worker).await;
    // The same data again changes nothing.
    c.worker.announce(&w).await.unwrap();
    c.worker.announce(&disabled(&w)).await.unwrap();
    assert_eq!(
        next(&mut overlord).await,
        RunnerEvent::WorkerChanged(disabled(&w))
    );
    c.worker.announce(&w).await.unwrap();
    assert_eq!(next(&mut overlord).await, RunnerEvent::WorkerChanged(w));
    overlord_fence(&c, &mut overlord).await;
}

pub async fn unannouncing_removes_the_worker(c: Cluster) {
    let (mut overlord, w) = announced(&*c.overlord, &*c.worker).await;
    c.worker.unannounce(&w.host).await.unwrap();
    assert_eq!(
        next(&mut overlord).await,
        RunnerEvent::WorkerRemoved(w.host.clone())
    );
    c.worker.unannounce(&w.host).await.unwrap();
    overlord_fence(&c, &mut overlord).await;
}

pub async fn an_assignment_exists_once_and_needs_the_worker(c: Cluster) {
    let w = worker("mm-a:8091");
    c.worker.announce(&w).await.unwrap();
    c.overlord.assign(&w.host, &task("t1")).await.unwrap();
    assert!(matches!(
        c.overlord.assign(&w.host, &task("t1")).await,
        Err(CoordinatorError::Exists(_))
    ));
    assert!(matches!(
        c.overlord.assign("nobody:8091", &task("t2")).await,
        Err(CoordinatorError::NoNode(_))
    ));
    c.overlord.remove_assignment(&w.host, "t1").await.unwrap();
    c.overlord.remove_assignment(&w.host, "t1").await.unwrap();
    c.overlord.assign(&w.host, &task("t1")).await.unwrap();
}

pub async fn the_worker_sees_existing_then_new_assignments(c: Cluster) {
    let w = worker("mm-a:8091");
    c.worker.announce(&w).await.unwrap();
    c.overlord.assign(&w.host, &task("t1")).await.unwrap();
    let mut mm = c.worker.subscribe(&w.host).await.unwrap();
    assert_eq!(queued(&mut mm), vec![WorkerEvent::Assigned(task("t1"))]);
    c.overlord.assign(&w.host, &task("t2")).await.unwrap();
    assert_eq!(next(&mut mm).await, WorkerEvent::Assigned(task("t2")));
    c.worker.remove_assignment(&w.host, "t1").await.unwrap();
    c.worker.remove_assignment(&w.host, "t1").await.unwrap();
    // A new assignment of the same id is a new assignment.
    c.overlord.assign(&w.host, &task("t1")).await.unwrap();
    assert_eq!(next(&mut mm).await, WorkerEvent::Assigned(task("t1")));
    worker_fence(&c, &w.host, &mut mm).await;
}

pub async fn every_status_change_is_delivered(c: Cluster) {
    let (mut overlord, w) = announced(&*c.overlord, &*c.worker).await;
    c.worker
        .announce_status(&w.host, &running("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut overlord).await, status(&w.host, running("t1")));
    c.worker
        .announce_status(&w.host, &succeeded("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut overlord).await, status(&w.host, succeeded("t1")));
    c.worker
        .announce_status(&w.host, &running("t0"))
        .await
        .unwrap();
    assert_eq!(next(&mut overlord).await, status(&w.host, running("t0")));
    assert_eq!(
        c.worker.statuses(&w.host).await.unwrap(),
        vec![running("t0"), succeeded("t1")]
    );
    assert!(c.worker.statuses("nobody:8091").await.unwrap().is_empty());
    overlord_fence(&c, &mut overlord).await;
}

pub async fn removing_a_status_tells_both_sides(c: Cluster) {
    let (mut overlord, w) = announced(&*c.overlord, &*c.worker).await;
    let mut mm = c.worker.subscribe(&w.host).await.unwrap();
    c.worker
        .announce_status(&w.host, &succeeded("t1"))
        .await
        .unwrap();
    assert_eq!(next(&mut overlord).await, status(&w.host, succeeded("t1")));
    c.overlord.remove_status(&w.host, "t1").await.unwrap();
    assert_eq!(
        next(&mut overlord).await,
        RunnerEvent::StatusRemoved {
            worker: w.host.clone(),
            task_id: "t1".into()
        }
    );
    assert_eq!(next(&mut mm).await, WorkerEvent::StatusRemoved("t1".into()));
    assert!(c.worker.statuses(&w.host).await.unwrap().is_empty());
    c.overlord.remove_status(&w.host, "t1").await.unwrap();
    overlord_fence(&c, &mut overlord).await;
    worker_fence(&c, &w.host, &mut mm).await;
}

pub async fn a_returning_worker_replays_its_statuses(c: Cluster) {
    let mut overlord = c.overlord.subscribe().await.unwrap();
    let w = worker("mm-a:8091");
    // Each step waits for its events: a watcher may read a node only after later changes, so
    // changes in quick succession can reach the Overlord merged.
    c.worker.announce(&w).await.unwrap();
    assert_eq!(
        take(&mut overlord, 2).await,
        vec![
            RunnerEvent::WorkerAdded(w.clone()),
            RunnerEvent::WorkerInitialized(w.host.clone()),
        ]
    );
    c.worker
        .announce_status(&w.host, &running("t2"))
        .await
        .unwrap();
    assert_eq!(next(&mut overlord).await, status(&w.host, running("t2")));
    c.worker.unannounce(&w.host).await.unwrap();
    assert_eq!(
        next(&mut overlord).await,
        RunnerEvent::WorkerRemoved(w.host.clone())
    );
    c.worker.announce(&w).await.unwrap();
    assert_eq!(
        take(&mut overlord, 3).await,
        vec![
            RunnerEvent::WorkerAdded(w.clone()),
            status(&w.host, running("t2")),
            RunnerEvent::WorkerInitialized(w.host.clone()),
        ]
    );
    c.worker.announce(&disabled(&w)).await.unwrap();
    assert_eq!(
        next(&mut overlord).await,
        RunnerEvent::WorkerChanged(disabled(&w))
    );
    overlord_fence(&c, &mut overlord).await;
}

pub async fn pending_assignments_are_listed_until_removed(c: Cluster) {
    let (a, b) = (worker("mm-a:8091"), worker("mm-b:8091"));
    c.worker.announce(&a).await.unwrap();
    c.worker.announce(&b).await.unwrap();
    assert_eq!(c.overlord.assignments().await.unwrap(), vec![]);
    c.overlord.assign(&a.host, &task("t1")).await.unwrap();
    c.overlord.assign(&b.host, &task("t2")).await.unwrap();
    let mut found = c.overlord.assignments().await.unwrap();
    found.sort();
    assert_eq!(
        found,
        vec![
            (a.host.clone(), "t1".to_string()),
            (b.host.clone(), "t2".to_string())
        ]
    );
    // Picked up by its worker: no longer pending.
    c.worker.remove_assignment(&a.host, "t1").await.unwrap();
    assert_eq!(
        c.overlord.assignments().await.unwrap(),
        vec![(b.host.clone(), "t2".to_string())]
    );
}

pub async fn a_start_announces_running_then_located_and_takes_the_assignment(c: Cluster) {
    let (mut overlord, w) = announced(&*c.overlord, &*c.worker).await;
    c.overlord.assign(&w.host, &task("t1")).await.unwrap();
    let located = steward_model::TaskAnnouncement {
        task_location: steward_model::TaskLocation {
            host: Some("mm-a".into()),
            port: 8100,
            tls_port: -1,
        },
        ..running("t1")
    };
    c.worker
        .announce_started(&w.host, &running("t1"), &located)
        .await
        .unwrap();
    // A watcher may read the znode only after both writes; it never sees them out of order.
    let mut seen = vec![next(&mut overlord).await];
    if seen[0] != status(&w.host, located.clone()) {
        seen.push(next(&mut overlord).await);
    }
    assert_eq!(seen.last(), Some(&status(&w.host, located.clone())));
    assert!(seen[..seen.len() - 1]
        .iter()
        .all(|e| *e == status(&w.host, running("t1"))));
    assert_eq!(c.overlord.assignments().await.unwrap(), vec![]);

    // Started again (a MiddleManager that restarted): its status is there already and its
    // assignment is gone, and the start is announced all the same.
    let moved = steward_model::TaskAnnouncement {
        task_location: steward_model::TaskLocation {
            port: 8101,
            ..located.task_location.clone()
        },
        ..located.clone()
    };
    c.worker
        .announce_started(&w.host, &running("t1"), &moved)
        .await
        .unwrap();
    assert_eq!(
        c.worker.statuses(&w.host).await.unwrap(),
        vec![moved.clone()]
    );
    loop {
        let event = next(&mut overlord).await;
        if event == status(&w.host, moved.clone()) {
            break;
        }
        assert_eq!(event, status(&w.host, running("t1")));
    }
    overlord_fence(&c, &mut overlord).await;
}
