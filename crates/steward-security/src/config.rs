//! Druid's security properties, read as Druid names them, so that an operator's
//! `common.runtime.properties` for `druid-basic-security` works unchanged:
//!
//! ```properties
//! druid.auth.authenticatorChain=["basic"]
//! druid.auth.authenticator.basic.type=basic
//! druid.auth.authenticator.basic.initialAdminPassword=password1
//! druid.auth.authenticator.basic.initialInternalClientPassword=password2
//! druid.auth.authenticator.basic.authorizerName=basic
//! druid.auth.authorizers=["basic"]
//! druid.auth.authorizer.basic.type=basic
//! druid.escalator.type=basic
//! druid.escalator.internalClientUsername=druid_system
//! druid.escalator.internalClientPassword=password2
//! druid.escalator.authorizerName=basic
//! ```
//!
//! Steward supports what almost every deployment uses: one `basic` authenticator backed by the
//! metadata store and one `basic` authorizer. Any other setup (LDAP validators or role
//! providers, several authenticators in the chain, other authenticator types) is refused with
//! an error naming the property rather than run with a meaning the operator did not intend.
//! `skipOnFailure` is accepted and has no effect: with a single authenticator a failed login
//! ends in 401 either way, as in Druid. Druid's cache-notification properties do not apply
//! (Steward's processes poll the store, see `druid.auth.basic.common.pollingPeriod`).

use std::str::FromStr;
use std::time::Duration;

use crate::credentials::{DEFAULT_ITERATIONS, MAX_ITERATIONS};
use crate::escalator::Escalator;
use crate::password::Password;

/// Paths Druid never authenticates: the health check every process serves and the Overlord's
/// leader probe (load balancers call both without credentials). A MiddleManager has no
/// `isLeader`, so the second entry does not open anything there.
const BUILT_IN_UNSECURED_PATHS: [&str; 2] = ["/status/health", "/druid/indexer/v1/isLeader"];

/// Druid's `druid.auth.basic.common.pollingPeriod` default: one minute.
const DEFAULT_POLLING_PERIOD: Duration = Duration::from_secs(60);

/// Druid's name for the authenticator and authorizer that let everything through.
pub(crate) const ALLOW_ALL: &str = "allowAll";

/// Authentication and authorization settings of one process, with passwords resolved.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// The basic authenticator's name (`basic` above): part of its store keys and API paths.
    pub(crate) authenticator: String,
    /// The basic authorizer's name.
    pub(crate) authorizer: String,
    pub(crate) initial_admin_password: Option<Password>,
    pub(crate) initial_internal_client_password: Option<Password>,
    /// Iterations for passwords set through the API without an iteration count.
    pub(crate) credential_iterations: u32,
    pub(crate) escalator: Escalator,
    /// Servlet-style path patterns that skip authentication: exact paths, `/prefix/*` and
    /// `*.extension`.
    pub(crate) unsecured_paths: Vec<String>,
    pub(crate) allow_unauthenticated_http_options: bool,
    pub(crate) polling_period: Duration,
    /// What 401 bodies name as the answering host, as Druid's do.
    pub(crate) host: String,
}

