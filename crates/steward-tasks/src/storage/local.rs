//! `druid.storage.type=local`: segments in a directory tree (Druid's `LocalDataSegmentPusher`
//! and `LocalDataSegmentKiller`).
//!
//! A push builds the segment under `<storageDirectory>/intermediate_pushes/<uuid>/` and renames
//! it into place, so a peon killed halfway leaves only a scratch directory, never a half
//! segment where a `loadSpec` points. Without `zip` the files go to `<place>/index/` (hard
//! links where the filesystem allows, as Druid's `linkOrCopy`); with it, into
//! `<place>/index.zip`. A kill deletes the directory holding `index/` or `index.zip`, then the
//! directories above it that are left empty, up to and including the datasource's.
//!
//! Paths come from segment metadata, which a kill reads from the store: every name that
//! becomes a path component is checked to be one, and a `loadSpec` path must lie deep enough
//! inside the datasource's directory, so a hostile row cannot make a push write, or a kill
//! delete, anything else.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};
use steward_model::time::format_ts;
use steward_model::DataSegment;

use super::{zip, DeepStorage, PartialLocation, StorageError};

const INDEX_DIR: &str = "index";
const INDEX_ZIP: &str = "index.zip";
const INTERMEDIATE_DIR: &str = "intermediate_pushes";
/// Druid's `DeepStorageIntermediaryDataManager.SHUFFLE_DATA_DIR_PREFIX`.
const SHUFFLE_DIR: &str = "shuffle-data";
/// Directories between `shuffle-data` and a partial segment's files: supervisor, interval
/// start and end, bucket, sub-task.
const PARTIAL_DEPTH: usize = 5;
/// Directories between a datasource's and a segment's files: interval, version, partition.
const LAYOUT_DEPTH: usize = 3;

/// Deep storage in `storage_directory` (Druid's `druid.storage.storageDirectory`).
#[derive(Debug, Clone)]
pub struct LocalDeepStorage {
    storage_directory: PathBuf,
    zip: bool,
}

impl LocalDeepStorage {
    /// `storage_directory` is made absolute against the current directory: a `loadSpec`
    /// path must mean the same file to every process that reads it.
    pub fn new(storage_directory: impl AsRef<Path>, zip: bool) -> LocalDeepStorage {
        let dir = storage_directory.as_ref();
        LocalDeepStorage {
            storage_directory: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            zip,
        }
    }

