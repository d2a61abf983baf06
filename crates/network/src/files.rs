//! The crate's small file habits: an exclusive lock held by a file descriptor, JSON read
//! tolerant of absence, and JSON replaced atomically (temporary file, fsync, rename), so a
//! reader never sees half a definition or half an allocation table.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{io, NetworkError, Result};

/// An exclusive `flock` on a lock file; released when dropped (or when the process dies, so
/// a killed podadm never leaves a network locked).
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for the lock on `path`, creating the file (and its directory) if needed.
    pub(crate) fn acquire(path: &Path) -> Result<FileLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir, "create directory"))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(path, "open lock file"))?;
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| io(path, "lock")(std::io::Error::from(e)))?;
        Ok(FileLock { _file: file })
    }
}

/// The JSON document at `path`, or `None` when there is no file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| NetworkError::Json {
                    path: path.to_path_buf(),
                    what,
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, "read")(e)),
    }
}

/// Replaces `path` with `value` as pretty JSON, atomically.
pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("network documents serialize");
    bytes.push(b'\n');
    let temp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(path, "write")(e)
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}
