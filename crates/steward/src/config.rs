//! Configuration: one Druid-style properties file per process (`key=value`, `#` comments), with
//! Druid's property names where Druid has one and `steward.*` where it does not.
//!
//! Every property Steward reads is listed in [`PROPERTIES`] with its default and meaning;
//! `steward config --defaults` prints that list, so the documentation cannot drift from the code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use steward_model::time::parse_period;

/// `(name, default, meaning)` of every property Steward reads. An empty default means "derived"
/// (the meaning says from what).
pub const PROPERTIES: &[(&str, &str, &str)] = &[
    (
        "steward.dataDir",
        "./var",
        "Data directory of quickstart: metadata database, task dirs, task logs.",
    ),
    (
        "druid.host",
        "localhost",
        "Host name this process advertises to others.",
    ),
    ("druid.plaintextPort",
        "",
        "HTTP port: 8090 for an Overlord (and quickstart), 8091 for a MiddleManager.",
    ),
    (
        "druid.enablePlaintextPort",
        "true",
        "Serve plain HTTP on druid.plaintextPort.",
    ),
    (
        "druid.enableTlsPort",
        "false",
        "Serve HTTPS on druid.tlsPort (needs steward.server.https.certPath and keyPath); \
         others then reach this process over HTTPS.",
    ),
    (
        "druid.tlsPort",
        "",
        "HTTPS port: 8290 for an Overlord (and quickstart), 8291 for a MiddleManager.",
    ),
    (
        "steward.server.https.certPath",
        "",
        "PEM certificate chain of this process's HTTPS port, its own certificate first \
         (Druid takes a Java keystore, druid.server.https.keyStorePath, instead).",
    ),
    (
        "steward.server.https.keyPath",
        "",
        "PEM private key of steward.server.https.certPath (PKCS#8, PKCS#1 or SEC1).",
    ),
    (
        "steward.client.https.caPath",
        "",
        "PEM CA certificates this process trusts, besides the system's, when it calls other \
         Steward processes over HTTPS (Druid: druid.client.https.trustStorePath, a keystore).",
    ),
    (
        "steward.bindAddress",
        "",
        "Address the HTTP ports listen on: 127.0.0.1 for quickstart, 0.0.0.0 for cluster roles.",
    ),
    (
        "druid.auth.authenticatorChain",
        "",
        "Authenticators, a JSON list such as [\"basic\"]; unset (or [\"allowAll\"]): no \
         authentication, as in Druid.",
    ),
    (
        "druid.auth.authenticator.<name>.type",
        "",
        "basic: HTTP Basic against users in the metadata store (Druid's basic security).",
    ),
    (
        "druid.auth.authenticator.<name>.authorizerName",
        "",
        "The authorizer whose roles the authenticated users get.",
    ),
    (
        "druid.auth.authenticator.<name>.initialAdminPassword",
        "",
        "Password of the `admin` user (all permissions), created at first start; a string or \
         Druid's {\"type\":\"environment\",\"variable\":\"NAME\"}.",
    ),
    (
        "druid.auth.authenticator.<name>.initialInternalClientPassword",
        "",
        "Password of the internal `druid_system` user, created at first start (same forms).",
    ),
    (
        "druid.auth.authenticator.<name>.credentialIterations",
        "10000",
        "PBKDF2 iterations of passwords set through the API.",
    ),
    (
        "druid.auth.authenticator.<name>.credentialsValidator.type",
        "metadata",
        "Where users live; only `metadata` is supported.",
    ),
    (
        "druid.auth.authenticator.<name>.skipOnFailure",
        "false",
        "Accepted for Druid's configs; with one authenticator a failed login is a 401 either way.",
    ),
    (
        "druid.auth.authorizers",
        "",
        "Authorizers, a JSON list such as [\"basic\"].",
    ),
    (
        "druid.auth.authorizer.<name>.type",
        "",
        "basic: roles and permissions in the metadata store.",
    ),
    (
        "druid.auth.authorizer.<name>.roleProvider.type",
        "metadata",
        "Where roles live; only `metadata` is supported.",
    ),
    (
        "druid.auth.unsecuredPaths",
        "",
        "Paths served without authentication besides /status/health and \
         /druid/indexer/v1/isLeader, a JSON list.",
    ),
    (
        "druid.auth.allowUnauthenticatedHttpOptions",
        "false",
        "Let OPTIONS requests through without credentials.",
    ),
    (
        "druid.auth.basic.common.pollingPeriod",
        "60000",
        "Milliseconds between re-reads of users and roles from the store by each Overlord.",
    ),
    (
        "druid.escalator.type",
        "",
        "basic: the credentials this process presents when it calls another Steward process.",
    ),
    (
        "druid.escalator.internalClientUsername",
        "",
        "The internal client's user, normally druid_system.",
    ),
    (
        "druid.escalator.internalClientPassword",
        "",
        "The internal client's password (a string or Druid's environment form).",
    ),
    (
        "druid.escalator.authorizerName",
        "",
        "The authorizer of the internal client.",
    ),
    (
        "druid.server.http.maxIdleTime",
        "PT5M",
        "A connection that makes no progress for this long while waiting on the client is closed.",
    ),
    (
        "druid.server.http.maxRequestHeaderSize",
        "8192",
        "Largest request head in bytes (request line and headers); larger answer 431.",
    ),
    (
        "steward.server.http.headerReadTimeout",
        "PT30S",
        "A request's headers must arrive within this; it also bounds how long a kept-alive \
         connection waits for its next request.",
    ),
    (
        "steward.server.http.maxConnections",
        "",
        "Connections all of the process's HTTP ports serve at once; more are answered 503 and \
         closed. Default: a quarter of the process's open-file limit (at least 64).",
    ),
    (
        "druid.metadata.storage.connector.connectURI",
        "",
        "Metadata store: sqlite:<path>, postgresql://user@host:port/db, \
         mysql://user:password@host:port/db, or Druid's jdbc:postgresql://host:port/db and \
         jdbc:mysql://host:port/db; default sqlite:<dataDir>/metadata.db.",
    ),
    (
        "druid.metadata.storage.connector.user",
        "",
        "Metadata store user (PostgreSQL, MySQL); overrides the URI's.",
    ),
    (
        "druid.metadata.storage.connector.password",
        "",
        "Metadata store password (PostgreSQL, MySQL); overrides the URI's.",
    ),
    (
        "druid.metadata.storage.tables.base",
        "druid",
        "Prefix of metadata table names (druid_tasks, ...).",
    ),
    (
        "druid.indexer.queue.maxSize",
        "2147483647",
        "Most active tasks; submissions beyond answer 429.",
    ),
    (
        "druid.indexer.queue.maxTaskPayloadSize",
        "64MiB",
        "Largest accepted task payload; larger answer 400.",
    ),
    (
        "druid.ingestion.http.allowedProtocols",
        "[\"http\", \"https\"]",
        "Protocols an `http` input source may use (a JSON list); others are refused at submit.",
    ),
    (
        "druid.indexer.storage.recentlyFinishedThreshold",
        "PT24H",
        "Complete tasks listed without createdTimeInterval are those created within this period.",
    ),
    (
        "druid.indexer.runner.taskAssignmentTimeout",
        "PT5M",
        "A worker that does not start an assigned task within this fails it (a vanished worker's goes to another worker).",
    ),
    (
        "druid.indexer.runner.taskCleanupTimeout",
        "PT15M",
        "Tasks of a vanished worker fail after this unless it returns (unstarted ones go to another worker).",
    ),
    (
        "druid.indexer.runner.maxRetriesBeforeBlacklist",
        "5",
        "Consecutive task failures on a worker before it is blacklisted.",
    ),
    (
        "druid.indexer.runner.workerBlackListBackoffTime",
        "PT15M",
        "How long a worker stays blacklisted.",
    ),
    (
        "druid.indexer.runner.workerBlackListCleanupPeriod",
        "PT5M",
        "How often the blacklist is reconsidered.",
    ),
    (
        "druid.indexer.runner.maxPercentageBlacklistWorkers",
        "20",
        "Most workers (percent) blacklisted at once.",
    ),
    (
        "druid.indexer.runner.minWorkerVersion",
        "0",
        "Workers announcing a lower version (string order) get no tasks.",
    ),
    (
        "druid.indexer.runner.parallelIndexTaskSlotRatio",
        "1",
        "Share (0 to 1) of each worker's slots that index_parallel supervisors may hold (at least one): below 1, slots stay for their sub-tasks.",
    ),
    (
        "druid.worker.capacity",
        "4",
        "Task slots per MiddleManager.",
    ),
    (
        "druid.worker.version",
        "0",
        "Version a MiddleManager announces.",
    ),
    (
        "druid.worker.category",
        "_default_worker_category",
        "Category a MiddleManager announces.",
    ),
    (
        "druid.worker.ip",
        "",
        "IP a MiddleManager announces; default druid.host.",
    ),
    (
        "steward.quickstart.workers",
        "1",
        "MiddleManagers quickstart runs in its process.",
    ),
    (
        "steward.quickstart.workerPort",
        "8091",
        "Worker API port of the first in-process MiddleManager; the next ones count up.",
    ),
    (
        "steward.quickstart.workerTlsPort",
        "8291",
        "HTTPS port of the first in-process MiddleManager when druid.enableTlsPort is set.",
    ),
    (
        "druid.indexer.task.baseTaskDir",
        "",
        "Task directories; default <dataDir>/task (one subdirectory per MiddleManager port).",
    ),
    (
        "druid.indexer.task.gracefulShutdownTimeout",
        "PT30S",
        "After SIGTERM, a peon is killed if still alive after this (Druid: PT5M).",
    ),
    (
        "druid.indexer.runner.startPort",
        "8100",
        "First port handed to peons.",
    ),
    (
        "druid.indexer.runner.endPort",
        "65535",
        "Last port handed to peons.",
    ),
    (
        "druid.indexer.runner.ports",
        "",
        "Explicit peon ports, comma separated (overrides start/end).",
    ),
    (
        "druid.storage.type",
        "local",
        "Deep storage, where segments' files go; only `local` (a directory) is supported.",
    ),
    (
        "druid.storage.storageDirectory",
        "",
        "Directory of local deep storage; default <dataDir>/segments (Druid: \
         /tmp/druid/localStorage). Every MiddleManager (and whatever loads the segments) must \
         see the same directory: a shared volume when they run on several hosts.",
    ),
    (
        "druid.storage.zip",
        "false",
        "Push each segment as one index.zip instead of its files in an index/ directory.",
    ),
    (
        "druid.peon.taskActionClient.retry.minWait",
        "PT5S",
        "First wait before a peon retries a task action the Overlord could not serve (no \
         connection, no leader, 500/502/503/504); each wait doubles.",
    ),
    (
        "druid.peon.taskActionClient.retry.maxWait",
        "PT1M",
        "Longest wait between two attempts of a task action.",
    ),
    (
        "druid.peon.taskActionClient.retry.maxRetryCount",
        "13",
        "Bounds the attempts of a task action: maxRetryCount - 1 attempts in all, as in Druid.",
    ),
    (
        "druid.indexer.logs.type",
        "file",
        "Task log store; only `file` is supported.",
    ),
    ("druid.zk.service.host", "localhost:2181", "ZooKeeper connect string (cluster mode), comma separated for an ensemble."),
    ("druid.zk.service.sessionTimeoutMs", "30000", "ZooKeeper session timeout: a vanished process's announcement disappears after this."),
    ("druid.zk.service.connectionTimeoutMs", "15000", "How long ZooKeeper operations wait for a connection."),
    ("druid.zk.paths.base", "/druid", "Base znode path."),
    ("druid.zk.paths.indexer.base", "", "Indexer znode path; default <base>/indexer."),
    ("druid.zk.paths.indexer.announcementsPath", "", "Worker announcements; default <indexer>/announcements."),
    ("druid.zk.paths.indexer.tasksPath", "", "Task assignments; default <indexer>/tasks."),
    ("druid.zk.paths.indexer.statusPath", "", "Task status announcements; default <indexer>/status."),
    ("druid.indexer.runner.maxZnodeBytes", "524288", "Task payloads larger than this are fetched by the worker from the Overlord instead of read from ZooKeeper."),
    (
        "druid.indexer.logs.directory",
        "",
        "Task log store directory; default <dataDir>/indexing-logs.",
    ),
    (
        "druid.indexer.logs.kill.enabled",
        "true",
        "Retention: periodically delete task logs and complete tasks older than \
         durationToRetain; active tasks are never deleted (Druid: false).",
    ),
    (
        "druid.indexer.logs.kill.durationToRetain",
        "604800000",
        "Retention period in milliseconds, 7 days (Druid: no default, required when enabled).",
    ),
    (
        "druid.indexer.logs.kill.initialDelay",
        "300000",
        "Milliseconds from start-up to the first retention pass \
         (Druid: random between 60000 and 300000).",
    ),
    (
        "druid.indexer.logs.kill.delay",
        "21600000",
        "Milliseconds between retention passes, 6 hours (as in Druid).",
    ),
];