impl SecurityConfig {
    /// Reads the properties through `get` (a property's value, if set). `Ok(None)` means
    /// security is off: no `druid.auth.authenticatorChain`, or one of `allowAll` authenticators
    /// only, Druid's default. A misconfiguration is an error naming the property. Passwords may
    /// be given in Druid's `{"type":"environment","variable":"X"}` form, read from this process's
    /// environment now.
    pub fn from_properties(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<SecurityConfig>, String> {
        parse(&get, &|name| std::env::var(name).ok())
    }

    /// The internal client's credentials, for calls to other Steward processes.
    pub fn escalator(&self) -> &Escalator {
        &self.escalator
    }
}

type Get<'a> = &'a dyn Fn(&str) -> Option<String>;
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn parse(get: Get<'_>, env: Env<'_>) -> Result<Option<SecurityConfig>, String> {
    let value = |property: &str| get(property).map(|v| v.trim().to_string());
    let chain_property = "druid.auth.authenticatorChain";
    let Some(chain) = names(get, chain_property)? else {
        return Ok(None);
    };
    let mut basic = Vec::new();
    for name in &chain {
        let type_property = format!("druid.auth.authenticator.{name}.type");
        match (value(&type_property).as_deref(), name.as_str()) {
            (Some("basic"), _) => basic.push(name.clone()),
            (Some(ALLOW_ALL), _) | (None, ALLOW_ALL) => {}
            (Some(other), _) => {
                return Err(format!(
                    "{type_property}: authenticator type [{other}] is not supported; Steward \
                     supports basic and allowAll"
                ))
            }
            (None, _) => return Err(format!("{type_property} is not set")),
        }
    }
    let authenticator = match (basic.as_slice(), chain.len()) {
        ([], _) => return Ok(None),
        ([name], 1) => name.clone(),
        _ => {
            return Err(format!(
                "{chain_property}: Steward supports a single basic authenticator in the chain, \
                 got {chain:?}"
            ))
        }
    };
    let prefix = format!("druid.auth.authenticator.{authenticator}");
    refuse_unless_metadata(get, &format!("{prefix}.credentialsValidator.type"))?;
    let authorizer_property = format!("{prefix}.authorizerName");
    let authorizer = value(&authorizer_property)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{authorizer_property} is not set"))?;
    check_authorizers(get, &authorizer, &authorizer_property)?;

    let password = |property: String| -> Result<Option<Password>, String> {
        value(&property)
            .map(|v| Password::from_property(&property, &v, env))
            .transpose()
    };
    let initial_admin_password = password(format!("{prefix}.initialAdminPassword"))?;
    let initial_internal_client_password =
        password(format!("{prefix}.initialInternalClientPassword"))?;
    let iterations_property = format!("{prefix}.credentialIterations");
    let credential_iterations = number(get, &iterations_property)?.unwrap_or(DEFAULT_ITERATIONS);
    if !(1..=MAX_ITERATIONS).contains(&credential_iterations) {
        return Err(format!(
            "{iterations_property}: {credential_iterations} is out of range 1..={MAX_ITERATIONS}"
        ));
    }

    let escalator = escalator(get, env, &authorizer)?;

    let mut unsecured_paths: Vec<String> = BUILT_IN_UNSECURED_PATHS.map(String::from).into();
    let paths_property = "druid.auth.unsecuredPaths";
    for path in names(get, paths_property)?.unwrap_or_default() {
        if !(path.starts_with('/') || path.starts_with("*.")) {
            return Err(format!(
                "{paths_property}: [{path}] is not a path pattern (/exact/path, /prefix/* or \
                 *.extension)"
            ));
        }
        unsecured_paths.push(path);
    }
    let options_property = "druid.auth.allowUnauthenticatedHttpOptions";
    let allow_unauthenticated_http_options = match value(options_property).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(format!(
                "{options_property}: expected true or false, got [{other}]"
            ))
        }
    };
    let polling_property = "druid.auth.basic.common.pollingPeriod";
    let polling_period = match number::<u64>(get, polling_property)? {
        None => DEFAULT_POLLING_PERIOD,
        Some(0) => {
            return Err(format!(
                "{polling_property}: must be at least 1 (milliseconds)"
            ))
        }
        Some(ms) => Duration::from_millis(ms),
    };
    Ok(Some(SecurityConfig {
        authenticator,
        authorizer,
        initial_admin_password,
        initial_internal_client_password,
        credential_iterations,
        escalator,
        unsecured_paths,
        allow_unauthenticated_http_options,
        polling_period,
        host: value("druid.host")
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string()),
    }))
}

/// The authenticator's authorizer must be listed in `druid.auth.authorizers` with type `basic`;
/// other listed authorizers may only be `allowAll` ones, which nothing uses then.
fn check_authorizers(get: Get<'_>, authorizer: &str, named_by: &str) -> Result<(), String> {
    let list_property = "druid.auth.authorizers";
    let listed = names(get, list_property)?.unwrap_or_default();
    if !listed.iter().any(|a| a == authorizer) {
        return Err(format!(
            "{list_property} must list the authorizer [{authorizer}] that {named_by} names, \
             got {listed:?}"
        ));
    }
    for name in &listed {
        let type_property = format!("druid.auth.authorizer.{name}.type");
        let authorizer_type = get(&type_property).map(|v| v.trim().to_string());
        match authorizer_type.as_deref() {
            Some("basic") if name == authorizer => {
                refuse_unless_metadata(
                    get,
                    &format!("druid.auth.authorizer.{name}.roleProvider.type"),
                )?;
            }
            Some(ALLOW_ALL) if name != authorizer => {}
            None if name == ALLOW_ALL && name != authorizer => {}
            Some("basic") => {
                return Err(format!(
                    "{list_property}: Steward supports one basic authorizer, the one {named_by} \
                     names ([{authorizer}]), but [{name}] is basic too"
                ))
            }
            Some(other) => {
                return Err(format!(
                    "{type_property}: authorizer type [{other}] is not supported here; the \
                     authorizer {named_by} names must be basic"
                ))
            }
            None => return Err(format!("{type_property} is not set")),
        }
    }
    Ok(())
}

