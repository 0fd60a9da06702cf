//! The ZooKeeper session of one coordinator: one client at a time, replaced when its session
//! ends, and operations that ride out connection loss.
//!
//! Within a session the client reconnects by itself (to any server of the ensemble); requests
//! made meanwhile fail. [`Session::run`] waits for a live connection and retries such failures
//! with backoff, for at most `connection_timeout`, so a ZooKeeper restart or leader election is
//! invisible to callers. Session expiry is terminal for a client: the supervisor in `mod.rs`
//! opens a new one and installs it with [`Session::replace`], which also wakes the operations
//! waiting for a connection.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use steward_metrics::catalogue::ZK_REQUEST_TIME;
use steward_metrics::Metrics;
use steward_model::backoff::Backoff;

use tokio::sync::watch;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::ZkConfig;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) struct Session {
    connect: String,
    session_timeout: Duration,
    connection_timeout: Duration,
    current: Mutex<zk::Client>,
    /// Counts replacements of `current`; waiters watch it.
    epoch: watch::Sender<u64>,
    metrics: Metrics,
}

impl Session {
    /// Opens the first session; fails if no server answers within `connection_timeout`.
    pub(crate) async fn open(config: &ZkConfig) -> Result<Session, String> {
        let client = new_client(
            &config.connect,
            config.session_timeout,
            config.connection_timeout,
        )
        .await?;
        tracing::info!(
            session = %client.session_id(),
            timeout_ms = client.session_timeout().as_millis(),
            connect = config.connect,
            "ZooKeeper session established"
        );
        Ok(Session {
            connect: config.connect.clone(),
            session_timeout: config.session_timeout,
            connection_timeout: config.connection_timeout,
            current: Mutex::new(client),
            epoch: watch::channel(0).0,
            metrics: config.metrics.clone(),
        })
    }

    /// One attempt at a new session, bounded by `connection_timeout`.
    pub(crate) async fn open_another(&self) -> Result<zk::Client, String> {
        new_client(&self.connect, self.session_timeout, self.connection_timeout).await
    }

    /// The current client (its session may be ending; operations then fail).
    pub(crate) fn client(&self) -> zk::Client {
        self.current.lock().expect("session lock poisoned").clone()
    }

    /// Installs the client of a new session.
    pub(crate) fn replace(&self, client: zk::Client) {
        *self.current.lock().expect("session lock poisoned") = client;
        self.epoch.send_modify(|e| *e += 1);
    }

    /// A client whose connection is up, waiting for one until `deadline`.
    pub(crate) async fn connected(&self, deadline: Instant) -> Option<zk::Client> {
        let mut epochs = self.epoch.subscribe();
        loop {
            let client = self.client();
            let mut states = client.state_watcher();
            let state = states.state();
            if matches!(
                state,
                zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly
            ) {
                return Some(client);
            }
            tokio::select! {
                // A terminal state never changes again: only a new session helps then.
                _ = states.changed(), if !state.is_terminated() => {}
                _ = epochs.changed() => {}
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// Runs `op` with a connected client; retries it after failures that a reconnection or a
    /// new session can cure, for at most `connection_timeout`. Returns the last error after
    /// that, and answers like `NoNode` at once. The whole of it, retries included, is timed
    /// as `operation` (see [`Session::timed`]).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        operation: &'static str,
        op: F,
    ) -> Result<T, zk::Error>
    where
        F: FnMut(zk::Client) -> Fut,
        Fut: Future<Output = Result<T, zk::Error>>,
    {
        self.timed(operation, self.retried(op)).await
    }

    /// Awaits `request`, timing it in the process's metrics (`zk/request/time`) under
    /// `operation`: a name for what the request does for Steward (`assign`, `announceStatus`),
    /// which may take several ZooKeeper calls or one multi-operation.
    pub(crate) async fn timed<T>(
        &self,
        operation: &'static str,
        request: impl Future<Output = T>,
    ) -> T {
        let started = std::time::Instant::now();
        let result = request.await;
        self.metrics
            .observe(&ZK_REQUEST_TIME, &[operation], started.elapsed());
        result
    }

    async fn retried<T, F, Fut>(&self, mut op: F) -> Result<T, zk::Error>
    where
        F: FnMut(zk::Client) -> Fut,
        Fut: Future<Output = Result<T, zk::Error>>,
    {
        let deadline = Instant::now() + self.connection_timeout;
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            let Some(client) = self.connected(deadline).await else {
                return Err(zk::Error::ConnectionLoss);
            };
            match op(client).await {
                Err(e) if is_transient(&e) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "ZooKeeper operation failed; retrying");
                    tokio::time::sleep(backoff.next_wait().min(deadline - now)).await;
                }
                result => return result,
            }
        }
    }
}

/// Whether a failure says nothing about the znodes, only about the connection or session.
pub(crate) fn is_transient(e: &zk::Error) -> bool {
    !matches!(
        e,
        zk::Error::NoNode
            | zk::Error::NodeExists
            | zk::Error::BadVersion
            | zk::Error::NotEmpty
            | zk::Error::NoChildrenForEphemerals
            | zk::Error::BadArguments(_)
            | zk::Error::InvalidAcl
            | zk::Error::NoAuth
            | zk::Error::AuthFailed
            | zk::Error::Unimplemented
            | zk::Error::QuotaExceeded
    )
}

async fn new_client(
    connect: &str,
    session_timeout: Duration,
    connection_timeout: Duration,
) -> Result<zk::Client, String> {
    let connecting = zk::Client::connector()
        .with_session_timeout(session_timeout)
        .connect(connect);
    match tokio::time::timeout(connection_timeout, connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("cannot connect to ZooKeeper at [{connect}]: {e}")),
        Err(_) => Err(format!(
            "cannot connect to ZooKeeper at [{connect}] within {connection_timeout:?}"
        )),
    }
}
