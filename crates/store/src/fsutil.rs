//! Durable file replacement: write aside, fsync, rename, fsync the directory.

use std::fs::{self, File};
use std::io::{Read, Write};
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

/// Reads all of `reader` (the file or archive entry `path`) but never more than `limit`
/// bytes: it stops at `limit + 1` and refuses, so a huge or endless input costs no more memory
/// than the cap, whatever size it claims.
pub fn read_capped(reader: impl Read, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(StoreError::io(path))?;
    if bytes.len() as u64 > limit {
        return Err(StoreError::FileTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Copies `reader` (the file or archive entry `path`) into `out`, refusing at `limit + 1`
/// bytes, so that a small file of an archive is bounded while it is extracted.
pub fn copy_capped(
    reader: impl Read,
    out: &mut impl Write,
    path: &Path,
    limit: u64,
) -> Result<u64> {
    let copied = std::io::copy(&mut reader.take(limit.saturating_add(1)), out)
        .map_err(StoreError::io(path))?;
    if copied > limit {
        return Err(StoreError::FileTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(copied)
}
