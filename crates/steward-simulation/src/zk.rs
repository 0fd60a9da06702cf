//! The coordinator as ZooKeeper holds it, and the two feeds that turn its changes into the
//! cores' events, with the semantics of `steward_cluster::zookeeper`:
//!
//! - a worker's announcement is ephemeral (it goes with the worker's session); assignments and
//!   status announcements are persistent;
//! - an Overlord write (an assignment) is a multi that checks the writer still leads and the
//!   worker is announced;
//! - the Overlord's feed keeps what it delivered and emits only differences: a change is read
//!   when its watch event is handled, so several writes to one znode can reach the Overlord as
//!   one (the intermediate value is never seen), and after a reconnection the whole tree is
//!   read again and the difference emitted in tree order, not in the order of the writes; a
//!   node is known by its creation zxid too, so one deleted and created again meanwhile is
//!   removed, then announced again, even with the same data;
//! - a worker's feed delivers each assignment znode once while it exists and a deletion of a
//!   status znode it saw as `StatusRemoved`; after a new session it delivers every assignment
//!   present again.
//!
//! The feeds here are a model of the real ones, not the real ones: the simulation checks the
//! cores against the orders and losses the real feeds can produce, which the tests of
//! `steward-cluster` check against a real ZooKeeper.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use steward_model::coordination::{RunnerEvent, WorkerEvent};
use steward_model::{Task, TaskAnnouncement, Worker};

/// A change the Overlord's watch reports: a deletion, or a write whose data is read when the
/// event is handled (so writes can coalesce, but a deletion is never hidden by a re-creation).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Announcement {
        host: String,
        deleted: bool,
    },
    Status {
        host: String,
        id: String,
        deleted: bool,
    },
}

/// What a worker's watch reports: creations and deletions (data changes are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
enum WorkerChange {
    AssignmentCreated(String),
    AssignmentDeleted(String),
    StatusCreated(String),
    StatusDeleted(String),
}

/// A znode's creation zxid: one deleted and created again has another.
type Czxid = u64;

/// The znodes, and the changes each watcher has not handled yet.
#[derive(Default)]
pub struct Tree {
    announcements: BTreeMap<String, (Worker, Czxid)>,
    /// (worker, task) → (creation zxid, task).
    assignments: BTreeMap<(String, String), (Czxid, Task)>,
    pub statuses: BTreeMap<(String, String), (TaskAnnouncement, Czxid)>,
    /// The last zxid given to a creation.
    zxid: u64,
    /// The Overlord's watch on announcements and statuses, in ZooKeeper's order.
    overlord_changes: VecDeque<Node>,
    /// Each worker's watch on its assignments and statuses.
    worker_changes: BTreeMap<String, VecDeque<WorkerChange>>,
}

impl Tree {
    /// The creation zxid of a node written now: its own if it exists (a write is then a
    /// `setData`), a new one if not.
    fn czxid(&mut self, existing: Option<Czxid>) -> Czxid {
        existing.unwrap_or_else(|| {
            self.zxid += 1;
            self.zxid
        })
    }

    pub fn announce(&mut self, worker: Worker) {
        let host = worker.host.clone();
        let czxid = self.czxid(self.announcements.get(&host).map(|(_, c)| *c));
        self.announcements.insert(host.clone(), (worker, czxid));
        self.overlord_changes.push_back(Node::Announcement {
            host,
            deleted: false,
        });
    }

    pub fn is_announced(&self, host: &str) -> bool {
        self.announcements.contains_key(host)
    }

    pub fn unannounce(&mut self, host: &str) {
        if self.announcements.remove(host).is_some() {
            self.overlord_changes.push_back(Node::Announcement {
                host: host.to_string(),
                deleted: true,
            });
        }
    }

