//! Druid's `SegmentSchemaMapping`: what a task knows of the segments it publishes beyond their
//! `DataSegment` JSON, sent beside them in the publish actions and in a sub-task's
//! `PushedSegmentsReport`. Steward fills each segment's row count, which the Overlord stores in
//! the segment table's `num_rows` column so the datasource pages can add rows up without
//! opening segments (Druid's console asks its Broker, which Steward does not have).
//!
//! Druid's centralized schema also puts a column schema per fingerprint here; Steward sends
//! none, so `schemaFingerprint` stays null and a Druid reading the table treats the segment as
//! one without a stored schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Druid's `CentralizedDatasourceSchemaConfig.SCHEMA_VERSION`.
pub const SCHEMA_VERSION: u32 = 1;

/// Druid's `SegmentSchemaMapping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentSchemaMapping {
    /// By segment id.
    #[serde(default)]
    pub segment_id_to_metadata_map: BTreeMap<String, SegmentMetadata>,
    /// Druid's column schemas by fingerprint; kept as sent, never read by Steward.
    #[serde(default)]
    pub schema_fingerprint_to_payload_map: BTreeMap<String, Value>,
    #[serde(default = "schema_version")]
    pub schema_version: u32,
}

/// Druid's `SegmentMetadata` (of the centralized schema, not the query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentMetadata {
    pub num_rows: u64,
    pub schema_fingerprint: Option<String>,
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

impl SegmentSchemaMapping {
    /// A mapping of row counts only, by segment id.
    pub fn of_rows(rows: impl IntoIterator<Item = (String, u64)>) -> SegmentSchemaMapping {
        SegmentSchemaMapping {
            segment_id_to_metadata_map: rows
                .into_iter()
                .map(|(id, num_rows)| {
                    let metadata = SegmentMetadata {
                        num_rows,
                        schema_fingerprint: None,
                    };
                    (id, metadata)
                })
                .collect(),
            schema_fingerprint_to_payload_map: BTreeMap::new(),
            schema_version: SCHEMA_VERSION,
        }
    }

    /// Adds `other`'s segments (Druid's `merge`, used by a supervisor over its sub-tasks).
    pub fn merge(&mut self, other: &SegmentSchemaMapping) {
        self.segment_id_to_metadata_map.extend(
            other
                .segment_id_to_metadata_map
                .iter()
                .map(|(id, m)| (id.clone(), m.clone())),
        );
        self.schema_fingerprint_to_payload_map.extend(
            other
                .schema_fingerprint_to_payload_map
                .iter()
                .map(|(f, p)| (f.clone(), p.clone())),
        );
    }

    /// The stored row count of segment `id`, if the mapping has it.
    pub fn num_rows(&self, id: &str) -> Option<u64> {
        self.segment_id_to_metadata_map.get(id).map(|m| m.num_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_druids_json() {
        let druid = json!({
            "segmentIdToMetadataMap": {
                "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1":
                    {"numRows": 39244, "schemaFingerprint": "abc"}
            },
            "schemaFingerprintToPayloadMap": {"abc": {"rowSignature": [], "aggregatorFactories": {}}},
            "schemaVersion": 1
        });
        let mapping: SegmentSchemaMapping = serde_json::from_value(druid.clone()).unwrap();
        assert_eq!(
            mapping.num_rows("wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1"),
            Some(39244)
        );
        assert_eq!(mapping.num_rows("other"), None);
        assert_eq!(serde_json::to_value(&mapping).unwrap(), druid);
    }

    #[test]
    fn a_mapping_of_rows_has_no_fingerprints_and_merges_by_id() {
        let mut a = SegmentSchemaMapping::of_rows([("s1".to_string(), 10)]);
        let b = SegmentSchemaMapping::of_rows([("s2".to_string(), 20), ("s1".to_string(), 11)]);
        a.merge(&b);
        assert_eq!((a.num_rows("s1"), a.num_rows("s2")), (Some(11), Some(20)));
        assert_eq!(
            serde_json::to_value(&a).unwrap()["segmentIdToMetadataMap"]["s2"],
            json!({"numRows": 20, "schemaFingerprint": null})
        );
        assert_eq!(a.schema_version, SCHEMA_VERSION);
    }
}
