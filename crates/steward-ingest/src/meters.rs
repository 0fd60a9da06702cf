//! Row counters of an ingestion (Druid's `RowIngestionMeters`) and what happens to a bad row
//! (Druid's `ParseExceptionHandler`).
//!
//! The counters are read while the task runs (`rowStats`, `liveReports`) from another thread
//! than the one ingesting, so they are atomics; the moving averages are Dropwizard meters'
//! exponentially weighted rates, ticked every 5 seconds when read, which is what Druid's
//! `DropwizardRowIngestionMeters` reports under `movingAverages`. Beside Druid's counters they
//! hold how far through its input the reader is, which Druid does not report and
//! `steward task submit --wait` draws as a progress bar.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ParseError;

/// Druid's `RowIngestionMetersTotals`; a parallel ingestion's supervisor reads its
/// sub-tasks' from their reports and adds them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RowIngestionMetersTotals {
    pub processed: u64,
    pub processed_bytes: u64,
    pub processed_with_error: u64,
    pub thrown_away: u64,
    pub unparseable: u64,
}

impl std::ops::AddAssign for RowIngestionMetersTotals {
    fn add_assign(&mut self, other: Self) {
        self.processed += other.processed;
        self.processed_bytes += other.processed_bytes;
        self.processed_with_error += other.processed_with_error;
        self.thrown_away += other.thrown_away;
        self.unparseable += other.unparseable;
    }
}

impl RowIngestionMetersTotals {
    fn as_array(&self) -> [u64; METERS] {
        [
            self.processed,
            self.processed_bytes,
            self.processed_with_error,
            self.unparseable,
            self.thrown_away,
        ]
    }
}

const METERS: usize = 5;
/// The JSON names of the meters, in the order of [`RowIngestionMetersTotals::as_array`].
const METER_NAMES: [&str; METERS] = [
    "processed",
    "processedBytes",
    "processedWithError",
    "unparseable",
    "thrownAway",
];
/// Dropwizard's tick and its 1, 5 and 15 minute windows.
const TICK: Duration = Duration::from_secs(5);
const WINDOWS: [(&str, f64); 3] = [("1m", 1.0), ("5m", 5.0), ("15m", 15.0)];

/// The counters of one ingestion phase (`buildSegments`).
#[derive(Debug)]
pub struct RowIngestionMeters {
    processed: AtomicU64,
    processed_bytes: AtomicU64,
    processed_with_error: AtomicU64,
    thrown_away: AtomicU64,
    unparseable: AtomicU64,
    input_read: AtomicU64,
    /// `u64::MAX` while the input's size is unknown.
    input_total: AtomicU64,
    averages: Mutex<MovingAverages>,
}

impl Default for RowIngestionMeters {
    fn default() -> Self {
        RowIngestionMeters::new(Instant::now())
    }
}

impl RowIngestionMeters {
    pub fn new(now: Instant) -> RowIngestionMeters {
        RowIngestionMeters {
            processed: AtomicU64::new(0),
            processed_bytes: AtomicU64::new(0),
            processed_with_error: AtomicU64::new(0),
            thrown_away: AtomicU64::new(0),
            unparseable: AtomicU64::new(0),
            input_read: AtomicU64::new(0),
            input_total: AtomicU64::new(u64::MAX),
            averages: Mutex::new(MovingAverages {
                last_tick: now,
                counted: [0; METERS],
                rates: None,
            }),
        }
    }

