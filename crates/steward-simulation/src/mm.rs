//! A MiddleManager as the simulation runs it: the production `WorkerCore` inside a model of its
//! process (which can crash or stop cleanly and start again), its ZooKeeper session (which can
//! expire and be renewed), its publisher (writes made while the session is gone are held and
//! written at the next session; a status the Overlord removed meanwhile is not resurrected), its
//! task runs, its peons (separate processes: they outlive the MiddleManager and can crash) and
//! its disk (the completed-task files and the peons' own status files, which is what a restart
//! finds).

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use steward_model::{
    Task, TaskAnnouncement, TaskLocation, TaskStatus, Worker, DEFAULT_WORKER_CATEGORY,
};
use steward_worker::{
    PeonRecord, Plan, PortFinder, Restored, WorkerCore, WorkerEffect, WorkerInput,
};

use crate::rng::Rng;
use crate::trace;
use crate::zk::{Tree, WorkerFeed};

const FIRST_PORT: u16 = 8100;

#[derive(Debug, Clone, PartialEq)]
enum PeonState {
    /// The run is spawning it.
    Launching,
    Running,
    /// Exited; the status it left on disk.
    Exited(TaskStatus),
}

#[derive(Debug)]
struct Peon {
    task: Task,
    port: u16,
    state: PeonState,
    /// Whether the process started: its run reports the start before the end.
    started: bool,
}

/// What a task's run (inside the MiddleManager process) has reported so far.
#[derive(Debug)]
struct Run {
    task: Task,
    /// `Some` for a run that only records an end (`Plan::Finish`).
    finish: Option<TaskStatus>,
    started_reported: bool,
}

pub struct Mm {
    worker: Worker,
    core: Option<WorkerCore>,
    feed: Option<WorkerFeed>,
    session: bool,
    /// The publisher: the worker's announcement and the statuses, each with whether its last
    /// write reached the tree.
    announced: Option<(Worker, bool)>,
    published: BTreeMap<String, (TaskAnnouncement, bool)>,
    runs: BTreeMap<String, Run>,
    peons: BTreeMap<String, Peon>,
    completed_files: BTreeMap<String, TaskAnnouncement>,
    /// Run reports waiting to be handled (a report is sent before the core sees it).
    reports: VecDeque<WorkerInput>,
}

impl Mm {
    pub fn new(name: &str, capacity: u32) -> Mm {
        Mm {
            worker: Worker {
                scheme: "http".into(),
                host: format!("{name}:8091"),
                ip: name.to_string(),
                capacity,
                version: "1".into(),
                category: DEFAULT_WORKER_CATEGORY.into(),
            },
            core: None,
            feed: None,
            session: false,
            announced: None,
            published: BTreeMap::new(),
            runs: BTreeMap::new(),
            peons: BTreeMap::new(),
            completed_files: BTreeMap::new(),
            reports: VecDeque::new(),
        }
    }

