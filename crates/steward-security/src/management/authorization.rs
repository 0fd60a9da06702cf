//! `/druid-ext/basic-security/authorization`: the authorizer's users, roles, role assignments and
//! permissions.
//!
//! Druid changes the user map and the role map together in one compare-and-swap of both rows
//! where an operation touches both (deleting a role, assigning one). Here each row is swapped on
//! its own, in an order that never lets a user hold a role that does not exist once the
//! operations have finished: deleting a role removes it first and then strips it from every
//! user; creating one first strips its name from users (left over from an interrupted delete);
//! assigning one checks again after the assignment that the role still exists, and takes the
//! assignment back if a concurrent delete removed it. A reference to a missing role grants
//! nothing meanwhile.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{
    bad_request, has_param, json_body, load_status, refresh_all, store_error, update_error, Answer,
    Names, Refusal, AUTHORIZATION,
};
use crate::entities::{AuthorizerUser, AuthorizerUsers, Permission, Role, Roles};
use crate::resource::ResourceAction;
use crate::security::Security;
use crate::snapshot::full_match;
use crate::store::{SecurityStore, UpdateError};

pub(super) fn routes() -> Router<Security> {
    let db = format!("{AUTHORIZATION}/db/{{authorizer}}");
    Router::new()
        .route(
            &format!("{AUTHORIZATION}/loadStatus"),
            get(|State(s): State<Security>| async move { load_status(&s.config().authorizer) }),
        )
        .route(&format!("{AUTHORIZATION}/refreshAll"), get(refresh_all))
        .route(&format!("{db}/users"), get(list_users))
        .route(
            &format!("{db}/users/{{user}}"),
            get(get_user).post(create_user).delete(delete_user),
        )
        .route(
            &format!("{db}/users/{{user}}/roles/{{role}}"),
            post(assign_role).delete(unassign_role),
        )
        .route(&format!("{db}/roles"), get(list_roles))
        .route(
            &format!("{db}/roles/{{role}}"),
            get(get_role).post(create_role).delete(delete_role),
        )
        .route(
            &format!("{db}/roles/{{role}}/permissions"),
            get(get_permissions).post(set_permissions),
        )
}

async fn users(store: &SecurityStore) -> Result<AuthorizerUsers, Refusal> {
    store
        .read(&store.authorizer_users)
        .await
        .map_err(store_error)
}

async fn roles(store: &SecurityStore) -> Result<Roles, Refusal> {
    store.read(&store.roles).await.map_err(store_error)
}

/// `GET .../users`: the user names.
async fn list_users(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    Ok(Json(users(store).await?.keys().collect::<Vec<_>>()).into_response())
}

/// `GET .../users/{user}`: `{"name","roles":[names]}`; with `?full` the roles with their
/// permissions, and with `&simplifyPermissions` those as plain resource actions.
async fn get_user(
    State(security): State<Security>,
    names: Names,
    RawQuery(query): RawQuery,
) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("user");
    let users = users(store).await?;
    let user = users
        .get(name)
        .ok_or_else(|| bad_request(format!("User [{name}] does not exist.")))?;
    if !has_param(query.as_deref(), "full") {
        return Ok(Json(user).into_response());
    }
    let roles = roles(store).await?;
    let simplify = has_param(query.as_deref(), "simplifyPermissions");
    let held: Vec<Value> = user
        .roles
        .iter()
        .filter_map(|r| roles.get(r))
        .map(|role| match simplify {
            true => simplified(role, None),
            false => json!(role),
        })
        .collect();
    Ok(Json(json!({"name": user.name, "roles": held})).into_response())
}

/// Druid's `BasicAuthorizerRoleSimplifiedPermissions`.
fn simplified(role: &Role, users: Option<&BTreeSet<&String>>) -> Value {
    let permissions: Vec<_> = role
        .permissions
        .iter()
        .map(|p| &p.resource_action)
        .collect();
    json!({"name": role.name, "users": users, "permissions": permissions})
}

async fn create_user(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("user");
    let user = AuthorizerUser {
        name: name.to_string(),
        roles: BTreeSet::new(),
    };
    store
        .insert_new(&store.authorizer_users, "User", name, user)
        .await
        .map_err(update_error)?;
    security.changed().await
}

async fn delete_user(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("user");
    store
        .remove_existing::<AuthorizerUser>(&store.authorizer_users, "User", name)
        .await
        .map_err(update_error)?;
    security.changed().await
}

/// `GET .../roles`: the role names.
async fn list_roles(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    Ok(Json(roles(store).await?.keys().collect::<Vec<_>>()).into_response())
}

