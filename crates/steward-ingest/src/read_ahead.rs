//! Reading ahead on a thread of its own: input, parsing, the transform spec and the interval
//! check run on one core while the rollup index takes the rows on another.
//!
//! Parsing JSON costs about as much as indexing the row, so on two cores a task overlaps the
//! two instead of alternating. Rows travel in batches through a bounded channel (a few batches
//! in flight bound the memory) and come back once indexed, so their buffers are reused and
//! freed on the thread that allocated them. The outcome of every row, kept or why not, keeps
//! the input's order: the consumer counts and reports them exactly as if it had read them
//! itself. The reader stops at the cancel flag, at a fatal error, or when the consumer hangs
//! up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread::Scope;

use steward_model::Interval;

use crate::input::{InputRowReader, ReadError};
use crate::meters::RowIngestionMeters;
use crate::transform::Transformer;
use crate::{InputRow, ParseError};

/// Rows per batch: large enough that the channel costs nothing per row, small enough that a
/// batch stays in cache. Live row counts lag the reader by at most one batch, which waits
/// for its last rows while a slow input delivers them.
const BATCH_ROWS: usize = 512;
/// Batches queued between the threads.
const BATCHES_IN_FLIGHT: usize = 4;

/// What became of one input row.
#[derive(Debug)]
pub enum Outcome {
    /// Parsed, transformed and within the intervals: for the index.
    Row(InputRow),
    /// Could not be parsed or transformed (Druid's `unparseable`).
    Unparseable(ParseError),
    /// Filtered out or outside the intervals (Druid's `thrownAway`).
    ThrownAway,
    /// The input cannot be read further; nothing follows.
    Fatal(String),
}

/// What the reading thread needs.
pub struct ReadAhead<'a> {
    pub reader: InputRowReader,
    pub transformer: &'a Transformer,
    /// The granularity spec's intervals; empty means every time.
    pub intervals: &'a [Interval],
    pub meters: &'a RowIngestionMeters,
    pub cancel: &'a AtomicBool,
}

/// The consuming end: batches of outcomes in input order.
pub struct Outcomes {
    full: Receiver<Vec<Outcome>>,
    empty: SyncSender<Vec<Outcome>>,
}

impl Outcomes {
    /// The next batch, `None` once the input is done (or the reader stopped).
    pub fn next_batch(&mut self) -> Option<Vec<Outcome>> {
        self.full.recv().ok()
    }

    /// Hands a consumed batch back for its buffers to be reused.
    pub fn recycle(&mut self, batch: Vec<Outcome>) {
        // A reader that has finished takes no more; the batch is then simply dropped here.
        let _ = self.empty.try_send(batch);
    }
}

