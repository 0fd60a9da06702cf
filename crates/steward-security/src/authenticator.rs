//! Druid's basic HTTP authenticator: who a request is, from its `Authorization: Basic` header,
//! checked against the users' PBKDF2 credentials.
//!
//! A PBKDF2 check costs milliseconds of CPU by design, too much for every request of a busy
//! client. Successful checks are therefore remembered: a map from a keyed SHA-256 digest of
//! (user, password) to the stored hash the password matched. A later request with the same user
//! and password is accepted without PBKDF2 while that user's stored hash is unchanged; a new
//! password (new salt, new hash) or a deleted user makes the entry useless at once. Failures are
//! never remembered, so a wrong password costs the full hash every time. Druid caches computed
//! hashes for an hour in a similar way (`PasswordHashGenerator`); here the entry is tied to the
//! credential it matched instead of to a time, and the digest key is random per process, so
//! the map reveals nothing useful from a memory dump.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::credentials::Credentials;

/// Who made a request: the user's name and the authorizer that decides what the user may do
/// (Druid's `AuthenticationResult`). Put into request extensions by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub authorizer: String,
}

/// Why a request is not authenticated: 401, but for [`AuthFailure::Busy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Basic` header.
    NoCredentials,
    /// A Basic header that is not base64 of UTF-8 `user:password`.
    Malformed,
    /// An unknown user, a user without a password, or a wrong password: one case, so that the
    /// answer does not tell which users exist.
    BadCredentials,
    /// Too many first-time password checks are waiting for their turn (a flood of wrong
    /// passwords): 503 with `Retry-After`, instead of queueing without bound.
    Busy,
}

/// Druid decodes with Java's basic decoder, for which padding is optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The user name and password of an `Authorization: Basic` header. As in Druid, a header of
/// another scheme counts as no credentials, and the password is everything after the first
/// colon (RFC 7617).
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), AuthFailure> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Err(AuthFailure::NoCredentials);
    };
    let bytes = header.as_bytes();
    let scheme = b"basic ";
    if bytes.len() <= scheme.len() || !bytes[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return Err(AuthFailure::NoCredentials);
    }
    let token = bytes[scheme.len()..].trim_ascii();
    let decoded = BASE64
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(AuthFailure::Malformed)?;
    let (user, password) = decoded.split_once(':').ok_or(AuthFailure::Malformed)?;
    Ok((user.to_string(), password.to_string()))
}

/// Most remembered successful checks; beyond this the memory starts over. Only correct
/// passwords get in, so the bound matters only with a great many users.
const MAX_REMEMBERED: usize = 10_000;

/// The memory of successful credential checks.
pub(crate) struct Verifier {
    key: [u8; 32],
    /// What a login of an unknown user is checked against: made with the iterations users'
    /// credentials are made with, so that both take as long.
    nobody: Credentials,
    /// Digest of (user, password) → the stored hash it matched.
    verified: Mutex<HashMap<[u8; 32], Vec<u8>>>,
}

impl Verifier {
    pub(crate) fn new(iterations: u32) -> Verifier {
        let mut key = [0; 32];
        getrandom::fill(&mut key).expect("the operating system's random number source failed");
        Verifier {
            key,
            nobody: Credentials::new("", iterations),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this user and password matched `credentials` before (no PBKDF2 needed).
    pub(crate) fn remembers(&self, user: &str, password: &str, credentials: &Credentials) -> bool {
        let digest = self.digest(user, password);
        let verified = self
            .verified
            .lock()
            .expect("never poisoned: no panics while held");
        verified
            .get(&digest)
            .is_some_and(|hash| bool::from(hash.as_slice().ct_eq(credentials.hash())))
    }

    /// The full check, remembered if it succeeds. `None` credentials (no such user, or no
    /// password set) are checked against a fixed credential so that they take as long as a
    /// wrong password and the timing does not tell which users exist.
    pub(crate) fn verify(
        &self,
        user: &str,
        password: &str,
        credentials: Option<&Credentials>,
    ) -> bool {
        let Some(credentials) = credentials else {
            self.nobody.verify(password);
            return false;
        };
        if !credentials.verify(password) {
            return false;
        }
        let digest = self.digest(user, password);
        let mut verified = self
            .verified
            .lock()
            .expect("never poisoned: no panics while held");
        if verified.len() >= MAX_REMEMBERED {
            verified.clear();
        }
        verified.insert(digest, credentials.hash().to_vec());
        true
    }

    fn digest(&self, user: &str, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.key)
            // The length keeps ("ab", "c") and ("a", "bc") apart.
            .chain_update((user.len() as u64).to_be_bytes())
            .chain_update(user)
            .chain_update(password)
            .finalize()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    fn basic(user_pass: &str) -> HeaderMap {
        headers(format!("Basic {}", STANDARD.encode(user_pass)).as_bytes())
    }

    #[test]
    fn basic_headers_are_read_as_druid_reads_them() {
        assert_eq!(
            basic_credentials(&basic("admin:pa:ss")),
            Ok(("admin".into(), "pa:ss".into()))
        );
        assert_eq!(
            basic_credentials(&basic("admin:")),
            Ok(("admin".into(), "".into()))
        );
        let unpadded = format!("basic {}", STANDARD.encode("a:b").trim_end_matches('='));
        assert_eq!(
            basic_credentials(&headers(unpadded.as_bytes())),
            Ok(("a".into(), "b".into()))
        );
        assert_eq!(
            basic_credentials(&HeaderMap::new()),
            Err(AuthFailure::NoCredentials)
        );
        assert_eq!(
            basic_credentials(&headers(b"Bearer abc")),
            Err(AuthFailure::NoCredentials)
        );
        assert_eq!(
            basic_credentials(&headers(b"Basic ")),
            Err(AuthFailure::NoCredentials)
        );
        assert_eq!(
            basic_credentials(&headers(b"Basic %%%")),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            basic_credentials(&basic("no colon")),
            Err(AuthFailure::Malformed)
        );
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, b':', b'x']));
        assert_eq!(
            basic_credentials(&headers(not_utf8.as_bytes())),
            Err(AuthFailure::Malformed)
        );
    }

    #[test]
    fn only_successes_are_remembered_and_only_for_the_same_credentials() {
        let verifier = Verifier::new(10);
        let credentials = Credentials::new("pw", 10);
        assert!(!verifier.remembers("u", "pw", &credentials));
        assert!(!verifier.verify("u", "wrong", Some(&credentials)));
        assert!(!verifier.remembers("u", "wrong", &credentials));
        assert!(verifier.verify("u", "pw", Some(&credentials)));
        assert!(verifier.remembers("u", "pw", &credentials));
        assert!(!verifier.remembers("other", "pw", &credentials));
        assert!(!verifier.remembers("u", "pw2", &credentials));
        // The same password set again has a new salt and hash: checked afresh.
        let renewed = Credentials::new("pw", 10);
        assert!(!verifier.remembers("u", "pw", &renewed));
        assert!(!verifier.verify("u", "pw", None));
    }
}
