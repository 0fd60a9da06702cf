//! Field names shared across rows.
//!
//! Every row of a file names the same few fields, so a reader hands out one `Arc<str>` per
//! name instead of allocating it per row. Rows usually list their fields in the same order, so
//! the name at the same position in the previous row is tried before the table.

use std::collections::HashSet;
use std::sync::Arc;

/// Past this many distinct names (input with a fresh key per row), names are no longer kept,
/// so memory stays bounded.
const MAX_NAMES: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Interner {
    names: HashSet<Arc<str>>,
    /// The names of the previous row, by position.
    recent: Vec<Arc<str>>,
}

impl Interner {
    /// The shared name of the field at `position` in its row.
    pub(crate) fn at(&mut self, position: usize, name: &str) -> Arc<str> {
        if let Some(recent) = self.recent.get(position) {
            if **recent == *name {
                return recent.clone();
            }
        }
        let shared = self.get(name);
        if position < self.recent.len() {
            self.recent[position] = shared.clone();
        } else if position == self.recent.len() {
            self.recent.push(shared.clone());
        }
        shared
    }

    /// The shared name, wherever the field stands.
    pub(crate) fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        if self.names.len() < MAX_NAMES {
            self.names.insert(shared.clone());
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_is_the_same_allocation() {
        let mut names = Interner::default();
        let a = names.at(0, "channel");
        let b = names.at(1, "page");
        assert!(Arc::ptr_eq(&a, &names.at(0, "channel")));
        // Out of order, the table still finds it.
        assert!(Arc::ptr_eq(&b, &names.at(0, "page")));
        assert!(Arc::ptr_eq(&a, &names.get("channel")));
    }
}
