//! Druid's basic `Escalator`: the credentials one Steward process presents when it calls
//! another (a MiddleManager fetching a task payload from the Overlord, the Overlord asking a
//! MiddleManager to stop a task). They come from `druid.escalator.internalClientUsername` and
//! `internalClientPassword`, normally the `druid_system` user that the Overlord seeds with
//! `initialInternalClientPassword`.

use std::fmt;

use axum::http::HeaderValue;
use steward_http::basic_authorization;

use crate::password::Password;

#[derive(Clone)]
pub struct Escalator {
    pub(crate) username: String,
    pub(crate) password: Password,
}

impl Escalator {
    /// The internal client's user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The internal client's password, for a process that acts as the internal client in its
    /// stead: a MiddleManager hands it to its peons (in a file only they can read), which
    /// call the Overlord as the MiddleManager would.
    pub fn password(&self) -> &str {
        self.password.expose()
    }

    /// The `Authorization` header value for an internal call (`Basic <base64(user:password)>`),
    /// marked sensitive so that HTTP clients and log layers that honour the flag do not print
    /// it. With reqwest: `.header(AUTHORIZATION, escalator.authorization())`.
    pub fn authorization(&self) -> HeaderValue {
        basic_authorization(&self.username, self.password.expose())
            .expect("base64 is a valid header value")
    }
}

impl fmt::Debug for Escalator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Escalator")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::*;

    #[test]
    fn the_header_is_http_basic_and_sensitive() {
        let escalator = Escalator {
            username: "druid_system".into(),
            password: Password::new("pässword:with colon"),
        };
        let header = escalator.authorization();
        assert!(header.is_sensitive());
        let token = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        assert_eq!(
            String::from_utf8(STANDARD.decode(token).unwrap()).unwrap(),
            "druid_system:pässword:with colon"
        );
        assert!(!format!("{escalator:?}").contains("colon"));
    }
}