    pub fn put_status(&mut self, host: &str, announcement: TaskAnnouncement) {
        let id = announcement.id.clone();
        let key = (host.to_string(), id.clone());
        let existing = self.statuses.get(&key).map(|(_, c)| *c);
        let czxid = self.czxid(existing);
        self.statuses.insert(key, (announcement, czxid));
        if existing.is_none() {
            self.worker_change(host, WorkerChange::StatusCreated(id.clone()));
        }
        self.overlord_changes.push_back(Node::Status {
            host: host.to_string(),
            id,
            deleted: false,
        });
    }

    pub fn remove_status(&mut self, host: &str, id: &str) {
        let key = (host.to_string(), id.to_string());
        if self.statuses.remove(&key).is_some() {
            self.worker_change(host, WorkerChange::StatusDeleted(id.to_string()));
            self.overlord_changes.push_back(Node::Status {
                host: key.0,
                id: key.1,
                deleted: true,
            });
        }
    }

    fn worker_change(&mut self, host: &str, change: WorkerChange) {
        self.worker_changes
            .entry(host.to_string())
            .or_default()
            .push_back(change);
    }

    /// The assignment multi: fails with `Err(true)` when the worker is not announced (the
    /// runner's "worker gone"), `Err(false)` when `term` no longer leads; an assignment already
    /// there is success, as `Exists` is for the driver.
    pub fn assign(
        &mut self,
        term: u64,
        leader_term: u64,
        host: &str,
        task: &Task,
    ) -> Result<(), bool> {
        if term != leader_term {
            return Err(false);
        }
        if !self.announcements.contains_key(host) {
            return Err(true);
        }
        let key = (host.to_string(), task.id().to_string());
        if !self.assignments.contains_key(&key) {
            let czxid = self.czxid(None);
            self.assignments.insert(key.clone(), (czxid, task.clone()));
            self.worker_change(host, WorkerChange::AssignmentCreated(key.1));
        }
        Ok(())
    }

    pub fn remove_assignment(&mut self, host: &str, id: &str) {
        let key = (host.to_string(), id.to_string());
        if self.assignments.remove(&key).is_some() {
            self.worker_change(host, WorkerChange::AssignmentDeleted(key.1));
        }
    }

    /// Every assignment, as `(worker, task id)`: what a new leader reads.
    pub fn assignment_ids(&self) -> Vec<(String, String)> {
        self.assignments.keys().cloned().collect()
    }

    pub fn statuses_of(&self, host: &str) -> Vec<TaskAnnouncement> {
        self.statuses
            .iter()
            .filter(|((h, _), _)| h == host)
            .map(|(_, (a, _))| a.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.assignments.is_empty() && self.statuses.is_empty()
    }

    pub fn pending_overlord_changes(&self) -> usize {
        self.overlord_changes.len()
    }

    pub fn pending_worker_changes(&self, host: &str) -> usize {
        self.worker_changes.get(host).map_or(0, VecDeque::len)
    }

    pub fn assignments(&self) -> impl Iterator<Item = (&String, &String)> {
        self.assignments.keys().map(|(h, t)| (h, t))
    }
}

/// The Overlord's feed (module `steward_cluster::zookeeper::overlord`).
#[derive(Default)]
pub struct OverlordFeed {
    workers: BTreeMap<String, (Worker, Czxid)>,
    statuses: BTreeMap<String, BTreeMap<String, (TaskAnnouncement, Czxid)>>,
}

impl OverlordFeed {
    /// A new subscription: the current state, statuses of unannounced workers only remembered.
    pub fn subscribe(tree: &mut Tree) -> (OverlordFeed, Vec<RunnerEvent>) {
        let mut feed = OverlordFeed::default();
        tree.overlord_changes.clear();
        let mut out = Vec::new();
        feed.apply_tree(tree, false, &mut out);
        (feed, out)
    }

