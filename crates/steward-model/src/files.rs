//! Files a MiddleManager and its peons hand each other (task dir records, statuses, reports):
//! written whole or not at all.

use std::io::Write;
use std::path::Path;

/// Writes under a temporary name (`.<name>.tmp` beside it) and renames, so a reader never sees
/// half a file. No fsync: these files must survive a crash of the process, which the rename
/// gives, not a power loss, which takes the peons down too. A record lost that way leaves the
/// task unannounced when the worker returns, and the Overlord fails it as disappeared. An fsync
/// per file was the largest cost per task.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_replaces_the_old_one_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("status.json")]);
    }
}
