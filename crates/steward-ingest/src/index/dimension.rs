//! Dimension indexers: how a row's value becomes one component of the row key.
//!
//! Druid's `StringDimensionIndexer` and the numeric indexers, as the in-memory index uses them.
//! A string dimension turns numbers into text as Java prints them; a list becomes one value when
//! it has one element, null when empty, and otherwise a multi-value list, sorted (and
//! de-duplicated) per `multiValueHandling` before it is interned. A numeric dimension reads
//! strings with Druid's parsers; what they refuse, or a list, is Druid's parse error: the value
//! is stored as null and the message returned, so the row counts as `processedWithError`.
//!
//! Every component is one `u32`: 0 for null, a dictionary id, or, with [`MULTI_FLAG`] set, the
//! index of a multi-value list. Druid's estimate of the component's heap size is returned with
//! it, for `maxBytesInMemory`.

use std::cmp::Ordering;
use std::fmt::Write as _;

use super::dictionary::{ArrayDictionary, NumberDictionary, Ranks, StringDictionary, NULL_ID};
use super::java::{
    compare_utf16, exact_long, guava_double, guava_float, utf16_len, JavaDouble, JavaValue,
};
use crate::dimensions::{DimensionType, MultiValueHandling};
use crate::row::Value;

/// Marks a key component that indexes a multi-value list.
pub const MULTI_FLAG: u32 = 1 << 31;

/// The canonical NaN, so that every NaN is one key, as Java's `Double.compare` sees them.
const NAN64: u64 = 0x7ff8_0000_0000_0000;
const NAN32: u32 = 0x7fc0_0000;

/// Reusable buffers for turning one value into a component without allocating.
#[derive(Default)]
pub struct Scratch {
    text: String,
    /// Elements of a multi-value field: ranges into `text`, `None` for null.
    elements: Vec<Option<(usize, usize)>>,
    ids: Vec<u32>,
}

/// One dimension's dictionaries.
pub enum DimensionIndexer {
    String {
        values: StringDictionary,
        arrays: ArrayDictionary,
        handling: MultiValueHandling,
    },
    Long(NumberDictionary),
    Float(NumberDictionary),
    Double(NumberDictionary),
}

