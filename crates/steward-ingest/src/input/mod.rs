//! Input: reading an ingestion spec's input source in its input format as [`InputRow`]s.
//!
//! [`open_reader`] lists the source's entities (files, URIs, the inline text) and reads them
//! one after the other; each row gets its time from the timestamp spec. A row that cannot be
//! parsed, or whose time cannot be read, is a [`ReadError::Parse`] with Druid's message and
//! location (`Unable to parse row [...] (Path: file:/data/x.json, Record: 3, Line: 3)`): the
//! task counts it and reading goes on. A source that cannot be read at all (a missing file, an
//! HTTP error) is a [`ReadError::Fatal`], after which the reader ends.
//!
//! - [`source`]: input sources and their splits; [`http`]: HTTP fetching and passwords.
//! - [`format`]: input formats; [`flatten`]: `flattenSpec` and JSONPath.
//! - `json`, `delimited`, `parquet`: one reader per format; `stream`: bytes and `.gz`.
//! - `segment`: the rows of a published segment, for the druid input source.

pub mod flatten;
pub mod format;
pub mod http;
pub mod source;

mod delimited;
mod json;
mod names;
mod parquet;
mod segment;
mod stream;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use format::{DelimitedFormat, InputFormatSpec};
pub use source::{DruidInputSource, InputSourceConfig, InputSourceSpec, SegmentFile};

use self::delimited::DelimitedLines;
use self::json::JsonLines;
use self::names::Interner;
use self::parquet::ParquetRows;
use self::segment::SegmentRows;
use self::source::Entity;
use crate::timestamp::TimestampSpec;
use crate::{InputRow, ParseError};

/// Input that cannot be read at all: the task fails with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub message: String,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> InputError {
        InputError {
            message: message.into(),
        }
    }
}

/// What can go wrong reading one row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// This row is unparseable; the next one may be fine.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The input cannot be read; the reader has ended.
    #[error(transparent)]
    Fatal(#[from] InputError),
}

/// How the reader reaches its input.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Connect and first-byte timeout of HTTP sources.
    pub http_timeout: Duration,
    /// Where Parquet read from HTTP is spooled; the system's temporary directory if `None`.
    pub temp_dir: Option<PathBuf>,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            http_timeout: Duration::from_secs(60),
            temp_dir: None,
        }
    }
}

/// Reads `source` in `format`, stamping rows by `timestamp`. Lists the source's entities
/// first, so a missing directory fails here.
pub fn open_reader(
    source: &InputSourceSpec,
    format: Option<&InputFormatSpec>,
    timestamp: &TimestampSpec,
    options: &ReaderOptions,
) -> Result<InputRowReader, InputError> {
    let entities = source.entities()?;
    let input_total = entities.iter().map(Entity::size).sum::<Option<u64>>();
    Ok(InputRowReader {
        input_read: Arc::new(AtomicU64::new(0)),
        input_total,
        entities: entities.into(),
        format: format.cloned(),
        timestamp: timestamp.clone(),
        options: options.clone(),
        names: Interner::default(),
        current: None,
        processed_bytes: 0,
        row_width: 16,
        done: false,
    })
}

/// The rows of a source, entity after entity.
pub struct InputRowReader {
    entities: VecDeque<Entity>,
    /// `None` only for the druid source, whose entities are segments.
    format: Option<InputFormatSpec>,
    timestamp: TimestampSpec,
    options: ReaderOptions,
    names: Interner,
    current: Option<EntityReader>,
    processed_bytes: u64,
    /// Bytes of the input as stored (before decompression) read so far, and in all when the
    /// source says: how far through its input the reader is.
    input_read: Arc<AtomicU64>,
    input_total: Option<u64>,
    /// The previous row's width, to size the next row's field list once.
    row_width: usize,
    done: bool,
}

impl InputRowReader {
    /// Bytes read so far (decompressed; a Parquet file's size once opened), Druid's
    /// `processedBytes`.
    pub fn processed_bytes(&self) -> u64 {
        self.processed_bytes
    }

    /// Bytes of the input read as stored (compressed files count their compressed bytes), and
    /// the input's size when known (files and inline data; not HTTP).
    pub fn input_progress(&self) -> (u64, Option<u64>) {
        (self.input_read.load(Ordering::Relaxed), self.input_total)
    }