/// `GET .../roles/{role}`: `{"name","permissions"}`; with `?full` also the users holding it
/// (and Druid's `groups`, always empty: group mappings are LDAP's); with
/// `&simplifyPermissions` permissions as plain resource actions.
async fn get_role(
    State(security): State<Security>,
    names: Names,
    RawQuery(query): RawQuery,
) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("role");
    let roles = roles(store).await?;
    let role = roles
        .get(name)
        .ok_or_else(|| bad_request(format!("Role [{name}] does not exist.")))?;
    let simplify = has_param(query.as_deref(), "simplifyPermissions");
    if !has_param(query.as_deref(), "full") {
        return Ok(match simplify {
            true => Json(simplified(role, None)).into_response(),
            false => Json(role).into_response(),
        });
    }
    let users = users(store).await?;
    let holders: BTreeSet<&String> = users
        .values()
        .filter(|u| u.roles.contains(name))
        .map(|u| &u.name)
        .collect();
    Ok(match simplify {
        true => Json(simplified(role, Some(&holders))).into_response(),
        false => Json(json!({
            "name": role.name,
            "users": holders,
            "groups": [],
            "permissions": role.permissions,
        }))
        .into_response(),
    })
}

/// `POST .../roles/{role}`: a role without permissions.
async fn create_role(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("role");
    if roles(store).await?.contains_key(name) {
        return Err(bad_request(format!("Role [{name}] already exists.")));
    }
    strip_role(store, name).await.map_err(update_error)?;
    let role = Role {
        name: name.to_string(),
        permissions: Vec::new(),
    };
    store
        .insert_new(&store.roles, "Role", name, role)
        .await
        .map_err(update_error)?;
    security.changed().await
}

/// `DELETE .../roles/{role}`: the role, and every user's assignment of it.
async fn delete_role(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("role");
    store
        .remove_existing::<Role>(&store.roles, "Role", name)
        .await
        .map_err(update_error)?;
    strip_role(store, name).await.map_err(update_error)?;
    security.changed().await
}

/// Removes `role` from every user that holds it.
async fn strip_role(store: &SecurityStore, role: &str) -> Result<bool, UpdateError> {
    store
        .update(&store.authorizer_users, |users: &mut AuthorizerUsers| {
            Ok(users
                .values_mut()
                .fold(false, |changed, user| user.roles.remove(role) | changed))
        })
        .await
}

async fn role_exists(store: &SecurityStore, role: &str) -> Result<(), Refusal> {
    if roles(store).await?.contains_key(role) {
        Ok(())
    } else {
        Err(bad_request(format!("Role [{role}] does not exist.")))
    }
}

/// `POST .../users/{user}/roles/{role}`.
async fn assign_role(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let (user, role) = (names.get("user"), names.get("role"));
    role_exists(store, role).await?;
    store
        .update(&store.authorizer_users, |users: &mut AuthorizerUsers| {
            let holder = users
                .get_mut(user)
                .ok_or_else(|| format!("User [{user}] does not exist."))?;
            if !holder.roles.insert(role.to_string()) {
                return Err(format!("User [{user}] already has role [{role}]."));
            }
            Ok(true)
        })
        .await
        .map_err(update_error)?;
    // A delete of the role between the check and the assignment would not have seen it.
    if let Err(missing) = role_exists(store, role).await {
        strip_role(store, role).await.map_err(update_error)?;
        return Err(missing);
    }
    security.changed().await
}

/// `DELETE .../users/{user}/roles/{role}`.
async fn unassign_role(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let (user, role) = (names.get("user"), names.get("role"));
    role_exists(store, role).await?;
    store
        .update(&store.authorizer_users, |users: &mut AuthorizerUsers| {
            let holder = users
                .get_mut(user)
                .ok_or_else(|| format!("User [{user}] does not exist."))?;
            if !holder.roles.remove(role) {
                return Err(format!("User [{user}] does not have role [{role}]."));
            }
            Ok(true)
        })
        .await
        .map_err(update_error)?;
    security.changed().await
}

/// `GET .../roles/{role}/permissions`.
async fn get_permissions(State(security): State<Security>, names: Names) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let name = names.get("role");
    let roles = roles(store).await?;
    let role = roles
        .get(name)
        .ok_or_else(|| bad_request(format!("Role [{name}] does not exist.")))?;
    Ok(Json(&role.permissions).into_response())
}

/// `POST .../roles/{role}/permissions` with a list of
/// `{"resource":{"name":..,"type":..},"action":..}`: replaces the role's permissions. Each name
/// is a regular expression that must match a whole resource name.
async fn set_permissions(State(security): State<Security>, names: Names, body: Body) -> Answer {
    let store = security.authorizer_store(names.get("authorizer"))?;
    let granted: Option<Vec<ResourceAction>> = json_body(body).await?;
    let mut permissions = Vec::new();
    for permission in granted.unwrap_or_default() {
        let pattern = &permission.resource.name;
        if let Err(e) = full_match(pattern) {
            return Err(bad_request(format!(
                "Invalid permission, resource name regex[{pattern}] does not compile: {e}"
            )));
        }
        permissions.push(Permission::new(&permission));
    }
    let name = names.get("role");
    store
        .update(&store.roles, |roles: &mut Roles| {
            let role = roles
                .get_mut(name)
                .ok_or_else(|| format!("Role [{name}] does not exist."))?;
            role.permissions = permissions.clone();
            Ok(true)
        })
        .await
        .map_err(update_error)?;
    security.changed().await
}
