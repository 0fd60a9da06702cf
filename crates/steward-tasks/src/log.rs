//! The peon's log lines. Its stdout and stderr are the task's log file, read by operators and
//! served by the MiddleManager, so every line carries a timestamp and a level.

use steward_model::time::now_iso;

pub(crate) fn info(msg: &str) {
    println!("{} INFO [peon] {msg}", now_iso());
}

pub(crate) fn warn(msg: &str) {
    eprintln!("{} WARN [peon] {msg}", now_iso());
}

pub(crate) fn error(msg: &str) {
    eprintln!("{} ERROR [peon] {msg}", now_iso());
}
