//! The benchmark's input: wikiticker-shaped JSON lines, as many as asked for, made from Druid's
//! tutorial sample.
//!
//! Each row is a whole row of the sample (39,244 Wikipedia edits), drawn at random, so every
//! column keeps the sample's values, cardinality, nulls and correlations (a robot's user edits
//! as a robot); only its time is new. Times run evenly through `days` days from the sample's
//! day, in order, as an edit stream arrives, so rollup at HOUR meets the same edit again
//! whenever the draw repeats it within an hour. The rows are cut into `files` files of
//! consecutive times (a splittable input for `index_parallel`). The same rows, days, files and
//! seed give the same bytes, so a generated input is kept and reused.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use serde_json::{Map, Value};

/// The sample's day: generated times start at its midnight (UTC).
pub const START: &str = "2015-09-12T00:00:00Z";
const DAY_MS: i64 = 86_400_000;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    pub rows: u64,
    pub days: u32,
    pub files: u32,
    pub seed: u64,
}

impl InputShape {
    /// The directory holding this shape's files, under `data_dir`.
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(format!(
            "wikiticker-{}rows-{}days-{}files-seed{}",
            self.rows, self.days, self.files, self.seed
        ))
    }

    /// The interval the rows fall in, in Druid's notation.
    pub fn interval(&self) -> String {
        let start: jiff::Timestamp = START.parse().expect("a valid constant");
        let end = start
            .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(self.days)))
            .expect("within range");
        format!("{start}/{end}")
    }
}

