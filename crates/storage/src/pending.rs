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
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(StorageError::io(&path))?;
    file.lock().map_err(StorageError::io(&path))?;
    Ok(file)
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
