//! Passwords as Druid's basic authenticator stores them: PBKDF2 with HMAC-SHA512
//! (`PBKDF2WithHmacSHA512`), a random 32-byte salt per password, a 512-bit key and 10 000
//! iterations unless configured otherwise, kept as `{"salt":..,"hash":..,"iterations":..}` with
//! the byte arrays in padded standard base64, which is how Jackson writes `byte[]` in JSON. A
//! password hashed by Druid verifies here and the reverse. Java hashes the UTF-8 bytes of the
//! password's characters, and so does this.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// Druid's default iteration count (`BasicAuthUtils.DEFAULT_KEY_ITERATIONS`): what the initial
/// `admin` and `druid_system` passwords get, and others unless `credentialIterations` says
/// otherwise.
pub const DEFAULT_ITERATIONS: u32 = 10_000;

/// The most iterations Steward accepts in a configuration or a credentials update. Every failed
/// login costs one full hash, so a huge count would let any client occupy the CPU.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Druid's `SALT_LENGTH` (256 bits).
const SALT_LENGTH: usize = 32;

/// Druid's `KEY_LENGTH`: 512 bits, the size of SHA-512's output.
const KEY_LENGTH: usize = 64;

/// Druid's `BasicAuthenticatorCredentials`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Credentials {
    #[serde(with = "base64_bytes")]
    salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    hash: Vec<u8>,
    iterations: u32,
}

impl Credentials {
    /// Hashes `password` with a fresh random salt. Takes milliseconds: call it off the async
    /// runtime's threads.
    pub(crate) fn new(password: &str, iterations: u32) -> Credentials {
        let mut salt = vec![0; SALT_LENGTH];
        getrandom::fill(&mut salt).expect("the operating system's random number source failed");
        Credentials::with_salt(password, salt, iterations)
    }

    fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Credentials {
        Credentials {
            hash: derive(password, &salt, iterations).to_vec(),
            salt,
            iterations,
        }
    }

    /// Whether `password` is the one these credentials were made from, comparing the hashes in
    /// constant time. Costs a full PBKDF2 computation, like [`Credentials::new`].
    pub(crate) fn verify(&self, password: &str) -> bool {
        // Zero iterations is not PBKDF2: no password of Druid's or Steward's has them.
        self.iterations > 0
            && bool::from(derive(password, &self.salt, self.iterations).ct_eq(&self.hash[..]))
    }

    /// The stored hash: it changes with every new password (the salt is new), so it tells one
    /// version of a user's credentials from the next.
    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash
    }
}

/// Never shows the salt or hash, so credentials cannot leak through a log line.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn derive(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_LENGTH] {
    let mut key = [0; KEY_LENGTH];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut key);
    key
}

/// Jackson's JSON form of `byte[]`: a base64 string.
mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_credentials_only() {
        let credentials = Credentials::new("s3cret", 1000);
        assert!(credentials.verify("s3cret"));
        assert!(!credentials.verify("s3cret "));
        assert!(!credentials.verify("S3cret"));
        assert!(!credentials.verify(""));
        assert_eq!(credentials.salt.len(), 32);
        assert_eq!(credentials.hash.len(), 64);
        // A new salt each time: the same password never gives the same hash twice.
        let again = Credentials::new("s3cret", 1000);
        assert_ne!(again.salt, credentials.salt);
        assert_ne!(again.hash(), credentials.hash());
        assert!(again.verify("s3cret"));
    }

    /// Reference values from Python's `hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"),
    /// bytes(range(32)), iterations, 64)`, base64-encoded: what Java's `PBKDF2WithHmacSHA512`
    /// with a 512-bit key computes for the same input.
    #[test]
    fn hashes_match_an_independent_pbkdf2_hmac_sha512() {
        let salt: Vec<u8> = (0..32).collect();
        let stored = json!({
            "salt": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "hash": "vfKX3rS10mb9rBPJ1c82h/5pINIunAIngNZCvJyDuCnFW6lv5gVfY2AyDNwv4AtufG4tdRngDbCX8sOXr/UwHg==",
            "iterations": 10000
        });
        let computed = Credentials::with_salt("druid-admin-pw", salt.clone(), DEFAULT_ITERATIONS);
        assert_eq!(serde_json::to_value(&computed).unwrap(), stored);
        let read: Credentials = serde_json::from_value(stored).unwrap();
        assert!(read.verify("druid-admin-pw"));
        assert!(!read.verify("druid-admin-pw2"));

        let non_ascii = Credentials::with_salt("pässwörd", salt, 1);
        assert_eq!(
            STANDARD.encode(non_ascii.hash()),
            "rC57xdu/VyTr6PbOKnsiCJMUMRnkuC1vRkSM6HYDcYF6MIiufBonS18dcVa8Jr+NphlU+lYH84zpop8fSlq9jw=="
        );
    }

    #[test]
    fn odd_stored_credentials_never_verify() {
        let mut credentials = Credentials::new("pw", 10);
        credentials.hash.truncate(32);
        assert!(!credentials.verify("pw"));
        let zero = Credentials {
            iterations: 0,
            ..Credentials::new("pw", 10)
        };
        assert!(!zero.verify("pw"));
        assert!(serde_json::from_value::<Credentials>(
            json!({"salt": "not base64!", "hash": "", "iterations": 1})
        )
        .is_err());
    }

    #[test]
    fn debug_output_hides_salt_and_hash() {
        let shown = format!("{:?}", Credentials::new("pw", 10));
        assert_eq!(shown, "Credentials { iterations: 10, .. }");
    }
}
