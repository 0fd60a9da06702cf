//! A password from configuration, in any form Druid's `PasswordProvider` accepts: a plain value
//! (`initialAdminPassword=s3cret`), `{"type":"default","password":"s3cret"}`, or
//! `{"type":"environment","variable":"ADMIN_PASSWORD"}` so that the secret stays out of the
//! properties file. It is read once, at start-up, and never printed.

use std::fmt;

use serde::Deserialize;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(String);

/// Druid's `PasswordProvider` JSON: `default` is the type when none is given.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Provider {
    Default { password: String },
    Environment { variable: String },
}

impl Password {
    /// Reads property `property` whose value is `value`. `env` looks up environment variables
    /// (a parameter so that tests need not change the process's environment). Errors name the
    /// property.
    pub(crate) fn from_property(
        property: &str,
        value: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Password, String> {
        let value = value.trim();
        let password = if value.starts_with('{') {
            // Druid's JSON parse adds `"type":"default"` when the object has no type.
            let mut object: serde_json::Value = serde_json::from_str(value)
                .map_err(|e| format!("{property}: not a valid password provider: {e}"))?;
            if let Some(fields) = object.as_object_mut() {
                fields.entry("type").or_insert_with(|| "default".into());
            }
            match serde_json::from_value(object).map_err(|e| {
                format!(
                    "{property}: not a valid password provider ({e}); use a plain password, \
                     {{\"type\":\"default\",\"password\":\"...\"}} or \
                     {{\"type\":\"environment\",\"variable\":\"...\"}}"
                )
            })? {
                Provider::Default { password } => password,
                Provider::Environment { variable } => env(&variable).ok_or_else(|| {
                    format!("{property}: environment variable [{variable}] is not set")
                })?,
            }
        } else {
            // Druid reads property values as JSON when they are: a quoted string is the string.
            serde_json::from_str::<String>(value).unwrap_or_else(|_| value.to_string())
        };
        if password.is_empty() {
            return Err(format!("{property}: the password is empty"));
        }
        Ok(Password(password))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn new(password: &str) -> Password {
        Password(password.to_string())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &str) -> Result<String, String> {
        let env = |name: &str| (name == "ADMIN_PW").then(|| "from-env".to_string());
        Password::from_property("p", value, env).map(|p| p.expose().to_string())
    }

    #[test]
    fn every_form_of_druids_password_provider_is_read() {
        assert_eq!(read("s3cret").unwrap(), "s3cret");
        assert_eq!(read("  s3cret ").unwrap(), "s3cret");
        assert_eq!(read("\"quoted pw\"").unwrap(), "quoted pw");
        assert_eq!(read(r#"{"type":"default","password":"pw"}"#).unwrap(), "pw");
        assert_eq!(read(r#"{"password":"pw"}"#).unwrap(), "pw");
        assert_eq!(
            read(r#"{"type":"environment","variable":"ADMIN_PW"}"#).unwrap(),
            "from-env"
        );
    }

    #[test]
    fn unusable_passwords_are_errors_naming_the_property() {
        for value in [
            "",
            "\"\"",
            r#"{"type":"environment","variable":"MISSING"}"#,
            r#"{"type":"vault","path":"x"}"#,
            r#"{"type":"environment"}"#,
            "{not json",
        ] {
            let error = read(value).unwrap_err();
            assert!(error.starts_with("p: "), "{value}: {error}");
        }
        assert!(read(r#"{"type":"environment","variable":"MISSING"}"#)
            .unwrap_err()
            .contains("[MISSING] is not set"));
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert_eq!(format!("{:?}", Password::new("s3cret")), "Password(***)");
    }
}