/// The declaration of `key`. A declared name may hold `<name>` segments, which stand for any
/// one segment (Druid's `druid.auth.authenticator.<name>.type` names its authenticators).
fn declared(key: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    PROPERTIES.iter().find(|(name, _, _)| {
        let (mut pattern, mut actual) = (name.split('.'), key.split('.'));
        loop {
            match (pattern.next(), actual.next()) {
                (None, None) => return true,
                (Some("<name>"), Some(segment)) if !segment.is_empty() => {}
                (Some(p), Some(a)) if p == a => {}
                _ => return false,
            }
        }
    })
}

/// Properties of one process: the file's values over the defaults, command-line flags over both.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    values: BTreeMap<String, String>,
}

impl Properties {
    /// Reads a properties file; unknown `druid.*`/`steward.*` keys are refused so typos surface.
    pub fn load(path: &Path) -> anyhow::Result<Properties> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Properties::parse(&text).with_context(|| format!("in config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Properties> {
        let mut values = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| anyhow!("line {}: expected key=value", n + 1))?;
            let k = k.trim();
            if declared(k).is_none() {
                bail!(
                    "line {}: unknown property {k} (see `steward config --defaults`)",
                    n + 1
                );
            }
            values.insert(k.to_string(), v.trim().to_string());
        }
        Ok(Properties { values })
    }

    /// Sets a value (command-line flags).
    pub fn set(&mut self, key: &str, value: impl ToString) {
        debug_assert!(declared(key).is_some(), "undeclared property {key}");
        self.values.insert(key.to_string(), value.to_string());
    }

    /// The value, or the default; `None` when neither is set.
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(v) = self.values.get(key) {
            return Some(v.clone());
        }
        let (_, default, _) = declared(key).unwrap_or_else(|| panic!("undeclared property {key}"));
        (!default.is_empty()).then(|| default.to_string())
    }

    pub fn string(&self, key: &str) -> String {
        self.get(key).unwrap_or_default()
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> anyhow::Result<T> {
        let v = self.string(key);
        v.parse()
            .map_err(|_| anyhow!("{key}: [{v}] is not a valid number"))
    }

    /// `druid.plaintextPort`, or the role's default port.
    pub fn port_or(&self, default: u16) -> anyhow::Result<u16> {
        match self.get("druid.plaintextPort") {
            None => Ok(default),
            Some(_) => self.number("druid.plaintextPort"),
        }
    }

    /// `druid.tlsPort`, or the role's default TLS port.
    pub fn tls_port_or(&self, default: u16) -> anyhow::Result<u16> {
        match self.get("druid.tlsPort") {
            None => Ok(default),
            Some(_) => self.number("druid.tlsPort"),
        }
    }

    /// A `true`/`false` property.
    pub fn flag(&self, key: &str) -> anyhow::Result<bool> {
        let v = self.string(key);
        v.trim()
            .parse()
            .map_err(|_| anyhow!("{key}: [{v}] is not true or false"))
    }

    pub fn period(&self, key: &str) -> anyhow::Result<Duration> {
        parse_period(&self.string(key)).map_err(|e| anyhow!("{key}: {e}"))
    }

    pub fn bytes(&self, key: &str) -> anyhow::Result<usize> {
        parse_bytes(&self.string(key)).map_err(|e| anyhow!("{key}: {e}"))
    }

    /// Environment variables secrets come from: those Druid's password providers in the
    /// values name (`{"type":"environment","variable":"X"}`), and the CLI's password. Peons do
    /// not inherit them.
    pub fn secret_variables(&self) -> Vec<String> {
        let mut variables = vec!["STEWARD_PASSWORD".to_string()];
        for value in self.values.values() {
            let Ok(serde_json::Value::Object(provider)) = serde_json::from_str(value.trim()) else {
                continue;
            };
            if provider.get("type").and_then(|t| t.as_str()) == Some("environment") {
                if let Some(variable) = provider.get("variable").and_then(|v| v.as_str()) {
                    variables.push(variable.to_string());
                }
            }
        }
        variables
    }

    pub fn path_or(&self, key: &str, default: PathBuf) -> PathBuf {
        self.get(key).map(PathBuf::from).unwrap_or(default)
    }
}

