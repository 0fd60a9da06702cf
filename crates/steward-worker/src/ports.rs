//! Peon ports (Druid's `PortFinder`): a port is handed out only if no task of this worker holds
//! it and it can be bound right now, so a peon never collides with another service.
//!
//! Whether a port can be bound is asked of a probe the finder is built with: the MiddleManager
//! probes the OS ([`can_bind`]), a test or a simulation answers deterministically, so the
//! [`crate::core::WorkerCore`] that owns the finder does no I/O.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};

/// Whether a port is free to hand out right now (besides the ports tasks here hold).
type PortProbe = Box<dyn FnMut(u16) -> bool + Send + Sync>;

pub struct PortFinder {
    candidates: Vec<u16>,
    start: u16,
    end: u16,
    used: BTreeSet<u16>,
    probe: PortProbe,
}

impl std::fmt::Debug for PortFinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortFinder")
            .field("candidates", &self.candidates)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl PortFinder {
    /// `candidates` non-empty: only those ports, in order; else the range `start..=end`. Each
    /// port not held here is offered to `probe`, the first it accepts is handed out.
    pub fn new(
        candidates: Vec<u16>,
        start: u16,
        end: u16,
        probe: impl FnMut(u16) -> bool + Send + Sync + 'static,
    ) -> Self {
        PortFinder {
            candidates,
            start,
            end,
            used: BTreeSet::new(),
            probe: Box::new(probe),
        }
    }

    pub(crate) fn allocate(&mut self) -> Result<u16, String> {
        let (used, probe) = (&self.used, &mut self.probe);
        let free = |p: &u16| !used.contains(p) && probe(*p);
        let found = if self.candidates.is_empty() {
            (self.start..=self.end).find(free)
        } else {
            self.candidates.iter().copied().find(free)
        };
        match found {
            Some(port) => {
                self.used.insert(port);
                Ok(port)
            }
            None if self.candidates.is_empty() => Err(format!(
                "No free port between [{}] and [{}] (druid.indexer.runner.startPort/endPort)",
                self.start, self.end
            )),
            None => Err(format!(
                "No free port among {:?} (druid.indexer.runner.ports)",
                self.candidates
            )),
        }
    }

    /// Marks a port held by a peon this worker did not start (one it re-adopted).
    pub(crate) fn mark_used(&mut self, port: u16) {
        self.used.insert(port);
    }

    pub(crate) fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }

    /// The ports held by tasks here, for the core's invariant check.
    pub(crate) fn used(&self) -> &BTreeSet<u16> {
        &self.used
    }
}

/// The MiddleManager's probe: Druid opens and closes a server socket on every interface.
pub fn can_bind(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two distinct ports nothing listens on right now.
    fn free_ports() -> (u16, u16) {
        let bind = || TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let (a, b) = (bind(), bind());
        (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        )
    }

    #[test]
    fn listed_ports_are_handed_out_once_and_reused_after_release() {
        let (a, b) = free_ports();
        let mut finder = PortFinder::new(vec![a, b], 1, 2, can_bind);
        assert_eq!(finder.allocate(), Ok(a));
        assert_eq!(finder.allocate(), Ok(b));
        assert!(finder
            .allocate()
            .unwrap_err()
            .contains("druid.indexer.runner.ports"));
        finder.release(a);
        assert_eq!(finder.allocate(), Ok(a));
    }

    #[test]
    fn range_scan_skips_used_and_bound_ports() {
        let busy = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = busy.local_addr().unwrap().port();
        let mut finder = PortFinder::new(Vec::new(), port, port, can_bind);
        assert!(finder.allocate().unwrap_err().contains("startPort"));
        drop(busy);
        assert_eq!(finder.allocate(), Ok(port));
        assert!(
            finder.allocate().is_err(),
            "a port held by a task is skipped"
        );
        finder.release(port);
        finder.mark_used(port);
        assert!(
            finder.allocate().is_err(),
            "a re-adopted peon's port is skipped"
        );
    }
}
