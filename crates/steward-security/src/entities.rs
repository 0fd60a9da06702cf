//! The users, roles and permissions as they are stored, in the shape of Druid's entities
//! (`BasicAuthenticatorUser`, `BasicAuthorizerUser`, `BasicAuthorizerRole`,
//! `BasicAuthorizerPermission`), each map kept whole under one `druid_config` key named as
//! Druid's updaters name it. Druid serialises these maps with Smile; Steward writes JSON (the
//! `druid_config` table holds bytes either way), so the maps are readable with any SQL client,
//! and a map Druid wrote is reported as such instead of being misread.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::credentials::Credentials;
use crate::resource::{Action, ResourceAction, ResourceType};

/// Druid's names for the users and roles of its seeded superusers.
pub(crate) const ADMIN: &str = "admin";
pub(crate) const INTERNAL_USER: &str = "druid_system";

/// Druid's `basic_authentication_<authenticator>_users`.
pub(crate) fn authenticator_users_key(authenticator: &str) -> String {
    format!("basic_authentication_{authenticator}_users")
}

/// Druid's `basic_authorization_<authorizer>_users`.
pub(crate) fn authorizer_users_key(authorizer: &str) -> String {
    format!("basic_authorization_{authorizer}_users")
}

/// Druid's `basic_authorization_<authorizer>_roles`.
pub(crate) fn roles_key(authorizer: &str) -> String {
    format!("basic_authorization_{authorizer}_roles")
}

/// A user of the authenticator: a name and, once a password was set, its credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AuthenticatorUser {
    pub name: String,
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

/// A user of the authorizer: the names of its roles. It is a separate map from the
/// authenticator's, as in Druid: a user is created in both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AuthorizerUser {
    pub name: String,
    #[serde(default)]
    pub roles: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub name: String,
    #[serde(default, deserialize_with = "readable_permissions")]
    pub permissions: Vec<Permission>,
}

/// Druid's `BasicAuthorizerPermission`: the permission as granted, and its resource name as the
/// regular expression that is matched (Druid writes both; they are the same text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    pub resource_action: StoredResourceAction,
    pub resource_name_pattern: String,
}

/// A [`ResourceAction`] with the resource type kept as text: a type registered by a Druid
/// extension Steward lacks survives every rewrite of the role map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredResourceAction {
    pub resource: StoredResource,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredResource {
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
}

impl Permission {
    pub(crate) fn new(granted: &ResourceAction) -> Permission {
        Permission {
            resource_action: StoredResourceAction {
                resource: StoredResource {
                    name: granted.resource.name.clone(),
                    resource_type: granted.resource.resource_type.as_str().to_string(),
                },
                action: granted.action,
            },
            resource_name_pattern: granted.resource.name.clone(),
        }
    }
}

/// Druid's `makeSuperUserPermissions`: read and write on every name (`.*`) of every type.
pub(crate) fn superuser_permissions() -> Vec<Permission> {
    ResourceType::ALL
        .into_iter()
        .flat_map(|resource_type| {
            [Action::Read, Action::Write].map(|action| {
                Permission::new(&ResourceAction {
                    resource: crate::Resource::new(".*", resource_type),
                    action,
                })
            })
        })
        .collect()
}

/// As in Druid, a stored permission that cannot be read (an action Steward does not know) is
/// left out with a warning rather than making the whole role map unreadable.
fn readable_permissions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Permission>, D::Error> {
    let values = Option::<Vec<serde_json::Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(values
        .into_iter()
        .filter_map(|value| match serde_json::from_value(value.clone()) {
            Ok(permission) => Some(permission),
            Err(e) => {
                tracing::warn!(%value, error = %e, "ignoring a stored permission that cannot be read");
                None
            }
        })
        .collect())
}

pub(crate) type AuthenticatorUsers = BTreeMap<String, AuthenticatorUser>;
pub(crate) type AuthorizerUsers = BTreeMap<String, AuthorizerUser>;
pub(crate) type Roles = BTreeMap<String, Role>;

/// Decodes a stored map; an absent row is an empty map, as in Druid.
pub(crate) fn decode<T: DeserializeOwned + Default>(
    key: &str,
    bytes: Option<&[u8]>,
) -> Result<T, String> {
    let Some(bytes) = bytes else {
        return Ok(T::default());
    };
    serde_json::from_slice(bytes).map_err(|e| {
        // Smile documents start with ":)\n".
        if bytes.starts_with(b":)\n") {
            format!(
                "{key} was written by Druid in its binary Smile format; Steward keeps these maps \
                 as JSON and cannot read it: recreate the users and roles through Steward's API"
            )
        } else {
            format!("{key} is not a readable map: {e}")
        }
    })
}

pub(crate) fn encode<T: Serialize>(map: &T) -> Vec<u8> {
    serde_json::to_vec(map).expect("maps of strings serialise")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_have_druids_shape() {
        let roles: Roles = serde_json::from_value(json!({
            "reader": {"name": "reader", "permissions": [
                {"resourceAction": {"resource": {"name": "wiki", "type": "DATASOURCE"}, "action": "READ"},
                 "resourceNamePattern": "wiki"},
                {"resourceAction": {"resource": {"name": "x", "type": "SOME_EXTENSION_TYPE"}, "action": "WRITE"},
                 "resourceNamePattern": "x"},
                {"resourceAction": {"resource": {"name": "y", "type": "STATE"}, "action": "DELETE"},
                 "resourceNamePattern": "y"}
            ]},
            "empty": {"name": "empty", "permissions": null}
        }))
        .unwrap();
        assert_eq!(roles["reader"].permissions.len(), 2);
        assert_eq!(
            roles["reader"].permissions[1]
                .resource_action
                .resource
                .resource_type,
            "SOME_EXTENSION_TYPE"
        );
        assert!(roles["empty"].permissions.is_empty());
        assert_eq!(
            serde_json::to_value(&roles["reader"].permissions[0]).unwrap(),
            json!({"resourceAction": {"resource": {"name": "wiki", "type": "DATASOURCE"}, "action": "READ"},
                   "resourceNamePattern": "wiki"})
        );

        let users: AuthenticatorUsers =
            serde_json::from_value(json!({"u": {"name": "u", "credentials": null}})).unwrap();
        assert_eq!(users["u"].credentials, None);
        let users: AuthorizerUsers =
            serde_json::from_value(json!({"u": {"name": "u", "roles": ["a", "b"]}})).unwrap();
        assert_eq!(users["u"].roles, BTreeSet::from(["a".into(), "b".into()]));
    }

    #[test]
    fn superusers_may_do_anything_of_every_type() {
        let permissions = superuser_permissions();
        assert_eq!(permissions.len(), 14);
        assert!(permissions.iter().all(|p| p.resource_name_pattern == ".*"));
    }

    #[test]
    fn undecodable_maps_are_explained() {
        assert_eq!(decode::<Roles>("k", None).unwrap(), Roles::new());
        let smile = decode::<Roles>("k", Some(b":)\n\x05\xfa")).unwrap_err();
        assert!(smile.starts_with("k was written by Druid in its binary Smile format"));
        let other = decode::<Roles>("k", Some(b"[1]")).unwrap_err();
        assert!(other.starts_with("k is not a readable map"));
    }
}
