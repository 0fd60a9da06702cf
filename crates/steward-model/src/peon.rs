//! `peon.json`: what a MiddleManager tells a peon besides its task. Druid passes these as
//! `-D` system properties on the peon's command line; Steward writes them into the task
//! directory instead, because they may hold the internal client's password, which a command
//! line shows to every user of the host (`ps`), and a file can be made readable by its owner
//! only.
//!
//! Only peons whose task calls the Overlord or deep storage get one
//! ([`crate::TaskKind::uses_task_actions`]): a `noop` task needs neither, and one file fewer
//! per task is measurable at thousands of tasks a minute.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The file's name in the task directory.
pub const PEON_CONFIG_FILE: &str = "peon.json";

/// The contents of `peon.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeonConfig {
    /// Base URLs (`http://host:port`) of the Overlords the peon may ask who leads; the leader
    /// first when the MiddleManager knows it.
    pub overlord_urls: Vec<String>,
    /// Deep storage (`druid.storage.*`).
    pub storage: StorageConfig,
    /// How the task-action client retries (`druid.peon.taskActionClient.retry.*`).
    pub retry: RetryPolicy,
    /// The internal client's credentials (`druid.escalator.*`) when authentication is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalator: Option<BasicCredentials>,
    /// PEM CA certificates to trust besides the system's (`steward.client.https.caPath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_path: Option<PathBuf>,
    /// How the peon serves its chat handler (live reports, row stats) on the port the
    /// MiddleManager gave it.
    #[serde(default)]
    pub chat: ChatConfig,
}

/// Where and how a peon serves its chat handler: like its MiddleManager, on the same address
/// and over HTTPS when the MiddleManager serves HTTPS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatConfig {
    /// `steward.bindAddress` of the MiddleManager; every address when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<String>,
    /// PEM certificate chain and key (`steward.server.https.certPath`/`keyPath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ChatTls>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatTls {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Druid's `druid.storage.type` and the settings of that type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum StorageConfig {
    /// `local`: a directory every process that reads or writes segments sees (a shared volume
    /// in a cluster).
    #[serde(rename = "local", rename_all = "camelCase")]
    Local {
        /// `druid.storage.storageDirectory`.
        storage_directory: PathBuf,
        /// `druid.storage.zip`: push each segment as one `index.zip` instead of its files.
        zip: bool,
    },
}

/// Druid's `RetryPolicyConfig` as its `RemoteTaskActionClientFactory` uses it: waits start at
/// `min_wait` and double up to `max_wait`; `max_retry_count` bounds the attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    #[serde(with = "period")]
    pub min_wait: Duration,
    #[serde(with = "period")]
    pub max_wait: Duration,
    pub max_retry_count: u32,
}

impl Default for RetryPolicy {
    /// Druid's `PT5S`, `PT1M`, 13.
    fn default() -> Self {
        RetryPolicy {
            min_wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(60),
            max_retry_count: 13,
        }
    }
}

impl RetryPolicy {
    /// How many attempts an action gets in all: Druid builds its client's policy with
    /// `maxAttempts(maxRetryCount - 1)`, so 12 by default; at least one.
    pub fn max_attempts(&self) -> u32 {
        self.max_retry_count.saturating_sub(1).max(1)
    }

    /// The wait after failed attempt `attempt` (0 for the first), Druid's
    /// `ServiceClientImpl.computeBackoffMs`: `min_wait · 2^attempt`, within
    /// `[min_wait, max_wait]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .min_wait
            .checked_mul(2u32.checked_pow(attempt).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX);
        doubled.min(self.max_wait).max(self.min_wait)
    }
}

/// HTTP basic credentials. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A duration as an ISO-8601 period (`PT5S`), as Druid writes its retry settings.
mod period {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::time::{format_period, parse_period};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_period(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse_period(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peon_json_round_trips_with_druids_names() {
        let config = PeonConfig {
            overlord_urls: vec!["http://o1:8090".into()],
            storage: StorageConfig::Local {
                storage_directory: "/var/segments".into(),
                zip: true,
            },
            retry: RetryPolicy::default(),
            escalator: Some(BasicCredentials {
                username: "druid_system".into(),
                password: "s3cret".into(),
            }),
            ca_path: None,
            chat: ChatConfig::default(),
        };
        let v = serde_json::to_value(&config).unwrap();
        assert_eq!(
            v,
            json!({"overlordUrls":["http://o1:8090"],
                "storage":{"type":"local","storageDirectory":"/var/segments","zip":true},
                "retry":{"minWait":"PT5S","maxWait":"PT1M","maxRetryCount":13},
                "escalator":{"username":"druid_system","password":"s3cret"},
                "chat":{}})
        );
        assert_eq!(serde_json::from_value::<PeonConfig>(v).unwrap(), config);
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn retries_follow_druids_policy() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 12);
        let waits: Vec<u64> = (0..7).map(|a| policy.backoff(a).as_secs()).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(60));
        let once = RetryPolicy {
            max_retry_count: 0,
            ..policy
        };
        assert_eq!(once.max_attempts(), 1);
        let millis = RetryPolicy {
            min_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(4),
            max_retry_count: 3,
        };
        let text = serde_json::to_string(&millis).unwrap();
        assert_eq!(
            text,
            r#"{"minWait":"PT0.001S","maxWait":"PT0.004S","maxRetryCount":3}"#
        );
        assert_eq!(serde_json::from_str::<RetryPolicy>(&text).unwrap(), millis);
    }
}
