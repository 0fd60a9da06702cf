//! The event loop: the one tokio task that owns the [`OverlordCore`] for a term.
//!
//! It waits on commands, coordinator events, the core's next deadline and the reconciliation
//! period, hands each to the core and passes the effects to the [`IoRunner`] without awaiting
//! them, so the core is never held across I/O.

use std::time::Duration;

use jiff::Timestamp;
use steward_cluster::RunnerEvent;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::command::{apply, Command};
use super::io::IoRunner;
use super::metrics::task_ended;
use crate::core::OverlordCore;
use crate::term::Term;

/// How often tasks the runner holds but the queue does not are swept (Druid's manage loop
/// period); event-driven reconciliation covers the usual cases, this is the safety net.
const RECONCILE_PERIOD: Duration = Duration::from_secs(60);

pub(super) async fn event_loop(
    mut core: OverlordCore,
    mut rx: mpsc::UnboundedReceiver<Command>,
    mut events: mpsc::UnboundedReceiver<RunnerEvent>,
    io: IoRunner,
    lock_releases: watch::Sender<u64>,
    term: Term,
) {
    let mut reconcile = tokio::time::interval(RECONCILE_PERIOD);
    reconcile.tick().await;
    let mut events_open = true;
    let mut was_busy = false;
    let mut ending = term.clone();
    loop {
        if !term.is_current() {
            info!(term = term.id(), "term over: overlord event loop stopped");
            break;
        }
        let sleep = match core.next_deadline() {
            Some(t) => {
                let wait = t.duration_since(Timestamp::now());
                Duration::try_from(wait).unwrap_or(Duration::ZERO)
            }
            None => Duration::from_secs(3600),
        };
        let mut after_lock_rows = None;
        let effects = tokio::select! {
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Command::Stop(reply)) => {
                    info!("overlord event loop stopped");
                    let _ = reply.send(());
                    break;
                }
                Some(cmd) => {
                    if let Command::Persisted { task_id, row_changed: true } = &cmd {
                        // Before the core lets go of the task: its datasource, type and end.
                        if let Some(ended) = core.active_status(task_id) {
                            task_ended(&io.metrics, &ended);
                        }
                    }
                    let (effects, reply) = apply(&mut core, cmd);
                    after_lock_rows = reply;
                    effects
                }
            },
            event = events.recv(), if events_open => match event {
                Some(event) => core.cluster_event(event, Timestamp::now()),
                None => {
                    warn!("coordinator event stream closed");
                    events_open = false;
                    Vec::new()
                }
            },
            _ = tokio::time::sleep(sleep) => core.tick(Timestamp::now()),
            _ = reconcile.tick() => core.reconcile(Timestamp::now()),
            () = ending.ended() => Vec::new(),
        };
        io.run_all(&core, effects);
        if let Some(reply) = after_lock_rows {
            io.after_lock_rows(reply);
        }
        lock_releases.send_if_modified(|seen| {
            let now = core.lock_releases();
            std::mem::replace(seen, now) != now
        });
        let busy = !core.queue().is_empty();
        if was_busy && !busy {
            core.shrink_to_fit();
            release_free_memory();
        }
        was_busy = busy;
    }
}

/// Hands memory freed after a burst back to the operating system. glibc keeps freed heap
/// pages of every thread's arena mapped, so without this a burst of thousands of queued tasks
/// would leave the Overlord's RSS at its high-water mark long after the queue drained.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only walks and releases the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
    });
}
