//! The transform spec: expression transforms and the row filter.
//!
//! Placeholder with the public surface the spec module relies on; the transform work replaces
//! it with Druid's filters and expression language.

use serde::{Deserialize, Serialize};

use crate::SpecError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransformSpec {
    #[serde(default)]
    pub filter: Option<serde_json::Value>,
    #[serde(default)]
    pub transforms: Vec<serde_json::Value>,
}

impl TransformSpec {
    /// Checks the spec as Druid does at submit; paths are relative to the transform spec.
    pub fn validate(&self) -> Result<(), SpecError> {
        Ok(())
    }
}