    fn open(&mut self, entity: Entity) -> Result<EntityReader, InputError> {
        let uri = entity.uri();
        let name = entity.name().to_string();
        if let Entity::Segment { file, source } = &entity {
            let windows = file
                .windows
                .iter()
                .map(|w| (w.start.as_millisecond(), w.end.as_millisecond()))
                .collect();
            let rows = SegmentRows::open(
                &file.path,
                windows,
                source.dimensions.as_deref(),
                source.metrics.as_deref(),
                &mut self.names,
            )?;
            return Ok(EntityReader::Segment { rows, uri });
        }
        let Some(format) = &self.format else {
            return Err(InputError::new(
                "An [inputFormat] is needed to read this input",
            ));
        };
        let kind = match format {
            InputFormatSpec::Parquet {
                flatten_spec,
                binary_as_string,
            } => {
                let (flatten, binary_as_string) = (flatten_spec.clone(), *binary_as_string);
                return self.open_parquet(entity, uri, &name, flatten.as_ref(), binary_as_string);
            }
            InputFormatSpec::Json {
                flatten_spec,
                keep_null_columns,
            } => TextKind::Json(JsonLines::new(flatten_spec.as_ref(), *keep_null_columns)),
            InputFormatSpec::Csv(f) => TextKind::Delimited(DelimitedLines::new(
                Arc::new(f.clone()),
                true,
                &mut self.names,
            )),
            InputFormatSpec::Tsv(f) => TextKind::Delimited(DelimitedLines::new(
                Arc::new(f.clone()),
                false,
                &mut self.names,
            )),
        };
        let raw = stream::open_raw(entity, &self.options)?;
        let counted = Box::new(stream::Counted::new(raw, self.input_read.clone()));
        let raw = stream::decompress(&name, counted)?;
        let mut reader = TextReader {
            lines: BufReader::with_capacity(64 * 1024, raw),
            buf: Vec::with_capacity(1024),
            uri,
            line: 0,
            record: 1,
            kind,
        };
        reader.read_headers(&mut self.names, &mut self.processed_bytes)?;
        Ok(EntityReader::Text(Box::new(reader)))
    }

    fn open_parquet(
        &mut self,
        entity: Entity,
        uri: Option<String>,
        name: &str,
        flatten: Option<&flatten::FlattenSpec>,
        binary_as_string: bool,
    ) -> Result<EntityReader, InputError> {
        let (file, length) = match entity {
            Entity::File(path) => {
                let file = File::open(&path).map_err(|e| {
                    InputError::new(format!("Cannot open file [{}]: {e}", path.display()))
                })?;
                let length = file.metadata().map(|m| m.len()).unwrap_or(0);
                (file, length)
            }
            other => stream::spool(stream::open_raw(other, &self.options)?, &self.options)?,
        };
        self.processed_bytes += length;
        self.input_read.fetch_add(length, Ordering::Relaxed);
        let rows = ParquetRows::open_file(file, flatten, binary_as_string).map_err(|e| {
            InputError::new(format!(
                "{} ({})",
                e.message,
                uri.clone().unwrap_or_else(|| name.to_string())
            ))
        })?;
        Ok(EntityReader::Parquet {
            rows,
            uri,
            record: 1,
        })
    }
}

impl InputRowReader {
    /// Reads the next row into `row`, reusing its buffers (the field list and the strings in
    /// it): a reader fed the same row back allocates nothing per row in the common case. On an
    /// error `row` holds no meaningful row. `None` at the end.
    pub fn read_into(&mut self, row: &mut InputRow) -> Option<Result<(), ReadError>> {
        loop {
            if self.done {
                return None;
            }
            let Some(current) = self.current.as_mut() else {
                let entity = match self.entities.pop_front() {
                    Some(entity) => entity,
                    None => {
                        self.done = true;
                        return None;
                    }
                };
                match self.open(entity) {
                    Ok(reader) => self.current = Some(reader),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(ReadError::Fatal(e)));
                    }
                }
                continue;
            };
            let mut ctx = RowContext {
                names: &mut self.names,
                timestamp: &self.timestamp,
                processed_bytes: &mut self.processed_bytes,
                row_width: &mut self.row_width,
            };
            match current.next_row(&mut ctx, row) {
                Some(Err(ReadError::Fatal(e))) => {
                    self.done = true;
                    return Some(Err(ReadError::Fatal(e)));
                }
                Some(item) => return Some(item),
                None => self.current = None,
            }
        }
    }
}

impl Iterator for InputRowReader {
    type Item = Result<InputRow, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = InputRow::new(0, Vec::with_capacity(self.row_width));
        Some(self.read_into(&mut row)?.map(|()| row))
    }
}

/// What every entity reader shares while producing a row.
struct RowContext<'a> {
    names: &'a mut Interner,
    timestamp: &'a TimestampSpec,
    processed_bytes: &'a mut u64,
    row_width: &'a mut usize,
}

impl RowContext<'_> {
    /// Stamps the row, keeping its first `visible` fields.
    fn finish(&mut self, row: &mut InputRow, visible: usize) -> Result<(), ParseError> {
        row.timestamp = self.timestamp.extract(&row.fields)?;
        row.fields.truncate(visible);
        *self.row_width = row.fields.len().max(1);
        Ok(())
    }
}

enum EntityReader {
    Text(Box<TextReader>),
    Parquet {
        rows: ParquetRows,
        uri: Option<String>,
        record: u64,
    },
    Segment {
        rows: SegmentRows,
        uri: Option<String>,
    },
}