    /// Handles the oldest watch event: reads its znode now and emits what differs.
    pub fn next(&mut self, tree: &mut Tree) -> Vec<RunnerEvent> {
        let mut out = Vec::new();
        match tree.overlord_changes.pop_front() {
            Some(Node::Announcement { host, deleted }) => {
                if deleted {
                    self.remove_worker(&host, &mut out);
                }
                match tree.announcements.get(&host) {
                    Some((worker, czxid)) => self.put_worker(worker.clone(), *czxid, &mut out),
                    None => self.remove_worker(&host, &mut out),
                }
            }
            Some(Node::Status { host, id, deleted }) => {
                if deleted {
                    self.remove_status(&host, &id, &mut out);
                }
                match tree.statuses.get(&(host.clone(), id.clone())) {
                    Some((a, czxid)) => self.put_status(&host, a.clone(), *czxid, &mut out),
                    None => self.remove_status(&host, &id, &mut out),
                }
            }
            None => {}
        }
        out
    }

    /// A reconnection: the pending watch events are lost and the tree is read again.
    pub fn reconnect(&mut self, tree: &mut Tree) -> Vec<RunnerEvent> {
        tree.overlord_changes.clear();
        let mut out = Vec::new();
        self.apply_tree(tree, true, &mut out);
        out
    }

    fn apply_tree(&mut self, tree: &Tree, live: bool, out: &mut Vec<RunnerEvent>) {
        let gone: Vec<String> = self
            .workers
            .keys()
            .filter(|w| !tree.announcements.contains_key(*w))
            .cloned()
            .collect();
        for host in gone {
            self.remove_worker(&host, out);
        }
        let removed: Vec<(String, String)> = self
            .statuses
            .iter()
            .flat_map(|(w, tasks)| tasks.keys().map(move |t| (w.clone(), t.clone())))
            .filter(|key| !tree.statuses.contains_key(key))
            .collect();
        for (host, id) in removed {
            self.remove_status(&host, &id, out);
        }
        for ((host, id), (a, czxid)) in &tree.statuses {
            let joining = tree.announcements.contains_key(host) && !self.workers.contains_key(host);
            if joining || (!live && !self.workers.contains_key(host)) {
                self.statuses
                    .entry(host.clone())
                    .or_default()
                    .insert(id.clone(), (a.clone(), *czxid));
            } else {
                self.put_status(host, a.clone(), *czxid, out);
            }
        }
        for (worker, czxid) in tree.announcements.values() {
            self.put_worker(worker.clone(), *czxid, out);
        }
    }

    /// A worker announcement; one created anew since delivered is removed first.
    fn put_worker(&mut self, worker: Worker, czxid: Czxid, out: &mut Vec<RunnerEvent>) {
        if self
            .workers
            .get(&worker.host)
            .is_some_and(|(_, c)| *c != czxid)
        {
            self.remove_worker(&worker.host, out);
        }
        match self
            .workers
            .insert(worker.host.clone(), (worker.clone(), czxid))
        {
            Some((old, _)) if old == worker => {}
            Some(_) => out.push(RunnerEvent::WorkerChanged(worker)),
            None => {
                let host = worker.host.clone();
                out.push(RunnerEvent::WorkerAdded(worker));
                for announcement in self
                    .statuses
                    .get(&host)
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    out.push(RunnerEvent::StatusAnnounced {
                        worker: host.clone(),
                        announcement: announcement.0.clone(),
                    });
                }
                out.push(RunnerEvent::WorkerInitialized(host));
            }
        }
    }

    fn remove_worker(&mut self, host: &str, out: &mut Vec<RunnerEvent>) {
        if self.workers.remove(host).is_some() {
            out.push(RunnerEvent::WorkerRemoved(host.to_string()));
        }
    }