/// Druid's basic escalator, required with a basic authenticator: without it, Steward's
/// processes could not call each other.
fn escalator(get: Get<'_>, env: Env<'_>, authorizer: &str) -> Result<Escalator, String> {
    let value = |property: &str| get(property).map(|v| v.trim().to_string());
    let type_property = "druid.escalator.type";
    match value(type_property).as_deref() {
        Some("basic") => {}
        other => {
            return Err(format!(
                "{type_property} must be basic with a basic authenticator (the processes call \
                 each other with its credentials), got {}",
                other.map_or("nothing".to_string(), |t| format!("[{t}]"))
            ))
        }
    }
    let required = |property: &str| {
        value(property)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{property} is not set"))
    };
    let username = required("druid.escalator.internalClientUsername")?;
    let password_property = "druid.escalator.internalClientPassword";
    let password = Password::from_property(password_property, &required(password_property)?, env)?;
    let authorizer_property = "druid.escalator.authorizerName";
    let escalator_authorizer = required(authorizer_property)?;
    if escalator_authorizer != authorizer {
        return Err(format!(
            "{authorizer_property}: [{escalator_authorizer}] is not the basic authorizer \
             [{authorizer}]"
        ));
    }
    Ok(Escalator { username, password })
}

/// LDAP credential validators and role providers are Druid features Steward lacks.
fn refuse_unless_metadata(get: Get<'_>, property: &str) -> Result<(), String> {
    match get(property).as_deref().map(str::trim) {
        None | Some("metadata") => Ok(()),
        Some(other) => Err(format!(
            "{property}: [{other}] is not supported; Steward keeps users and roles in the \
             metadata store only"
        )),
    }
}

/// A property holding a JSON list of names, such as `["basic"]`.
fn names(get: Get<'_>, property: &str) -> Result<Option<Vec<String>>, String> {
    let Some(value) = get(property) else {
        return Ok(None);
    };
    let names: Vec<String> = serde_json::from_str(value.trim()).map_err(|e| {
        format!("{property}: expected a JSON list of names such as [\"basic\"]: {e}")
    })?;
    if names.is_empty() {
        return Err(format!("{property}: the list is empty"));
    }
    if let Some(repeated) = names
        .iter()
        .enumerate()
        .find_map(|(i, n)| names[..i].contains(n).then_some(n))
    {
        return Err(format!("{property}: [{repeated}] is listed twice"));
    }
    Ok(Some(names))
}

