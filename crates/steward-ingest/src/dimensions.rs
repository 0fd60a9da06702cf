//! The dimensions spec: which input fields become dimensions, and their types.
//!
//! Placeholder with the public surface the spec module relies on; the rollup work replaces it
//! with Druid's dimension schemas and schemaless discovery.

use serde::{Deserialize, Serialize};

use crate::SpecError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DimensionsSpec {
    #[serde(default)]
    pub dimensions: Vec<serde_json::Value>,
    #[serde(default)]
    pub dimension_exclusions: Vec<String>,
}

impl DimensionsSpec {
    /// The explicitly listed dimension names, in order.
    pub fn dimension_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// Checks the spec as Druid does at submit; paths are relative to the dimensions spec.
    pub fn validate(&self) -> Result<(), SpecError> {
        Ok(())
    }
}
