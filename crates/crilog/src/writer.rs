//! Writing a container's log: the monitor hands over every chunk it reads from the
//! container's stdout and stderr, in whatever sizes the pipes deliver them.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::line::{format_record, format_timestamp, Stream, MAX_LINE_SIZE};
use crate::{rotated_path, LogError};

/// Records are gathered and written together up to this size (64 KiB): one write per chunk
/// of output rather than one per line, with the memory it takes bounded.
const BATCH_SIZE: usize = 64 * 1024;

/// Writes CRI records to `FILE`, rotating it to `FILE.1` when it would exceed its maximum
/// size. A line is written when its newline arrives; the part of a line that has no newline
/// yet waits per stream (at most [`MAX_LINE_SIZE`] bytes, beyond which it is written as `P`
/// records) until more arrives or [`LogWriter::flush`] writes it as a `P` record. Every record
/// of one chunk carries the time the chunk was handed over.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    /// Bytes in `file` (not counting `batch`).
    size: u64,
    /// 0: never rotate.
    max_size: u64,
    /// The unfinished line of stdout and of stderr.
    pending: [Vec<u8>; 2],
    /// Records formatted and not yet written, and how many.
    batch: Vec<u8>,
    batched: u64,
    /// The time of the chunk being written, formatted.
    timestamp: String,
    dropped: u64,
}

impl LogWriter {
    /// Opens (or creates, mode 0600) `path` for appending; `max_size` 0 means no rotation.
    pub fn open(path: &Path, max_size: u64) -> Result<LogWriter, LogError> {
        let failed = |source| LogError::Open {
            path: path.to_owned(),
            source,
        };
        let file = open_append(path).map_err(failed)?;
        let size = file.metadata().map_err(failed)?.len();
        Ok(LogWriter {
            path: path.to_owned(),
            file,
            size,
            max_size,
            pending: [Vec::new(), Vec::new()],
            batch: Vec::new(),
            batched: 0,
            timestamp: String::new(),
            dropped: 0,
        })
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records lost because the disk was full (ENOSPC, EDQUOT).
    pub fn dropped_records(&self) -> u64 {
        self.dropped
    }

    /// Adds a chunk of `stream`'s output: every line it completes is written, the rest waits.
    /// A full disk drops the records and counts them (see [`LogWriter::dropped_records`]);
    /// any other write error is returned, after the rest of the chunk has been handled.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> Result<(), LogError> {
        self.timestamp = format_timestamp(Utc::now());
        let mut first_error = None;
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.pending[index(stream)]);
            line.extend_from_slice(&rest[..newline]);
            keep_first(&mut first_error, self.queue_line(stream, &line));
            // Give the buffer back, so that a stream's allocation is reused.
            line.clear();
            self.pending[index(stream)] = line;
            rest = &rest[newline + 1..];
        }
        self.pending[index(stream)].extend_from_slice(rest);
        // A line longer than a record: written as full-size `P` records as it arrives, so
        // that what waits stays under MAX_LINE_SIZE.
        while self.pending[index(stream)].len() >= MAX_LINE_SIZE {
            let head: Vec<u8> = self.pending[index(stream)].drain(..MAX_LINE_SIZE).collect();
            keep_first(&mut first_error, self.queue_record(stream, true, &head));
        }
        keep_first(&mut first_error, self.write_batch());
        first_error.map_or(Ok(()), Err)
    }

    /// Writes what waits without a newline, as `P` records (when the container has been quiet
    /// for a while, or exited).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.timestamp = format_timestamp(Utc::now());
        let mut first_error = None;
        for stream in [Stream::Stdout, Stream::Stderr] {
            let waiting = std::mem::take(&mut self.pending[index(stream)]);
            if !waiting.is_empty() {
                keep_first(&mut first_error, self.queue_record(stream, true, &waiting));
            }
        }
        keep_first(&mut first_error, self.write_batch());
        first_error.map_or(Ok(()), Err)
    }

    /// Whether a partial line waits for its newline.
    pub fn has_pending(&self) -> bool {
        self.pending.iter().any(|p| !p.is_empty())
    }

    /// One complete line (without its newline): `P` records of MAX_LINE_SIZE, then `F`.
    fn queue_line(&mut self, stream: Stream, line: &[u8]) -> Result<(), LogError> {
        let mut first_error = None;
        let mut chunks = line.chunks(MAX_LINE_SIZE).peekable();
        if chunks.peek().is_none() {
            return self.queue_record(stream, false, b"");
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            keep_first(&mut first_error, self.queue_record(stream, !last, chunk));
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Adds a record to the batch; first writes the batch and rotates when the record would
    /// take the file over its maximum size, or the batch is full.
    fn queue_record(
        &mut self,
        stream: Stream,
        partial: bool,
        message: &[u8],
    ) -> Result<(), LogError> {
        // TIMESTAMP " stdout P " MESSAGE "\n"
        let length = (self.timestamp.len() + 10 + message.len() + 1) as u64;
        let in_file = self.size + self.batch.len() as u64;
        let mut result = Ok(());
        if self.max_size > 0 && in_file > 0 && in_file + length > self.max_size {
            result = self.write_batch().and_then(|()| self.rotate());
        } else if self.batch.len() >= BATCH_SIZE {
            result = self.write_batch();
        }
        format_record(&mut self.batch, &self.timestamp, stream, partial, message);
        self.batched += 1;
        result
    }

    fn write_batch(&mut self) -> Result<(), LogError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.batch);
        let (length, records) = (self.batch.len() as u64, self.batched);
        self.batch.clear();
        self.batched = 0;
        if self.batch.capacity() > 2 * BATCH_SIZE {
            // One chunk of very short lines made it large: give the memory back.
            self.batch.shrink_to(BATCH_SIZE);
        }
        match result {
            Ok(()) => {
                self.size += length;
                Ok(())
            }
            Err(error) => {
                // Part of the batch may be on disk: cut it off, so that the next record
                // starts a line (truncating needs no free space).
                let _ = self.file.set_len(self.size);
                if is_disk_full(&error) {
                    self.dropped += records;
                    Ok(())
                } else {
                    Err(LogError::Write {
                        path: self.path.clone(),
                        source: error,
                    })
                }
            }
        }
    }

    /// FILE → FILE.1 (replacing it), then a new FILE. When the new file cannot be created
    /// (a full disk), records keep going to the renamed one, which readers read too.
    /// Writes what is batched, then opens the log path again (creating it): someone else
    /// (kubelet) moved the file away and wants later records in a new one.
    pub fn reopen(&mut self) -> Result<(), LogError> {
        let written = self.write_batch();
        let failed = |source| LogError::Open {
            path: self.path.clone(),
            source,
        };
        let file = open_append(&self.path).map_err(failed)?;
        self.size = file.metadata().map_err(failed)?.len();
        self.file = file;
        written
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        let rotated = rotated_path(&self.path);
        let failed = |source| LogError::Rotate {
            path: self.path.clone(),
            source,
        };
        std::fs::rename(&self.path, &rotated).map_err(failed)?;
        let file = open_append(&self.path).map_err(failed)?;
        self.file = file;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn is_disk_full(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::StorageFull
        || matches!(
            error.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT)
        )
}

fn keep_first(first: &mut Option<LogError>, result: Result<(), LogError>) {
    if let Err(error) = result {
        first.get_or_insert(error);
    }
}

#[cfg(test)]
mod tests;
