//! The Overlord leader election on a real ZooKeeper: Curator-compatible latch nodes, one leader
//! at a time, a prompt hand-over when the leader's session closes or expires or the leader is
//! cut off, rejoining at the back of the line, and no write from a leader that was deposed.

use std::time::{Duration, Instant};

use steward_cluster::{
    CoordinatorError, LeaderElection, Leadership, OverlordCoordinator, WorkerCoordinator, ZkConfig,
    ZkCoordinator, ZkLeaderElection,
};
use steward_testkit::ZooKeeperServer;
use tokio::sync::watch;
use zookeeper_client as zk;

use crate::harness::*;
use crate::zookeeper::Freezable;

const SESSION: Duration = Duration::from_secs(2);
/// The session timeout plus "a few seconds": ZooKeeper checks expiries every tick (500 ms
/// here), and the next in line needs a few reads to take over; the rest is slack for a machine
/// busy with other tests.
const HANDOVER: Duration = Duration::from_secs(SESSION.as_secs() + 5);
/// The longest session the test server grants (20 ticks): a hand-over quicker than this did
/// not wait for an expiry.
const LONG_SESSION: Duration = Duration::from_secs(10);
const WORKER: &str = "mm-a:8091";

fn config(server: &ZooKeeperServer) -> ZkConfig {
    ZkConfig {
        session_timeout: SESSION,
        ..zk_config(server)
    }
}

fn url(name: &str) -> String {
    format!("http://{name}:8090")
}

/// An Overlord's coordinator and its part in the election.
struct Participant {
    coordinator: ZkCoordinator,
    election: ZkLeaderElection,
    leadership: watch::Receiver<Leadership>,
}

/// Joins on a session of its own and waits until the participant knows who leads.
async fn join(config: &ZkConfig, name: &str) -> Participant {
    let coordinator = ZkCoordinator::connect(config.clone()).await.unwrap();
    let election = coordinator.join_election(url(name));
    let mut leadership = election.leadership();
    until(&mut leadership, |l| l.leader.is_some()).await;
    Participant {
        coordinator,
        election,
        leadership,
    }
}

async fn until(
    leadership: &mut watch::Receiver<Leadership>,
    check: impl FnMut(&Leadership) -> bool,
) -> Leadership {
    let waited = tokio::time::timeout(EVENT_TIMEOUT, async {
        leadership.wait_for(check).await.map(|l| l.clone())
    })
    .await;
    match waited {
        Ok(Ok(l)) => l,
        Ok(Err(_)) => panic!("the election ended"),
        Err(_) => panic!(
            "leadership still {:?} after {EVENT_TIMEOUT:?}",
            *leadership.borrow()
        ),
    }
}

fn leading(name: &str) -> Leadership {
    Leadership {
        term: Some(1),
        leader: Some(url(name)),
    }
}

fn following(name: &str) -> Leadership {
    Leadership {
        term: None,
        leader: Some(url(name)),
    }
}

/// The latch nodes in line order, with their data and owning session.
async fn line(raw: &zk::Client, config: &ZkConfig) -> Vec<(String, String, i64)> {
    let latch = config.paths().unwrap().overlord_latch;
    let mut nodes = raw.list_children(&latch).await.unwrap();
    nodes.sort_by_key(|n| n[n.len() - 10..].to_string());
    let mut line = Vec::new();
    for node in nodes {
        let (data, stat) = raw.get_data(&format!("{latch}/{node}")).await.unwrap();
        line.push((node, String::from_utf8(data).unwrap(), stat.ephemeral_owner));
    }
    line
}

