//! The commands the [`Overlord`](super::Overlord) handle and the effect executor send to the
//! event loop, and how the loop applies each to the core.
//!
//! Every change to the core arrives as one of these, on one channel, so the core sees one
//! order of events whoever caused them; replies go back on a oneshot channel so a caller
//! waits for its own answer only (a lock action's once its lock rows are stored).

use jiff::Timestamp;
use steward_model::{Interval, Task, TaskLockType};
use tokio::sync::oneshot;

use crate::actions::{ActionRefused, PublishGate, SegmentCoverage};
use crate::core::{IoEffect, OverlordCore};
use crate::lockbox::{LockRequest, LockResult};
use crate::queue::QueueError;
use crate::worker_config::WorkerBehaviorConfig;

/// A read-only closure run against the core between events.
pub(super) type Query = Box<dyn FnOnce(&OverlordCore) + Send>;

pub(super) enum Command {
    Reserve {
        task: Task,
        created: Timestamp,
        reply: oneshot::Sender<Result<(), QueueError>>,
    },
    Inserted(String),
    InsertFailed(String),
    Shutdown {
        task_id: String,
        reason: String,
        reply: oneshot::Sender<bool>,
    },
    ShutdownDataSource {
        data_source: String,
        reason: String,
        reply: oneshot::Sender<usize>,
    },
    AssignFailed {
        task_id: String,
        worker: String,
        worker_gone: bool,
    },
    Persisted {
        task_id: String,
        row_changed: bool,
    },
    SetWorkerConfig {
        config: WorkerBehaviorConfig,
        reply: oneshot::Sender<()>,
    },
    LockTryAcquire {
        task_id: String,
        request: LockRequest,
        reply: oneshot::Sender<Result<LockResult, ActionRefused>>,
    },
    LockRelease {
        task_id: String,
        interval: Interval,
        reply: oneshot::Sender<Result<(), ActionRefused>>,
    },
    BeginPublish {
        task_id: String,
        segments: Vec<SegmentCoverage>,
        /// The lock type the action needs (`segmentTransactionalAppend`/`Replace`).
        lock_type: Option<TaskLockType>,
        reply: oneshot::Sender<Result<PublishGate, ActionRefused>>,
    },
    /// Sent whatever the outcome of a publish that was let through.
    EndPublish(String),
    Query(Query),
    Stop(oneshot::Sender<()>),
}

/// A reply held back until the lock rows its command changed, and every lock change before,
/// are written (see [`apply`]).
pub(super) type AfterLockRows = Box<dyn FnOnce() + Send>;

/// Applies a command other than `Stop` (which ends the loop) to the core; returns the I/O it
/// asks for, and the reply to send once the lock rows are written, if it must wait for them.
///
/// A lock action is answered only once its rows are stored, as in Druid (whose lockbox stores
/// a lock before it returns it): a peon told it holds a lock must find it held by the next
/// leader if this one dies right after answering, and a released lock must not come back.
/// Should the term end first, the reply is dropped and the caller learns that this Overlord no
/// longer leads.
pub(super) fn apply(
    core: &mut OverlordCore,
    cmd: Command,
) -> (Vec<IoEffect>, Option<AfterLockRows>) {
    let now = Timestamp::now();
    let effects = match cmd {
        Command::Reserve {
            task,
            created,
            reply,
        } => {
            let _ = reply.send(core.reserve(&task, created));
            Vec::new()
        }
        Command::Inserted(id) => core.inserted(&id, now),
        Command::InsertFailed(id) => {
            core.insert_failed(&id);
            Vec::new()
        }
        Command::Shutdown {
            task_id,
            reason,
            reply,
        } => {
            let (found, effects) = core.shutdown(&task_id, &reason, now);
            let _ = reply.send(found);
            effects
        }
        Command::ShutdownDataSource {
            data_source,
            reason,
            reply,
        } => {
            let (n, effects) = core.shutdown_data_source(&data_source, &reason, now);
            let _ = reply.send(n);
            effects
        }
        Command::AssignFailed {
            task_id,
            worker,
            worker_gone,
        } => core.assign_failed(&task_id, &worker, worker_gone, now),
        Command::Persisted {
            task_id,
            row_changed,
        } => core.persisted(&task_id, row_changed, now),
        Command::SetWorkerConfig { config, reply } => {
            let effects = core.set_worker_config(config, now);
            let _ = reply.send(());
            effects
        }
        Command::LockTryAcquire {
            task_id,
            request,
            reply,
        } => {
            let (result, effects) = core.lock_try_acquire(&task_id, &request, now);
            let reply: AfterLockRows = Box::new(move || {
                let _ = reply.send(result);
            });
            return (effects, Some(reply));
        }
        Command::LockRelease {
            task_id,
            interval,
            reply,
        } => {
            let (result, effects) = core.lock_release(&task_id, &interval, now);
            let reply: AfterLockRows = Box::new(move || {
                let _ = reply.send(result);
            });
            return (effects, Some(reply));
        }
        Command::BeginPublish {
            task_id,
            segments,
            lock_type,
            reply,
        } => {
            let gate = core.begin_publish(&task_id, &segments, lock_type);
            let go = gate == Ok(PublishGate::Go);
            if reply.send(gate).is_err() && go {
                // The caller is gone before it could run the transaction: let go of the pins.
                core.end_publish(&task_id, now)
            } else {
                Vec::new()
            }
        }
        Command::EndPublish(task_id) => core.end_publish(&task_id, now),
        Command::Query(q) => {
            q(core);
            Vec::new()
        }
        Command::Stop(_) => unreachable!("handled by the loop"),
    };
    (effects, None)
}