    /// Druid's `SegmentUtils.getVersionFromDir`: `version.bin` (a big-endian int), or the first
    /// byte of a pre-v9 `index.drd`.
    fn binary_version(segment_dir: &Path) -> Result<i32, StorageError> {
        let version_file = segment_dir.join("version.bin");
        match fs::read(&version_file) {
            Ok(bytes) => {
                let bytes: [u8; 4] =
                    bytes
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| {
                            StorageError::Refused(format!(
                                "[{}] is shorter than 4 bytes",
                                version_file.display()
                            ))
                        })?;
                return Ok(i32::from_be_bytes(bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(version_file.display().to_string())(e)),
        }
        let index_file = segment_dir.join("index.drd");
        match fs::read(&index_file) {
            Ok(bytes) if !bytes.is_empty() => Ok(i32::from(bytes[0])),
            Ok(_) => Err(StorageError::Refused(format!(
                "[{}] is empty",
                index_file.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::Refused(format!(
                    "Invalid segment dir [{}]. Can't find either of version.bin or index.drd.",
                    segment_dir.display()
                )))
            }
            Err(e) => Err(StorageError::io(index_file.display().to_string())(e)),
        }
    }

    /// Builds the segment in `scratch` and moves it to `place`; returns the `loadSpec` path
    /// and the bytes pushed.
    fn push_via(
        &self,
        segment_dir: &Path,
        scratch: &Path,
        place: &Path,
    ) -> Result<(String, u64), StorageError> {
        fs::create_dir_all(scratch).map_err(StorageError::io(format!(
            "Cannot create [{}]",
            scratch.display()
        )))?;
        let files = segment_files(segment_dir)?;
        if self.zip {
            let built = scratch.join(INDEX_ZIP);
            let size = zip::write_stored(&built, &files)?;
            create_dir(place)?;
            let target = place.join(INDEX_ZIP);
            // Renaming a file over another replaces it in one step.
            rename(&built, &target)?;
            return Ok((target.display().to_string(), size));
        }
        let built = scratch.join(INDEX_DIR);
        create_dir(&built)?;
        let mut size = 0;
        for (name, path) in &files {
            let to = built.join(name);
            size += fs::metadata(path)
                .map_err(StorageError::io(format!(
                    "Cannot read [{}]",
                    path.display()
                )))?
                .len();
            if fs::hard_link(path, &to).is_err() {
                fs::copy(path, &to).map_err(StorageError::io(format!(
                    "Cannot copy [{}] to [{}]",
                    path.display(),
                    to.display()
                )))?;
            }
        }
        create_dir(place)?;
        let target = place.join(INDEX_DIR);
        if target.exists() {
            // A directory cannot be renamed over a non-empty one: the old copy moves into
            // the scratch directory, which is deleted with it (Druid keeps it as
            // `index_old_<uuid>` beside the new one).
            rename(&target, &scratch.join("replaced"))?;
        }
        rename(&built, &target)?;
        // Java's `File.toURI` ends a directory's path with '/', and Druid's loadSpec keeps it.
        Ok((format!("{}/", target.display()), size))
    }

    /// The absolute path a `loadSpec` names, if it lies at least [`LAYOUT_DEPTH`] directories
    /// inside the datasource's directory; `action` ("delete", "read") words the refusal.
    fn segment_path(&self, segment: &DataSegment, action: &str) -> Result<PathBuf, StorageError> {
        let path = match segment.load_spec.get("path") {
            Some(Value::String(p)) => PathBuf::from(p),
            _ => {
                return Err(StorageError::Refused(format!(
                    "Segment [{}] has no loadSpec path",
                    segment.id()
                )))
            }
        };
        let datasource_dir = self
            .storage_directory
            .join(component("dataSource", &segment.data_source)?);
        let inside = path
            .strip_prefix(&datasource_dir)
            .ok()
            .filter(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
            .filter(|rest| rest.components().count() > LAYOUT_DEPTH);
        match inside {
            Some(_) => Ok(path),
            None => Err(StorageError::Refused(format!(
                "Refusing to {action} [{}] for segment [{}]: not a segment's files inside [{}]",
                path.display(),
                segment.id(),
                datasource_dir.display()
            ))),
        }
    }
}

impl DeepStorage for LocalDeepStorage {
    fn push(&self, segment_dir: &Path, segment: &DataSegment) -> Result<DataSegment, StorageError> {
        let place = self.storage_directory.join(self.storage_dir_of(segment)?);
        let binary_version = Self::binary_version(segment_dir)?;
        let scratch = self
            .storage_directory
            .join(INTERMEDIATE_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let pushed = self.push_via(segment_dir, &scratch, &place);
        // The scratch dir holds nothing once the push is in place, and half a push otherwise.
        let _ = fs::remove_dir_all(&scratch);
        let (path, size) = pushed?;
        let mut load_spec = Map::new();
        load_spec.insert("type".into(), "local".into());
        load_spec.insert("path".into(), path.into());
        Ok(DataSegment {
            load_spec,
            size,
            binary_version: Some(binary_version),
            ..segment.clone()
        })
    }

    fn kill(&self, segment: &DataSegment) -> Result<(), StorageError> {
        // A tombstone only marks its interval empty: it has no files.
        if segment.is_tombstone() {
            return Ok(());
        }
        match segment.load_spec.get("type").and_then(Value::as_str) {
            Some("local") => {}
            other => {
                return Err(StorageError::Refused(format!(
                    "Unknown segment killer type[{}] for segment [{}]. Known types are [local]",
                    other.unwrap_or("null"),
                    segment.id()
                )))
            }
        }
        let path = self.segment_path(segment, "delete")?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Already deleted: a kill retried after a peon died, or files never pushed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(StorageError::io(format!(
                    "Cannot read [{}]",
                    path.display()
                ))(e))
            }
        };
        let is_index =
            (name.ends_with(".zip") && meta.is_file()) || (name == INDEX_DIR && meta.is_dir());
        if !is_index {
            return Err(StorageError::Refused(format!(
                "Unknown file type[{}]",
                path.display()
            )));
        }
        let segment_dir = path
            .parent()
            .expect("checked to lie inside the datasource dir");
        match fs::remove_dir_all(segment_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StorageError::io(format!(
                    "Cannot delete [{}]",
                    segment_dir.display()
                ))(e))
            }
            _ => {}
        }
        // Empty directories above go too, the datasource's included, nothing above it.
        let datasource_dir = self.storage_directory.join(&segment.data_source);
        for dir in segment_dir.ancestors().skip(1) {
            if !dir.starts_with(&datasource_dir) || fs::remove_dir(dir).is_err() {
                break;
            }
        }
        Ok(())
    }

