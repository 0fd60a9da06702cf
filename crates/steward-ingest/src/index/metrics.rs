//! Aggregator states in flat arrays of words, and how rows fold into them.
//!
//! Every row of the index owns `stride` `u64` words: first a bitset saying which metrics are
//! non-null, then one word per metric (its long, or its float/double bits), two for first/last
//! (time, then value). A sum, min or max stays null until a non-null input arrives, as Druid's
//! `NullableNumericAggregator` does in SQL-compatible mode; `count` is never null. Spilled runs
//! keep the same words, so merging runs is [`MetricLayout::combine`], Druid's combining
//! aggregators: sums add, mins and maxes compare, first/last keep the earlier/later time (the
//! earlier run on a tie, as Druid's `GenericFirst/LastAggregateCombiner` do).

use crate::aggregate::{AggregatorFactory, AggregatorKind, MetricType, NumericType};

use super::java::Number;

/// A metric's value in an output row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    Null,
    Long(i64),
    Float(f32),
    Double(f64),
    /// First/last of longs: (time, value); the value is null when the chosen row's was.
    LongPair(i64, Option<i64>),
    FloatPair(i64, Option<f32>),
    DoublePair(i64, Option<f64>),
}

/// What one row gives one aggregator.
pub enum Input {
    /// A null or missing value: the aggregator skips the row.
    Null,
    Value(Number),
    /// Druid's parse error: the aggregator skips the row (first/last still take its time).
    Unparseable,
}

/// Where each metric's words are.
#[derive(Clone)]
pub struct MetricLayout {
    kinds: Vec<AggregatorKind>,
    offsets: Vec<usize>,
    stride: usize,
    /// A row's words before any input.
    initial: Vec<u64>,
}

impl MetricLayout {
    pub fn new(metrics: &[AggregatorFactory]) -> MetricLayout {
        let kinds: Vec<AggregatorKind> = metrics.iter().map(|m| m.kind).collect();
        let null_words = kinds.len().div_ceil(64);
        let mut offsets = Vec::with_capacity(kinds.len());
        let mut next = null_words;
        for kind in &kinds {
            offsets.push(next);
            next += if kind.is_first_last() { 2 } else { 1 };
        }
        let mut initial = vec![0; next];
        for (kind, (m, &at)) in kinds.iter().zip(offsets.iter().enumerate()) {
            match kind {
                AggregatorKind::Count => set_non_null(&mut initial, m),
                k if k.is_first_last() => initial[at] = initial_time(*k) as u64,
                _ => {}
            }
        }
        MetricLayout {
            kinds,
            offsets,
            stride: next,
            initial,
        }
    }

    /// Words per row.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Druid's estimate of a new row's aggregators: each one's size plus its reference.
    pub fn estimated_size(&self) -> u64 {
        self.kinds.iter().map(|k| k.estimated_size() + 8).sum()
    }

    /// The words of a row before any input.
    pub fn initial(&self) -> &[u64] {
        &self.initial
    }

    /// Folds one input into metric `m` of `row`; `time` is the row's time for first/last (the
    /// `timeColumn`'s value, `None` when that is null or unparseable: the row is skipped).
    pub fn aggregate(&self, row: &mut [u64], m: usize, input: Input, time: Option<i64>) {
        let at = self.offsets[m];
        let kind = self.kinds[m];
        if kind == AggregatorKind::Count {
            row[at] = row[at].wrapping_add(1);
            return;
        }
        if kind.is_first_last() {
            let Some(time) = time else { return };
            let first = is_first(kind);
            let current = row[at] as i64;
            if (first && time < current) || (!first && time >= current) {
                row[at] = time as u64;
                // On a parse error Druid has already taken the time and keeps the old value.
                match input {
                    Input::Value(n) => {
                        row[at + 1] = to_bits(value_type(kind), n);
                        set_non_null(row, m);
                    }
                    Input::Null => {
                        row[at + 1] = 0;
                        clear_non_null(row, m);
                    }
                    Input::Unparseable => {}
                }
            }
            return;
        }
        let Input::Value(n) = input else { return };
        let value = to_bits(value_type(kind), n);
        if is_non_null(row, m) {
            row[at] = fold(kind, row[at], value);
        } else {
            row[at] = value;
            set_non_null(row, m);
        }
    }

    /// Combines `other` (a later run's state of the same key) into `acc`.
    pub fn combine(&self, acc: &mut [u64], other: &[u64]) {
        for (m, &kind) in self.kinds.iter().enumerate() {
            let at = self.offsets[m];
            if kind.is_first_last() {
                let (mine, theirs) = (acc[at] as i64, other[at] as i64);
                let take = if is_first(kind) {
                    theirs < mine
                } else {
                    theirs > mine
                };
                if take {
                    acc[at] = other[at];
                    acc[at + 1] = other[at + 1];
                    if is_non_null(other, m) {
                        set_non_null(acc, m);
                    } else {
                        clear_non_null(acc, m);
                    }
                }
            } else if is_non_null(other, m) {
                if is_non_null(acc, m) {
                    acc[at] = fold(kind, acc[at], other[at]);
                } else {
                    acc[at] = other[at];
                    set_non_null(acc, m);
                }
            }
        }
    }