    pub fn add_processed(&self, rows: u64) {
        self.processed.fetch_add(rows, Ordering::Relaxed);
    }
    pub fn add_processed_bytes(&self, bytes: u64) {
        self.processed_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn add_processed_with_error(&self, rows: u64) {
        self.processed_with_error.fetch_add(rows, Ordering::Relaxed);
    }
    pub fn add_thrown_away(&self, rows: u64) {
        self.thrown_away.fetch_add(rows, Ordering::Relaxed);
    }
    pub fn add_unparseable(&self, rows: u64) {
        self.unparseable.fetch_add(rows, Ordering::Relaxed);
    }

    /// Bytes of the input read as stored, and its size when known.
    pub fn set_input_progress(&self, (read, total): (u64, Option<u64>)) {
        self.input_read.store(read, Ordering::Relaxed);
        self.input_total
            .store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn input_progress(&self) -> (u64, Option<u64>) {
        let total = self.input_total.load(Ordering::Relaxed);
        (
            self.input_read.load(Ordering::Relaxed),
            (total != u64::MAX).then_some(total),
        )
    }

    pub fn totals(&self) -> RowIngestionMetersTotals {
        RowIngestionMetersTotals {
            processed: self.processed.load(Ordering::Relaxed),
            processed_bytes: self.processed_bytes.load(Ordering::Relaxed),
            processed_with_error: self.processed_with_error.load(Ordering::Relaxed),
            thrown_away: self.thrown_away.load(Ordering::Relaxed),
            unparseable: self.unparseable.load(Ordering::Relaxed),
        }
    }

    /// Rows (or bytes) per second over the last 1, 5 and 15 minutes, as Druid shows them:
    /// `{"1m": {"processed": …, …}, "5m": {…}, "15m": {…}}`.
    pub fn moving_averages(&self, now: Instant) -> Value {
        let totals = self.totals().as_array();
        let mut averages = self.averages.lock().unwrap_or_else(|e| e.into_inner());
        averages.tick(totals, now);
        let rates = averages.rates.unwrap_or([[0.0; METERS]; 3]);
        let mut out = serde_json::Map::new();
        for (window, (name, _)) in WINDOWS.iter().enumerate() {
            let per_meter = METER_NAMES
                .iter()
                .zip(rates[window])
                .map(|(meter, rate)| (meter.to_string(), json!(rate)))
                .collect();
            out.insert(name.to_string(), Value::Object(per_meter));
        }
        Value::Object(out)
    }
}

/// Dropwizard's `EWMA`s of every meter, ticked lazily.
#[derive(Debug)]
struct MovingAverages {
    last_tick: Instant,
    /// Each meter's count at the last tick.
    counted: [u64; METERS],
    /// Events per second per window and meter; `None` before the first tick, as Dropwizard's
    /// first tick sets the rate instead of averaging into it.
    rates: Option<[[f64; METERS]; 3]>,
}

impl MovingAverages {
    fn tick(&mut self, totals: [u64; METERS], now: Instant) {
        let ticks = now.saturating_duration_since(self.last_tick).as_millis() / TICK.as_millis();
        for i in 0..ticks {
            // What arrived since the last tick counts in the first of the elapsed ticks.
            let arrived: [f64; METERS] = std::array::from_fn(|m| match i {
                0 => (totals[m] - self.counted[m]) as f64 / TICK.as_secs_f64(),
                _ => 0.0,
            });
            match &mut self.rates {
                None => self.rates = Some([arrived; 3]),
                Some(rates) => {
                    for (window, (_, minutes)) in WINDOWS.iter().enumerate() {
                        let alpha = 1.0 - (-TICK.as_secs_f64() / 60.0 / minutes).exp();
                        for m in 0..METERS {
                            rates[window][m] += alpha * (arrived[m] - rates[window][m]);
                        }
                    }
                }
            }
            if i == 0 {
                self.counted = totals;
            }
        }
        self.last_tick += TICK * u32::try_from(ticks).unwrap_or(u32::MAX);
    }
}

/// Druid's `ParseExceptionReport`: a saved bad row for the task's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseExceptionReport {
    pub input: Option<String>,
    /// `unparseable` or `processedWithError`.
    pub error_type: &'static str,
    pub details: Vec<String>,
    pub time_of_exception_millis: i64,
}

/// The error that fails a task with too many bad rows; the text is Druid's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Max parse exceptions[{0}] exceeded")]
pub struct MaxParseExceptionsExceeded(pub u64);

/// Counts bad rows, keeps the last `maxSavedParseExceptions` of them, logs them if asked,
/// and fails the ingestion once more than `maxParseExceptions` rows were bad.
#[derive(Debug)]
pub struct ParseExceptionHandler {
    log_parse_exceptions: bool,
    max_allowed: u64,
    max_saved: usize,
    saved: Mutex<VecDeque<ParseExceptionReport>>,
}

impl ParseExceptionHandler {
    pub fn new(log_parse_exceptions: bool, max_allowed: u64, max_saved: usize) -> Self {
        ParseExceptionHandler {
            log_parse_exceptions,
            max_allowed,
            max_saved,
            saved: Mutex::new(VecDeque::with_capacity(max_saved.min(1024))),
        }
    }