/// A value read from a key component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Component<'a> {
    Null,
    String(&'a str),
    /// A multi-value list's ids (non-null ids are looked up in the same indexer).
    Strings(&'a [u32]),
    /// A number's bits: `i64`, `f64`, or `f32` widened.
    Number(u64),
}

impl DimensionIndexer {
    pub fn new(kind: DimensionType, handling: MultiValueHandling) -> DimensionIndexer {
        match kind {
            DimensionType::String => DimensionIndexer::String {
                values: StringDictionary::default(),
                arrays: ArrayDictionary::default(),
                handling,
            },
            DimensionType::Long => DimensionIndexer::Long(NumberDictionary::new(compare_long)),
            DimensionType::Float => DimensionIndexer::Float(NumberDictionary::new(compare_float)),
            DimensionType::Double => {
                DimensionIndexer::Double(NumberDictionary::new(compare_double))
            }
        }
    }

    /// The key component of `value` (`None`: the row lacks the field), with Druid's size
    /// estimate; a value the dimension cannot take is null and its message is pushed to `errors`.
    pub fn encode(
        &mut self,
        name: &str,
        value: Option<&Value>,
        scratch: &mut Scratch,
        errors: &mut Vec<String>,
    ) -> (u32, u64) {
        match self {
            DimensionIndexer::String {
                values,
                arrays,
                handling,
            } => encode_string(values, arrays, *handling, value, scratch),
            DimensionIndexer::Long(dict) => {
                let number = match value {
                    None | Some(Value::Null) => None,
                    Some(Value::Long(n)) => Some(*n),
                    Some(Value::Double(d)) => Some(*d as i64),
                    Some(Value::String(s)) => exact_long(s).or_else(|| {
                        errors.push(format!(
                            "Could not convert value [{s}] to long for dimension [{name}]."
                        ));
                        None
                    }),
                    Some(list @ Value::Array(_)) => {
                        errors.push(multi_value_error(list, "long", name));
                        None
                    }
                };
                (number.map_or(NULL_ID, |n| dict.intern(n as u64).0), 8)
            }
            DimensionIndexer::Double(dict) => {
                let number = numeric(
                    value,
                    name,
                    "double",
                    errors,
                    guava_double,
                    |n| n as f64,
                    |d| d,
                );
                let bits = number.map(|d| if d.is_nan() { NAN64 } else { d.to_bits() });
                (bits.map_or(NULL_ID, |b| dict.intern(b).0), 8)
            }
            DimensionIndexer::Float(dict) => {
                let number = numeric(
                    value,
                    name,
                    "float",
                    errors,
                    guava_float,
                    |n| n as f32,
                    |d| d as f32,
                );
                let bits = number.map(|f| if f.is_nan() { NAN32 } else { f.to_bits() });
                (bits.map_or(NULL_ID, |b| dict.intern(u64::from(b)).0), 4)
            }
        }
    }

    /// What a component holds.
    pub fn component(&self, component: u32) -> Component<'_> {
        if component == NULL_ID {
            return Component::Null;
        }
        match self {
            DimensionIndexer::String { values, arrays, .. } => {
                if component & MULTI_FLAG != 0 {
                    Component::Strings(arrays.get(component & !MULTI_FLAG))
                } else {
                    Component::String(values.get(component))
                }
            }
            DimensionIndexer::Long(d)
            | DimensionIndexer::Float(d)
            | DimensionIndexer::Double(d) => Component::Number(d.get(component)),
        }
    }

    /// The value of a non-null id of a string dimension (an element of a multi-value list).
    pub fn string(&self, id: u32) -> Option<&str> {
        match self {
            DimensionIndexer::String { values, .. } if id != NULL_ID => Some(values.get(id)),
            _ => None,
        }
    }

    /// Ranks of the single-value ids, null first.
    pub fn ranks(&self) -> Ranks {
        match self {
            DimensionIndexer::String { values, .. } => values.ranks(),
            DimensionIndexer::Long(d)
            | DimensionIndexer::Float(d)
            | DimensionIndexer::Double(d) => d.ranks(),
        }
    }

    /// Compares two components by `ranks`: element by element, then by length (a single value
    /// is a list of one, null a list of one null), as Druid's string comparator does.
    pub fn compare(&self, ranks: &Ranks, a: u32, b: u32) -> Ordering {
        if a & MULTI_FLAG == 0 && b & MULTI_FLAG == 0 {
            return ranks[a as usize].cmp(&ranks[b as usize]);
        }
        let (one_a, one_b) = ([a], [b]);
        let a = self.list(a).unwrap_or(&one_a);
        let b = self.list(b).unwrap_or(&one_b);
        a.iter()
            .zip(b)
            .map(|(x, y)| ranks[*x as usize].cmp(&ranks[*y as usize]))
            .find(|o| o.is_ne())
            .unwrap_or(a.len().cmp(&b.len()))
    }

    /// The ids of a multi-value component.
    fn list(&self, component: u32) -> Option<&[u32]> {
        match self {
            DimensionIndexer::String { arrays, .. } if component & MULTI_FLAG != 0 => {
                Some(arrays.get(component & !MULTI_FLAG))
            }
            _ => None,
        }
    }

    /// The number of values in the dictionary.
    pub fn len(&self) -> usize {
        match self {
            DimensionIndexer::String { values, .. } => values.len(),
            DimensionIndexer::Long(d)
            | DimensionIndexer::Float(d)
            | DimensionIndexer::Double(d) => d.len(),
        }
    }

    pub fn clear(&mut self) {
        match self {
            DimensionIndexer::String { values, arrays, .. } => {
                values.clear();
                arrays.clear();
            }
            DimensionIndexer::Long(d)
            | DimensionIndexer::Float(d)
            | DimensionIndexer::Double(d) => d.clear(),
        }
    }
}

