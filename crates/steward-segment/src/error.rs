//! The one error type of the crate. Every message names the file, column or structure at fault,
//! so an operator reading a refused segment knows where to look.

use std::path::PathBuf;

/// What went wrong reading or writing a segment.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// An operating-system error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bytes that do not follow Druid's layout for the named structure.
    #[error("{structure}: {message}")]
    Corrupt { structure: String, message: String },
    /// A column whose descriptor or parts cannot be read.
    #[error("column [{column}]: {source}")]
    Column {
        column: String,
        #[source]
        source: Box<SegmentError>,
    },
    /// A valid Druid layout this crate does not read or write yet.
    #[error("not supported yet: {0}")]
    Unsupported(String),
    /// A caller's mistake when writing (schema, row shape, order).
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl SegmentError {
    pub(crate) fn corrupt(structure: impl Into<String>, message: impl Into<String>) -> Self {
        SegmentError::Corrupt {
            structure: structure.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SegmentError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps an error as belonging to `column`, keeping the column named once.
    pub(crate) fn in_column(self, column: &str) -> Self {
        match self {
            e @ SegmentError::Column { .. } => e,
            e => SegmentError::Column {
                column: column.to_string(),
                source: Box::new(e),
            },
        }
    }
}

pub type Result<T> = std::result::Result<T, SegmentError>;
