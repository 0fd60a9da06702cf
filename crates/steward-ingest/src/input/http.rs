//! Reading an HTTP input source's URIs, with Druid's basic authentication.
//!
//! The password is a Druid `PasswordProvider`: a plain string, `{"type":"default",
//! "password":...}`, or `{"type":"environment","variable":...}` read from the peon's
//! environment when the URI is opened (so the secret itself need not be in the stored spec).
//! Druid sends credentials only when both a user name and a password are given.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;

use super::InputError;
use crate::spec::fields::Obj;
use crate::SpecError;

/// Druid's `HttpInputSource`: files read from URIs, optionally with basic authentication.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpInputSource {
    pub uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_authentication_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_authentication_password: Option<PasswordProvider>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
}

/// Druid's `PasswordProvider`, in its JSON shape. Its `Debug` hides the password, as
/// Druid's `toString` does, so a logged spec does not leak it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PasswordProvider {
    Default { password: String },
    Environment { variable: String },
}

impl std::fmt::Debug for PasswordProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordProvider::Default { .. } => f.write_str("DefaultPasswordProvider"),
            PasswordProvider::Environment { variable } => {
                write!(
                    f,
                    "EnvironmentVariablePasswordProvider{{variable='{variable}'}}"
                )
            }
        }
    }
}

impl PasswordProvider {
    /// Reads a string or a provider object; error paths are relative to it.
    pub fn from_json(v: &serde_json::Value) -> Result<PasswordProvider, SpecError> {
        if let serde_json::Value::String(password) = v {
            return Ok(PasswordProvider::Default {
                password: password.clone(),
            });
        }
        let obj = Obj::new(v, "a password provider")?;
        match obj.type_name(Some("default"))? {
            "default" => Ok(PasswordProvider::Default {
                password: obj.string("password")?.unwrap_or_default().to_string(),
            }),
            "environment" => Ok(PasswordProvider::Environment {
                variable: obj
                    .string("variable")?
                    .ok_or_else(|| SpecError::new("variable", "Missing [variable]"))?
                    .to_string(),
            }),
            other => Err(SpecError::new(
                "type",
                format!(
                    "Could not resolve type id '{other}' as a subtype of `PasswordProvider`: known type ids = [default, environment]"
                ),
            )),
        }
    }

    /// The password now; an unset environment variable gives none, as Java's `getenv`.
    pub fn password(&self) -> Option<String> {
        match self {
            PasswordProvider::Default { password } => Some(password.clone()),
            PasswordProvider::Environment { variable } => std::env::var(variable).ok(),
        }
    }
}

/// Opens `uri` for reading, with basic authentication when configured.
pub(crate) fn open(
    uri: &str,
    source: &HttpInputSource,
    timeout: Duration,
) -> Result<Box<dyn Read + Send>, InputError> {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut request = agent.get(uri);
    let password = source
        .http_authentication_password
        .as_ref()
        .and_then(PasswordProvider::password);
    if let (Some(user), Some(password)) = (&source.http_authentication_username, password) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.header("Authorization", format!("Basic {token}"));
    }
    for (name, value) in &source.request_headers {
        request = request.header(name, value);
    }
    let response = request
        .call()
        .map_err(|e| InputError::new(format!("Failed to open [{uri}]: {e}")))?;
    Ok(Box::new(response.into_body().into_reader()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn providers_read_as_druid_writes_them_and_debug_hides_the_secret() {
        let plain = PasswordProvider::from_json(&json!("s3cret")).unwrap();
        assert_eq!(plain.password().as_deref(), Some("s3cret"));
        assert!(!format!("{plain:?}").contains("s3cret"));
        let typed =
            PasswordProvider::from_json(&json!({"type": "default", "password": "p"})).unwrap();
        assert_eq!(
            serde_json::to_value(&typed).unwrap(),
            json!({"type": "default", "password": "p"})
        );
        let untyped = PasswordProvider::from_json(&json!({"password": "p"})).unwrap();
        assert_eq!(untyped, typed);
        let env = PasswordProvider::from_json(&json!({"type": "environment", "variable": "PATH"}))
            .unwrap();
        assert_eq!(env.password(), std::env::var("PATH").ok());
        let err = PasswordProvider::from_json(&json!({"type": "vault"})).unwrap_err();
        assert_eq!(err.path, "type");
    }
}
