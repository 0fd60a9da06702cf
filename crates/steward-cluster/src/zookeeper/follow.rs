//! Following znodes with persistent recursive watches: the loop both feeds run (the Overlord's
//! in `overlord`, a worker's in `worker`), once. A [`Follower`] says which directories to
//! watch, how to read them and what to emit; this module keeps the watches alive.
//!
//! The watches are installed before the directories are read, so nothing that changes after the
//! read is missed, and each watch's events arrive in the order ZooKeeper applied the changes.
//! What is read first is applied before following starts, so a subscriber has it when
//! subscribing returns. Events already queued when one arrives are applied with it, as one
//! batch, so a follower can read a batch's znodes with one request.
//!
//! After a reconnection (whose missed events ZooKeeper does not promise to replay, and whose
//! persistent watches the client, 0.11.2, does not restore), after a new session and after a
//! read that failed, new watches are installed and the directories read again, with backoff
//! until that succeeds; the follower emits only the difference. Following ends when the
//! subscriber or the coordinator is gone.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use steward_model::backoff::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::session::Session;
use crate::CoordinatorError;

const REWATCH_BACKOFF: Duration = Duration::from_millis(200);
const MAX_REWATCH_BACKOFF: Duration = Duration::from_secs(5);
/// Most watch events applied together.
const MAX_BATCH: usize = 256;

/// What a feed follows and how it turns what it reads into events.
pub(super) trait Follower: Send + Sync + 'static {
    /// The followed directories as read at one moment.
    type Tree: Send;
    /// What the feed emits.
    type Event: Send + 'static;

    /// What is followed, for errors and logs.
    fn name(&self) -> &str;

    /// The directories to watch, each with one persistent recursive watch.
    fn roots(&self) -> Vec<String>;

    /// Where the feed emits; following ends once its receiver is gone.
    fn subscriber(&self) -> &mpsc::UnboundedSender<Self::Event>;

    /// Reads the directories, once their watches are installed.
    fn read(
        &self,
        client: &zk::Client,
    ) -> impl Future<Output = Result<Self::Tree, zk::Error>> + Send;

    /// Emits the difference between what was emitted and `tree`: all of it the first time.
    fn apply_tree(
        &mut self,
        tree: Self::Tree,
        session: &Arc<Session>,
    ) -> impl Future<Output = ()> + Send;

    /// Emits what a batch of node events changed, oldest first. An error has the directories
    /// read again.
    fn apply_events(
        &mut self,
        batch: Vec<zk::WatchedEvent>,
        session: &Arc<Session>,
    ) -> impl Future<Output = Result<(), zk::Error>> + Send;
}

/// The events of a follower's watches, merged.
type Events = SelectAll<BoxStream<'static, zk::WatchedEvent>>;

/// Watches, reads and applies what is there, then follows changes from a background task.
pub(super) async fn start<F: Follower>(
    session: &Arc<Session>,
    mut follower: F,
) -> Result<(), CoordinatorError> {
    let (events, tree) = watch_and_read(&follower, session)
        .await
        .map_err(CoordinatorError::Unavailable)?;
    follower.apply_tree(tree, session).await;
    tokio::spawn(follow(follower, Arc::downgrade(session), events));
    Ok(())
}

/// Installs the watches, then reads the directories, with one connected client.
async fn watch_and_read<F: Follower>(
    follower: &F,
    session: &Session,
) -> Result<(Events, F::Tree), String> {
    session
        .run("watchAndRead", |client| async move {
            let mut watchers = Vec::new();
            for root in follower.roots() {
                let mode = zk::AddWatchMode::PersistentRecursive;
                watchers.push(client.watch(&root, mode).await?);
            }
            let tree = follower.read(&client).await?;
            Ok((merge(watchers), tree))
        })
        .await
        .map_err(|e| format!("cannot read {} from ZooKeeper: {e}", follower.name()))
}

fn merge(watchers: Vec<zk::PersistentWatcher>) -> Events {
    futures::stream::select_all(watchers.into_iter().map(|watcher| {
        futures::stream::unfold(watcher, |mut watcher| async move {
            let event = watcher.changed().await;
            Some((event, watcher))
        })
        .boxed()
    }))
}

async fn follow<F: Follower>(mut follower: F, session: Weak<Session>, mut events: Events) {
    let mut rewatch_at: Option<Instant> = None;
    // A session event met while draining a batch, handled next.
    let mut deferred: Option<zk::WatchedEvent> = None;
    loop {
        let event = match deferred.take() {
            Some(event) => Some(event),
            None => tokio::select! {
                () = follower.subscriber().closed() => return,
                event = events.next() => event,
                () = super::sleep_until(rewatch_at) => None,
            },
        };
        match event {
            Some(event) if event.event_type != zk::EventType::Session => {
                let Some(current) = session.upgrade() else {
                    return;
                };
                // Take what else is queued already, so that a burst is applied in one go (the
                // Overlord's feed reads each changed znode of a batch once, in one request).
                let mut batch = vec![event];
                while batch.len() < MAX_BATCH {
                    match events.next().now_or_never() {
                        Some(Some(e)) if e.event_type != zk::EventType::Session => batch.push(e),
                        Some(Some(e)) => {
                            deferred = Some(e);
                            break;
                        }
                        _ => break,
                    }
                }
                if let Err(e) = follower.apply_events(batch, &current).await {
                    tracing::debug!(feed = follower.name(), error = %e,
                        "cannot read a changed znode; reading all again");
                    rewatch_at.get_or_insert_with(|| Instant::now() + REWATCH_BACKOFF);
                }
                continue;
            }
            Some(event) if event.session_state == zk::SessionState::Disconnected => continue,
            Some(event) if event.session_state.is_terminated() => {
                tracing::info!(feed = follower.name(), state = ?event.session_state,
                    "watch ended with its session; watching again");
            }
            _ => {}
        }
        // Reconnected, session replaced, or a read failed: the watches are installed again
        // every time, since the client does not restore persistent watches on reconnection
        // (and a terminated watch must not be asked for events again).
        match rewatch(&mut follower, &session).await {
            Some(new_events) => events = new_events,
            None => return,
        }
        rewatch_at = None;
    }
}

/// Watches again on the current session and emits what changed meanwhile. `None` once the
/// coordinator or the subscriber is gone.
async fn rewatch<F: Follower>(follower: &mut F, session: &Weak<Session>) -> Option<Events> {
    let mut backoff = Backoff::new(REWATCH_BACKOFF, MAX_REWATCH_BACKOFF);
    loop {
        if follower.subscriber().is_closed() {
            return None;
        }
        let current = session.upgrade()?;
        match watch_and_read(follower, &current).await {
            Ok((events, tree)) => {
                follower.apply_tree(tree, &current).await;
                return Some(events);
            }
            Err(e) => {
                // Not held while waiting: dropping the coordinator closes its session at once.
                drop(current);
                tracing::warn!(feed = follower.name(), error = %e,
                    "cannot watch yet; retrying");
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}
