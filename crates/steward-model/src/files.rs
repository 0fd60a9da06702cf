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
    write_with_mode(path, bytes, 0o666)
}

/// [`write_atomic`] for a file only its owner may read (mode 0600): one that holds credentials.
/// The temporary file has that mode from its creation, so no reader catches it open wider.
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    // A temporary left by a crash may have another mode; `mode` applies only to a new file.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
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

    #[test]
    fn a_private_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peon.json");
        // A temporary a crash left behind, readable by all, is not reused.
        std::fs::write(dir.path().join(".peon.json.tmp"), b"stale").unwrap();
        write_atomic_private(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join(".peon.json.tmp").exists());
    }
}
