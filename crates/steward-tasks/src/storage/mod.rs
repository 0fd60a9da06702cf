//! Deep storage: where published segments' files live (Druid's `DataSegmentPusher` and
//! `DataSegmentKiller` behind one trait, so an object store can follow the local directory).
//!
//! A segment's place is Druid's layout, `<dataSource>/<start>_<end>/<version>/<partitionNum>/`,
//! and its `loadSpec` says where its files are, so Druid's Historicals load what Steward pushes
//! and Steward's kill task deletes what Druid pushed.
//!
//! The partial segments of a two-phase (hash-partitioned) parallel ingestion go to deep storage
//! too, under `shuffle-data/` (Druid's `druid.processing.intermediaryData.storage.type=deepstore`):
//! every MiddleManager reads them there, and their supervisor deletes them when it ends (Druid
//! leaves that to the operator's lifecycle rules).
//!
//! - `local`: [`LocalDeepStorage`], `druid.storage.type=local`.
//! - `zip`: the store-only zip writer behind `druid.storage.zip=true`.

mod local;
mod zip;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use steward_model::peon::StorageConfig;
use steward_model::{DataSegment, Interval};

pub use local::LocalDeepStorage;

/// Why a push or a kill failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The segment or its files are not something this storage may write or delete.
    #[error("{0}")]
    Refused(String),
}

impl StorageError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
        let context = context.into();
        move |source| StorageError::Io { context, source }
    }
}

/// Where segments' files are kept.
pub trait DeepStorage: Send + Sync {
    /// Copies the files of `segment_dir` (a flat directory: a segment's files) to the
    /// segment's place and returns `segment` with its `loadSpec`, `size` (bytes of the files)
    /// and `binaryVersion` filled in. Nothing appears at the final place until every byte is
    /// there; pushing the same segment again replaces the files.
    fn push(&self, segment_dir: &Path, segment: &DataSegment) -> Result<DataSegment, StorageError>;

    /// Deletes the files `segment`'s `loadSpec` names. Files already gone are not an error.
    fn kill(&self, segment: &DataSegment) -> Result<(), StorageError>;

    /// Where the segment's files are read on this machine (Druid's `SegmentPuller`; local
    /// storage reads them in place): refused for a `loadSpec` outside the storage.
    fn readable_path(&self, segment: &DataSegment) -> Result<PathBuf, StorageError>;

    /// The segment's place relative to the storage's root (Druid's `getStorageDir`):
    /// refused for a segment whose datasource, version or interval would not make one path
    /// component each.
    fn storage_dir_of(&self, segment: &DataSegment) -> Result<PathBuf, StorageError>;

    /// Copies a partial segment of a two-phase ingestion to its place under
    /// `shuffle-data/` (Druid's deep-storage intermediary data); returns its `loadSpec` and the
    /// bytes pushed.
    fn push_partial(
        &self,
        segment_dir: &Path,
        at: &PartialLocation<'_>,
    ) -> Result<(Map<String, Value>, u64), StorageError>;

    /// Where a partial segment of `supervisor_task_id`'s ingestion is read: refused for a
    /// `loadSpec` outside that supervisor's directory under `shuffle-data/`.
    fn partial_readable_path(
        &self,
        load_spec: &Map<String, Value>,
        supervisor_task_id: &str,
    ) -> Result<PathBuf, StorageError>;

    /// Deletes every partial segment of a supervisor's ingestion. Files already gone are not
    /// an error.
    fn delete_partials(&self, supervisor_task_id: &str) -> Result<(), StorageError>;
}

/// The place of one partial segment: Druid's `shuffle-data/<supervisorTaskId>/<start>/<end>/
/// <bucketId>/<subTaskId>`.
#[derive(Debug, Clone, Copy)]
pub struct PartialLocation<'a> {
    pub supervisor_task_id: &'a str,
    pub sub_task_id: &'a str,
    pub interval: Interval,
    pub bucket_id: u32,
}

/// The deep storage `config` describes.
pub fn from_config(config: &StorageConfig) -> Box<dyn DeepStorage> {
    match config {
        StorageConfig::Local {
            storage_directory,
            zip,
        } => Box::new(LocalDeepStorage::new(storage_directory, *zip)),
    }
}
