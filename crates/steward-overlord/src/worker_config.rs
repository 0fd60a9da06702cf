//! Druid's dynamic worker config (`WorkerBehaviorConfig`, metadata config key `worker.config`):
//! `{"type":"default","selectStrategy":{...},"autoScaler":...}`.
//!
//! Operators change it at runtime with `POST /druid/indexer/v1/worker`; the Overlord stores it
//! (with an audit entry) and the task runner uses its `selectStrategy` for every assignment
//! after that. The JSON is Druid's, including its defaults: a missing `type` means `default`, a
//! missing or null `selectStrategy` means `equalDistribution`, and a strategy without `type` is
//! `equalDistribution`. The legacy names `equalDistributionWithAffinity` and
//! `fillCapacityWithAffinity` are their base strategies.
//!
//! What Steward cannot honour is refused rather than ignored, so that an operator never believes
//! a config is in force when it is not: `javascript` strategies (Steward embeds no JavaScript
//! engine, and Druid disables them by default) and the `categorized` config type. `autoScaler`
//! is accepted and kept in the stored JSON but has no effect: Steward does not provision
//! workers. Unknown fields are ignored, as Druid's mapper does.

use serde::Deserialize;
use serde_json::Value;

use crate::select::{
    AffinityConfig, TaskLimits, WorkerCategorySpec, WorkerPreference, WorkerRestriction,
    WorkerSelectStrategy,
};

/// The metadata config key (and audit key and type) of the worker config.
pub const CONFIG_KEY: &str = "worker.config";

/// Why a posted worker config was refused; the message is for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidWorkerConfig(pub String);

/// The parts of Druid's `DefaultWorkerBehaviorConfig` that Steward acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerBehaviorConfig {
    pub select_strategy: WorkerSelectStrategy,
}

/// A valid worker config: what Steward acts on, and the JSON to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedWorkerConfig {
    pub config: WorkerBehaviorConfig,
    /// The config as posted, compacted, with every field (known or not) in its place, so that
    /// `GET` answers what was set.
    pub json: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStrategy {
    affinity_config: Option<AffinityConfig>,
    worker_category_spec: Option<WorkerCategorySpec>,
    task_limits: Option<TaskLimits>,
}

const KNOWN_STRATEGIES: &str = "equalDistribution, fillCapacity, equalDistributionWithAffinity, \
     fillCapacityWithAffinity, equalDistributionWithCategorySpec, fillCapacityWithCategorySpec";

fn invalid(msg: impl Into<String>) -> InvalidWorkerConfig {
    InvalidWorkerConfig(msg.into())
}

/// The `type` of a JSON object, `None` if absent or null.
fn type_of<'v>(object: &'v Value, what: &str) -> Result<Option<&'v str>, InvalidWorkerConfig> {
    match object.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Ok(Some(t)),
        Some(other) => Err(invalid(format!(
            "{what} type must be a string, found [{other}]"
        ))),
    }
}

impl WorkerBehaviorConfig {
    /// Parses and validates a worker config as posted to `POST /druid/indexer/v1/worker`.
    pub fn parse(body: &[u8]) -> Result<ParsedWorkerConfig, InvalidWorkerConfig> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("Malformed worker config JSON: {e}")))?;
        let config = WorkerBehaviorConfig::from_value(&value)?;
        let json = serde_json::to_vec(&value).expect("a JSON value serialises");
        Ok(ParsedWorkerConfig { config, json })
    }

    fn from_value(value: &Value) -> Result<WorkerBehaviorConfig, InvalidWorkerConfig> {
        if !value.is_object() {
            return Err(invalid(format!(
                "A worker config must be a JSON object, found [{value}]"
            )));
        }
        match type_of(value, "Worker config")? {
            None | Some("default") => {}
            Some("categorized") => {
                return Err(invalid(
                    "Worker config type [categorized] (per-category autoscalers) is not supported \
                     by Steward; use type [default]",
                ))
            }
            Some(other) => {
                return Err(invalid(format!(
                    "Unknown worker config type [{other}]; the known type is [default]"
                )))
            }
        }
        let select_strategy = match value.get("selectStrategy") {
            None | Some(Value::Null) => WorkerSelectStrategy::default(),
            Some(strategy) => parse_strategy(strategy)?,
        };
        Ok(WorkerBehaviorConfig { select_strategy })
    }
}

