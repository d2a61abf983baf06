//! Writing one blob: streamed to a temporary file, verified, fsynced and renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use aurora_spec::{Digest, Hasher};
use tracing::debug;

use crate::error::{Result, StoreError};
use crate::fsutil::sync_dir;

const WRITE_BUFFER: usize = 256 * 1024;

/// A blob being written. Nothing appears under the blob's final name until [`commit`]
/// has checked size and digest; a wrong byte, a crash or a kill leaves only a file in the
/// store's scratch directory.
///
/// When no other process is fetching the same blob, the temporary file is named after the
/// digest and kept when the writer is dropped uncommitted, so that a later attempt can
/// resume where this one stopped ([`offset`]).
///
/// [`commit`]: BlobWriter::commit
/// [`offset`]: BlobWriter::offset
pub struct BlobWriter {
    file: BufWriter<File>,
    temp_path: PathBuf,
    final_path: PathBuf,
    resumable: bool,
    hasher: Hasher,
    written: u64,
    digest: Digest,
    expected_size: Option<u64>,
    committed: bool,
}

impl BlobWriter {
    pub(crate) fn start(
        digest: &Digest,
        expected_size: Option<u64>,
        scratch: PathBuf,
        final_path: PathBuf,
    ) -> Result<Self> {
        let hasher = Hasher::for_digest(digest).map_err(|source| StoreError::Digest {
            digest: digest.to_string(),
            source,
        })?;
        let partial = scratch.join(format!(
            "{}-{}.partial",
            digest.algorithm(),
            digest.digest()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(StoreError::io(&partial))?;
        let (file, temp_path, resumable) = match file.try_lock() {
            // Whoever held the lock may have moved the file to the final name (or removed it)
            // between our open and our lock: only the file still at `partial` is ours to use.
            Ok(()) if is_same_file(&file, &partial) => (file, partial, true),
            // Another process is fetching this blob: write a private copy instead of waiting.
            _ => {
                let (file, path) = tempfile::Builder::new()
                    .prefix(&format!("{}-", digest.digest()))
                    .suffix(".tmp")
                    .tempfile_in(&scratch)
                    .map_err(StoreError::io(&scratch))?
                    .keep()
                    .map_err(|e| StoreError::io(&scratch)(e.error))?;
                // Locked too, so that `gc` sees it is in use and leaves it alone.
                file.lock().map_err(StoreError::io(&path))?;
                (file, path, false)
            }
        };
        let mut writer = BlobWriter {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            temp_path,
            final_path,
            resumable,
            hasher,
            written: 0,
            digest: digest.clone(),
            expected_size,
            committed: false,
        };
        writer.adopt_existing_bytes()?;
        Ok(writer)
    }

    /// Rehashes what an earlier attempt left, so that the download can go on from there.
    fn adopt_existing_bytes(&mut self) -> Result<()> {
        let file = self.file.get_mut();
        let len = file
            .metadata()
            .map_err(StoreError::io(&self.temp_path))?
            .len();
        if len == 0 {
            return Ok(());
        }
        if self.expected_size.is_some_and(|size| len > size) {
            return self.restart();
        }
        file.seek(SeekFrom::Start(0))
            .map_err(StoreError::io(&self.temp_path))?;
        let mut buf = vec![0u8; WRITE_BUFFER];
        let mut reader = (&*file).take(len);
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(StoreError::io(&self.temp_path))?;
            if n == 0 {
                break;
            }
            self.hasher.update(&buf[..n]);
            self.written += n as u64;
        }
        file.seek(SeekFrom::Start(self.written))
            .map_err(StoreError::io(&self.temp_path))?;
        debug!(digest = %self.digest, bytes = self.written, "resuming partial blob");
        Ok(())
    }

    /// How many verified-so-far bytes are already written: where a download resumes.
    pub fn offset(&self) -> u64 {
        self.written
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Appends bytes. More bytes than the descriptor's size is an error at once, so a
    /// hostile server cannot fill the disk.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let after = self.written + bytes.len() as u64;
        if let Some(expected) = self.expected_size.filter(|&size| after > size) {
            return Err(StoreError::SizeMismatch {
                digest: self.digest.to_string(),
                expected,
                actual: after,
            });
        }
        self.file
            .write_all(bytes)
            .map_err(StoreError::io(&self.temp_path))?;
        self.hasher.update(bytes);
        self.written = after;
        Ok(())
    }

    /// Throws away what was written, for a server that ignored a range request.
    pub fn restart(&mut self) -> Result<()> {
        self.file.flush().map_err(StoreError::io(&self.temp_path))?;
        let file = self.file.get_mut();
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(StoreError::io(&self.temp_path))?;
        self.hasher = Hasher::for_digest(&self.digest).map_err(|source| StoreError::Digest {
            digest: self.digest.to_string(),
            source,
        })?;
        self.written = 0;
        Ok(())
    }

    /// Verifies size and digest, makes the bytes durable and moves them under the final name.
    /// On a mismatch the temporary file is deleted: its bytes are known to be wrong.
    pub fn commit(self) -> Result<u64> {
        self.finish()?.publish()
    }

    /// Verifies size and digest and makes the bytes durable, but leaves them aside until
    /// [`VerifiedBlob::publish`], so that an operation can publish all its blobs together
    /// once every one of them has arrived. On a mismatch the temporary file is deleted.
    pub fn finish(mut self) -> Result<VerifiedBlob> {
        if let Err(e) = self.verify() {
            self.discard();
            return Err(e);
        }
        self.file.flush().map_err(StoreError::io(&self.temp_path))?;
        let file = self.file.get_ref();
        file.sync_data().map_err(StoreError::io(&self.temp_path))?;
        // A second descriptor of the same open file keeps the lock after this writer is gone.
        let file = file.try_clone().map_err(StoreError::io(&self.temp_path))?;
        self.committed = true;
        Ok(VerifiedBlob {
            _file: file,
            temp_path: self.temp_path.clone(),
            final_path: self.final_path.clone(),
            resumable: self.resumable,
            size: self.written,
            published: false,
        })
    }

    fn verify(&mut self) -> Result<()> {
        if let Some(expected) = self.expected_size.filter(|&size| size != self.written) {
            return Err(StoreError::SizeMismatch {
                digest: self.digest.to_string(),
                expected,
                actual: self.written,
            });
        }
        let hasher = std::mem::replace(&mut self.hasher, Hasher::sha256());
        let actual = hasher.finish();
        if actual != self.digest.to_string() {
            return Err(StoreError::Digest {
                digest: self.digest.to_string(),
                source: aurora_spec::DigestError::Mismatch {
                    expected: self.digest.to_string(),
                    actual,
                    size: self.written,
                },
            });
        }
        Ok(())
    }

    fn discard(&mut self) {
        self.resumable = false;
        let _ = fs::remove_file(&self.temp_path);
        // Nothing is left for `drop` to clean up: removing the path again could delete the
        // partial another writer has created there since.
        self.committed = true;
    }
}

/// Whether `file` is the file `path` names now.
fn is_same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if self.resumable {
            // Keep the bytes for a later attempt; they are re-verified when it commits.
            let _ = self.file.flush();
        } else {
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

/// A blob whose bytes are complete, verified and durable, waiting in the scratch directory.
/// Dropped unpublished, a resumable one stays there and the next attempt adopts it without
/// downloading anything.
pub struct VerifiedBlob {
    _file: File,
    temp_path: PathBuf,
    final_path: PathBuf,
    resumable: bool,
    size: u64,
    published: bool,
}

impl VerifiedBlob {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Moves the blob under its final name.
    pub fn publish(mut self) -> Result<u64> {
        fs::rename(&self.temp_path, &self.final_path).map_err(StoreError::io(&self.final_path))?;
        self.published = true;
        if let Some(dir) = self.final_path.parent() {
            sync_dir(dir)?;
        }
        Ok(self.size)
    }
}

impl Drop for VerifiedBlob {
    fn drop(&mut self) {
        if !self.published && !self.resumable {
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}
