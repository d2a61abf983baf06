//! Progress events of long operations, for the binary to show as bars or lines.

use aurora_spec::Digest;

/// Receives progress. Every method has an empty default, so a caller implements only what
/// it shows.
pub trait Progress: Send + Sync {
    /// The manifest or index of `reference` was resolved to `digest`.
    fn resolved(&self, _reference: &str, _digest: &Digest) {}
    /// A blob is already in the store and will not be fetched.
    fn blob_present(&self, _digest: &Digest, _size: u64) {}
    /// A blob download starts (or resumes at `offset`).
    fn blob_started(&self, _digest: &Digest, _size: u64, _offset: u64) {}
    /// `bytes` more of a blob arrived.
    fn blob_advanced(&self, _digest: &Digest, _bytes: u64) {}
    /// The registry ignored a range request; the count starts again from 0.
    fn blob_restarted(&self, _digest: &Digest) {}
    /// A transient failure; the download will be tried again.
    fn blob_retrying(&self, _digest: &Digest, _error: &str) {}
    /// The blob is verified and stored (or, pushing, uploaded).
    fn blob_done(&self, _digest: &Digest) {}
    /// Pushing: the blob's upload starts.
    fn upload_started(&self, _digest: &Digest, _size: u64) {}
    /// Pushing: the blob needs no upload (`how`: "already in the repository", "mounted from …").
    fn upload_skipped(&self, _digest: &Digest, _size: u64, _how: &str) {}
    /// Unpacking: the layer of this blob starts being laid down (`size`: the blob's bytes).
    fn layer_started(&self, _blob: &Digest, _size: u64) {}
    /// `bytes` more of the layer's blob were read.
    fn layer_advanced(&self, _blob: &Digest, _bytes: u64) {}
    /// The layer is laid down and committed.
    fn layer_done(&self, _blob: &Digest) {}
    /// Committing: packing `what` (a container's changes) into a new layer starts.
    fn pack_started(&self, _what: &str) {}
    /// `bytes` more of the new (compressed) layer were written.
    fn pack_advanced(&self, _bytes: u64) {}
    /// The new layer is written and stored.
    fn pack_done(&self, _blob: &Digest, _size: u64) {}
}

/// Reports the bytes written through it as the new layer's progress.
pub(crate) struct ProgressWriter<'a, W> {
    pub inner: W,
    pub progress: &'a dyn Progress,
}

impl<W: std::io::Write> std::io::Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if n > 0 {
            self.progress.pack_advanced(n as u64);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reports the bytes read through it as the layer's progress.
pub(crate) struct ProgressReader<'a, R> {
    pub inner: R,
    pub blob: &'a Digest,
    pub progress: &'a dyn Progress,
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.progress.layer_advanced(self.blob, n as u64);
        }
        Ok(n)
    }
}

/// Shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
