//! The security maps in the metadata store. Each map is one `druid_config` row; a change reads
//! the row, changes the map and writes it back with a compare-and-swap that fails if another
//! writer (an API call on another Overlord) changed the row in between, and then starts over
//! from the new row, as Druid's updaters do. No write is ever lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use steward_metadata::{MetadataStore, StoreError};

use crate::entities::{self, authenticator_users_key, authorizer_users_key, roles_key};

/// How often a change is retried when other writers keep winning. Each failed swap means
/// another change went through, so running out takes a burst of concurrent administration.
const MAX_ATTEMPTS: usize = 10;

/// How many times [`SecurityStore::read_all`] reads the rows again for two reads to agree.
const MAX_READS: usize = 4;

/// The maps' rows as stored, compared to tell whether anything changed since the last read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StoredMaps {
    pub authenticator_users: Option<Vec<u8>>,
    pub authorizer_users: Option<Vec<u8>>,
    pub roles: Option<Vec<u8>>,
}

/// Why a change was not made.
#[derive(Debug)]
pub(crate) enum UpdateError {
    /// The change does not apply (the user exists already, the role is missing); the message
    /// says why, in Druid's words.
    Refused(String),
    Store(StoreError),
    /// Other writers won every attempt.
    Contended(String),
}

impl From<StoreError> for UpdateError {
    fn from(e: StoreError) -> UpdateError {
        UpdateError::Store(e)
    }
}

pub(crate) struct SecurityStore {
    store: Arc<dyn MetadataStore>,
    pub authenticator_users: String,
    pub authorizer_users: String,
    pub roles: String,
}

impl SecurityStore {
    pub(crate) fn new(
        store: Arc<dyn MetadataStore>,
        authenticator: &str,
        authorizer: &str,
    ) -> SecurityStore {
        SecurityStore {
            store,
            authenticator_users: authenticator_users_key(authenticator),
            authorizer_users: authorizer_users_key(authorizer),
            roles: roles_key(authorizer),
        }
    }

    /// The three rows as of one moment. They are read one after another, so a change landing
    /// between two reads could pair a user row from before it with a role row from after it;
    /// the rows are read again until two reads agree (a few times at most: a store changing
    /// that fast is read again at the next refresh anyway).
    pub(crate) async fn read_all(&self) -> Result<StoredMaps, StoreError> {
        let mut last = self.read_rows().await?;
        for _ in 0..MAX_READS {
            let again = self.read_rows().await?;
            if again == last {
                break;
            }
            last = again;
        }
        Ok(last)
    }

    async fn read_rows(&self) -> Result<StoredMaps, StoreError> {
        Ok(StoredMaps {
            authenticator_users: self.store.get_config(&self.authenticator_users).await?,
            authorizer_users: self.store.get_config(&self.authorizer_users).await?,
            roles: self.store.get_config(&self.roles).await?,
        })
    }

    /// The map stored under `key`, empty if there is none yet.
    pub(crate) async fn read<T: DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, StoreError> {
        let bytes = self.store.get_config(key).await?;
        decode(key, bytes.as_deref())
    }

    /// Applies `change` to the map under `key` and stores the result. `change` may run several
    /// times, each time on the freshly read map; it answers whether it changed anything (a
    /// map it leaves alone is not written) or why it refuses to. Returns whether the map was
    /// written.
    pub(crate) async fn update<T: DeserializeOwned + Serialize + Default>(
        &self,
        key: &str,
        mut change: impl FnMut(&mut T) -> Result<bool, String>,
    ) -> Result<bool, UpdateError> {
        for _ in 0..MAX_ATTEMPTS {
            let current = self.store.get_config(key).await?;
            let mut map: T = decode(key, current.as_deref())?;
            if !change(&mut map).map_err(UpdateError::Refused)? {
                return Ok(false);
            }
            let new = entities::encode(&map);
            if self
                .store
                .compare_and_swap_config(key, current.as_deref(), &new)
                .await?
            {
                return Ok(true);
            }
        }
        Err(UpdateError::Contended(format!(
            "{key} was changed by others {MAX_ATTEMPTS} times while this change was being made; \
             try again"
        )))
    }

    /// Adds `value` as `name` to the map at `key`; refused, in Druid's words, if `what` (a
    /// user, a role) of that name exists.
    pub(crate) async fn insert_new<V>(
        &self,
        key: &str,
        what: &str,
        name: &str,
        value: V,
    ) -> Result<bool, UpdateError>
    where
        V: Clone + DeserializeOwned + Serialize,
    {
        self.update(key, |map: &mut BTreeMap<String, V>| {
            if map.contains_key(name) {
                return Err(format!("{what} [{name}] already exists."));
            }
            map.insert(name.to_string(), value.clone());
            Ok(true)
        })
        .await
    }

    /// Removes `name` from the map at `key`; refused if there is no `what` of that name.
    pub(crate) async fn remove_existing<V>(
        &self,
        key: &str,
        what: &str,
        name: &str,
    ) -> Result<bool, UpdateError>
    where
        V: DeserializeOwned + Serialize,
    {
        self.update(key, |map: &mut BTreeMap<String, V>| {
            map.remove(name)
                .map(|_| true)
                .ok_or_else(|| format!("{what} [{name}] does not exist."))
        })
        .await
    }
}

pub(crate) fn decode<T: DeserializeOwned + Default>(
    key: &str,
    bytes: Option<&[u8]>,
) -> Result<T, StoreError> {
    entities::decode(key, bytes).map_err(|message| StoreError::Corrupt(key.to_string(), message))
}
