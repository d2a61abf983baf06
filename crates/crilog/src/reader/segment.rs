//! One log file read record by record, with bounded memory: positioned reads (so that two
//! readers of one open file do not share an offset), a record longer than
//! [`MAX_RECORD_SIZE`] skipped rather than held.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

/// A record longer than this (256 KiB) is not one the format produces (records carry at most
/// 16 KiB): it is skipped as garbage without being held in memory.
pub const MAX_RECORD_SIZE: usize = 256 * 1024;

const READ_SIZE: usize = 64 * 1024;

pub(super) enum Read {
    /// A whole record (without its newline) is in [`Segment::record`].
    Record,
    /// A record longer than MAX_RECORD_SIZE ended; nothing of it was kept.
    Overlong,
    /// The end of the data for now; [`Segment::record`] holds what came after the last
    /// newline (empty, or a record still being written).
    End,
}

pub(super) struct Segment {
    file: File,
    /// Where the next read starts.
    offset: u64,
    /// Read no further than this (a snapshot of the length), or to the end.
    limit: Option<u64>,
    buf: Vec<u8>,
    pos: usize,
    /// The record being assembled.
    pub(super) record: Vec<u8>,
    overlong: bool,
    /// The file's identity, to see that the path now names another file (a rotation).
    pub(super) inode: (u64, u64),
}

impl Segment {
    pub(super) fn new(file: File, limit: Option<u64>) -> std::io::Result<Segment> {
        let meta = file.metadata()?;
        Ok(Segment {
            file,
            offset: 0,
            limit,
            buf: Vec::new(),
            pos: 0,
            record: Vec::new(),
            overlong: false,
            inode: (meta.dev(), meta.ino()),
        })
    }

    /// Another reader of the same open file, from its start.
    pub(super) fn reopen(&self, limit: Option<u64>) -> std::io::Result<Segment> {
        Segment::new(self.file.try_clone()?, limit)
    }

    pub(super) fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub(super) fn read(&mut self) -> std::io::Result<Read> {
        loop {
            if self.pos == self.buf.len() && !self.refill()? {
                return Ok(Read::End);
            }
            let available = &self.buf[self.pos..];
            match available.iter().position(|b| *b == b'\n') {
                Some(newline) => {
                    if !self.overlong {
                        self.record.extend_from_slice(&available[..newline]);
                    }
                    self.pos += newline + 1;
                    if std::mem::take(&mut self.overlong) || self.record.len() > MAX_RECORD_SIZE {
                        self.record.clear();
                        return Ok(Read::Overlong);
                    }
                    return Ok(Read::Record);
                }
                None => {
                    if !self.overlong {
                        self.record.extend_from_slice(available);
                        if self.record.len() > MAX_RECORD_SIZE {
                            self.overlong = true;
                            self.record = Vec::new();
                        }
                    }
                    self.pos = self.buf.len();
                }
            }
        }
    }

    /// Whether the record being assembled is one to skip.
    pub(super) fn is_overlong(&self) -> bool {
        self.overlong
    }

    /// Reads the next block; false at the end of the data.
    fn refill(&mut self) -> std::io::Result<bool> {
        let mut want = READ_SIZE as u64;
        if let Some(limit) = self.limit {
            want = want.min(limit.saturating_sub(self.offset));
        }
        if want == 0 {
            return Ok(false);
        }
        self.buf.resize(want as usize, 0);
        let n = loop {
            match self.file.read_at(&mut self.buf, self.offset) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.buf.truncate(n);
        self.pos = 0;
        self.offset += n as u64;
        Ok(n > 0)
    }
}
