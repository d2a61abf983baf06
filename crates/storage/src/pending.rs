//! Locks that mark pending layers as alive, shared by every driver.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Result, StorageError};

/// A fresh name for a pending layer: unique per process and attempt.
pub(crate) fn handle(id: &crate::LayerId) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let attempt = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    format!("{id}-{}-{attempt}", std::process::id())
}

/// Takes the lock of a pending layer in `dir`; held as long as the file is open.
pub(crate) fn lock(dir: &Path, handle: &str) -> Result<File> {
    fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
    let path = lock_path(dir, handle);
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        file.lock().map_err(StorageError::io(&path))?;
        // A `clean_leftovers` that found this file not locked yet (between our open and our
        // lock) may have removed it: a lock on a removed file guards nothing, so take a new one.
        if same_file(&file, &path) {
            return Ok(file);
        }
    }
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// Removes the lock file of `handle` if nobody holds its lock, while holding it itself (so
/// that a builder that opened the file but has not locked it yet finds it gone, in [`lock`],
/// and takes a new one); returns whether it removed it. For lock files left without their
/// pending layer.
pub(crate) fn remove_if_abandoned(dir: &Path, handle: &str) -> Result<bool> {
    let path = lock_path(dir, handle);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StorageError::io(&path)(e)),
    };
    match file.try_lock() {
        Ok(()) if same_file(&file, &path) => {
            let _ = fs::remove_file(&path);
            Ok(true)
        }
        Ok(()) | Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(StorageError::io(&path)(e)),
    }
}

pub(crate) fn unlock(dir: &Path, handle: &str) {
    let _ = fs::remove_file(lock_path(dir, handle));
}

/// The handles in `dir` whose lock nobody holds: their builders are gone.
pub(crate) fn abandoned(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io(dir)(e)),
    };
    let mut handles = Vec::new();
    for entry in entries {
        let name = entry.map_err(StorageError::io(dir))?.file_name();
        let Some(handle) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
            continue;
        };
        let Ok(file) = File::open(dir.join(&name)) else {
            continue;
        };
        if file.try_lock().is_ok() {
            handles.push(handle.to_string());
        }
    }
    handles.sort();
    Ok(handles)
}

/// Whether the pending layer `handle` has no live builder: nobody holds its lock, or its lock
/// file is missing (builders take the lock before they create anything, so a pending layer
/// without one outlived its builder, e.g. when the state directory was wiped by a reboot).
pub(crate) fn is_abandoned(dir: &Path, handle: &str) -> Result<bool> {
    let path = lock_path(dir, handle);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(StorageError::io(&path)(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(StorageError::io(&path)(e)),
    }
}

fn lock_path(dir: &Path, handle: &str) -> PathBuf {
    dir.join(format!("{handle}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_is_removed_only_while_nobody_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path(), "live").unwrap();
        assert!(!remove_if_abandoned(dir.path(), "live").unwrap());
        assert!(lock_path(dir.path(), "live").exists());
        drop(held);
        // A child forked by another test thread may hold the descriptor until it execs.
        let removed = (0..100).any(|_| {
            remove_if_abandoned(dir.path(), "live").unwrap()
                || (
                    std::thread::sleep(std::time::Duration::from_millis(10)),
                    false,
                )
                    .1
        });
        assert!(removed);
        assert!(!lock_path(dir.path(), "live").exists());
        assert!(!remove_if_abandoned(dir.path(), "live").unwrap());
    }

    #[test]
    fn a_lock_taken_on_a_removed_file_is_taken_again() {
        let dir = tempfile::tempdir().unwrap();
        // A cleaner holds the lock of a file a builder has just opened, and removes it.
        let path = lock_path(dir.path(), "h");
        let cleaner = File::create(&path).unwrap();
        cleaner.lock().unwrap();
        let builder = std::thread::spawn({
            let dir = dir.path().to_path_buf();
            move || lock(&dir, "h").unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        fs::remove_file(&path).unwrap();
        drop(cleaner);
        let held = builder.join().unwrap();
        assert!(
            same_file(&held, &path),
            "the builder holds the file its path names"
        );
        assert_eq!(abandoned(dir.path()).unwrap(), Vec::<String>::new());
    }
}
