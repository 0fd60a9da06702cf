//! The in-memory rows: Druid's facts table of `OnheapIncrementalIndex`, flattened.
//!
//! A row key is the truncated time (two words) followed by one component per dimension, with
//! trailing nulls left out so that a key means the same whatever dimensions were discovered after
//! it was made. Keys live end to end in one arena, aggregator states in one array of words; with
//! rollup a hash table of row numbers, hashed by key, finds the row a key already has. Nothing
//! here is allocated per row.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::dictionary::Ranks;
use super::dimension::{DimensionIndexer, MULTI_FLAG};
use super::metrics::MetricLayout;

pub struct Facts {
    keys: Vec<u32>,
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    states: Vec<u64>,
    stride: usize,
    rollup: bool,
}

/// Writes a key: time, then components with trailing nulls trimmed.
pub fn make_key(key: &mut Vec<u32>, time: i64, components: &[u32]) {
    key.clear();
    key.push((time as u64 >> 32) as u32);
    key.push(time as u64 as u32);
    let used = components
        .iter()
        .rposition(|&c| c != 0)
        .map_or(0, |i| i + 1);
    key.extend_from_slice(&components[..used]);
}

fn key_time(key: &[u32]) -> i64 {
    ((u64::from(key[0]) << 32) | u64::from(key[1])) as i64
}

impl Facts {
    pub fn new(layout: &MetricLayout, rollup: bool) -> Facts {
        Facts {
            keys: Vec::new(),
            ends: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            states: Vec::new(),
            stride: layout.stride(),
            rollup,
        }
    }

    /// The row of `key`, added (with initial states) if new; the flag tells whether it was.
    /// Without rollup every key makes a new row, as Druid's plain facts holders do.
    pub fn row_for(&mut self, key: &[u32], layout: &MetricLayout) -> (usize, bool) {
        if !self.rollup {
            return (self.push(key, layout), true);
        }
        let hash = self.hasher.hash_one(key);
        let (keys, ends, hasher) = (&self.keys, &self.ends, &self.hasher);
        match self.table.entry(
            hash,
            |&row| slice(keys, ends, row as usize) == key,
            |&row| hasher.hash_one(slice(keys, ends, row as usize)),
        ) {
            Entry::Occupied(e) => (*e.get() as usize, false),
            Entry::Vacant(e) => {
                let row = self.ends.len();
                e.insert(row as u32);
                (self.push(key, layout), true)
            }
        }
    }

    fn push(&mut self, key: &[u32], layout: &MetricLayout) -> usize {
        self.keys.extend_from_slice(key);
        self.ends.push(self.keys.len());
        self.states.extend_from_slice(layout.initial());
        self.ends.len() - 1
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn time(&self, row: usize) -> i64 {
        key_time(self.key(row))
    }

    /// Component `dim` of a row's key (null past the trimmed end).
    pub fn component(&self, row: usize, dim: usize) -> u32 {
        self.key(row).get(2 + dim).copied().unwrap_or(0)
    }

    fn key(&self, row: usize) -> &[u32] {
        slice(&self.keys, &self.ends, row)
    }

    pub fn states(&self, row: usize) -> &[u64] {
        &self.states[row * self.stride..(row + 1) * self.stride]
    }

    pub fn states_mut(&mut self, row: usize) -> &mut [u64] {
        &mut self.states[row * self.stride..(row + 1) * self.stride]
    }

    /// Row numbers in Druid's order: time, then each dimension by its sort order; rows with
    /// equal keys (rollup off) keep the order they came in.
    pub fn sorted(&self, indexers: &[DimensionIndexer]) -> Vec<u32> {
        let ranks: Vec<_> = indexers.iter().map(DimensionIndexer::ranks).collect();
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        let sort = |order: &mut Vec<u32>, compare: &dyn Fn(&u32, &u32) -> Ordering| {
            if self.rollup {
                order.sort_unstable_by(compare);
            } else {
                order.sort_by(compare);
            }
        };
        if let Some(rank_keys) = self.rank_keys(&ranks) {
            // Without multi-value rows a key sorts as its words mapped to ranks: compare those
            // side by side instead of looking ranks up at every comparison.
            let width = 2 + ranks.len();
            let key = |row: u32| &rank_keys[row as usize * width..(row as usize + 1) * width];
            sort(&mut order, &|a, b| key(*a).cmp(key(*b)));
            return order;
        }
        sort(&mut order, &|a, b| {
            let (ka, kb) = (self.key(*a as usize), self.key(*b as usize));
            key_time(ka).cmp(&key_time(kb)).then_with(|| {
                let width = ka.len().max(kb.len());
                (2..width)
                    .map(|i| {
                        let ca = ka.get(i).copied().unwrap_or(0);
                        let cb = kb.get(i).copied().unwrap_or(0);
                        if ca == cb {
                            Ordering::Equal
                        } else {
                            indexers[i - 2].compare(&ranks[i - 2], ca, cb)
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
        });
        order
    }

    /// Every row's key as words that compare in sort order (time with its sign flipped, then
    /// each component's rank), or `None` if a row holds a multi-value list.
    fn rank_keys(&self, ranks: &[Ranks]) -> Option<Vec<u32>> {
        let width = 2 + ranks.len();
        let mut out = Vec::with_capacity(self.len() * width);
        for row in 0..self.len() {
            let key = self.key(row);
            out.push(key[0] ^ 0x8000_0000);
            out.push(key[1]);
            for (d, ranks) in ranks.iter().enumerate() {
                let component = key.get(2 + d).copied().unwrap_or(0);
                if component & MULTI_FLAG != 0 {
                    return None;
                }
                out.push(ranks[component as usize]);
            }
        }
        Some(out)
    }

    pub fn clear(&mut self) {
        self.keys.clear();
        self.ends.clear();
        self.table.clear();
        self.states.clear();
    }
}

fn slice<'a>(keys: &'a [u32], ends: &[usize], row: usize) -> &'a [u32] {
    let start = if row == 0 { 0 } else { ends[row - 1] };
    &keys[start..ends[row]]
}