    /// Metric `m` of a row.
    pub fn value(&self, row: &[u64], m: usize) -> MetricValue {
        let at = self.offsets[m];
        let kind = self.kinds[m];
        let non_null = is_non_null(row, m);
        match kind.metric_type() {
            MetricType::Numeric(_) if !non_null => MetricValue::Null,
            MetricType::Numeric(NumericType::Long) => MetricValue::Long(row[at] as i64),
            MetricType::Numeric(NumericType::Float) => MetricValue::Float(f32_of(row[at])),
            MetricType::Numeric(NumericType::Double) => {
                MetricValue::Double(f64::from_bits(row[at]))
            }
            MetricType::Pair(t) => {
                let time = row[at] as i64;
                let value = non_null.then_some(row[at + 1]);
                match t {
                    NumericType::Long => MetricValue::LongPair(time, value.map(|v| v as i64)),
                    NumericType::Float => MetricValue::FloatPair(time, value.map(f32_of)),
                    NumericType::Double => MetricValue::DoublePair(time, value.map(f64::from_bits)),
                }
            }
        }
    }
}

fn is_first(kind: AggregatorKind) -> bool {
    matches!(
        kind,
        AggregatorKind::LongFirst | AggregatorKind::DoubleFirst | AggregatorKind::FloatFirst
    )
}

fn initial_time(kind: AggregatorKind) -> i64 {
    if is_first(kind) {
        i64::MAX
    } else {
        i64::MIN
    }
}

fn value_type(kind: AggregatorKind) -> NumericType {
    match kind.metric_type() {
        MetricType::Numeric(t) | MetricType::Pair(t) => t,
    }
}

fn to_bits(t: NumericType, n: Number) -> u64 {
    match t {
        NumericType::Long => n.to_long() as u64,
        NumericType::Float => u64::from(n.to_float().to_bits()),
        NumericType::Double => n.to_double().to_bits(),
    }
}

fn f32_of(word: u64) -> f32 {
    f32::from_bits(word as u32)
}

/// One step of a sum, min or max on two non-null values, with Java's arithmetic: longs wrap,
/// `Math.min`/`Math.max` propagate NaN and order -0.0 before 0.0.
fn fold(kind: AggregatorKind, acc: u64, value: u64) -> u64 {
    use AggregatorKind::*;
    let (l, r) = (acc as i64, value as i64);
    let (fl, fr) = (f32_of(acc), f32_of(value));
    let (dl, dr) = (f64::from_bits(acc), f64::from_bits(value));
    match kind {
        Count | LongSum => l.wrapping_add(r) as u64,
        LongMin => l.min(r) as u64,
        LongMax => l.max(r) as u64,
        DoubleSum => (dl + dr).to_bits(),
        DoubleMin => java_min(dl, dr).to_bits(),
        DoubleMax => java_max(dl, dr).to_bits(),
        FloatSum => u64::from((fl + fr).to_bits()),
        FloatMin => u64::from((java_min(f64::from(fl), f64::from(fr)) as f32).to_bits()),
        FloatMax => u64::from((java_max(f64::from(fl), f64::from(fr)) as f32).to_bits()),
        LongFirst | LongLast | DoubleFirst | DoubleLast | FloatFirst | FloatLast => acc,
    }
}

fn java_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        // Equal, or 0.0 against -0.0: the negative zero is the smaller.
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else {
        a.min(b)
    }
}

fn java_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_positive() {
            a
        } else {
            b
        }
    } else {
        a.max(b)
    }
}

fn set_non_null(row: &mut [u64], m: usize) {
    row[m / 64] |= 1 << (m % 64);
}

fn clear_non_null(row: &mut [u64], m: usize) {
    row[m / 64] &= !(1 << (m % 64));
}