    pub fn host(&self) -> &str {
        &self.worker.host
    }

    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }

    pub fn session_alive(&self) -> bool {
        self.session
    }

    pub fn is_enabled(&self) -> bool {
        self.core
            .as_ref()
            .is_none_or(|core| core.worker().is_enabled())
    }

    /// Starts the process: a new session, what the disk holds, the statuses the tree holds.
    pub fn start(&mut self, tree: &mut Tree, now: Timestamp) {
        assert!(self.core.is_none(), "{} started twice", self.host());
        self.session = true;
        let mut restored = Restored {
            completed: self.completed_files.clone(),
            tasks: Vec::new(),
        };
        let mut used = Vec::new();
        for (id, peon) in &self.peons {
            let plan = match &peon.state {
                PeonState::Running => {
                    used.push(peon.port);
                    Plan::Adopt(PeonRecord {
                        pid: 1,
                        attempt: 1,
                        port: peon.port,
                        start_time: now,
                    })
                }
                PeonState::Exited(status) => Plan::Finish {
                    status: status.clone(),
                    attempt: Some(1),
                },
                PeonState::Launching => unreachable!("{id}: a crash settles launches"),
            };
            restored.tasks.push((peon.task.clone(), plan));
        }
        // A few ports beyond the capacity: a stale copy still running can exhaust them, which
        // ends a task with SpawnFailed.
        let last = FIRST_PORT + self.worker.capacity as u16 + 1;
        let ports = PortFinder::new(Vec::new(), FIRST_PORT, last, |_| true);
        let held = tree.statuses_of(self.host());
        let (core, effects) = WorkerCore::start(
            self.worker.clone(),
            self.worker.ip.clone(),
            ports,
            restored,
            held,
        );
        self.core = Some(core);
        self.apply(effects, tree);
        let (feed, events) = WorkerFeed::subscribe(tree, self.host());
        self.feed = Some(feed);
        self.handle_all(events.into_iter().map(WorkerInput::Coordinator), tree, now);
    }

    /// The process dies: its session closes, its runs and its publisher's memory are gone,
    /// its peons keep running; a peon being spawned either started or left only its task dir.
    pub fn crash(&mut self, tree: &mut Tree, rng: &mut Rng) {
        self.core = None;
        self.feed = None;
        self.runs.clear();
        self.reports.clear();
        self.published.clear();
        self.announced = None;
        if self.session {
            tree.unannounce(self.host());
        }
        self.session = false;
        for peon in self.peons.values_mut() {
            if peon.state == PeonState::Launching {
                peon.state = if rng.chance(50) {
                    peon.started = true;
                    PeonState::Running
                } else {
                    let id = peon.task.id();
                    PeonState::Exited(TaskStatus::failure(id, "peon never started"))
                };
            }
        }
    }

    /// The session expires. The watch events received before the expiry are handled first, as
    /// the feed handles its queued events before the session event; a worker's own writes are
    /// among them (ZooKeeper sends the watch event of a write before its reply), so the feed
    /// always knows the status znodes this worker wrote.
    pub fn expire_session(&mut self, tree: &mut Tree, now: Timestamp) {
        if self.session {
            while self.feed_next(tree, now) {}
            tree.unannounce(self.host());
            self.session = false;
        }
    }

    /// A new session: the announcement is created again, the statuses written again (those
    /// the Overlord removed after they were written are dropped), the feed starts over.
    pub fn renew_session(&mut self, tree: &mut Tree, now: Timestamp) {
        if self.session || self.core.is_none() {
            return;
        }
        self.session = true;
        let host = self.host().to_string();
        if let Some((worker, written)) = &mut self.announced {
            tree.announce(worker.clone());
            *written = true;
        }
        let mut dropped = Vec::new();
        for (id, (announcement, written)) in &mut self.published {
            if *written && !tree.statuses.contains_key(&(host.clone(), id.clone())) {
                dropped.push(id.clone());
            } else {
                tree.put_status(&host, announcement.clone());
                *written = true;
            }
        }
        for id in dropped {
            self.published.remove(&id);
        }
        let events = match &mut self.feed {
            Some(feed) => feed.new_session(tree),
            None => Vec::new(),
        };
        self.handle_all(events.into_iter().map(WorkerInput::Coordinator), tree, now);
    }

    pub fn stop(&mut self, tree: &mut Tree, now: Timestamp) {
        self.handle(WorkerInput::Stop, tree, now);
    }

    pub fn shutdown(&mut self, id: &str, tree: &mut Tree, now: Timestamp) {
        self.handle(WorkerInput::Shutdown(id.to_string()), tree, now);
    }

    pub fn set_enabled(&mut self, enabled: bool, tree: &mut Tree, now: Timestamp) {
        self.handle(WorkerInput::SetEnabled(enabled), tree, now);
    }

    pub fn tick(&mut self, tree: &mut Tree, now: Timestamp) {
        let Some(core) = &mut self.core else { return };
        if core.next_deadline().is_some_and(|d| d <= now) {
            let effects = core.tick(now);
            self.apply(effects, tree);
        }
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.core.as_ref().and_then(WorkerCore::next_deadline)
    }

    /// Handles this worker's next watch event, if its session is up; whether there was one.
    pub fn feed_next(&mut self, tree: &mut Tree, now: Timestamp) -> bool {
        if !self.session || tree.pending_worker_changes(self.host()) == 0 {
            return false;
        }
        let Some(feed) = &mut self.feed else {
            return false;
        };
        let events = feed.next(tree);
        self.handle_all(events.into_iter().map(WorkerInput::Coordinator), tree, now);
        true
    }

    /// One task run reports what its peon did (started, ended), or the next queued report is
    /// handled.
    pub fn run_next(&mut self, rng: &mut Rng, tree: &mut Tree, now: Timestamp) {
        if self.core.is_none() {
            return;
        }
        if let Some(report) = self.reports.pop_front() {
            self.handle(report, tree, now);
            return;
        }
        let ready: Vec<String> = self
            .runs
            .iter()
            .filter(|(id, run)| self.has_report(id, run))
            .map(|(id, _)| id.clone())
            .collect();
        if ready.is_empty() {
            return;
        }
        let id = ready[rng.below(ready.len())].clone();
        self.report(&id);
    }

    fn has_report(&self, id: &str, run: &Run) -> bool {
        run.finish.is_some()
            || match self.peons.get(id).map(|p| &p.state) {
                Some(PeonState::Running) => !run.started_reported,
                Some(PeonState::Exited(_)) => true,
                _ => false,
            }
    }

    /// Queues the run's next report; an end is on disk (the completed file) before it is sent.
    fn report(&mut self, id: &str) {
        let run = self.runs.get_mut(id).expect("a run");
        if let Some(status) = run.finish.take() {
            let end = TaskAnnouncement::of(&run.task, status, TaskLocation::unknown());
            self.runs.remove(id);
            self.peons.remove(id);
            self.completed_files.insert(id.to_string(), end.clone());
            self.reports.push_back(WorkerInput::Ended(end));
            return;
        }
        let peon = self.peons.get(id).expect("a peon");
        let location = TaskLocation::new(self.worker.ip.clone(), i32::from(peon.port));
        match &peon.state {
            PeonState::Running | PeonState::Exited(_) if peon.started && !run.started_reported => {
                run.started_reported = true;
                self.reports.push_back(WorkerInput::Started {
                    id: id.to_string(),
                    location,
                });
            }
            PeonState::Exited(status) => {
                let status = status.clone().with_location(location.clone());
                let end = TaskAnnouncement::of(&run.task, status, location);
                self.runs.remove(id);
                self.peons.remove(id);
                self.completed_files.insert(id.to_string(), end.clone());
                self.reports.push_back(WorkerInput::Ended(end));
            }
            PeonState::Running | PeonState::Launching => unreachable!("nothing to report"),
        }
    }

    /// A peon makes progress: a launch completes, or a running peon exits.
    pub fn advance_peon(&mut self, rng: &mut Rng, success: bool) {
        let live: Vec<String> = self.live_peons().map(str::to_string).collect();
        if live.is_empty() {
            return;
        }
        let id = &live[rng.below(live.len())];
        let peon = self.peons.get_mut(id).expect("live");
        peon.started = true;
        peon.state = match peon.state {
            PeonState::Launching => PeonState::Running,
            _ if success => PeonState::Exited(TaskStatus::success(id).with_duration(1000)),
            _ => PeonState::Exited(TaskStatus::failure(id, "the task failed").with_duration(1000)),
        };
    }

    /// A running peon dies without writing a status.
    pub fn crash_peon(&mut self, rng: &mut Rng) -> bool {
        let running: Vec<String> = self
            .peons
            .iter()
            .filter(|(_, p)| p.state == PeonState::Running)
            .map(|(id, _)| id.clone())
            .collect();
        if running.is_empty() {
            return false;
        }
        let id = &running[rng.below(running.len())];
        let status = TaskStatus::failure(id, "the peon exited with signal 9");
        self.peons.get_mut(id).expect("running").state = PeonState::Exited(status);
        true
    }

    /// Starts a peon of `from`'s live peon `id` here, behind the back of this MiddleManager's
    /// core and of the Overlord: a broken world, for the test of what a broken invariant
    /// reports.
    #[cfg(test)]
    pub fn copy_peon(&mut self, from: &Mm, id: &str) {
        let peon = &from.peons[id];
        let copy = Peon {
            task: peon.task.clone(),
            port: peon.port,
            state: PeonState::Running,
            started: true,
        };
        self.peons.insert(id.to_string(), copy);
    }

    /// Whether this MiddleManager holds the task: its core runs it, or it has a peon of it,
    /// live or exited with an end not yet reported (which a restart runs again, to report it).
    pub fn holds(&self, id: &str) -> bool {
        self.held().any(|h| h == id)
    }

    /// The tasks this MiddleManager holds (see `holds`; some twice).
    pub fn held(&self) -> impl Iterator<Item = &str> {
        self.core
            .iter()
            .flat_map(WorkerCore::running_ids)
            .chain(self.peons.keys().map(String::as_str))
    }

    /// The tasks of the peons whose process runs: they may call the Overlord.
    pub fn running_peons(&self) -> impl Iterator<Item = &Task> {
        self.peons
            .values()
            .filter(|p| p.state == PeonState::Running)
            .map(|p| &p.task)
    }

    pub fn live_peons(&self) -> impl Iterator<Item = &str> {
        self.peons
            .iter()
            .filter(|(_, p)| matches!(p.state, PeonState::Launching | PeonState::Running))
            .map(|(id, _)| id.as_str())
    }

    fn handle_all(
        &mut self,
        inputs: impl IntoIterator<Item = WorkerInput>,
        tree: &mut Tree,
        now: Timestamp,
    ) {
        for input in inputs {
            self.handle(input, tree, now);
        }
    }

    fn handle(&mut self, input: WorkerInput, tree: &mut Tree, now: Timestamp) {
        if let WorkerInput::Coordinator(steward_model::coordination::WorkerEvent::StatusRemoved(
            id,
        )) = &input
        {
            self.published.remove(id);
        }
        trace::line(|| format!("  {} <- {input:?}", self.host()));
        let Some(core) = &mut self.core else { return };
        let effects = core.handle(input, now);
        self.apply(effects, tree);
    }

    /// The driver: carries out the core's effects in order.
    fn apply(&mut self, effects: Vec<WorkerEffect>, tree: &mut Tree) {
        let host = self.host().to_string();
        for effect in effects {
            trace::line(|| format!("  {host}: {effect:?}"));
            match effect {
                WorkerEffect::AnnounceWorker(worker) => {
                    if self.session {
                        tree.announce(worker.clone());
                    }
                    self.announced = Some((worker, self.session));
                }
                WorkerEffect::Unannounce => {
                    if self.session {
                        tree.unannounce(&host);
                    }
                    self.announced = None;
                }
                WorkerEffect::AnnounceStatus(announcement) => self.publish(announcement, tree),
                WorkerEffect::AnnounceStarted { running, located } => {
                    let id = located.id.clone();
                    self.publish(*running, tree);
                    self.publish(*located, tree);
                    if self.session {
                        tree.remove_assignment(&host, &id);
                    }
                }
                WorkerEffect::RemoveAssignment(id) => {
                    if self.session {
                        tree.remove_assignment(&host, &id);
                    }
                }
                WorkerEffect::Run { task, plan } => self.run(task, plan),
                WorkerEffect::StopPeon(id) => {
                    if let Some(peon) = self.peons.get_mut(&id) {
                        if matches!(peon.state, PeonState::Launching | PeonState::Running) {
                            let status = TaskStatus::failure(&id, "shut down").with_duration(1);
                            peon.state = PeonState::Exited(status);
                        }
                    }
                }
                WorkerEffect::ForgetCompleted(id) => {
                    self.completed_files.remove(&id);
                }
                WorkerEffect::Refuse(_) => {}
                WorkerEffect::Stopped => {
                    assert!(self.runs.is_empty(), "{host} stopped with runs left");
                    self.core = None;
                    self.feed = None;
                    self.reports.clear();
                    self.published.clear();
                    self.announced = None;
                    if self.session {
                        tree.unannounce(&host);
                    }
                    self.session = false;
                    return;
                }
            }
        }
    }

    fn publish(&mut self, announcement: TaskAnnouncement, tree: &mut Tree) {
        if self.session {
            tree.put_status(self.host(), announcement.clone());
        }
        self.published
            .insert(announcement.id.clone(), (announcement, self.session));
    }

    fn run(&mut self, task: Task, plan: Plan) {
        let id = task.id().to_string();
        let finish = match plan {
            Plan::Launch { port } => {
                let previous = self.peons.insert(
                    id.clone(),
                    Peon {
                        task: task.clone(),
                        port,
                        state: PeonState::Launching,
                        started: false,
                    },
                );
                assert!(
                    previous.as_ref().is_none_or(|p| !matches!(
                        p.state,
                        PeonState::Launching | PeonState::Running
                    )),
                    "{id} launched on {} while its peon still runs",
                    self.host()
                );
                None
            }
            Plan::Adopt(_) => None,
            Plan::Finish { status, .. } => Some(status),
        };
        let started_reported = self
            .peons
            .get(&id)
            .is_some_and(|p| p.state == PeonState::Running);
        self.runs.insert(
            id,
            Run {
                task,
                finish,
                started_reported,
            },
        );
    }

    /// The core's invariants, and the model's: every run is of a task the core runs.
    pub fn check_invariants(&self) {
        let Some(core) = &self.core else {
            assert!(
                self.runs.is_empty(),
                "{}: runs without a process",
                self.host()
            );
            return;
        };
        core.check_invariants();
        for id in self.runs.keys() {
            assert!(
                core.running_ids().any(|r| r == id),
                "{}: a run of {id}, which the core does not run",
                self.host()
            );
        }
    }

    /// Whether something here can still happen without a fault: a report, a watch event, a
    /// peon to advance.
    pub fn has_pending(&self, tree: &Tree) -> bool {
        self.core.is_some()
            && (!self.reports.is_empty()
                || self.runs.iter().any(|(id, run)| self.has_report(id, run))
                || (self.session && tree.pending_worker_changes(self.host()) > 0)
                || self.live_peons().next().is_some())
    }

    /// Lets everything here happen: watch events handled, peons run to a successful end, runs
    /// report.
    pub fn settle(&mut self, rng: &mut Rng, tree: &mut Tree, now: Timestamp) {
        while self.has_pending(tree) {
            while self.feed_next(tree, now) {}
            while self.live_peons().next().is_some() {
                self.advance_peon(rng, true);
            }
            while self.core.is_some()
                && (!self.reports.is_empty()
                    || self.runs.iter().any(|(id, run)| self.has_report(id, run)))
            {
                self.run_next(rng, tree, now);
            }
        }
    }

    pub fn is_idle(&self, tree: &Tree) -> bool {
        self.core.as_ref().is_some_and(|core| {
            core.running_ids().next().is_none() && core.completed_ids().next().is_none()
        }) && self.runs.is_empty()
            && self.peons.is_empty()
            && self.completed_files.is_empty()
            && tree.statuses_of(self.host()).is_empty()
            && tree.pending_worker_changes(self.host()) == 0
    }

    pub fn describe(&self, tree: &Tree) -> String {
        format!(
            "{} up {} session {} running {:?} completed {:?} runs {:?} peons {:?} files {:?} statuses {:?}",
            self.host(),
            self.core.is_some(),
            self.session,
            self.core.as_ref().map(|c| c.running_ids().map(str::to_string).collect::<Vec<_>>()),
            self.core.as_ref().map(|c| c.completed_ids().map(str::to_string).collect::<Vec<_>>()),
            self.runs.keys().collect::<Vec<_>>(),
            self.peons,
            self.completed_files.keys().collect::<Vec<_>>(),
            tree.statuses_of(self.host()).iter().map(|a| (&a.id, a.status.as_str())).collect::<Vec<_>>()
        )
    }
}
