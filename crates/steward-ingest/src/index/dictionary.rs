//! Per-dimension dictionaries of the in-memory index: values to dense ids and back.
//!
//! Druid's `DimensionDictionary` keeps a `HashMap` of boxed values per dimension; here a value is
//! stored once in an arena and the hash table holds only its id, hashed from the value itself, so
//! a dictionary costs the bytes of its values plus a few bytes per entry. Id 0 is always null,
//! which makes a missing or null value the zero of a row key. Ids are given in order of first
//! appearance; [`StringDictionary::ranks`] and [`NumberDictionary::ranks`] give each id its place
//! in Druid's sort order when the index is sorted.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::java::compare_utf16;

/// The id every dictionary gives to null.
pub const NULL_ID: u32 = 0;

/// A rank table: `ranks[id]` is the id's position in sort order, null first.
pub type Ranks = Vec<u32>;

/// String values, compared as Java does.
#[derive(Default)]
pub struct StringDictionary {
    text: String,
    /// `ends[id - 1]` is where value `id` ends in `text`.
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl StringDictionary {
    /// The id of `value`, added if new; the flag tells whether it was.
    pub fn intern(&mut self, value: &str) -> (u32, bool) {
        let hash = self.hasher.hash_one(value.as_bytes());
        let (text, ends, hasher) = (&mut self.text, &mut self.ends, &self.hasher);
        let entry = self.table.entry(
            hash,
            |&id| slice(text, ends, id) == value,
            |&id| hasher.hash_one(slice(text, ends, id).as_bytes()),
        );
        match entry {
            Entry::Occupied(e) => (*e.get(), false),
            Entry::Vacant(e) => {
                text.push_str(value);
                ends.push(text.len());
                let id = ends.len() as u32;
                e.insert(id);
                (id, true)
            }
        }
    }

    /// The value of a non-null id.
    pub fn get(&self, id: u32) -> &str {
        slice(&self.text, &self.ends, id)
    }

    /// The number of values, null aside.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn ranks(&self) -> Ranks {
        let mut order: Vec<(&str, u32)> = (1..=self.len() as u32)
            .map(|id| (self.get(id), id))
            .collect();
        order.sort_unstable_by(|a, b| compare_utf16(a.0, b.0));
        ranks_of(order.into_iter().map(|(_, id)| id), self.len())
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.table.clear();
    }
}

fn slice<'a>(text: &'a str, ends: &[usize], id: u32) -> &'a str {
    let i = id as usize - 1;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &text[start..ends[i]]
}

/// Numeric values as their 64 bits (a float's bits widened), with the column's comparator.
pub struct NumberDictionary {
    values: Vec<u64>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    compare: fn(u64, u64) -> Ordering,
}

impl NumberDictionary {
    pub fn new(compare: fn(u64, u64) -> Ordering) -> NumberDictionary {
        NumberDictionary {
            values: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            compare,
        }
    }

    pub fn intern(&mut self, bits: u64) -> (u32, bool) {
        let hash = self.hasher.hash_one(bits);
        let (values, hasher) = (&mut self.values, &self.hasher);
        match self.table.entry(
            hash,
            |&id| values[id as usize - 1] == bits,
            |&id| hasher.hash_one(values[id as usize - 1]),
        ) {
            Entry::Occupied(e) => (*e.get(), false),
            Entry::Vacant(e) => {
                values.push(bits);
                let id = values.len() as u32;
                e.insert(id);
                (id, true)
            }
        }
    }

    pub fn get(&self, id: u32) -> u64 {
        self.values[id as usize - 1]
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn ranks(&self) -> Ranks {
        ranks(self.len(), |a, b| (self.compare)(self.get(a), self.get(b)))
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.table.clear();
    }
}

/// Rows' multi-value lists (two or more ids) of one string dimension, each stored once.
#[derive(Default)]
pub struct ArrayDictionary {
    ids: Vec<u32>,
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl ArrayDictionary {
    /// The index of the list, added if new.
    pub fn intern(&mut self, list: &[u32]) -> u32 {
        let hash = self.hasher.hash_one(list);
        let (ids, ends, hasher) = (&mut self.ids, &mut self.ends, &self.hasher);
        match self.table.entry(
            hash,
            |&i| array(ids, ends, i) == list,
            |&i| hasher.hash_one(array(ids, ends, i)),
        ) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                ids.extend_from_slice(list);
                ends.push(ids.len());
                let index = (ends.len() - 1) as u32;
                e.insert(index);
                index
            }
        }
    }

    pub fn get(&self, index: u32) -> &[u32] {
        array(&self.ids, &self.ends, index)
    }

    pub fn clear(&mut self) {
        self.ids.clear();
        self.ends.clear();
        self.table.clear();
    }
}

fn array<'a>(ids: &'a [u32], ends: &[usize], index: u32) -> &'a [u32] {
    let i = index as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &ids[start..ends[i]]
}

/// Ranks of ids `1..=len` under `compare`, with null (id 0) first.
fn ranks(len: usize, compare: impl Fn(u32, u32) -> Ordering) -> Ranks {
    let mut order: Vec<u32> = (1..=len as u32).collect();
    order.sort_unstable_by(|&a, &b| compare(a, b));
    ranks_of(order.into_iter(), len)
}

/// The rank table of ids listed in sort order.
fn ranks_of(sorted: impl Iterator<Item = u32>, len: usize) -> Ranks {
    let mut ranks = vec![0; len + 1];
    for (rank, id) in sorted.enumerate() {
        ranks[id as usize] = rank as u32 + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_intern_once_and_rank_in_java_order() {
        let mut d = StringDictionary::default();
        assert_eq!(d.intern("b"), (1, true));
        assert_eq!(d.intern("\u{FFFD}"), (2, true));
        assert_eq!(d.intern("\u{10000}"), (3, true));
        assert_eq!(d.intern("a"), (4, true));
        assert_eq!(d.intern("b"), (1, false));
        assert_eq!(d.get(3), "\u{10000}");
        // null, then "a" < "b" < U+10000 < U+FFFD (UTF-16 order).
        assert_eq!(d.ranks(), vec![0, 2, 4, 3, 1]);
        d.clear();
        assert_eq!(d.len(), 0);
        assert_eq!(d.intern("z"), (1, true));
    }

    #[test]
    fn numbers_and_arrays_intern_once() {
        let mut d = NumberDictionary::new(|a, b| (a as i64).cmp(&(b as i64)));
        assert_eq!(d.intern(5), (1, true));
        assert_eq!(d.intern((-3i64) as u64), (2, true));
        assert_eq!(d.intern(5), (1, false));
        assert_eq!(d.ranks(), vec![0, 2, 1]);
        let mut a = ArrayDictionary::default();
        assert_eq!(a.intern(&[1, 2]), 0);
        assert_eq!(a.intern(&[2, 1, 3]), 1);
        assert_eq!(a.intern(&[1, 2]), 0);
        assert_eq!(a.get(1), &[2, 1, 3]);
    }
}