fn parse_strategy(value: &Value) -> Result<WorkerSelectStrategy, InvalidWorkerConfig> {
    if !value.is_object() {
        return Err(invalid(format!(
            "selectStrategy must be a JSON object, found [{value}]"
        )));
    }
    let kind = type_of(value, "selectStrategy")?.unwrap_or("equalDistribution");
    let (preference, by_category) = match kind {
        "equalDistribution" | "equalDistributionWithAffinity" => {
            (WorkerPreference::EqualDistribution, false)
        }
        "fillCapacity" | "fillCapacityWithAffinity" => (WorkerPreference::FillCapacity, false),
        "equalDistributionWithCategorySpec" => (WorkerPreference::EqualDistribution, true),
        "fillCapacityWithCategorySpec" => (WorkerPreference::FillCapacity, true),
        "javascript" => {
            return Err(invalid(format!(
                "selectStrategy type [javascript] is not supported by Steward; use one of: \
                 {KNOWN_STRATEGIES}"
            )))
        }
        other => {
            return Err(invalid(format!(
                "Unknown selectStrategy type [{other}]; known types: {KNOWN_STRATEGIES}"
            )))
        }
    };
    let raw = RawStrategy::deserialize(value)
        .map_err(|e| invalid(format!("Invalid selectStrategy [{kind}]: {e}")))?;
    // Each family reads only its own restriction, as Druid's classes do.
    let restriction = if by_category {
        raw.worker_category_spec.map(WorkerRestriction::Category)
    } else {
        raw.affinity_config.map(WorkerRestriction::Affinity)
    };
    Ok(WorkerSelectStrategy {
        preference,
        restriction: restriction.unwrap_or_default(),
        task_limits: raw.task_limits.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use super::*;
    use crate::select::CategoryConfig;

    fn parse(v: Value) -> Result<WorkerSelectStrategy, String> {
        WorkerBehaviorConfig::parse(v.to_string().as_bytes())
            .map(|p| p.config.select_strategy)
            .map_err(|e| e.0)
    }

    fn error(v: Value) -> String {
        parse(v).unwrap_err()
    }

    #[test]
    fn druids_full_config_parses_and_is_stored_as_posted() {
        let body = r#"{
            "type": "default",
            "selectStrategy": {
                "type": "fillCapacity",
                "affinityConfig": {"affinity": {"wiki": ["mm-a:8091", "mm-b:8091"]}, "strong": true},
                "taskLimits": {"maxSlotCountByType": {"index": 3}, "maxSlotRatioByType": {"index": 0.5}}
            },
            "autoScaler": {"type": "ec2", "minNumWorkers": 1, "envConfig": {"x": [1, 2]}},
            "extra": "kept"
        }"#;
        let parsed = WorkerBehaviorConfig::parse(body.as_bytes()).unwrap();
        let affinity = BTreeMap::from([(
            "wiki".to_string(),
            BTreeSet::from(["mm-a:8091".to_string(), "mm-b:8091".to_string()]),
        )]);
        assert_eq!(
            parsed.config.select_strategy,
            WorkerSelectStrategy {
                preference: WorkerPreference::FillCapacity,
                restriction: WorkerRestriction::Affinity(AffinityConfig::new(affinity, true)),
                task_limits: TaskLimits {
                    max_slot_count_by_type: BTreeMap::from([("index".into(), 3)]),
                    max_slot_ratio_by_type: BTreeMap::from([("index".into(), 0.5)]),
                },
            }
        );
        let stored: Value = serde_json::from_slice(&parsed.json).unwrap();
        assert_eq!(stored, serde_json::from_str::<Value>(body).unwrap());
        assert_eq!(
            String::from_utf8(parsed.json).unwrap(),
            r#"{"type":"default","selectStrategy":{"type":"fillCapacity","affinityConfig":{"affinity":{"wiki":["mm-a:8091","mm-b:8091"]},"strong":true},"taskLimits":{"maxSlotCountByType":{"index":3},"maxSlotRatioByType":{"index":0.5}}},"autoScaler":{"type":"ec2","minNumWorkers":1,"envConfig":{"x":[1,2]}},"extra":"kept"}"#,
            "compacted, in the posted order"
        );
    }

    #[test]
    fn druids_defaults_apply_to_missing_types_and_strategies() {
        let default = WorkerSelectStrategy::default();
        assert_eq!(parse(json!({})).unwrap(), default);
        assert_eq!(parse(json!({"type": "default"})).unwrap(), default);
        assert_eq!(
            parse(json!({"type": "default", "selectStrategy": null, "autoScaler": null})).unwrap(),
            default
        );
        assert_eq!(parse(json!({"selectStrategy": {}})).unwrap(), default);
        assert_eq!(
            parse(json!({"selectStrategy": {"type": "equalDistribution"}})).unwrap(),
            default
        );
        assert_eq!(
            parse(json!({"selectStrategy": {"type": "fillCapacity", "affinityConfig": null}}))
                .unwrap(),
            WorkerSelectStrategy {
                preference: WorkerPreference::FillCapacity,
                ..default
            }
        );
    }

    #[test]
    fn legacy_affinity_names_are_their_base_strategies() {
        for (legacy, base) in [
            ("equalDistributionWithAffinity", "equalDistribution"),
            ("fillCapacityWithAffinity", "fillCapacity"),
        ] {
            let affinity = json!({"affinity": {"wiki": ["mm-a:8091"]}});
            assert_eq!(
                parse(json!({"selectStrategy": {"type": legacy, "affinityConfig": affinity}}))
                    .unwrap(),
                parse(json!({"selectStrategy": {"type": base, "affinityConfig": affinity}}))
                    .unwrap(),
                "{legacy}"
            );
        }
    }

    #[test]
    fn category_spec_strategies_read_the_worker_category_spec() {
        let spec = json!({
            "categoryMap": {
                "index": {"defaultCategory": "c1", "categoryAffinity": {"wiki": "c2"}},
                "kill": {}
            },
            "strong": true
        });
        for (kind, preference) in [
            (
                "equalDistributionWithCategorySpec",
                WorkerPreference::EqualDistribution,
            ),
            (
                "fillCapacityWithCategorySpec",
                WorkerPreference::FillCapacity,
            ),
        ] {
            let s = parse(json!({"selectStrategy": {
                "type": kind,
                "workerCategorySpec": spec,
                "affinityConfig": {"affinity": {"wiki": ["ignored:1"]}}
            }}))
            .unwrap();
            assert_eq!(s.preference, preference);
            assert_eq!(
                s.restriction,
                WorkerRestriction::Category(WorkerCategorySpec {
                    category_map: BTreeMap::from([
                        (
                            "index".into(),
                            CategoryConfig {
                                default_category: Some("c1".into()),
                                category_affinity: BTreeMap::from([("wiki".into(), "c2".into())]),
                            }
                        ),
                        ("kill".into(), CategoryConfig::default()),
                    ]),
                    strong: true,
                })
            );
        }
        // The affinity family ignores a category spec.
        let s =
            parse(json!({"selectStrategy": {"type": "fillCapacity", "workerCategorySpec": spec}}))
                .unwrap();
        assert_eq!(s.restriction, WorkerRestriction::None);
    }

    #[test]
    fn unsupported_and_unknown_types_are_refused_with_a_clear_message() {
        let e =
            error(json!({"selectStrategy": {"type": "javascript", "function": "function(){}"}}));
        assert!(
            e.contains("[javascript] is not supported by Steward"),
            "{e}"
        );
        assert!(e.contains("fillCapacityWithCategorySpec"), "{e}");
        let e = error(json!({"selectStrategy": {"type": "roundRobin"}}));
        assert!(
            e.starts_with("Unknown selectStrategy type [roundRobin]"),
            "{e}"
        );
        let e = error(json!({"type": "categorized", "selectStrategy": {}}));
        assert!(e.contains("[categorized]"), "{e}");
        let e = error(json!({"type": "fancy"}));
        assert!(e.starts_with("Unknown worker config type [fancy]"), "{e}");
        let e = error(json!({"selectStrategy": {"type": 3}}));
        assert!(e.contains("must be a string"), "{e}");
    }

    #[test]
    fn malformed_configs_are_refused() {
        let bad = |body: &str| WorkerBehaviorConfig::parse(body.as_bytes()).unwrap_err().0;
        assert!(bad("{").starts_with("Malformed worker config JSON"));
        assert!(bad("").starts_with("Malformed worker config JSON"));
        assert!(bad("[]").contains("must be a JSON object"));
        assert!(bad(r#"{"selectStrategy": "fillCapacity"}"#).contains("must be a JSON object"));
        let e = error(json!({"selectStrategy": {"affinityConfig": {"strong": "yes"}}}));
        assert!(
            e.starts_with("Invalid selectStrategy [equalDistribution]"),
            "{e}"
        );
        let e =
            error(json!({"selectStrategy": {"taskLimits": {"maxSlotCountByType": {"index": -1}}}}));
        assert!(
            e.contains("Max task slot count limit for any type must be greater than zero"),
            "{e}"
        );
        let e = error(
            json!({"selectStrategy": {"taskLimits": {"maxSlotRatioByType": {"index": 1.5}}}}),
        );
        assert!(
            e.contains("Max task slot ratios should be in the interval of [0, 1]"),
            "{e}"
        );
    }
}