/// The input files of `shape` under `data_dir`, generated from `sample` (the tutorial's
/// `.json.gz`) unless an earlier run left them complete. Returns their directory.
pub fn ensure_input(shape: &InputShape, sample: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    ensure!(shape.rows > 0, "--rows must be at least 1");
    ensure!(shape.days > 0, "--days must be at least 1");
    ensure!(
        shape.files > 0 && u64::from(shape.files) <= shape.rows,
        "--files must be between 1 and --rows"
    );
    let dir = shape.dir(data_dir);
    // Written last: its presence means every file is whole.
    let done = dir.join("_COMPLETE");
    if done.exists() {
        return Ok(dir);
    }
    let pool = RowPool::load(sample)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut generator = Generator::new(&pool, shape);
    for part in 0..shape.files {
        let path = dir.join(format!("part-{part:03}.json"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let end = shape.rows * u64::from(part + 1) / u64::from(shape.files);
        generator
            .write_until(end, &mut out)
            .and_then(|()| out.flush())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(&done, b"").with_context(|| format!("writing {}", done.display()))?;
    Ok(dir)
}

/// The sample's rows without their time: the JSON text that follows `"time":"..."` in a line.
pub struct RowPool {
    tails: Vec<String>,
}

impl RowPool {
    /// Reads the sample (gzipped JSON lines).
    pub fn load(sample: &Path) -> anyhow::Result<RowPool> {
        let file = File::open(sample)
            .with_context(|| format!("opening the wikiticker sample {}", sample.display()))?;
        let mut tails = Vec::new();
        for (n, line) in BufReader::new(flate2::read::MultiGzDecoder::new(file))
            .lines()
            .enumerate()
        {
            let line = line.with_context(|| format!("reading {}", sample.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let mut row: Map<String, Value> = serde_json::from_str(&line)
                .with_context(|| format!("{} line {}", sample.display(), n + 1))?;
            row.remove("time");
            let object = Value::Object(row).to_string();
            // `{...}` less its opening brace: what follows the time field.
            tails.push(match object.as_str() {
                "{}" => "}".to_string(),
                text => format!(",{}", &text[1..]),
            });
        }
        if tails.is_empty() {
            bail!("the sample {} has no rows", sample.display());
        }
        Ok(RowPool { tails })
    }
}

/// Writes rows in order, keeping its place across files.
struct Generator<'a> {
    pool: &'a RowPool,
    rng: SplitMix64,
    rows: u64,
    span_ms: i64,
    next: u64,
    /// `YYYY-MM-DD` of each day, formatted once.
    dates: Vec<String>,
}

impl<'a> Generator<'a> {
    fn new(pool: &'a RowPool, shape: &InputShape) -> Generator<'a> {
        let start: jiff::Timestamp = START.parse().expect("a valid constant");
        let dates = (0..shape.days)
            .map(|d| {
                let day = start
                    .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(d)))
                    .expect("within range");
                day.strftime("%Y-%m-%d").to_string()
            })
            .collect();
        Generator {
            pool,
            rng: SplitMix64(shape.seed),
            rows: shape.rows,
            span_ms: DAY_MS * i64::from(shape.days),
            next: 0,
            dates,
        }
    }

    /// Writes rows up to (not including) row number `end`.
    fn write_until(&mut self, end: u64, out: &mut impl Write) -> std::io::Result<()> {
        let mut line = String::with_capacity(1024);
        while self.next < end {
            // Evenly spread over the span; 128-bit so that no product overflows.
            let offset =
                (i128::from(self.next) * i128::from(self.span_ms) / i128::from(self.rows)) as i64;
            let tail = &self.pool.tails[self.rng.below(self.pool.tails.len() as u64) as usize];
            line.clear();
            line.push_str("{\"time\":\"");
            self.push_time(&mut line, offset);
            line.push('"');
            line.push_str(tail);
            line.push('\n');
            out.write_all(line.as_bytes())?;
            self.next += 1;
        }
        Ok(())
    }

    /// ISO 8601 with milliseconds, as the sample writes it.
    fn push_time(&self, line: &mut String, offset_ms: i64) {
        use std::fmt::Write as _;
        let (day, ms) = (offset_ms / DAY_MS, offset_ms % DAY_MS);
        let _ = write!(
            line,
            "{}T{:02}:{:02}:{:02}.{:03}Z",
            self.dates[day as usize],
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
    }
}

/// A small, fast, seedable generator (Vigna's SplitMix64): the same seed gives the same input
/// on every machine.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for a pool this
    /// small).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/druid/data/wikiticker-2015-09-12-sampled.json.gz"
    );

    #[test]
    fn generated_rows_are_sample_rows_with_ordered_times_in_the_interval() {
        let data = tempfile::tempdir().unwrap();
        let shape = InputShape {
            rows: 1000,
            days: 2,
            files: 3,
            seed: 7,
        };
        let dir = ensure_input(&shape, Path::new(SAMPLE), data.path()).unwrap();
        assert_eq!(
            shape.interval(),
            "2015-09-12T00:00:00Z/2015-09-14T00:00:00Z"
        );
        let mut parts: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        parts.sort();
        assert_eq!(parts.len(), 3);
        let sample: std::collections::HashSet<String> = RowPool::load(Path::new(SAMPLE))
            .unwrap()
            .tails
            .into_iter()
            .collect();
        let (mut rows, mut last) = (0, String::new());
        for part in &parts {
            for line in std::fs::read_to_string(part).unwrap().lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                let time = row["time"].as_str().unwrap().to_string();
                let t: jiff::Timestamp = time.parse().unwrap();
                assert!(time.as_str() >= last.as_str(), "{time} after {last}");
                assert!(("2015-09-12".."2015-09-14").contains(&&time[..10]), "{t}");
                let tail = &line[line.find("\",").unwrap() + 1..];
                assert!(sample.contains(tail), "not a sample row: {line}");
                last = time;
                rows += 1;
            }
        }
        assert_eq!(rows, 1000);
        // The last row starts the last millisecond-step before the end, on the second day.
        assert!(last.starts_with("2015-09-13T23:5"), "{last}");
    }

    #[test]
    fn the_same_shape_is_the_same_bytes_and_is_reused() {
        let data = tempfile::tempdir().unwrap();
        let shape = InputShape {
            rows: 200,
            days: 1,
            files: 1,
            seed: 3,
        };
        let dir = ensure_input(&shape, Path::new(SAMPLE), data.path()).unwrap();
        let first = std::fs::read(dir.join("part-000.json")).unwrap();
        // A kept input is not written again: a marker of ours survives.
        std::fs::write(dir.join("marker"), b"").unwrap();
        ensure_input(&shape, Path::new(SAMPLE), data.path()).unwrap();
        assert!(dir.join("marker").exists());
        let other = tempfile::tempdir().unwrap();
        let again = ensure_input(&shape, Path::new(SAMPLE), other.path()).unwrap();
        assert_eq!(std::fs::read(again.join("part-000.json")).unwrap(), first);
        let reseeded = InputShape { seed: 4, ..shape };
        let different = ensure_input(&reseeded, Path::new(SAMPLE), other.path()).unwrap();
        assert_ne!(
            std::fs::read(different.join("part-000.json")).unwrap(),
            first
        );
    }

    #[test]
    fn bad_shapes_are_refused() {
        let data = tempfile::tempdir().unwrap();
        let shape = InputShape {
            rows: 5,
            days: 1,
            files: 6,
            seed: 1,
        };
        let err = ensure_input(&shape, Path::new(SAMPLE), data.path()).unwrap_err();
        assert!(err.to_string().contains("--files"), "{err}");
        let err = RowPool::load(&data.path().join("missing.gz"))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("opening the wikiticker sample"),
            "{err}"
        );
    }
}
