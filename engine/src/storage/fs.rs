//! The only place files are made durable: write-and-fsync, directory fsync, atomic publish.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `path` with `bytes`, and fsyncs it.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Replaces the file at `path` with `bytes` atomically: writes and fsyncs `<path>.tmp`, renames it
/// over `path`, and fsyncs the directory.
pub fn publish_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = Path::new(&temporary);
    write_file_synced(temporary, bytes)?;
    fs::rename(temporary, path).map_err(|e| Error::io("rename", temporary, e))?;
    if let Some(parent) = path.parent() {
        sync_path(parent)?;
    }
    Ok(())
}

/// Fsyncs a file or directory that is already written.
pub fn sync_path(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::io("fsync", path, e))
}

/// Makes a fully written, fsynced temporary directory visible under its final name: renames it
/// atomically, then fsyncs the parent so that the rename itself survives a crash.
pub fn publish(temporary: &Path, target: &Path) -> Result<()> {
    sync_path(temporary)?;
    if target.exists() {
        return Err(Error::Logical(format!(
            "cannot publish {}: it already exists",
            target.display()
        )));
    }
    fs::rename(temporary, target).map_err(|e| Error::io("rename", temporary, e))?;
    let parent = target
        .parent()
        .ok_or_else(|| Error::Logical(format!("{} has no parent directory", target.display())))?;
    sync_path(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_renames_and_refuses_to_overwrite() {
        let root = tempfile::tempdir().unwrap();
        let temporary = root.path().join("tmp_insert_1");
        fs::create_dir(&temporary).unwrap();
        write_file_synced(&temporary.join("count.txt"), b"3").unwrap();
        let target = root.path().join("all_1_1_0");
        publish(&temporary, &target).unwrap();
        assert_eq!(fs::read(target.join("count.txt")).unwrap(), b"3");
        assert!(!temporary.exists());
        fs::create_dir(&temporary).unwrap();
        assert!(publish(&temporary, &target).is_err());
    }
}
