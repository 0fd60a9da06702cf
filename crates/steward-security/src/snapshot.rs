//! What requests are checked against: the stored maps decoded and compiled (credentials by user,
//! roles by user, each role's permissions with their name patterns as ready regular
//! expressions). A snapshot is immutable and replaced whole when the store changes, so a request
//! never waits for the database and never sees half of an update.

use std::collections::{BTreeSet, HashMap};

use regex::{Regex, RegexBuilder};

use crate::credentials::Credentials;
use crate::entities::{AuthenticatorUsers, AuthorizerUsers, Roles};
use crate::resource::{Action, Resource};

/// Compiled patterns are bounded so that a hostile permission cannot make one huge automaton.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    credentials: HashMap<String, Credentials>,
    roles_of: HashMap<String, BTreeSet<String>>,
    grants: HashMap<String, Vec<Grant>>,
}

/// A permission ready to be matched.
#[derive(Debug)]
struct Grant {
    resource_type: String,
    action: Action,
    name: Regex,
}

impl Snapshot {
    pub(crate) fn new(
        authenticator_users: &AuthenticatorUsers,
        authorizer_users: &AuthorizerUsers,
        roles: &Roles,
    ) -> Snapshot {
        let credentials = authenticator_users
            .iter()
            .filter_map(|(name, user)| Some((name.clone(), user.credentials.clone()?)))
            .collect();
        let roles_of = authorizer_users
            .iter()
            .map(|(name, user)| (name.clone(), user.roles.clone()))
            .collect();
        let grants = roles
            .iter()
            .map(|(name, role)| {
                let grants = role
                    .permissions
                    .iter()
                    .filter_map(|p| {
                        let pattern = &p.resource_name_pattern;
                        match full_match(pattern) {
                            Ok(regex) => Some(Grant {
                                resource_type: p.resource_action.resource.resource_type.clone(),
                                action: p.resource_action.action,
                                name: regex,
                            }),
                            // Only a map written elsewhere can hold one (the API refuses them):
                            // the permission grants nothing rather than something unintended.
                            Err(e) => {
                                tracing::warn!(role = %name, pattern, error = %e,
                                    "ignoring a permission whose name pattern does not compile");
                                None
                            }
                        }
                    })
                    .collect();
                (name.clone(), grants)
            })
            .collect();
        Snapshot {
            credentials,
            roles_of,
            grants,
        }
    }

    /// The user's credentials, if the user exists and has a password.
    pub(crate) fn credentials(&self, user: &str) -> Option<&Credentials> {
        self.credentials.get(user)
    }

    /// Druid's basic authorizer: allowed when any of the user's roles has a permission with this
    /// action and resource type whose pattern matches the whole resource name. Roles that do not
    /// exist (any more) grant nothing.
    pub(crate) fn allows(&self, user: &str, resource: &Resource, action: Action) -> bool {
        let Some(roles) = self.roles_of.get(user) else {
            return false;
        };
        roles
            .iter()
            .filter_map(|role| self.grants.get(role))
            .flatten()
            .any(|grant| {
                grant.action == action
                    && grant.resource_type == resource.resource_type.as_str()
                    && grant.name.is_match(&resource.name)
            })
    }
}

/// Compiles a permission's name pattern so that it must match the whole name, as Java's
/// `Matcher.matches()` does. The pattern is compiled alone first: a pattern that is not a
/// regular expression on its own (`a)|(.*`) could otherwise escape the anchoring group. Java
/// features Rust's engine lacks (look-around, back-references) are errors.
pub(crate) fn full_match(pattern: &str) -> Result<Regex, regex::Error> {
    let build = |p: &str| RegexBuilder::new(p).size_limit(PATTERN_SIZE_LIMIT).build();
    build(pattern)?;
    build(&format!(r"\A(?:{pattern})\z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{AuthorizerUser, Permission, Role};
    use crate::resource::{ResourceAction, ResourceType};

    fn snapshot(permissions: &[(&str, ResourceType, Action)]) -> Snapshot {
        let role = Role {
            name: "r".into(),
            permissions: permissions
                .iter()
                .map(|(name, t, action)| {
                    Permission::new(&ResourceAction {
                        resource: Resource::new(*name, *t),
                        action: *action,
                    })
                })
                .collect(),
        };
        let users = AuthorizerUsers::from([(
            "u".into(),
            AuthorizerUser {
                name: "u".into(),
                roles: BTreeSet::from(["r".into(), "deleted role".into()]),
            },
        )]);
        Snapshot::new(
            &AuthenticatorUsers::new(),
            &users,
            &Roles::from([("r".into(), role)]),
        )
    }

    #[test]
    fn a_pattern_must_match_the_whole_name() {
        let s = snapshot(&[("wiki.*", ResourceType::Datasource, Action::Read)]);
        let read = |name: &str| s.allows("u", &Resource::datasource(name), Action::Read);
        assert!(read("wiki"));
        assert!(read("wikipedia"));
        assert!(!read("my-wikipedia"));
        let s = snapshot(&[("wiki", ResourceType::Datasource, Action::Read)]);
        let read = |name: &str| s.allows("u", &Resource::datasource(name), Action::Read);
        assert!(read("wiki"));
        assert!(!read("wikipedia"));
        assert!(!read("a-wiki"));
        assert!(!read("wiki\n"));
        // Alternatives are tried until one covers the whole name, as Java's matches() does.
        let s = snapshot(&[("a|ab", ResourceType::Datasource, Action::Read)]);
        assert!(s.allows("u", &Resource::datasource("ab"), Action::Read));
    }

    #[test]
    fn type_and_action_must_match_too() {
        let s = snapshot(&[
            (".*", ResourceType::Datasource, Action::Read),
            ("STATE", ResourceType::State, Action::Write),
        ]);
        assert!(s.allows("u", &Resource::datasource("x"), Action::Read));
        assert!(!s.allows("u", &Resource::datasource("x"), Action::Write));
        assert!(!s.allows("u", &Resource::new("x", ResourceType::View), Action::Read));
        assert!(s.allows("u", &Resource::state(), Action::Write));
        assert!(!s.allows("u", &Resource::state(), Action::Read));
        assert!(!s.allows("u", &Resource::config(), Action::Write));
        assert!(!s.allows("someone else", &Resource::datasource("x"), Action::Read));
    }

    #[test]
    fn patterns_cannot_escape_their_anchors() {
        assert!(full_match("wiki)|(.*").is_err());
        assert!(full_match("(?=x)").is_err());
        assert!(full_match(r"(a)\1").is_err());
        let multi_line = full_match("(?m)wiki$").unwrap();
        assert!(multi_line.is_match("wiki"));
        assert!(!multi_line.is_match("wiki\nother"));
    }

    #[test]
    fn permissions_that_do_not_compile_grant_nothing() {
        let role = Role {
            name: "r".into(),
            permissions: vec![Permission {
                resource_name_pattern: "(?<=x)y".into(),
                ..Permission::new(&ResourceAction {
                    resource: Resource::datasource("y"),
                    action: Action::Read,
                })
            }],
        };
        let users = AuthorizerUsers::from([(
            "u".into(),
            AuthorizerUser {
                name: "u".into(),
                roles: BTreeSet::from(["r".into()]),
            },
        )]);
        let s = Snapshot::new(
            &AuthenticatorUsers::new(),
            &users,
            &Roles::from([("r".into(), role)]),
        );
        assert!(!s.allows("u", &Resource::datasource("y"), Action::Read));
    }
}
