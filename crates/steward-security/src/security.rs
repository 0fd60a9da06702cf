//! [`Security`], the one handle a process holds: it authenticates requests, authorizes them, and
//! keeps the users and roles it checks against in memory.
//!
//! With a store (the Overlord) the maps are read at start (after seeding Druid's initial users
//! and roles), re-read every `druid.auth.basic.common.pollingPeriod`, and re-read at once after a
//! change made through this process's API; another Overlord's change is seen within one period.
//! Without a store (a MiddleManager, which never touches the metadata store) only `admin` and
//! the escalator's internal client exist, from the configuration, both with every permission;
//! users and roles created through the Overlord's API cannot call a MiddleManager directly.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};

use steward_metadata::{MetadataStore, StoreError};
use tokio::sync::Semaphore;

use crate::authenticator::{AuthFailure, Identity, Verifier};
use crate::config::{SecurityConfig, ALLOW_ALL};
use crate::entities::{AuthenticatorUsers, AuthorizerUsers, Roles};
use crate::escalator::Escalator;
use crate::resource::{Action, Resource};
use crate::seed::{seed_store, static_maps};
use crate::snapshot::Snapshot;
use crate::store::{decode, SecurityStore, StoredMaps, UpdateError};

/// Cheap to clone; every clone is the same handle.
#[derive(Clone)]
pub struct Security {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: SecurityConfig,
    pub(crate) store: Option<SecurityStore>,
    current: RwLock<Current>,
    verifier: Verifier,
    /// Full password checks running at once, at most one per CPU: a flood of wrong passwords
    /// then delays other first logins instead of occupying every thread, and never delays
    /// requests whose credentials were checked before.
    hashing: Semaphore,
    /// Password checks waiting for a turn.
    waiting: AtomicUsize,
    /// One re-read at a time, so that an older read never replaces a newer one.
    refreshing: tokio::sync::Mutex<()>,
}

struct Current {
    /// The rows the snapshot was built from.
    source: StoredMaps,
    snapshot: Arc<Snapshot>,
}

impl Security {
    /// Security backed by the metadata store (the Overlord): seeds Druid's initial users and
    /// roles where missing, loads the maps, and keeps them fresh until the last clone is
    /// dropped. Fails if the store cannot be read or holds maps it cannot decode.
    pub async fn with_store(
        config: SecurityConfig,
        store: Arc<dyn MetadataStore>,
    ) -> Result<Security, StoreError> {
        let store = SecurityStore::new(store, &config.authenticator, &config.authorizer);
        seed_store(&store, &config).await.map_err(|e| match e {
            UpdateError::Store(e) => e,
            UpdateError::Refused(m) | UpdateError::Contended(m) => StoreError::Unavailable(m),
        })?;
        let security = Security::new(config, Some(store), Snapshot::default());
        security.refresh().await?;
        tokio::spawn(poll(Arc::downgrade(&security.inner)));
        Ok(security)
    }

    /// Security without a store (a MiddleManager): only `admin` (with `initialAdminPassword`)
    /// and the escalator's internal client can log in, both with every permission. Hashes their
    /// passwords, which takes a few milliseconds.
    pub fn without_store(config: SecurityConfig) -> Security {
        let (authenticator_users, authorizer_users, roles) = static_maps(&config);
        let snapshot = Snapshot::new(&authenticator_users, &authorizer_users, &roles);
        Security::new(config, None, snapshot)
    }