    fn readable_path(&self, segment: &DataSegment) -> Result<PathBuf, StorageError> {
        self.segment_path(segment, "read")
    }

    fn push_partial(
        &self,
        segment_dir: &Path,
        at: &PartialLocation<'_>,
    ) -> Result<(Map<String, Value>, u64), StorageError> {
        let (start, end) = (format_ts(at.interval.start), format_ts(at.interval.end));
        let place: PathBuf = [
            SHUFFLE_DIR,
            component("supervisorTaskId", at.supervisor_task_id)?,
            component("interval", &start)?,
            component("interval", &end)?,
            &at.bucket_id.to_string(),
            component("subTaskId", at.sub_task_id)?,
        ]
        .iter()
        .collect();
        let scratch = self
            .storage_directory
            .join(INTERMEDIATE_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let pushed = self.push_via(segment_dir, &scratch, &self.storage_directory.join(place));
        let _ = fs::remove_dir_all(&scratch);
        let (path, size) = pushed?;
        let mut load_spec = Map::new();
        load_spec.insert("type".into(), "local".into());
        load_spec.insert("path".into(), path.into());
        Ok((load_spec, size))
    }

    fn partial_readable_path(
        &self,
        load_spec: &Map<String, Value>,
        supervisor_task_id: &str,
    ) -> Result<PathBuf, StorageError> {
        let path = match (load_spec.get("type"), load_spec.get("path")) {
            (Some(Value::String(t)), Some(Value::String(p))) if t == "local" => PathBuf::from(p),
            _ => {
                return Err(StorageError::Refused(format!(
                    "A partial segment's loadSpec must be local with a path: {}",
                    Value::Object(load_spec.clone())
                )))
            }
        };
        let supervisor_dir = self
            .storage_directory
            .join(SHUFFLE_DIR)
            .join(component("supervisorTaskId", supervisor_task_id)?);
        // Below the supervisor's directory: interval start and end, bucket, sub-task, file.
        let inside = path
            .strip_prefix(&supervisor_dir)
            .ok()
            .filter(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
            .filter(|rest| rest.components().count() >= PARTIAL_DEPTH);
        match inside {
            Some(_) => Ok(path),
            None => Err(StorageError::Refused(format!(
                "Refusing to read [{}]: not a partial segment inside [{}]",
                path.display(),
                supervisor_dir.display()
            ))),
        }
    }

    fn delete_partials(&self, supervisor_task_id: &str) -> Result<(), StorageError> {
        let shuffle_dir = self.storage_directory.join(SHUFFLE_DIR);
        let dir = shuffle_dir.join(component("supervisorTaskId", supervisor_task_id)?);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StorageError::io(format!(
                    "Cannot delete [{}]",
                    dir.display()
                ))(e))
            }
            _ => {}
        }
        // Another supervisor's partials keep it.
        let _ = fs::remove_dir(&shuffle_dir);
        Ok(())
    }

    fn storage_dir_of(&self, segment: &DataSegment) -> Result<PathBuf, StorageError> {
        let interval = format!(
            "{}_{}",
            format_ts(segment.interval.start),
            format_ts(segment.interval.end)
        );
        Ok([
            component("dataSource", &segment.data_source)?,
            component("interval", &interval)?,
            component("version", &segment.version)?,
            &segment.shard_spec.partition_num().to_string(),
        ]
        .iter()
        .collect())
    }
}

/// `value` if it is exactly one normal path component.
fn component<'a>(what: &str, value: &'a str) -> Result<&'a str, StorageError> {
    let mut components = Path::new(value).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(c)), None) if c == value && !value.contains('\0') => Ok(value),
        _ => Err(StorageError::Refused(format!(
            "Segment {what} [{}] cannot be a directory name in deep storage",
            value.escape_debug()
        ))),
    }
}

