//! A file (or any reader) streamed into the store as a blob whose digest and size are known
//! beforehand: what copy and the docker archive reader do with the files they are given.

use std::io::Read;
use std::path::Path;

use aurora_spec::Digest;
use aurora_store::Store;

use crate::error::{Result, TransferError};

/// Streams the file at `path` into `to` as the blob `digest` of `size` bytes, verified by the
/// store's writer (a file that is not that blob is refused and leaves nothing).
pub(crate) fn store_file_as(to: &Store, digest: &Digest, size: u64, path: &Path) -> Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|e| TransferError::Copy(format!("cannot read {}: {e}", path.display())))?;
    store_reader_as(to, digest, size, file, path)
}

/// Streams `file` (read from `path`) into `to` as the blob `digest` of `size` bytes.
pub(crate) fn store_reader_as(
    to: &Store,
    digest: &Digest,
    size: u64,
    mut file: impl Read,
    path: &Path,
) -> Result<()> {
    let unreadable =
        |e: std::io::Error| TransferError::Copy(format!("cannot read {}: {e}", path.display()));
    let mut writer = to.begin_blob(digest, Some(size))?;
    writer.restart()?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        writer.write(&buf[..n])?;
    }
    writer.commit()?;
    Ok(())
}
