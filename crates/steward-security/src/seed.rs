//! Druid's initial users and roles, so that a fresh cluster can be administered at all: the
//! roles `admin` and `druid_system` with every permission, and the users `admin` and
//! `druid_system` holding them, their passwords from `initialAdminPassword` and
//! `initialInternalClientPassword` (with Druid's default iteration count, as Druid does). Each is
//! added only if absent, so a changed password or role is never reset at a restart, and
//! concurrent start-ups add each once.
//!
//! As in Druid, the authorizer's users and roles are seeded even without passwords (the
//! passwords can be set later through the API), and the authenticator's users only with them.

use std::collections::BTreeSet;

use crate::config::SecurityConfig;
use crate::credentials::{Credentials, DEFAULT_ITERATIONS};
use crate::entities::{
    superuser_permissions, AuthenticatorUser, AuthenticatorUsers, AuthorizerUser, AuthorizerUsers,
    Role, Roles, ADMIN, INTERNAL_USER,
};
use crate::password::Password;
use crate::store::{SecurityStore, UpdateError};

/// Seeds the store. Hashes only passwords of users that are missing.
pub(crate) async fn seed_store(
    store: &SecurityStore,
    config: &SecurityConfig,
) -> Result<(), UpdateError> {
    let users: AuthenticatorUsers = store.read(&store.authenticator_users).await?;
    let initial = [
        (ADMIN, &config.initial_admin_password),
        (INTERNAL_USER, &config.initial_internal_client_password),
    ];
    for (name, password) in initial {
        let Some(password) = password.clone().filter(|_| !users.contains_key(name)) else {
            continue;
        };
        let credentials = hash(password).await;
        store
            .update(
                &store.authenticator_users,
                |users: &mut AuthenticatorUsers| {
                    Ok(add_authenticator_user(users, name, &credentials))
                },
            )
            .await?;
    }
    store
        .update(&store.roles, |roles: &mut Roles| {
            Ok(add_superuser_role(roles, ADMIN) | add_superuser_role(roles, INTERNAL_USER))
        })
        .await?;
    store
        .update(&store.authorizer_users, |users: &mut AuthorizerUsers| {
            Ok(add_authorizer_user(users, ADMIN, ADMIN)
                | add_authorizer_user(users, INTERNAL_USER, INTERNAL_USER))
        })
        .await?;
    Ok(())
}

/// The maps of a process without a store (a MiddleManager): `admin` with
/// `initialAdminPassword`, and the escalator's internal client with its password, both with
/// every permission. Nobody else can log in there. Hashes the passwords, which takes a few
/// milliseconds each.
pub(crate) fn static_maps(config: &SecurityConfig) -> (AuthenticatorUsers, AuthorizerUsers, Roles) {
    let mut authenticator_users = AuthenticatorUsers::new();
    let mut authorizer_users = AuthorizerUsers::new();
    let mut roles = Roles::new();
    add_superuser_role(&mut roles, ADMIN);
    add_superuser_role(&mut roles, INTERNAL_USER);
    if let Some(password) = &config.initial_admin_password {
        let credentials = Credentials::new(password.expose(), DEFAULT_ITERATIONS);
        add_authenticator_user(&mut authenticator_users, ADMIN, &credentials);
        add_authorizer_user(&mut authorizer_users, ADMIN, ADMIN);
    }
    let escalator = &config.escalator;
    let credentials = Credentials::new(escalator.password.expose(), DEFAULT_ITERATIONS);
    // An escalator that logs in as `admin` replaces the admin password here: it is the one the
    // other processes present.
    authenticator_users.insert(
        escalator.username.clone(),
        AuthenticatorUser {
            name: escalator.username.clone(),
            credentials: Some(credentials),
        },
    );
    add_authorizer_user(&mut authorizer_users, &escalator.username, INTERNAL_USER);
    (authenticator_users, authorizer_users, roles)
}

async fn hash(password: Password) -> Credentials {
    tokio::task::spawn_blocking(move || Credentials::new(password.expose(), DEFAULT_ITERATIONS))
        .await
        .expect("hashing does not panic")
}

fn add_authenticator_user(
    users: &mut AuthenticatorUsers,
    name: &str,
    credentials: &Credentials,
) -> bool {
    if users.contains_key(name) {
        return false;
    }
    let user = AuthenticatorUser {
        name: name.to_string(),
        credentials: Some(credentials.clone()),
    };
    users.insert(name.to_string(), user);
    true
}

fn add_superuser_role(roles: &mut Roles, name: &str) -> bool {
    if roles.contains_key(name) {
        return false;
    }
    let role = Role {
        name: name.to_string(),
        permissions: superuser_permissions(),
    };
    roles.insert(name.to_string(), role);
    true
}

fn add_authorizer_user(users: &mut AuthorizerUsers, name: &str, role: &str) -> bool {
    if users.contains_key(name) {
        return false;
    }
    let user = AuthorizerUser {
        name: name.to_string(),
        roles: BTreeSet::from([role.to_string()]),
    };
    users.insert(name.to_string(), user);
    true
}
