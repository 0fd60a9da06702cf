//! The two ways ingestion input goes wrong.
//!
//! A [`SpecError`] is found at submit time: the Overlord answers 400 with its message and stores
//! nothing, so the message names the field the way Druid's does (a JSON path from the task's
//! root, such as `spec.dataSchema.timestampSpec.format`). A [`ParseError`] belongs to one row:
//! the task counts it (`unparseable` or `processedWithError`), may save it for the report, and
//! fails only past `maxParseExceptions`.

use std::fmt;

/// A spec Druid would refuse at submit time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// Where in the task JSON, as a dotted path (`spec.ioConfig.inputSource.baseDir`).
    pub path: String,
    pub message: String,
}

impl SpecError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error seen from one level up: `inner.at("spec")` turns `dataSchema.x` into
    /// `spec.dataSchema.x`.
    pub fn at(mut self, parent: &str) -> SpecError {
        self.path = if self.path.is_empty() {
            parent.to_string()
        } else {
            format!("{parent}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "Invalid value for field [{}]: {}",
                self.path, self.message
            )
        }
    }
}

/// One row that could not be read, parsed or transformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
        }
    }
}