async fn assignment_exists(raw: &zk::Client, config: &ZkConfig, task: &str) -> bool {
    let tasks = config.paths().unwrap().tasks;
    raw.check_stat(&format!("{tasks}/{WORKER}/{task}"))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn the_first_to_join_leads_and_only_it_writes() {
    let server = shared_server().await;
    let config = config(server);
    let a = join(&config, "a").await;
    let b = join(&config, "b").await;
    let c = join(&config, "c").await;
    assert_eq!(*a.leadership.borrow(), leading("a"));
    assert_eq!(*b.leadership.borrow(), following("a"));
    assert_eq!(*c.leadership.borrow(), following("a"));

    // Curator's LeaderLatch layout: an ephemeral-sequential `_c_<uuid>-latch-<seq>` node per
    // participant, holding its id; the lowest sequence leads.
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    let line = line(&raw, &config).await;
    let expected = [("a", &a), ("b", &b), ("c", &c)];
    assert_eq!(line.len(), expected.len());
    for ((node, data, owner), (name, participant)) in line.iter().zip(expected) {
        assert!(
            node.starts_with("_c_") && node[..node.len() - 10].ends_with("-latch-"),
            "{node}"
        );
        assert_eq!(*data, url(name));
        assert_eq!(*owner, participant.coordinator.session_id().0);
    }

    let worker_side = ZkCoordinator::connect(config.clone()).await.unwrap();
    worker_side.announce(&worker(WORKER)).await.unwrap();
    a.coordinator.assign(WORKER, &task("t1")).await.unwrap();
    assert_eq!(
        b.coordinator.assign(WORKER, &task("t2")).await,
        Err(CoordinatorError::NotLeader)
    );
    assert_eq!(
        OverlordCoordinator::remove_assignment(&c.coordinator, WORKER, "t1").await,
        Err(CoordinatorError::NotLeader)
    );
    assert!(assignment_exists(&raw, &config, "t1").await);
    assert!(!assignment_exists(&raw, &config, "t2").await);
}

#[tokio::test]
async fn when_the_leader_goes_the_next_in_line_leads_at_once() {
    let server = shared_server().await;
    let config = ZkConfig {
        session_timeout: LONG_SESSION,
        ..zk_config(server)
    };
    let a = join(&config, "a").await;
    let mut b = join(&config, "b").await;
    let mut c = join(&config, "c").await;

    // Its session closes with it, and its latch node with the session: the hand-over does not
    // wait for the session to expire.
    drop(a);
    let handed_over = tokio::time::timeout(
        LONG_SESSION - Duration::from_secs(1),
        until(&mut b.leadership, |l| l.is_leader()),
    )
    .await
    .expect("a closed session hands over before it could have expired");
    assert_eq!(handed_over, leading("b"));
    assert_eq!(
        until(&mut c.leadership, |l| l.leader == Some(url("b"))).await,
        following("b")
    );

    // Leaving on purpose hands over at once too: its latch node is gone when `close` returns,
    // while its session, and the coordinator, stay.
    b.election.close().await;
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    let order: Vec<String> = line(&raw, &config)
        .await
        .into_iter()
        .map(|(_, d, _)| d)
        .collect();
    assert_eq!(order, [url("c")]);
    assert_eq!(
        until(&mut c.leadership, |l| l.is_leader()).await,
        leading("c")
    );
    assert_eq!(*b.leadership.borrow(), Leadership::default());
    assert_eq!(
        b.coordinator.assign(WORKER, &task("t1")).await,
        Err(CoordinatorError::NotLeader),
        "a coordinator that left the election stays fenced"
    );
}

#[tokio::test]
async fn an_expired_leader_is_replaced_writes_nothing_and_rejoins_at_the_back() {
    let server = shared_server().await;
    let config = config(server);
    // The first leader's client lives on a runtime the test can freeze, as a long pause would
    // freeze a process: it stops answering ZooKeeper, which expires its session.
    let runtime = Freezable::start();
    let mut a = runtime
        .handle
        .spawn({
            let config = config.clone();
            async move { join(&config, "a").await }
        })
        .await
        .unwrap();
    let mut b = join(&config, "b").await;
    let worker_side = ZkCoordinator::connect(config.clone()).await.unwrap();
    worker_side.announce(&worker(WORKER)).await.unwrap();
    assert_eq!(*a.leadership.borrow(), leading("a"));

    let thaw = runtime.freeze();
    let frozen = Instant::now();
    assert_eq!(
        until(&mut b.leadership, |l| l.is_leader()).await,
        leading("b")
    );
    assert!(
        frozen.elapsed() < HANDOVER,
        "taken over {:?} after the leader froze",
        frozen.elapsed()
    );

    // Thawed, the deposed leader may still believe it leads until it hears from ZooKeeper;
    // its writes are refused all the same.
    drop(thaw);
    assert_eq!(
        a.coordinator.assign(WORKER, &task("late")).await,
        Err(CoordinatorError::NotLeader)
    );
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    assert!(!assignment_exists(&raw, &config, "late").await);

    // It steps down and joins again, behind the new leader.
    assert_eq!(
        until(&mut a.leadership, |l| l.leader == Some(url("b"))).await,
        following("b")
    );
    let line = line(&raw, &config).await;
    let order: Vec<&str> = line.iter().map(|(_, data, _)| data.as_str()).collect();
    assert_eq!(order, [url("b"), url("a")]);
    assert_eq!(line[1].2, a.coordinator.session_id().0, "a new session");
}

#[tokio::test]
async fn a_leader_cut_off_from_zookeeper_steps_down_after_the_session_timeout() {
    let server = ZooKeeperServer::start().await;
    let config = config(&server);
    let mut a = join(&config, "a").await;
    let mut b = join(&config, "b").await;

    // A frozen server answers nothing and expires nothing: only the clients' own clocks can
    // tell the leader that its session may be gone.
    server.pause();
    let paused = Instant::now();
    until(&mut a.leadership, |l| *l == Leadership::default()).await;
    let stepped_down = paused.elapsed();
    assert!(stepped_down >= SESSION, "{stepped_down:?}");
    // Noticing the lost connection takes up to about half the session timeout.
    assert!(stepped_down < HANDOVER, "{stepped_down:?}");
    until(&mut b.leadership, |l| *l == Leadership::default()).await;

    server.resume();
    steward_testkit::wait_for("one leader that both agree on", EVENT_TIMEOUT, || async {
        let (x, y) = (a.leadership.borrow().clone(), b.leadership.borrow().clone());
        let agreed = x.leader.is_some()
            && x.leader == y.leader
            && x.is_leader() == (x.leader == Some(url("a")))
            && y.is_leader() == (y.leader == Some(url("b")));
        agreed.then_some(())
    })
    .await;
}

#[tokio::test]
async fn closing_the_election_deletes_its_node_though_the_coordinator_is_gone() {
    let server = shared_server().await;
    let config = ZkConfig {
        session_timeout: LONG_SESSION,
        ..zk_config(server)
    };
    let Participant {
        coordinator,
        election,
        ..
    } = join(&config, "a").await;
    // An Overlord stopping drops its term, and the coordinator with it, before it leaves the
    // election: the election's own hold on the session keeps the way to its node open.
    drop(coordinator);
    election.close().await;
    let raw = zk::Client::connect(&server.connect_string()).await.unwrap();
    assert_eq!(line(&raw, &config).await, vec![]);
}

#[tokio::test]
async fn a_worker_reads_the_overlords_in_line_the_leader_first() {
    let server = shared_server().await;
    let config = config(server);
    let worker = ZkCoordinator::connect(config.clone()).await.unwrap();
    assert_eq!(worker.overlord_urls().await, Ok(Vec::new()));
    let a = join(&config, "a").await;
    let mut b = join(&config, "b").await;
    assert_eq!(worker.overlord_urls().await, Ok(vec![url("a"), url("b")]));

    drop(a);
    until(&mut b.leadership, |l| l.is_leader()).await;
    assert_eq!(worker.overlord_urls().await, Ok(vec![url("b")]));
}
