//! Druid's v9 segment format: the files a Historical loads.
//!
//! A segment directory holds `version.bin` (the int 9), `meta.smoosh` (where each logical file
//! lives) and `00000.smoosh`.. chunks holding `index.drd`, `metadata.drd` and one file per
//! column. Each structure inside has a small typed writer and reader here, with a round-trip
//! test, so the segment writer (the counterpart of Druid's `IndexMergerV9`) and the reader are both
//! built from the same checked pieces. Plain files, no async: the ingestion pipeline calls it
//! from blocking threads.

pub mod bitmap;
mod buffer;
pub mod column;
mod compressed;
mod compression;
mod dump;
mod error;
mod generic_indexed;
mod index_drd;
mod reader;
mod smoosh;
mod spool;
mod string_order;
mod vsize;
mod writer;
mod zip;

pub use buffer::ByteOrder;
pub use dump::{dump, DumpOptions, DumpType};
pub use error::SegmentError;
pub use reader::{QueryableIndex, TIME_COLUMN};
pub use writer::{
    ColumnSchema, ColumnType, ColumnValue, SegmentSchema, SegmentWriter, WrittenSegment,
};
