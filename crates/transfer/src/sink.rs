//! A blob's bytes hashed and written on a thread of its own, fed through a bounded queue:
//! receiving the next bytes overlaps with hashing and writing the last ones, and blobs that
//! download together hash on different cores. Memory stays bounded by the queue.

use aurora_spec::Digest;
use aurora_store::{BlobWriter, Store, StoreError, VerifiedBlob};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Result;

/// Chunks waiting to be written, per blob: a few hundred KiB each at most.
const QUEUED_CHUNKS: usize = 4;

enum Command {
    Write(Bytes),
    /// The registry ignored a range request: start again from the first byte.
    Restart,
    /// Everything arrived: verify, fsync, and hand the blob back.
    Finish,
}

type Outcome = std::result::Result<Option<VerifiedBlob>, StoreError>;

/// The writing end of one blob download.
pub(crate) struct BlobSink {
    commands: mpsc::Sender<Command>,
    worker: JoinHandle<Outcome>,
    /// Bytes accepted so far (written, or queued to be): where a resumed download starts.
    offset: u64,
}

impl BlobSink {
    /// Opens the blob in the store (adopting a partial download, which is rehashed off the
    /// async threads) and starts its writer.
    pub async fn open(store: &Store, digest: &Digest, size: u64) -> Result<Self> {
        let (store, digest) = (store.clone(), digest.clone());
        let writer = tokio::task::spawn_blocking(move || store.begin_blob(&digest, Some(size)))
            .await
            .map_err(worker_died)??;
        let offset = writer.offset();
        let (commands, queue) = mpsc::channel(QUEUED_CHUNKS);
        let worker = tokio::task::spawn_blocking(move || run(writer, queue));
        Ok(BlobSink {
            commands,
            worker,
            offset,
        })
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub async fn write(&mut self, bytes: Bytes) -> Result<()> {
        let len = bytes.len() as u64;
        self.send(Command::Write(bytes)).await?;
        self.offset += len;
        Ok(())
    }

    pub async fn restart(&mut self) -> Result<()> {
        self.send(Command::Restart).await?;
        self.offset = 0;
        Ok(())
    }

    /// Waits for every queued byte to be written, then verifies the blob.
    pub async fn finish(mut self) -> Result<VerifiedBlob> {
        self.send(Command::Finish).await?;
        drop(self.commands);
        match self.worker.await.map_err(worker_died)? {
            Ok(Some(verified)) => Ok(verified),
            Ok(None) => unreachable!("the writer finishes when told to"),
            Err(e) => Err(e.into()),
        }
    }

    /// Queues a command; when the writer has stopped on an error, returns that error.
    async fn send(&mut self, command: Command) -> Result<()> {
        if self.commands.send(command).await.is_ok() {
            return Ok(());
        }
        match (&mut self.worker).await.map_err(worker_died)? {
            Err(e) => Err(e.into()),
            Ok(_) => unreachable!("the writer stops early only on an error"),
        }
    }
}

/// The writer thread. Closed without `Finish` (the download failed), it leaves the partial
/// file for a later attempt.
fn run(mut writer: BlobWriter, mut queue: mpsc::Receiver<Command>) -> Outcome {
    while let Some(command) = queue.blocking_recv() {
        match command {
            Command::Write(bytes) => writer.write(&bytes)?,
            Command::Restart => writer.restart()?,
            Command::Finish => return writer.finish().map(Some),
        }
    }
    Ok(None)
}

fn worker_died(e: tokio::task::JoinError) -> StoreError {
    StoreError::Io {
        path: "blob writer".into(),
        source: std::io::Error::other(e.to_string()),
    }
}