fn is_non_null(row: &[u64], m: usize) -> bool {
    row[m / 64] & (1 << (m % 64)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use AggregatorKind::*;

    fn layout(kinds: &[AggregatorKind]) -> MetricLayout {
        let metrics: Vec<AggregatorFactory> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| AggregatorFactory::new(*k, &format!("m{i}"), "x"))
            .collect();
        MetricLayout::new(&metrics)
    }

    fn run(kind: AggregatorKind, inputs: &[(i64, Input)]) -> MetricValue {
        let l = layout(&[kind]);
        let mut row = l.initial().to_vec();
        for (time, input) in inputs {
            let input = match input {
                Input::Null => Input::Null,
                Input::Value(n) => Input::Value(*n),
                Input::Unparseable => Input::Unparseable,
            };
            l.aggregate(&mut row, 0, input, Some(*time));
        }
        l.value(&row, 0)
    }

    use super::Input::{Null as N, Unparseable as U};
    fn lv(n: i64) -> Input {
        Input::Value(Number::Long(n))
    }
    fn dv(d: f64) -> Input {
        Input::Value(Number::Double(d))
    }

    #[test]
    fn sums_mins_and_maxes_are_null_until_a_value_arrives() {
        assert_eq!(run(LongSum, &[(0, N), (0, U)]), MetricValue::Null);
        assert_eq!(
            run(LongSum, &[(0, lv(2)), (0, N), (0, dv(3.9))]),
            MetricValue::Long(5)
        );
        assert_eq!(
            run(LongSum, &[(0, lv(i64::MAX)), (0, lv(1))]),
            MetricValue::Long(i64::MIN)
        );
        assert_eq!(
            run(LongMin, &[(0, lv(4)), (0, lv(-2))]),
            MetricValue::Long(-2)
        );
        assert_eq!(
            run(LongMax, &[(0, lv(4)), (0, lv(-2))]),
            MetricValue::Long(4)
        );
        assert_eq!(
            run(DoubleSum, &[(0, dv(0.5)), (0, lv(2))]),
            MetricValue::Double(2.5)
        );
        assert_eq!(
            run(DoubleMin, &[(0, dv(0.0)), (0, dv(-0.0))]),
            MetricValue::Double(-0.0)
        );
        assert!(
            matches!(run(DoubleMax, &[(0, dv(1.0)), (0, dv(f64::NAN))]), MetricValue::Double(d) if d.is_nan())
        );
        assert_eq!(
            run(FloatSum, &[(0, dv(0.1)), (0, dv(0.2))]),
            MetricValue::Float(0.1f32 + 0.2f32)
        );
        assert_eq!(
            run(FloatMin, &[(0, dv(1.5)), (0, lv(1))]),
            MetricValue::Float(1.0)
        );
        assert_eq!(run(FloatMax, &[(0, N)]), MetricValue::Null);
        assert_eq!(run(DoubleMin, &[]), MetricValue::Null);
        // Count counts rows, whatever their values.
        assert_eq!(
            run(Count, &[(0, N), (0, U), (0, lv(7))]),
            MetricValue::Long(3)
        );
        assert_eq!(run(Count, &[]), MetricValue::Long(0));
    }

    #[test]
    fn first_and_last_follow_the_row_time() {
        assert_eq!(
            run(LongFirst, &[(5, lv(1)), (3, lv(2)), (3, lv(9)), (4, lv(3))]),
            MetricValue::LongPair(3, Some(2))
        );
        assert_eq!(
            run(LongLast, &[(5, lv(1)), (7, lv(2)), (7, lv(9)), (6, lv(3))]),
            MetricValue::LongPair(7, Some(9))
        );
        assert_eq!(
            run(DoubleFirst, &[(5, dv(1.5)), (3, N)]),
            MetricValue::DoublePair(3, None)
        );
        assert_eq!(
            run(FloatLast, &[(5, dv(1.5))]),
            MetricValue::FloatPair(5, Some(1.5))
        );
        assert_eq!(run(LongFirst, &[]), MetricValue::LongPair(i64::MAX, None));
        // A parse error takes the time and keeps the value, as Druid's aggregator does.
        assert_eq!(
            run(LongFirst, &[(5, lv(1)), (3, U)]),
            MetricValue::LongPair(3, Some(1))
        );
        // No time: the row is skipped.
        let l = layout(&[LongFirst]);
        let mut row = l.initial().to_vec();
        l.aggregate(&mut row, 0, lv(1), None);
        assert_eq!(l.value(&row, 0), MetricValue::LongPair(i64::MAX, None));
    }

    #[test]
    fn combine_is_druid_combining_aggregators() {
        let l = layout(&[Count, LongSum, DoubleMax, LongFirst, LongLast]);
        let mut a = l.initial().to_vec();
        let mut b = l.initial().to_vec();
        for (row, t, v) in [(&mut a, 10, 1), (&mut b, 10, 2)] {
            l.aggregate(row, 0, N, None);
            l.aggregate(row, 3, lv(v), Some(t));
            l.aggregate(row, 4, lv(v), Some(t));
        }
        l.aggregate(&mut b, 1, lv(4), None);
        l.aggregate(&mut a, 2, dv(1.0), None);
        l.combine(&mut a, &b);
        assert_eq!(l.value(&a, 0), MetricValue::Long(2));
        assert_eq!(l.value(&a, 1), MetricValue::Long(4));
        assert_eq!(l.value(&a, 2), MetricValue::Double(1.0));
        // Ties keep the earlier run's value, for first and for last.
        assert_eq!(l.value(&a, 3), MetricValue::LongPair(10, Some(1)));
        assert_eq!(l.value(&a, 4), MetricValue::LongPair(10, Some(1)));
    }
}