fn encode_string(
    values: &mut StringDictionary,
    arrays: &mut ArrayDictionary,
    handling: MultiValueHandling,
    value: Option<&Value>,
    scratch: &mut Scratch,
) -> (u32, u64) {
    // Druid: 16 bytes for the key's int array, 4 per id, and each new dictionary entry.
    let mut size = 16 + 4;
    let mut intern = |text: &str| -> u32 {
        let (id, new) = values.intern(text);
        if new {
            size += 28 + 16 + 2 * utf16_len(text) as u64 + 16;
        }
        id
    };
    let component = match value {
        None | Some(Value::Null) => NULL_ID,
        Some(Value::String(s)) => intern(s),
        Some(Value::Array(items)) if items.len() <= 1 => match items.first() {
            None | Some(Value::Null) => NULL_ID,
            Some(item) => {
                scratch.text.clear();
                write_java(&mut scratch.text, item);
                intern(&scratch.text)
            }
        },
        Some(Value::Array(items)) => {
            scratch.text.clear();
            scratch.elements.clear();
            for item in items {
                if item.is_null() {
                    scratch.elements.push(None);
                } else {
                    let start = scratch.text.len();
                    write_java(&mut scratch.text, item);
                    scratch.elements.push(Some((start, scratch.text.len())));
                }
            }
            let text = &scratch.text;
            let get = |e: &Option<(usize, usize)>| e.map(|(s, t)| &text[s..t]);
            if handling != MultiValueHandling::Array {
                scratch.elements.sort_by(|a, b| match (get(a), get(b)) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => compare_utf16(x, y),
                });
            }
            if handling == MultiValueHandling::SortedSet {
                scratch.elements.dedup_by(|a, b| get(a) == get(b));
            }
            scratch.ids.clear();
            for element in &scratch.elements {
                let id = match get(element) {
                    None => NULL_ID,
                    Some(text) => intern(text),
                };
                scratch.ids.push(id);
            }
            size += 4 * (scratch.ids.len() as u64 - 1);
            match scratch.ids.as_slice() {
                [only] => *only,
                ids => arrays.intern(ids) | MULTI_FLAG,
            }
        }
        Some(other) => {
            scratch.text.clear();
            write_java(&mut scratch.text, other);
            intern(&scratch.text)
        }
    };
    (component, size)
}

/// Appends Java's `String.valueOf` of a non-null value.
fn write_java(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Long(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Double(d) => {
            let _ = write!(out, "{}", JavaDouble(*d));
        }
        other => {
            let _ = write!(out, "{}", JavaValue(other));
        }
    }
}

/// Reads a float or double dimension value: Druid's `convertObjectToFloat`/`ToDouble`.
fn numeric<T>(
    value: Option<&Value>,
    name: &str,
    type_name: &str,
    errors: &mut Vec<String>,
    parse: fn(&str) -> Option<T>,
    from_long: fn(i64) -> T,
    from_double: fn(f64) -> T,
) -> Option<T> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Long(n)) => Some(from_long(*n)),
        Some(Value::Double(d)) => Some(from_double(*d)),
        Some(Value::String(s)) => parse(s).or_else(|| {
            errors.push(format!(
                "Could not convert value [{s}] to {type_name} for dimension [{name}]."
            ));
            None
        }),
        Some(list @ Value::Array(_)) => {
            errors.push(multi_value_error(list, type_name, name));
            None
        }
    }
}

fn multi_value_error(list: &Value, type_name: &str, name: &str) -> String {
    format!(
        "Could not ingest value [{}] as {type_name} for dimension [{name}]. A {type_name} column \
         cannot have multiple values in the same row.",
        JavaValue(list)
    )
}

pub fn compare_long(a: u64, b: u64) -> Ordering {
    (a as i64).cmp(&(b as i64))
}

pub fn compare_double(a: u64, b: u64) -> Ordering {
    f64::from_bits(a).total_cmp(&f64::from_bits(b))
}

pub fn compare_float(a: u64, b: u64) -> Ordering {
    f32::from_bits(a as u32).total_cmp(&f32::from_bits(b as u32))
}