/// Parses a byte size: a plain number, or with a unit (`KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`,
/// `k`, `m`, `g`), as Druid's human-readable byte settings allow.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("[{s}] is not a byte size"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("[{s}] has an unknown unit")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("[{s}] is too large"))
}

/// The text of `steward config --defaults`.
pub fn defaults_text() -> String {
    let mut out = String::from("# Steward properties: name=default  # meaning\n");
    for (k, d, doc) in PROPERTIES {
        out.push_str(&format!("{k}={d}\n    # {doc}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_those_password_providers_name() {
        let p = Properties::parse(
            "druid.auth.authenticator.basic.initialAdminPassword={\"type\":\"environment\",\"variable\":\"ADMIN_PW\"}\n\
             druid.escalator.internalClientPassword=plain\n\
             druid.metadata.storage.connector.password={\"type\":\"environment\",\"variable\":\"DB_PW\"}\n",
        )
        .unwrap();
        let mut found = p.secret_variables();
        found.sort();
        assert_eq!(found, vec!["ADMIN_PW", "DB_PW", "STEWARD_PASSWORD"]);
    }

    #[test]
    fn file_values_override_defaults() {
        let p =
            Properties::parse("# comment\ndruid.worker.capacity=8\n druid.host = mm1 \n").unwrap();
        assert_eq!(p.number::<u32>("druid.worker.capacity").unwrap(), 8);
        assert_eq!(p.string("druid.host"), "mm1");
        assert_eq!(
            p.period("druid.indexer.runner.taskAssignmentTimeout")
                .unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(p.get("druid.worker.ip"), None);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Properties::parse("druid.worker.capacty=8").is_err());
        assert!(Properties::parse("no equals sign").is_err());
        let p = Properties::parse("druid.worker.capacity=many").unwrap();
        assert!(p.number::<u32>("druid.worker.capacity").is_err());
    }

    #[test]
    fn byte_sizes_parse() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("5MB").unwrap(), 5_000_000);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5XB").is_err());
    }

    #[test]
    fn defaults_listing_names_every_property() {
        let text = defaults_text();
        for (k, _, _) in PROPERTIES {
            assert!(text.contains(k));
        }
    }
}