impl<'a> ReadAhead<'a> {
    /// Starts reading on a thread of `scope`.
    pub fn spawn<'scope>(self, scope: &'scope Scope<'scope, '_>) -> Outcomes
    where
        'a: 'scope,
    {
        let (full_tx, full) = sync_channel(BATCHES_IN_FLIGHT);
        // Room for every batch there can be, so that handing one back never blocks.
        let (empty, empty_rx) = sync_channel(BATCHES_IN_FLIGHT + 2);
        std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn_scoped(scope, move || self.run(full_tx, empty_rx))
            .expect("a thread for reading");
        Outcomes { full, empty }
    }

    fn run(mut self, full: SyncSender<Vec<Outcome>>, empty: Receiver<Vec<Outcome>>) {
        let mut counted_bytes = 0;
        // Indexed rows handed back, to be read into again.
        let mut spare = Vec::new();
        loop {
            let mut batch = match empty.try_recv() {
                Ok(mut used) => {
                    spare.extend(used.drain(..).filter_map(|outcome| match outcome {
                        Outcome::Row(row) => Some(row),
                        _ => None,
                    }));
                    used
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    Vec::with_capacity(BATCH_ROWS)
                }
            };
            let mut last = false;
            while batch.len() < BATCH_ROWS {
                match self.next_outcome(&mut spare) {
                    None => {
                        last = true;
                        break;
                    }
                    Some(outcome) => {
                        let fatal = matches!(outcome, Outcome::Fatal(_));
                        batch.push(outcome);
                        if fatal {
                            last = true;
                            break;
                        }
                    }
                }
            }
            let bytes = self.reader.processed_bytes();
            self.meters.add_processed_bytes(bytes - counted_bytes);
            self.meters.set_input_progress(self.reader.input_progress());
            counted_bytes = bytes;
            if !batch.is_empty() && full.send(batch).is_err() {
                return;
            }
            if last || self.cancel.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    fn next_outcome(&mut self, spare: &mut Vec<InputRow>) -> Option<Outcome> {
        let mut row = spare.pop().unwrap_or_default();
        let error = match self.reader.read_into(&mut row) {
            Some(Ok(())) => None,
            None => Some(None),
            Some(Err(ReadError::Parse(e))) => Some(Some(Outcome::Unparseable(e))),
            Some(Err(ReadError::Fatal(e))) => Some(Some(Outcome::Fatal(e.to_string()))),
        };
        if let Some(outcome) = error {
            spare.push(row);
            return outcome;
        }
        Some(match self.transformer.transform(row) {
            Ok(Some(row)) if self.within_intervals(row.timestamp) => Outcome::Row(row),
            Ok(_) => Outcome::ThrownAway,
            Err(e) => Outcome::Unparseable(e),
        })
    }

    fn within_intervals(&self, t: i64) -> bool {
        self.intervals.is_empty()
            || self
                .intervals
                .iter()
                .any(|i| i.start.as_millisecond() <= t && t < i.end.as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{open_reader, InputFormatSpec, InputSourceConfig, InputSourceSpec};
    use crate::timestamp::TimestampSpec;
    use crate::transform::TransformSpec;
    use crate::Value;
    use serde_json::json;

    fn reader(data: &str) -> InputRowReader {
        let source = InputSourceSpec::from_json(
            &json!({"type": "inline", "data": data}),
            &InputSourceConfig::default(),
        )
        .unwrap();
        let format = InputFormatSpec::from_json(&json!({"type": "json"})).unwrap();
        let ts = TimestampSpec::from_json(&json!({"column": "t", "format": "millis"})).unwrap();
        open_reader(&source, Some(&format), &ts, &Default::default()).unwrap()
    }

    /// Keeps the rows whose `keep` is `no`.
    fn transformer() -> Transformer {
        serde_json::from_value::<TransformSpec>(
            json!({"filter": {"type": "selector", "dimension": "keep", "value": "no"}}),
        )
        .unwrap()
        .compile()
        .unwrap()
    }

    /// Everything read, batch by batch, each batch handed back as the pipeline does.
    fn drain(outcomes: &mut Outcomes) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(batch) = outcomes.next_batch() {
            for outcome in &batch {
                seen.push(match outcome {
                    Outcome::Row(row) => match row.get("n") {
                        Some(Value::Long(n)) => format!("row {n} at {}", row.timestamp),
                        other => format!("row without n: {other:?}"),
                    },
                    Outcome::Unparseable(_) => "unparseable".into(),
                    Outcome::ThrownAway => "thrown away".into(),
                    Outcome::Fatal(e) => format!("fatal {e}"),
                });
            }
            outcomes.recycle(batch);
        }
        seen
    }

    // Druid's InputSourceProcessor: every row is counted once, in input order, whether it is
    // kept, unparseable, filtered out or outside the intervals.
    #[test]
    fn every_row_keeps_its_place_and_its_outcome() {
        let mut data = String::new();
        for n in 0..2000 {
            data += &match n % 5 {
                0 => format!("{{\"t\":{n},\"n\":{n},\"keep\":\"yes\"}}\n"),
                1 => "not json\n".to_string(),
                2 => format!("{{\"t\":{n},\"n\":{n},\"keep\":\"no\"}}\n"),
                3 => format!("{{\"t\":{},\"n\":{n},\"keep\":\"no\"}}\n", 1_000_000 + n),
                _ => format!("{{\"t\":{n},\"keep\":\"no\",\"n\":{n},\"extra\":\"text {n}\"}}\n"),
            };
        }
        let transformer = transformer();
        let intervals = [Interval::new(
            jiff::Timestamp::from_millisecond(0).unwrap(),
            jiff::Timestamp::from_millisecond(1_000_000).unwrap(),
        )];
        let meters = RowIngestionMeters::default();
        let cancel = AtomicBool::new(false);
        let seen = std::thread::scope(|scope| {
            let mut outcomes = ReadAhead {
                reader: reader(&data),
                transformer: &transformer,
                intervals: &intervals,
                meters: &meters,
                cancel: &cancel,
            }
            .spawn(scope);
            drain(&mut outcomes)
        });
        let expected: Vec<String> = (0..2000)
            .map(|n| match n % 5 {
                2 | 4 => format!("row {n} at {n}"),
                1 => "unparseable".into(),
                _ => "thrown away".into(),
            })
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(meters.totals().processed_bytes, data.len() as u64);
    }

    #[test]
    fn the_cancel_flag_or_a_consumer_that_hangs_up_stops_the_reader() {
        let data = "{\"t\":1,\"n\":1,\"keep\":\"no\"}\n".repeat(100_000);
        let transformer = transformer();
        let meters = RowIngestionMeters::default();
        let cancel = AtomicBool::new(true);
        let seen = std::thread::scope(|scope| {
            let mut outcomes = ReadAhead {
                reader: reader(&data),
                transformer: &transformer,
                intervals: &[],
                meters: &meters,
                cancel: &cancel,
            }
            .spawn(scope);
            drain(&mut outcomes).len()
        });
        // One batch at most is read after the flag is seen.
        assert!(seen <= BATCH_ROWS, "{seen} rows read after cancel");
        let cancel = AtomicBool::new(false);
        // The scope ends only once the reader has: a consumer that stops early must not leave
        // it blocked on a full channel.
        std::thread::scope(|scope| {
            let mut outcomes = ReadAhead {
                reader: reader(&data),
                transformer: &transformer,
                intervals: &[],
                meters: &meters,
                cancel: &cancel,
            }
            .spawn(scope);
            assert!(outcomes.next_batch().is_some());
        });
    }

    #[test]
    fn an_unreadable_source_is_the_last_outcome() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            "{\"t\":1,\"n\":1,\"keep\":\"no\"}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.json.gz"), "not gzip at all").unwrap();
        std::fs::write(
            dir.path().join("c.json"),
            "{\"t\":1,\"n\":3,\"keep\":\"no\"}\n",
        )
        .unwrap();
        let source = InputSourceSpec::from_json(
            &json!({"type": "local", "baseDir": dir.path(), "filter": "*"}),
            &InputSourceConfig::default(),
        )
        .unwrap();
        let format = InputFormatSpec::from_json(&json!({"type": "json"})).unwrap();
        let ts = TimestampSpec::from_json(&json!({"column": "t", "format": "millis"})).unwrap();
        let reader = open_reader(&source, Some(&format), &ts, &Default::default()).unwrap();
        let transformer = transformer();
        let meters = RowIngestionMeters::default();
        let cancel = AtomicBool::new(false);
        let seen = std::thread::scope(|scope| {
            let mut outcomes = ReadAhead {
                reader,
                transformer: &transformer,
                intervals: &[],
                meters: &meters,
                cancel: &cancel,
            }
            .spawn(scope);
            drain(&mut outcomes)
        });
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], "row 1 at 1");
        assert!(seen[1].starts_with("fatal "), "{seen:?}");
    }
}