/// The files of a segment directory, by name; Druid's segment directories are flat.
fn segment_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let entries = fs::read_dir(dir).map_err(StorageError::io(format!(
        "Cannot list directory [{}]",
        dir.display()
    )))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StorageError::io(format!("Cannot list [{}]", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_file() {
            return Err(StorageError::Refused(format!(
                "Unexpected subdirectory [{name}]"
            )));
        }
        files.push((name, entry.path()));
    }
    files.sort();
    Ok(files)
}

fn create_dir(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(StorageError::io(format!(
        "Cannot create [{}]",
        dir.display()
    )))
}

fn rename(from: &Path, to: &Path) -> Result<(), StorageError> {
    fs::rename(from, to).map_err(StorageError::io(format!(
        "Cannot rename [{}] to [{}]",
        from.display(),
        to.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::process::Command;

    const PLACE: &str = "wiki/2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z/v1/3";

    fn segment(data_source: &str, version: &str) -> DataSegment {
        serde_json::from_value(json!({"dataSource":data_source,
            "interval":"2015-09-12/2015-09-13","version":version,"loadSpec":{},
            "dimensions":"page","metrics":"count",
            "shardSpec":{"type":"numbered","partitionNum":3,"partitions":4},"size":0}))
        .unwrap()
    }

    /// A segment directory: `version.bin` (9) and two column files.
    fn segment_files(dir: &Path) -> PathBuf {
        let files = dir.join("built");
        fs::create_dir_all(&files).unwrap();
        fs::write(files.join("version.bin"), 9i32.to_be_bytes()).unwrap();
        fs::write(files.join("00000.smoosh"), vec![7u8; 70_000]).unwrap();
        fs::write(files.join("meta.smoosh"), b"v1,2147483647,1\n").unwrap();
        files
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn unzip(args: &[&str]) -> Vec<u8> {
        let out = Command::new("unzip")
            .args(args)
            .output()
            .expect("unzip is installed (scripts/test.sh installs it)");
        assert!(out.status.success(), "unzip {args:?}: {out:?}");
        out.stdout
    }

    #[test]
    fn a_push_copies_the_files_into_druids_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = LocalDeepStorage::new(tmp.path().join("deep"), false);
        let built = segment_files(tmp.path());
        let pushed = storage.push(&built, &segment("wiki", "v1")).unwrap();

        let index = tmp.path().join("deep").join(PLACE).join("index");
        assert_eq!(
            Value::Object(pushed.load_spec.clone()),
            json!({"type":"local","path":format!("{}/", index.display())})
        );
        assert_eq!(pushed.size, 4 + 70_000 + 16);
        assert_eq!(pushed.binary_version, Some(9));
        assert_eq!(
            (pushed.dimensions, pushed.metrics),
            (vec!["page".to_string()], vec!["count".to_string()])
        );
        assert_eq!(
            names(&index),
            ["00000.smoosh", "meta.smoosh", "version.bin"]
        );
        assert_eq!(
            fs::read(index.join("00000.smoosh")).unwrap(),
            vec![7u8; 70_000]
        );
        assert!(names(&tmp.path().join("deep").join(INTERMEDIATE_DIR)).is_empty());
        assert_eq!(
            storage.storage_dir_of(&segment("wiki", "v1")).unwrap(),
            PathBuf::from(PLACE)
        );
    }

    #[test]
    fn a_second_push_replaces_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = LocalDeepStorage::new(tmp.path().join("deep"), false);
        let built = segment_files(tmp.path());
        storage.push(&built, &segment("wiki", "v1")).unwrap();
        fs::remove_file(built.join("meta.smoosh")).unwrap();
        fs::write(built.join("00000.smoosh"), b"new").unwrap();
        let pushed = storage.push(&built, &segment("wiki", "v1")).unwrap();
        let place = tmp.path().join("deep").join(PLACE);
        assert_eq!(names(&place), ["index"]);
        assert_eq!(names(&place.join("index")), ["00000.smoosh", "version.bin"]);
        assert_eq!(fs::read(place.join("index/00000.smoosh")).unwrap(), b"new");
        assert_eq!(pushed.size, 4 + 3);
        assert!(names(&tmp.path().join("deep").join(INTERMEDIATE_DIR)).is_empty());
    }

    #[test]
    fn a_zipped_push_is_one_archive_that_unzip_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = LocalDeepStorage::new(tmp.path().join("deep"), true);
        let built = segment_files(tmp.path());
        let pushed = storage.push(&built, &segment("wiki", "v1")).unwrap();
        let place = tmp.path().join("deep").join(PLACE);
        let zip = place.join("index.zip");
        assert_eq!(names(&place), ["index.zip"]);
        assert_eq!(pushed.load_spec["path"], zip.display().to_string());
        assert_eq!(
            pushed.size,
            4 + 70_000 + 16,
            "the bytes stored, as Druid counts"
        );
        let zip = zip.to_str().unwrap();
        // -t checks every entry's CRC; -Z1 lists the names.
        unzip(&["-tq", zip]);
        assert_eq!(
            String::from_utf8(unzip(&["-Z1", zip])).unwrap(),
            "00000.smoosh\nmeta.smoosh\nversion.bin\n"
        );
        for name in ["00000.smoosh", "meta.smoosh", "version.bin"] {
            assert_eq!(
                unzip(&["-p", zip, name]),
                fs::read(built.join(name)).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_push_needs_a_flat_segment_directory_with_a_version() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = LocalDeepStorage::new(tmp.path().join("deep"), false);
        let built = segment_files(tmp.path());
        fs::create_dir(built.join("nested")).unwrap();
        let err = storage.push(&built, &segment("wiki", "v1")).unwrap_err();
        assert_eq!(err.to_string(), "Unexpected subdirectory [nested]");
        fs::remove_dir(built.join("nested")).unwrap();
        fs::remove_file(built.join("version.bin")).unwrap();
        let err = storage.push(&built, &segment("wiki", "v1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Invalid segment dir [{}]. Can't find either of version.bin or index.drd.",
                built.display()
            )
        );
        assert!(!tmp.path().join("deep").join(PLACE).exists());
        assert!(names(&tmp.path().join("deep").join(INTERMEDIATE_DIR)).is_empty());
    }

    #[test]
    fn a_kill_deletes_the_files_and_the_directories_left_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("deep");
        let built = segment_files(tmp.path());
        let zipped = LocalDeepStorage::new(&deep, true)
            .push(&built, &segment("wiki", "v2"))
            .unwrap();
        let storage = LocalDeepStorage::new(&deep, false);
        let first = storage.push(&built, &segment("wiki", "v1")).unwrap();
        let mut sibling = segment("wiki", "v1");
        sibling.shard_spec = steward_model::ShardSpec::Linear { partition_num: 4 };
        let sibling = storage.push(&built, &sibling).unwrap();

        storage.kill(&first).unwrap();
        let version_dir = deep.join("wiki/2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z/v1");
        assert_eq!(names(&version_dir), ["4"], "the sibling partition stays");
        storage.kill(&first).unwrap();
        storage.kill(&sibling).unwrap();
        assert!(!version_dir.exists());
        assert!(deep.join("wiki").exists(), "v2 is still there");
        storage.kill(&zipped).unwrap();
        assert_eq!(
            names(&deep),
            [INTERMEDIATE_DIR],
            "the datasource dir went too"
        );
        storage.kill(&zipped).unwrap();
    }

    #[test]
    fn a_kill_leaves_tombstones_and_refuses_other_storage() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = LocalDeepStorage::new(tmp.path(), false);
        let data = segment("wiki", "v1");
        let tombstone = DataSegment::tombstone("wiki", data.interval, "v2");
        storage.kill(&tombstone).unwrap();
        let mut s3 = segment("wiki", "v1");
        s3.load_spec = json!({"type":"s3_zip","bucket":"b","key":"k"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            storage.kill(&s3).unwrap_err().to_string(),
            "Unknown segment killer type[s3_zip] for segment \
             [wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1_3]. Known types are [local]"
        );
    }

    // Druid's DeepStorageIntermediaryDataManager layout, read back and deleted per supervisor.
    #[test]
    fn partial_segments_go_under_shuffle_data_and_are_deleted_with_their_supervisor() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("deep");
        for zip in [false, true] {
            let storage = LocalDeepStorage::new(&deep, zip);
            let built = segment_files(tmp.path());
            let at = |supervisor, sub_task_id| PartialLocation {
                supervisor_task_id: supervisor,
                sub_task_id,
                interval: "2015-09-12/2015-09-13".parse().unwrap(),
                bucket_id: 2,
            };
            let (load_spec, size) = storage.push_partial(&built, &at("sup", "gen_1")).unwrap();
            storage.push_partial(&built, &at("other", "gen_9")).unwrap();
            let place = deep
                .join("shuffle-data/sup/2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z/2/gen_1");
            let file = place.join(if zip { "index.zip" } else { "index" });
            let expected = match zip {
                true => file.display().to_string(),
                false => format!("{}/", file.display()),
            };
            assert_eq!(
                Value::Object(load_spec.clone()),
                json!({"type": "local", "path": expected})
            );
            assert_eq!(size, 4 + 70_000 + 16);
            assert_eq!(
                storage.partial_readable_path(&load_spec, "sup").unwrap(),
                PathBuf::from(&expected)
            );
            // Another supervisor's partial, a segment's loadSpec, or one climbing out.
            assert!(storage.partial_readable_path(&load_spec, "other").is_err());
            for hostile in [
                format!("{}/wiki/{PLACE}/index/", deep.display()),
                format!(
                    "{}/shuffle-data/sup/../../../outside/x/y/z/",
                    deep.display()
                ),
                format!("{}/shuffle-data/sup/index/", deep.display()),
            ] {
                let spec = json!({"type": "local", "path": hostile});
                assert!(
                    storage
                        .partial_readable_path(spec.as_object().unwrap(), "sup")
                        .is_err(),
                    "{hostile}"
                );
            }
            assert!(storage
                .push_partial(&built, &at("../escape", "gen_1"))
                .is_err());
            storage.delete_partials("sup").unwrap();
            assert!(!deep.join("shuffle-data/sup").exists());
            assert_eq!(names(&deep.join("shuffle-data")), ["other"]);
            storage.delete_partials("other").unwrap();
            storage.delete_partials("other").unwrap();
            assert!(!deep.join("shuffle-data").exists());
            assert!(storage.delete_partials("..").is_err());
        }
    }

    #[test]
    fn hostile_names_and_paths_stay_inside_the_storage_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("deep");
        let storage = LocalDeepStorage::new(&deep, false);
        let built = segment_files(tmp.path());
        for (ds, version) in [
            ("..", "v1"),
            ("wiki", ".."),
            ("wiki", "a/b"),
            ("a/../..", "v1"),
            ("", "v1"),
            ("wiki", "nul\0"),
        ] {
            let s = segment(ds, version);
            assert!(storage.storage_dir_of(&s).is_err(), "{ds:?} {version:?}");
            assert!(storage.push(&built, &s).is_err(), "{ds:?} {version:?}");
        }
        assert!(!deep.exists() || names(&deep) == [INTERMEDIATE_DIR] || names(&deep).is_empty());

        // Files a kill must never touch.
        let outside = tmp.path().join("outside/index");
        fs::create_dir_all(&outside).unwrap();
        let shallow = deep.join("wiki/v1/index");
        fs::create_dir_all(&shallow).unwrap();
        let not_index = deep.join(PLACE).join("data");
        fs::create_dir_all(not_index.parent().unwrap()).unwrap();
        fs::write(&not_index, b"x").unwrap();
        let path = |p: &Path| format!("{}/", p.display());
        let other_ds = deep
            .join("other")
            .join(PLACE.replacen("wiki", "", 1).trim_start_matches('/'))
            .join("index");
        fs::create_dir_all(&other_ds).unwrap();
        for (load_path, why) in [
            (path(&outside), "outside the storage dir"),
            (
                format!("{}/{PLACE}/../../../../../outside/index/", deep.display()),
                "climbs out with ..",
            ),
            (path(&shallow), "too shallow for Druid's layout"),
            (path(&other_ds), "another datasource's files"),
            ("index/".to_string(), "relative"),
        ] {
            let mut s = segment("wiki", "v1");
            s.load_spec = json!({"type":"local","path":load_path})
                .as_object()
                .unwrap()
                .clone();
            let err = storage.kill(&s).unwrap_err().to_string();
            assert!(err.starts_with("Refusing to delete"), "{why}: {err}");
        }
        let mut s = segment("wiki", "v1");
        s.load_spec = json!({"type":"local","path":not_index.display().to_string()})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            storage.kill(&s).unwrap_err().to_string(),
            format!("Unknown file type[{}]", not_index.display())
        );
        assert!(outside.exists() && shallow.exists() && not_index.exists() && other_ds.exists());
    }
}