impl EntityReader {
    fn next_row(
        &mut self,
        ctx: &mut RowContext,
        row: &mut InputRow,
    ) -> Option<Result<(), ReadError>> {
        match self {
            EntityReader::Text(text) => text.next_row(ctx, row),
            EntityReader::Segment { rows, uri } => {
                if !rows.next_row(ctx.names, &mut row.fields) {
                    return None;
                }
                let visible = row.fields.len();
                Some(
                    ctx.finish(row, visible).map_err(|e| {
                        ReadError::Parse(located(e.message, uri, rows.record(), None))
                    }),
                )
            }
            EntityReader::Parquet { rows, uri, record } => {
                let fields = &mut row.fields;
                let visible = match rows.next_row(ctx.names, &ctx.timestamp.column, fields)? {
                    Ok(visible) => visible,
                    Err(e) => return Some(Err(ReadError::Fatal(e))),
                };
                Some(match ctx.finish(row, visible) {
                    Ok(()) => {
                        *record += 1;
                        Ok(())
                    }
                    Err(e) => Err(ReadError::Parse(located(e.message, uri, *record, None))),
                })
            }
        }
    }
}

/// Druid's `buildParseExceptionMessage`: the message, then where the row was.
fn located(message: String, uri: &Option<String>, record: u64, line: Option<u64>) -> ParseError {
    let mut place = Vec::with_capacity(3);
    if let Some(uri) = uri {
        place.push(format!("Path: {uri}"));
    }
    place.push(format!("Record: {record}"));
    if let Some(line) = line {
        place.push(format!("Line: {line}"));
    }
    ParseError::new(format!("{message} ({})", place.join(", ")))
}

enum TextKind {
    Json(JsonLines),
    Delimited(DelimitedLines),
}

/// A line-oriented entity.
struct TextReader {
    lines: BufReader<Box<dyn std::io::Read + Send>>,
    buf: Vec<u8>,
    uri: Option<String>,
    /// Lines read so far in this entity.
    line: u64,
    /// Druid's record number: rows parsed so far plus one.
    record: u64,
    kind: TextKind,
}

impl TextReader {
    /// Reads the next line into `buf`; its length without the line break, `None` at the end.
    fn read_line(&mut self, processed_bytes: &mut u64) -> Result<Option<usize>, InputError> {
        self.buf.clear();
        let n = self.lines.read_until(b'\n', &mut self.buf).map_err(|e| {
            InputError::new(format!(
                "Failed to read [{}]: {e}",
                self.uri.as_deref().unwrap_or("inline data")
            ))
        })?;
        if n == 0 {
            return Ok(None);
        }
        *processed_bytes += n as u64;
        self.line += 1;
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
            if self.buf[..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        Ok(Some(end))
    }

    /// Skips `skipHeaderRows` and reads the header, for delimited formats.
    fn read_headers(
        &mut self,
        names: &mut Interner,
        processed_bytes: &mut u64,
    ) -> Result<(), InputError> {
        let (skip, header) = match &self.kind {
            TextKind::Delimited(d) => (d.skip_header_rows(), d.reads_header()),
            TextKind::Json(_) => return Ok(()),
        };
        for _ in 0..skip {
            if self.read_line(processed_bytes)?.is_none() {
                return Ok(());
            }
        }
        if header {
            if let Some(end) = self.read_line(processed_bytes)? {
                let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                if let TextKind::Delimited(d) = &mut self.kind {
                    d.set_header(&text, names)?;
                }
            }
        }
        Ok(())
    }

    fn next_row(
        &mut self,
        ctx: &mut RowContext,
        row: &mut InputRow,
    ) -> Option<Result<(), ReadError>> {
        let line = match self.read_line(ctx.processed_bytes) {
            Ok(Some(end)) => &self.buf[..end],
            Ok(None) => return None,
            Err(e) => return Some(Err(ReadError::Fatal(e))),
        };
        let fields = &mut row.fields;
        let parsed = match &mut self.kind {
            TextKind::Json(json) => json
                .parse(line, ctx.names, &ctx.timestamp.column, fields)
                .ok(),
            TextKind::Delimited(delimited) => delimited
                .parse(&String::from_utf8_lossy(line), fields)
                .ok()
                .map(|()| fields.len()),
        };
        let result = match parsed {
            None => Err(format!(
                "Unable to parse row [{}]",
                String::from_utf8_lossy(line)
            )),
            Some(visible) => ctx.finish(row, visible).map_err(|e| e.message),
        };
        Some(match result {
            Ok(()) => {
                self.record += 1;
                Ok(())
            }
            Err(message) => Err(ReadError::Parse(located(
                message,
                &self.uri,
                self.record,
                Some(self.line),
            ))),
        })
    }
}

#[cfg(test)]
mod tests;