    /// A row that could not be read at all (`unparseable`).
    pub fn unparseable(
        &self,
        meters: &RowIngestionMeters,
        error: &ParseError,
        input: Option<&str>,
    ) -> Result<(), MaxParseExceptionsExceeded> {
        meters.add_unparseable(1);
        self.handle(meters, "unparseable", vec![error.message.clone()], input)
    }

    /// A row ingested with some of its values unusable (`processedWithError`): one message
    /// per column.
    pub fn processed_with_error(
        &self,
        meters: &RowIngestionMeters,
        column_messages: Vec<String>,
        input: Option<&str>,
    ) -> Result<(), MaxParseExceptionsExceeded> {
        meters.add_processed_with_error(1);
        self.handle(meters, "processedWithError", column_messages, input)
    }

    fn handle(
        &self,
        meters: &RowIngestionMeters,
        error_type: &'static str,
        details: Vec<String>,
        input: Option<&str>,
    ) -> Result<(), MaxParseExceptionsExceeded> {
        if self.log_parse_exceptions {
            eprintln!(
                "Encountered parse exception: {}{}",
                details.join("; "),
                input.map(|i| format!(" in [{i}]")).unwrap_or_default()
            );
        }
        if self.max_saved > 0 {
            let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
            if saved.len() == self.max_saved {
                saved.pop_front();
            }
            saved.push_back(ParseExceptionReport {
                input: input.map(str::to_string),
                error_type,
                details,
                time_of_exception_millis: now_millis(),
            });
        }
        let totals = meters.totals();
        match totals.unparseable + totals.processed_with_error > self.max_allowed {
            true => Err(MaxParseExceptionsExceeded(self.max_allowed)),
            false => Ok(()),
        }
    }

    /// The saved reports, newest first (Druid's `getSavedParseExceptionReports`); `None`
    /// when none are kept (`maxSavedParseExceptions` 0).
    pub fn saved(&self) -> Option<Vec<ParseExceptionReport>> {
        if self.max_saved == 0 {
            return None;
        }
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        Some(saved.iter().rev().cloned().collect())
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_averages_follow_dropwizard_ticks() {
        let start = Instant::now();
        let meters = RowIngestionMeters::new(start);
        meters.add_processed(500);
        // Before the first tick every rate is zero.
        assert_eq!(meters.moving_averages(start)["1m"]["processed"], 0.0);
        // The first tick sets the rate: 500 rows in 5 s.
        let first = meters.moving_averages(start + TICK);
        for window in ["1m", "5m", "15m"] {
            assert_eq!(first[window]["processed"], 100.0, "{window}");
        }
        // A quiet minute decays the 1-minute rate by e^-1 and the others less.
        let later = meters.moving_averages(start + TICK + Duration::from_secs(60));
        let one = later["1m"]["processed"].as_f64().unwrap();
        let fifteen = later["15m"]["processed"].as_f64().unwrap();
        assert!((one - 100.0 * (-1.0f64).exp()).abs() < 1e-9, "{one}");
        assert!(fifteen > one && fifteen < 100.0);
        assert_eq!(later["1m"]["thrownAway"], 0.0);
    }

    #[test]
    fn parse_exceptions_are_counted_saved_newest_first_and_limited() {
        let meters = RowIngestionMeters::default();
        let handler = ParseExceptionHandler::new(false, 2, 2);
        let bad = |n: u32| ParseError::new(format!("bad {n}"));
        assert!(handler.unparseable(&meters, &bad(1), Some("x1")).is_ok());
        assert!(handler
            .processed_with_error(&meters, vec!["col a: not a number".into()], None)
            .is_ok());
        assert_eq!(
            handler.unparseable(&meters, &bad(3), Some("x3")),
            Err(MaxParseExceptionsExceeded(2))
        );
        assert_eq!(
            MaxParseExceptionsExceeded(2).to_string(),
            "Max parse exceptions[2] exceeded"
        );
        let totals = meters.totals();
        assert_eq!((totals.unparseable, totals.processed_with_error), (2, 1));
        let saved = handler.saved().unwrap();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[0].details, vec!["bad 3".to_string()]);
        assert_eq!(saved[0].input.as_deref(), Some("x3"));
        assert_eq!(saved[1].error_type, "processedWithError");
        assert_eq!(ParseExceptionHandler::new(false, 9, 0).saved(), None);
    }
}
