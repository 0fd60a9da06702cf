//! What a request asks to do, in Druid's terms: an [`Action`] on a [`Resource`] of a
//! [`ResourceType`]. Route handlers build these to ask [`crate::Security::authorize`]; role
//! permissions are written in the same shape (`{"resource":{"name":..,"type":..},"action":..}`),
//! so the names and spellings are Druid's.

use axum::http::Method;
use serde::{Deserialize, Deserializer, Serialize};

/// Druid's built-in resource types. Druid lets extensions register more; a permission naming
/// one of those is kept in the store but never matches anything Steward asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceType {
    Datasource,
    View,
    Config,
    State,
    SystemTable,
    QueryContext,
    External,
}

impl ResourceType {
    /// Every type, in Druid's registration order: what a superuser role is granted.
    pub const ALL: [ResourceType; 7] = [
        ResourceType::Datasource,
        ResourceType::View,
        ResourceType::Config,
        ResourceType::State,
        ResourceType::SystemTable,
        ResourceType::QueryContext,
        ResourceType::External,
    ];

    /// The type as Druid spells it in permissions (`DATASOURCE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Datasource => "DATASOURCE",
            ResourceType::View => "VIEW",
            ResourceType::Config => "CONFIG",
            ResourceType::State => "STATE",
            ResourceType::SystemTable => "SYSTEM_TABLE",
            ResourceType::QueryContext => "QUERY_CONTEXT",
            ResourceType::External => "EXTERNAL",
        }
    }
}

/// Druid's `Action`. Druid reads it in any case (`read`), and so does Steward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Read,
    Write,
}

impl Action {
    /// The action Druid's resource filters derive from a request: GET and HEAD read, every other
    /// method writes.
    pub fn of_method(method: &Method) -> Action {
        if method == Method::GET || method == Method::HEAD {
            Action::Read
        } else {
            Action::Write
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Action> {
        match text.to_ascii_uppercase().as_str() {
            "READ" => Some(Action::Read),
            "WRITE" => Some(Action::Write),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
        let text = String::deserialize(deserializer)?;
        Action::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown action [{text}], expected READ or WRITE"))
        })
    }
}

/// Something a request acts on: a datasource by name, or one of the fixed names Druid's filters
/// use ([`Resource::state`], [`Resource::config`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: ResourceType,
}

impl Resource {
    pub fn new(name: impl Into<String>, resource_type: ResourceType) -> Resource {
        Resource {
            name: name.into(),
            resource_type,
        }
    }

    /// A datasource: what task endpoints check, with the task's datasource.
    pub fn datasource(name: impl Into<String>) -> Resource {
        Resource::new(name, ResourceType::Datasource)
    }

    /// `STATE` of type STATE: Druid's `StateResourceFilter` (workers, leader, `/status`).
    pub fn state() -> Resource {
        Resource::new("STATE", ResourceType::State)
    }

    /// `CONFIG` of type CONFIG: Druid's `ConfigResourceFilter` (dynamic worker config).
    pub fn config() -> Resource {
        Resource::new("CONFIG", ResourceType::Config)
    }

    /// `security` of type CONFIG: what Druid's basic-security management endpoints check.
    pub fn security() -> Resource {
        Resource::new("security", ResourceType::Config)
    }
}

/// Druid's `ResourceAction`: one permission as the management API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAction {
    pub resource: Resource,
    pub action: Action,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_druids() {
        let permission: ResourceAction = serde_json::from_value(
            json!({"resource": {"name": "wiki.*", "type": "DATASOURCE"}, "action": "read"}),
        )
        .unwrap();
        assert_eq!(
            permission,
            ResourceAction {
                resource: Resource::datasource("wiki.*"),
                action: Action::Read
            }
        );
        assert_eq!(
            serde_json::to_value(&permission).unwrap(),
            json!({"resource": {"name": "wiki.*", "type": "DATASOURCE"}, "action": "READ"})
        );
        for t in ResourceType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        assert!(serde_json::from_value::<ResourceType>(json!("datasource")).is_err());
        assert!(serde_json::from_value::<Action>(json!("DELETE")).is_err());
    }

    #[test]
    fn get_and_head_read_everything_else_writes() {
        assert_eq!(Action::of_method(&Method::GET), Action::Read);
        assert_eq!(Action::of_method(&Method::HEAD), Action::Read);
        for method in [Method::POST, Method::DELETE, Method::PUT, Method::OPTIONS] {
            assert_eq!(Action::of_method(&method), Action::Write);
        }
    }
}
