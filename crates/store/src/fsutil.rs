//! Durable file replacement: write aside, fsync, rename, fsync the directory.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StoreError};

/// Makes a rename or a new entry in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir))
}

/// Replaces `path` with `bytes` so that readers see the old or the new content, never a mix,
/// and a crash leaves one of the two. The temporary file sits in `scratch` (same filesystem).
pub(crate) fn replace_file(path: &Path, bytes: &[u8], scratch: &Path) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".replace-")
        .tempfile_in(scratch)
        .map_err(StoreError::io(scratch))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_data())
        .map_err(StoreError::io(tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| StoreError::io(path)(e.error))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

pub(crate) fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(StoreError::io(path))
}
