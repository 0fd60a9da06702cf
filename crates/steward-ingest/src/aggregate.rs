//! The metrics spec: Druid's aggregator factories.
//!
//! Placeholder with the public surface the spec module relies on; the rollup work replaces it
//! with Druid's aggregators.

use serde::{Deserialize, Serialize};

use crate::SpecError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AggregatorFactory(pub serde_json::Value);

impl AggregatorFactory {
    /// The output column's name.
    pub fn name(&self) -> &str {
        self.0.get("name").and_then(|n| n.as_str()).unwrap_or("")
    }

    /// Checks the aggregator as Druid does at submit; paths are relative to the aggregator.
    pub fn validate(&self) -> Result<(), SpecError> {
        Ok(())
    }
}