fn number<T: FromStr>(get: Get<'_>, property: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    get(property)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|e| format!("{property}: not a number ({e})"))
        })
        .transpose()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Druid's documented example, with cheap password hashing for tests.
    pub(crate) fn example() -> HashMap<String, String> {
        [
            ("druid.auth.authenticatorChain", r#"["basic"]"#),
            ("druid.auth.authenticator.basic.type", "basic"),
            (
                "druid.auth.authenticator.basic.initialAdminPassword",
                "password1",
            ),
            (
                "druid.auth.authenticator.basic.initialInternalClientPassword",
                "password2",
            ),
            ("druid.auth.authenticator.basic.authorizerName", "basic"),
            ("druid.auth.authenticator.basic.credentialIterations", "100"),
            ("druid.auth.authorizers", r#"["basic"]"#),
            ("druid.auth.authorizer.basic.type", "basic"),
            ("druid.escalator.type", "basic"),
            ("druid.escalator.internalClientUsername", "druid_system"),
            ("druid.escalator.internalClientPassword", "password2"),
            ("druid.escalator.authorizerName", "basic"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub(crate) fn read(
        properties: &HashMap<String, String>,
    ) -> Result<Option<SecurityConfig>, String> {
        let env = |name: &str| (name == "INTERNAL_PW").then(|| "from-env".to_string());
        parse(&|p| properties.get(p).cloned(), &env)
    }

    fn with(changes: &[(&str, Option<&str>)]) -> Result<Option<SecurityConfig>, String> {
        let mut properties = example();
        for (key, value) in changes {
            match value {
                Some(v) => properties.insert(key.to_string(), v.to_string()),
                None => properties.remove(*key),
            };
        }
        read(&properties)
    }

    #[test]
    fn druids_example_is_read() {
        let config = read(&example()).unwrap().unwrap();
        assert_eq!(config.authenticator, "basic");
        assert_eq!(config.authorizer, "basic");
        assert_eq!(
            config.initial_admin_password,
            Some(Password::new("password1"))
        );
        assert_eq!(
            config.initial_internal_client_password,
            Some(Password::new("password2"))
        );
        assert_eq!(config.credential_iterations, 100);
        assert_eq!(config.escalator.username(), "druid_system");
        assert_eq!(config.escalator.password, Password::new("password2"));
        assert_eq!(
            config.unsecured_paths,
            ["/status/health", "/druid/indexer/v1/isLeader"]
        );
        assert!(!config.allow_unauthenticated_http_options);
        assert_eq!(config.polling_period, Duration::from_secs(60));
        assert_eq!(config.host, "localhost");
    }

    #[test]
    fn optional_properties_are_read() {
        let config = with(&[
            ("druid.auth.authenticatorChain", Some(r#"["db"]"#)),
            ("druid.auth.authenticator.db.type", Some("basic")),
            ("druid.auth.authenticator.db.authorizerName", Some("roles")),
            ("druid.auth.authenticator.db.skipOnFailure", Some("true")),
            (
                "druid.auth.authenticator.db.credentialsValidator.type",
                Some("metadata"),
            ),
            ("druid.auth.authenticator.basic.initialAdminPassword", None),
            ("druid.auth.authorizers", Some(r#"["roles", "allowAll"]"#)),
            ("druid.auth.authorizer.roles.type", Some("basic")),
            ("druid.escalator.authorizerName", Some("roles")),
            (
                "druid.escalator.internalClientPassword",
                Some(r#"{"type":"environment","variable":"INTERNAL_PW"}"#),
            ),
            (
                "druid.auth.unsecuredPaths",
                Some(r#"["/metrics", "/public/*"]"#),
            ),
            ("druid.auth.allowUnauthenticatedHttpOptions", Some("true")),
            ("druid.auth.basic.common.pollingPeriod", Some("250")),
            ("druid.host", Some("overlord1.example")),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.authenticator, "db");
        assert_eq!(config.authorizer, "roles");
        assert_eq!(config.initial_admin_password, None);
        assert_eq!(config.credential_iterations, DEFAULT_ITERATIONS);
        assert_eq!(config.escalator.password, Password::new("from-env"));
        assert_eq!(
            config.unsecured_paths,
            [
                "/status/health",
                "/druid/indexer/v1/isLeader",
                "/metrics",
                "/public/*"
            ]
        );
        assert!(config.allow_unauthenticated_http_options);
        assert_eq!(config.polling_period, Duration::from_millis(250));
        assert_eq!(config.host, "overlord1.example");
    }

    #[test]
    fn no_chain_or_allow_all_only_means_security_is_off() {
        assert!(read(&HashMap::new()).unwrap().is_none());
        assert!(
            with(&[("druid.auth.authenticatorChain", Some(r#"["allowAll"]"#))])
                .unwrap()
                .is_none()
        );
        assert!(with(&[
            ("druid.auth.authenticatorChain", Some(r#"["open"]"#)),
            ("druid.auth.authenticator.open.type", Some("allowAll")),
        ])
        .unwrap()
        .is_none());
    }

    #[test]
    fn misconfigurations_are_errors_naming_the_property() {
        type Case<'a> = (&'a [(&'a str, Option<&'a str>)], &'a str);
        let cases: &[Case] = &[
            (
                &[("druid.auth.authenticatorChain", Some("basic"))],
                "druid.auth.authenticatorChain:",
            ),
            (
                &[("druid.auth.authenticatorChain", Some("[]"))],
                "druid.auth.authenticatorChain:",
            ),
            (
                &[(
                    "druid.auth.authenticatorChain",
                    Some(r#"["basic","basic"]"#),
                )],
                "druid.auth.authenticatorChain: [basic] is listed twice",
            ),
            (
                &[(
                    "druid.auth.authenticatorChain",
                    Some(r#"["basic","allowAll"]"#),
                )],
                "druid.auth.authenticatorChain: Steward supports a single basic authenticator",
            ),
            (
                &[("druid.auth.authenticator.basic.type", Some("kerberos"))],
                "druid.auth.authenticator.basic.type: authenticator type [kerberos]",
            ),
            (
                &[("druid.auth.authenticator.basic.type", None)],
                "druid.auth.authenticator.basic.type is not set",
            ),
            (
                &[("druid.auth.authenticator.basic.authorizerName", None)],
                "druid.auth.authenticator.basic.authorizerName is not set",
            ),
            (
                &[(
                    "druid.auth.authenticator.basic.authorizerName",
                    Some("missing"),
                )],
                "druid.auth.authorizers must list the authorizer [missing]",
            ),
            (
                &[("druid.auth.authorizers", None)],
                "druid.auth.authorizers must list",
            ),
            (
                &[("druid.auth.authorizer.basic.type", Some("allowAll"))],
                "druid.auth.authorizer.basic.type: authorizer type [allowAll]",
            ),
            (
                &[
                    ("druid.auth.authorizers", Some(r#"["basic","other"]"#)),
                    ("druid.auth.authorizer.other.type", Some("basic")),
                ],
                "druid.auth.authorizers: Steward supports one basic authorizer",
            ),
            (
                &[(
                    "druid.auth.authenticator.basic.credentialsValidator.type",
                    Some("ldap"),
                )],
                "druid.auth.authenticator.basic.credentialsValidator.type: [ldap]",
            ),
            (
                &[(
                    "druid.auth.authorizer.basic.roleProvider.type",
                    Some("ldap"),
                )],
                "druid.auth.authorizer.basic.roleProvider.type: [ldap]",
            ),
            (
                &[("druid.escalator.type", None)],
                "druid.escalator.type must be basic",
            ),
            (
                &[("druid.escalator.type", Some("noop"))],
                "druid.escalator.type must be basic",
            ),
            (
                &[("druid.escalator.internalClientUsername", None)],
                "druid.escalator.internalClientUsername is not set",
            ),
            (
                &[("druid.escalator.internalClientPassword", None)],
                "druid.escalator.internalClientPassword is not set",
            ),
            (
                &[(
                    "druid.escalator.internalClientPassword",
                    Some(r#"{"type":"environment","variable":"NOPE"}"#),
                )],
                "druid.escalator.internalClientPassword: environment variable [NOPE] is not set",
            ),
            (
                &[("druid.escalator.authorizerName", Some("other"))],
                "druid.escalator.authorizerName: [other] is not the basic authorizer",
            ),
            (
                &[(
                    "druid.auth.authenticator.basic.initialAdminPassword",
                    Some(""),
                )],
                "druid.auth.authenticator.basic.initialAdminPassword: the password is empty",
            ),
            (
                &[(
                    "druid.auth.authenticator.basic.credentialIterations",
                    Some("many"),
                )],
                "druid.auth.authenticator.basic.credentialIterations: not a number",
            ),
            (
                &[(
                    "druid.auth.authenticator.basic.credentialIterations",
                    Some("0"),
                )],
                "druid.auth.authenticator.basic.credentialIterations: 0 is out of range",
            ),
            (
                &[("druid.auth.unsecuredPaths", Some(r#"["status"]"#))],
                "druid.auth.unsecuredPaths: [status] is not a path pattern",
            ),
            (
                &[("druid.auth.allowUnauthenticatedHttpOptions", Some("yes"))],
                "druid.auth.allowUnauthenticatedHttpOptions: expected true or false",
            ),
            (
                &[("druid.auth.basic.common.pollingPeriod", Some("0"))],
                "druid.auth.basic.common.pollingPeriod: must be at least 1",
            ),
        ];
        for (changes, expected) in cases {
            let error = with(changes).unwrap_err();
            assert!(error.starts_with(expected), "{changes:?}: {error}");
        }
    }

    #[test]
    fn debug_output_hides_passwords() {
        let shown = format!("{:?}", read(&example()).unwrap().unwrap());
        assert!(
            !shown.contains("password1") && !shown.contains("password2"),
            "{shown}"
        );
    }
}