    fn new(config: SecurityConfig, store: Option<SecurityStore>, snapshot: Snapshot) -> Security {
        let verifier = Verifier::new(config.credential_iterations);
        Security {
            inner: Arc::new(Inner {
                config,
                store,
                current: RwLock::new(Current {
                    source: StoredMaps::default(),
                    snapshot: Arc::new(snapshot),
                }),
                verifier,
                waiting: AtomicUsize::new(0),
                hashing: Semaphore::new(
                    std::thread::available_parallelism().map_or(1, usize::from),
                ),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The credentials for calls to other Steward processes.
    pub fn escalator(&self) -> &Escalator {
        &self.inner.config.escalator
    }

    /// Who sent a request with these headers (HTTP Basic). A first check of a user's password
    /// runs PBKDF2 (milliseconds of CPU); later checks of the same password are answered from
    /// memory until the password changes. The authentication layer runs the slow check off
    /// the async runtime's threads.
    #[cfg(test)]
    pub(crate) fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Identity, AuthFailure> {
        let (user, password) = crate::authenticator::basic_credentials(headers)?;
        match self.remembered(&user, &password) {
            Some(identity) => Ok(identity),
            None => self.verify(&user, &password),
        }
    }

    /// The identity, if this user and password are known good without hashing.
    pub(crate) fn remembered(&self, user: &str, password: &str) -> Option<Identity> {
        let snapshot = self.snapshot();
        let credentials = snapshot.credentials(user)?;
        self.inner
            .verifier
            .remembers(user, password, credentials)
            .then(|| self.identity(user))
    }

    /// The full password check, on a blocking thread, one per CPU at a time; at most
    /// [`MAX_WAITING_CHECKS`] wait for their turn, more are refused as [`AuthFailure::Busy`].
    pub(crate) async fn verify_in_turn(
        &self,
        user: String,
        password: String,
    ) -> Result<Identity, AuthFailure> {
        let waiting = WaitingCheck::enter(&self.inner.waiting)?;
        let _turn = self
            .inner
            .hashing
            .acquire()
            .await
            .expect("the semaphore is never closed");
        drop(waiting);
        let security = self.clone();
        tokio::task::spawn_blocking(move || security.verify(&user, &password))
            .await
            .expect("a password check does not panic")
    }

    /// The full password check.
    fn verify(&self, user: &str, password: &str) -> Result<Identity, AuthFailure> {
        let snapshot = self.snapshot();
        if self
            .inner
            .verifier
            .verify(user, password, snapshot.credentials(user))
        {
            Ok(self.identity(user))
        } else {
            Err(AuthFailure::BadCredentials)
        }
    }

    fn identity(&self, user: &str) -> Identity {
        Identity {
            name: user.to_string(),
            authorizer: self.inner.config.authorizer.clone(),
        }
    }

    /// Whether `who` may do `action` on `resource`, by Druid's rules: some role of the user has
    /// a permission of this action and resource type whose name pattern matches the whole
    /// resource name. The identity of an unsecured path (authorizer `allowAll`) may do anything,
    /// as with Druid's `AllowAllAuthorizer`; an identity of any other authorizer nothing.
    pub fn authorize(&self, who: &Identity, resource: &Resource, action: Action) -> bool {
        if who.authorizer == ALLOW_ALL {
            return true;
        }
        who.authorizer == self.inner.config.authorizer
            && self.snapshot().allows(&who.name, resource, action)
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        let current = self
            .inner
            .current
            .read()
            .expect("never poisoned: no panics while held");
        current.snapshot.clone()
    }

    pub(crate) fn config(&self) -> &SecurityConfig {
        &self.inner.config
    }

    /// Re-reads the maps from the store and, if they changed, replaces the snapshot. Without a
    /// store there is nothing to re-read.
    pub(crate) async fn refresh(&self) -> Result<(), StoreError> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let _one_at_a_time = self.inner.refreshing.lock().await;
        let source = store.read_all().await?;
        if source == self.inner.current.read().expect("never poisoned").source {
            return Ok(());
        }
        let authenticator_users: AuthenticatorUsers = decode(
            &store.authenticator_users,
            source.authenticator_users.as_deref(),
        )?;
        let authorizer_users: AuthorizerUsers =
            decode(&store.authorizer_users, source.authorizer_users.as_deref())?;
        let roles: Roles = decode(&store.roles, source.roles.as_deref())?;
        let snapshot = Arc::new(Snapshot::new(
            &authenticator_users,
            &authorizer_users,
            &roles,
        ));
        *self.inner.current.write().expect("never poisoned") = Current { source, snapshot };
        Ok(())
    }
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("Security")
            .field("authenticator", &config.authenticator)
            .field("authorizer", &config.authorizer)
            .field("with_store", &self.inner.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Re-reads the store every polling period while the handle lives. A failed read keeps the last
/// maps: requests are still checked against what was last known.
async fn poll(security: Weak<Inner>) {
    let Some(period) = security.upgrade().map(|inner| inner.config.polling_period) else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = security.upgrade() else {
            return;
        };
        if let Err(e) = (Security { inner }).refresh().await {
            tracing::warn!(error = %e, "could not re-read users and roles from the metadata store");
        }
    }
}

/// First-time password checks that may wait for a turn at once: with one check taking a few
/// milliseconds per CPU, the last of them waits well under a second.
const MAX_WAITING_CHECKS: usize = 256;

/// One check counted among the waiting while it lives.
struct WaitingCheck<'a>(&'a AtomicUsize);

impl<'a> WaitingCheck<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Result<WaitingCheck<'a>, AuthFailure> {
        if waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_CHECKS {
            waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(AuthFailure::Busy);
        }
        Ok(WaitingCheck(waiting))
    }
}

impl Drop for WaitingCheck<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;

    #[test]
    fn waiting_checks_are_bounded_and_counted_down_when_done() {
        let waiting = AtomicUsize::new(0);
        let held: Vec<_> = (0..MAX_WAITING_CHECKS)
            .map(|_| WaitingCheck::enter(&waiting).unwrap())
            .collect();
        assert!(matches!(
            WaitingCheck::enter(&waiting),
            Err(AuthFailure::Busy)
        ));
        drop(held);
        assert_eq!(waiting.load(Ordering::Acquire), 0);
        assert!(WaitingCheck::enter(&waiting).is_ok());
    }
}
