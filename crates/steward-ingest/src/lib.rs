//! Native batch ingestion as a library: rows in, rolled-up sorted rows out.
//!
//! The pipeline of an `index` task, with no knowledge of the Overlord or of processes:
//! an input source yields bytes, an input format parses them into [`InputRow`]s, the
//! transform spec rewrites and filters them, and the rollup index aggregates them within a
//! memory bound, spilling sorted runs to disk and merging them into one sorted stream that the
//! segment writer turns into segments. Everything here is synchronous: the task runs it on
//! blocking threads.
//!
//! - [`row`]: the row and value types every stage shares.
//! - [`error`]: a spec error names the field, a parse error is counted per row.
//! - [`meters`]: the row counters and the handling of bad rows a task reports.
//! - [`dimensions`], [`aggregate`]: the dimensions and metrics specs.
//! - [`index`]: the rollup index, spilling within a memory bound and merging into sorted rows.
//! - [`pipeline`]: all of it from input to segment files, cut by bucket and partition size;
//!   `read_ahead` reads and parses on a second thread.
//! - [`hash_partitioner`]: the hash bucket of a rolled-up row, as Druid computes it.
//! - [`spec`]: the ingestion spec of `index`/`index_parallel` tasks, checked as at submit.
//! - [`input`]: input sources and formats, read as rows; [`timestamp`] and [`joda`]: row times.

pub mod aggregate;
pub mod compaction;
pub mod dimensions;
pub mod error;
pub mod hash_partitioner;
pub mod index;
pub mod input;
pub mod joda;
pub mod meters;
pub mod pipeline;
mod read_ahead;
pub mod row;
pub mod spec;
pub mod timestamp;
pub mod transform;

pub use error::{ParseError, SpecError};
pub use row::{InputRow, Value};
