//! The run's trace: each step, each event a core is given, each effect it returns and each
//! effect the Overlord's driver carries out, one line each. Printed to stderr when
//! `STEWARD_SIM_TRACE` is set, to follow a replayed seed; hashed on request, so that two runs
//! of one seed can be compared whole (a run must depend on nothing but its seed, or a failing
//! seed would not replay).
//!
//! It is kept per thread rather than passed around: every part of the world writes to it, and
//! a run never leaves the thread it started on.

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hasher};

thread_local! {
    static TRACE: RefCell<Trace> = RefCell::new(Trace::default());
}

#[derive(Default)]
struct Trace {
    print: bool,
    hash: Option<DefaultHasher>,
}

/// Starts the trace of a run on this thread: printed if `STEWARD_SIM_TRACE` is set, hashed if
/// `hash`.
pub fn start(hash: bool) {
    TRACE.with_borrow_mut(|trace| {
        *trace = Trace {
            print: std::env::var_os("STEWARD_SIM_TRACE").is_some(),
            hash: hash.then(DefaultHasher::new),
        }
    });
}

/// Ends the trace of the run on this thread; the hash of its lines, if one was asked for.
pub fn finish() -> Option<u64> {
    TRACE.with_borrow_mut(|trace| std::mem::take(trace).hash.map(|h| h.finish()))
}

/// Records a line; `line` is not called when the trace is neither printed nor hashed, so an
/// untraced run formats nothing.
pub fn line(line: impl FnOnce() -> String) {
    TRACE.with_borrow_mut(|trace| {
        if !trace.print && trace.hash.is_none() {
            return;
        }
        let line = line();
        if trace.print {
            eprintln!("{line}");
        }
        if let Some(hash) = &mut trace.hash {
            hash.write(line.as_bytes());
            hash.write_u8(b'\n');
        }
    });
}