    /// A status announcement; one created anew since delivered is removed first.
    fn put_status(
        &mut self,
        host: &str,
        announcement: TaskAnnouncement,
        czxid: Czxid,
        out: &mut Vec<RunnerEvent>,
    ) {
        let id = announcement.id.clone();
        let delivered = self.statuses.get(host).and_then(|m| m.get(&id));
        if delivered.is_some_and(|(_, c)| *c != czxid) {
            self.remove_status(host, &id, out);
        } else if delivered.is_some_and(|(a, _)| *a == announcement) {
            return;
        }
        let tasks = self.statuses.entry(host.to_string()).or_default();
        tasks.insert(id, (announcement.clone(), czxid));
        out.push(RunnerEvent::StatusAnnounced {
            worker: host.to_string(),
            announcement,
        });
    }

    fn remove_status(&mut self, host: &str, id: &str, out: &mut Vec<RunnerEvent>) {
        let Some(tasks) = self.statuses.get_mut(host) else {
            return;
        };
        if tasks.remove(id).is_none() {
            return;
        }
        if tasks.is_empty() {
            self.statuses.remove(host);
        }
        out.push(RunnerEvent::StatusRemoved {
            worker: host.to_string(),
            task_id: id.to_string(),
        });
    }
}

/// A worker's feed (module `steward_cluster::zookeeper::worker`).
pub struct WorkerFeed {
    host: String,
    /// Assignment znodes delivered and still present.
    delivered: BTreeSet<String>,
    /// Status znodes listed or seen created.
    statuses: BTreeSet<String>,
}

impl WorkerFeed {
    /// A new subscription: every assignment present, oldest first.
    pub fn subscribe(tree: &mut Tree, host: &str) -> (WorkerFeed, Vec<WorkerEvent>) {
        let mut feed = WorkerFeed {
            host: host.to_string(),
            delivered: BTreeSet::new(),
            statuses: BTreeSet::new(),
        };
        let out = feed.new_session(tree);
        (feed, out)
    }

    /// After a new session the pending watch events are lost and what the old session saw
    /// cannot be trusted: the status znodes seen and gone are reported removed, and every
    /// assignment present is delivered again.
    pub fn new_session(&mut self, tree: &mut Tree) -> Vec<WorkerEvent> {
        tree.worker_changes.remove(&self.host);
        self.delivered.clear();
        let mut out = Vec::new();
        let present: BTreeSet<String> = tree
            .statuses
            .keys()
            .filter(|(h, _)| *h == self.host)
            .map(|(_, id)| id.clone())
            .collect();
        for id in self.statuses.difference(&present) {
            out.push(WorkerEvent::StatusRemoved(id.clone()));
        }
        self.statuses = present;
        let mut assigned: Vec<&(u64, Task)> = tree
            .assignments
            .iter()
            .filter(|((h, _), _)| *h == self.host)
            .map(|(_, v)| v)
            .collect();
        assigned.sort_by_key(|(created, _)| *created);
        for (_, task) in assigned {
            self.delivered.insert(task.id().to_string());
            out.push(WorkerEvent::Assigned(task.clone()));
        }
        out
    }

    /// Handles the oldest watch event of this worker.
    pub fn next(&mut self, tree: &mut Tree) -> Vec<WorkerEvent> {
        let change = tree
            .worker_changes
            .get_mut(&self.host)
            .and_then(VecDeque::pop_front);
        let mut out = Vec::new();
        match change {
            Some(WorkerChange::AssignmentCreated(id)) if !self.delivered.contains(&id) => {
                // Read when handled: an assignment deleted meanwhile is not delivered.
                if let Some((_, task)) = tree.assignments.get(&(self.host.clone(), id.clone())) {
                    self.delivered.insert(id);
                    out.push(WorkerEvent::Assigned(task.clone()));
                }
            }
            Some(WorkerChange::AssignmentCreated(_)) | None => {}
            Some(WorkerChange::AssignmentDeleted(id)) => {
                self.delivered.remove(&id);
            }
            Some(WorkerChange::StatusCreated(id)) => {
                self.statuses.insert(id);
            }
            Some(WorkerChange::StatusDeleted(id)) => {
                self.statuses.remove(&id);
                out.push(WorkerEvent::StatusRemoved(id));
            }
        }
        out
    }
}
