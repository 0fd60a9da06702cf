//! The task-log store (Druid's `file` task logs): where a MiddleManager pushes a finished task's
//! log, report and status, and where the Overlord reads them after the task has ended, until
//! retention deletes them.

use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use steward_model::ids::validate_id;

/// Reads a log file with Druid's `offset` semantics: 0 the whole log, positive from that byte,
/// negative the last |offset| bytes (the whole log if it is shorter).
pub fn read_log(path: &Path, offset: i64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len() as i64;
    let start = if offset >= 0 {
        offset.min(len)
    } else {
        (len + offset).max(0)
    };
    f.seek(SeekFrom::Start(start as u64))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Task logs in a directory: `<dir>/<taskId>.log`, `.report.json`, `.status.json`.
#[derive(Debug, Clone)]
pub struct FileTaskLogs {
    dir: PathBuf,
}

impl FileTaskLogs {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileTaskLogs { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a task. The id is checked again here, whatever its caller checked: an id
    /// that is not one plain file name (`..`, `/var/log/x`) must never leave the directory.
    fn path(&self, task_id: &str, suffix: &str) -> std::io::Result<PathBuf> {
        validate_id("Task ID", task_id)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
        Ok(self.dir.join(format!("{task_id}{suffix}")))
    }

    /// Puts a finished file into the store under a temporary name, then renames it, so readers
    /// never see half a log. On the same filesystem the file is hard-linked, not copied: no
    /// bytes to copy and no new inode, and the task dir's name goes with the task dir. Other
    /// filesystems (a shared volume mounted elsewhere) get a copy. Either way the stored file is
    /// modified "now", so retention counts from the push, not from the task's last log line.
    fn push(&self, task_id: &str, suffix: &str, src: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let dst = self.path(task_id, suffix)?;
        let tmp = self.path(task_id, &format!("{suffix}.tmp"))?;
        if same_file(src, &dst) {
            // Pushed before (by a MiddleManager that restarted): a rename onto another name of
            // the same file would do nothing and leave the temporary name behind.
            return std::fs::File::open(&dst)?.set_modified(SystemTime::now());
        }
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        match std::fs::hard_link(src, &tmp) {
            Ok(()) => std::fs::File::open(&tmp)?.set_modified(SystemTime::now())?,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(e),
            Err(_) => {
                std::fs::copy(src, &tmp)?;
            }
        }
        std::fs::rename(tmp, dst)
    }

    pub fn push_log(&self, task_id: &str, log_file: &Path) -> std::io::Result<()> {
        self.push(task_id, ".log", log_file)
    }

    pub fn push_report(&self, task_id: &str, report_file: &Path) -> std::io::Result<()> {
        self.push(task_id, ".report.json", report_file)
    }

    pub fn push_status(&self, task_id: &str, status_file: &Path) -> std::io::Result<()> {
        self.push(task_id, ".status.json", status_file)
    }

    /// The stored log from `offset`, or `None` if this task has no stored log.
    pub fn stream_log(&self, task_id: &str, offset: i64) -> std::io::Result<Option<Vec<u8>>> {
        match read_log(&self.path(task_id, ".log")?, offset) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The stored report, or `None`.
    pub fn report(&self, task_id: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(task_id, ".report.json")?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes every stored file of a task (retention).
    pub fn delete(&self, task_id: &str) -> std::io::Result<()> {
        for suffix in [".log", ".report.json", ".status.json"] {
            match std::fs::remove_file(self.path(task_id, suffix)?) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes every stored file last modified before `cutoff` and returns how many it deleted
    /// (retention). As in Druid's file task logs, age is the file's modification time: a file
    /// is written once, when its task ends. A missing directory holds nothing to delete.
    pub fn delete_older_than(&self, cutoff: SystemTime) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut deleted = 0;
        for entry in entries {
            let entry = entry?;
            // A file may vanish between listing and deleting (a concurrent cleaner, or the
            // rename that completes a push).
            let metadata = match entry.metadata() {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !metadata.is_file() || metadata.modified()? >= cutoff {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_not_one_file_name_never_reach_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        std::fs::create_dir_all(logs.dir()).unwrap();
        std::fs::write(dir.path().join("secret.log"), b"secret").unwrap();
        for hostile in [
            "../secret",
            "/etc/passwd",
            "..",
            ".",
            "a/../../secret",
            "x\0",
        ] {
            let err = logs.stream_log(hostile, 0).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{hostile}");
            assert_eq!(
                logs.report(hostile).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
            assert_eq!(
                logs.delete(hostile).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        }
        assert!(dir.path().join("secret.log").exists());
    }

    #[test]
    fn the_longest_id_fits_every_file_name_the_store_makes() {
        let dir = tempfile::tempdir().unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        let id = "i".repeat(steward_model::ids::MAX_ID_BYTES);
        let src = dir.path().join("src");
        std::fs::write(&src, b"line\n").unwrap();
        logs.push_log(&id, &src).unwrap();
        logs.push_report(&id, &src).unwrap();
        logs.push_status(&id, &src).unwrap();
        assert_eq!(logs.stream_log(&id, 0).unwrap().unwrap(), b"line\n");
        assert_eq!(logs.report(&id).unwrap().unwrap(), b"line\n");
    }

    #[test]
    fn log_offsets_follow_druid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_log(&p, 0).unwrap(), b"0123456789");
        assert_eq!(read_log(&p, 7).unwrap(), b"789");
        assert_eq!(read_log(&p, 50).unwrap(), b"");
        assert_eq!(read_log(&p, -3).unwrap(), b"789");
        assert_eq!(read_log(&p, -50).unwrap(), b"0123456789");
    }

    #[test]
    fn pushed_files_are_served_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        let src = dir.path().join("log");
        std::fs::write(&src, b"hello").unwrap();
        assert_eq!(logs.stream_log("t", 0).unwrap(), None);
        logs.push_log("t", &src).unwrap();
        logs.push_report("t", &src).unwrap();
        assert_eq!(logs.stream_log("t", -2).unwrap().unwrap(), b"lo");
        assert_eq!(logs.report("t").unwrap().unwrap(), b"hello");
        logs.delete("t").unwrap();
        assert_eq!(logs.stream_log("t", 0).unwrap(), None);
        assert_eq!(logs.report("t").unwrap(), None);
    }

    #[test]
    fn a_push_survives_its_source_and_counts_from_now() {
        use std::time::Duration;

        let dir = tempfile::tempdir().unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        let src = dir.path().join("log");
        std::fs::write(&src, b"old lines").unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(7 * 86_400);
        std::fs::File::open(&src)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        logs.push_log("t", &src).unwrap();
        // Pushed again (a restarted MiddleManager pushes what it had not): replaced, not
        // refused.
        logs.push_log("t", &src).unwrap();
        std::fs::remove_file(&src).unwrap();
        assert_eq!(logs.stream_log("t", 0).unwrap().unwrap(), b"old lines");
        assert_eq!(
            logs.delete_older_than(SystemTime::now() - Duration::from_secs(3600))
                .unwrap(),
            0,
            "pushed just now"
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            logs.push_log("u", &missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            std::fs::read_dir(logs.dir()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }

    #[test]
    fn files_modified_before_the_cutoff_are_deleted() {
        use std::time::Duration;

        let dir = tempfile::tempdir().unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        assert_eq!(
            logs.delete_older_than(SystemTime::now()).unwrap(),
            0,
            "no directory yet"
        );

        for task in ["old", "edge", "new"] {
            let log = dir.path().join(format!("{task}.log"));
            let report = dir.path().join(format!("{task}.report.json"));
            std::fs::write(&log, b"hello").unwrap();
            std::fs::write(&report, b"{}").unwrap();
            logs.push_log(task, &log).unwrap();
            logs.push_report(task, &report).unwrap();
        }
        std::fs::create_dir(logs.dir().join("subdir")).unwrap();
        let cutoff = SystemTime::now() - Duration::from_secs(3600);
        let age = |task: &str, mtime: SystemTime| {
            for suffix in [".log", ".report.json"] {
                std::fs::File::options()
                    .write(true)
                    .open(logs.dir().join(format!("{task}{suffix}")))
                    .unwrap()
                    .set_modified(mtime)
                    .unwrap();
            }
        };
        age("old", cutoff - Duration::from_secs(60));
        age("edge", cutoff);

        assert_eq!(logs.delete_older_than(cutoff).unwrap(), 2);
        assert_eq!(logs.stream_log("old", 0).unwrap(), None);
        assert_eq!(logs.report("old").unwrap(), None);
        for task in ["edge", "new"] {
            assert_eq!(
                logs.stream_log(task, 0).unwrap().unwrap(),
                b"hello",
                "{task}"
            );
            assert!(logs.report(task).unwrap().is_some(), "{task}");
        }
        assert!(
            logs.dir().join("subdir").is_dir(),
            "directories are left alone"
        );
        assert_eq!(logs.delete_older_than(cutoff).unwrap(), 0);
    }
}
