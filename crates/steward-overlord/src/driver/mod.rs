//! The driver: one tokio task owns the [`OverlordCore`](crate::core::OverlordCore) and feeds it
//! events; the I/O the core asks for runs on other tasks and reports back as events.
//!
//! This is where Druid's `statusLock` is gone: the core is never locked, the event loop never
//! awaits I/O, and one slow worker or a slow metadata store delays only its own effect.
//! [`Overlord`] is the cheap, cloneable handle the HTTP API uses: submissions, shutdowns and
//! worker config changes are commands, reads are closures run against the core between events.
//!
//! An `Overlord` is one leadership [`Term`](crate::term::Term): its event loop and its I/O stop
//! once the term is over (see [`crate::master`]), and it writes to the store only while the
//! term lasts.
//!
//! One file per part: [`overlord`] (the handle and the start of a term), [`command`] (what the
//! handle and the executor send the loop, and how the loop applies it), [`event_loop`], and
//! [`io`] (the effect executor), [`metrics`] (what is recorded and scraped), and [`actions`] (the task actions peons ask for, on the
//! handle). They depend downwards only: the handle and its actions on the loop, the executor
//! and the commands; the loop on the executor and the commands; the executor on the commands.

mod actions;
mod command;
mod event_loop;
mod io;
mod metrics;
mod overlord;

pub use actions::{ActionError, AllocateSegment, Publish};
pub(crate) use io::worker_task_url;
pub(crate) use metrics::scrape;
pub use overlord::{Overlord, OverlordParts, SubmitError, WorkerConfigError};

#[cfg(test)]
mod tests;
