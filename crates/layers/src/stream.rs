//! The decompressing side: a thread that reads the blob, decompresses it, hashes the
//! uncompressed bytes (the diff ID) and hands them over in chunks through a bounded queue;
//! and the reader the tar parser consumes on the other side, which also bounds how many bytes
//! the parser may read for one entry's headers.

use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError};

use aurora_spec::Hasher;

use crate::Compression;

/// Bytes per chunk handed from the decompressing thread to the applying one.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight at most: the memory used is bounded by `CHUNK * (QUEUE + 2)`.
pub(crate) const QUEUE: usize = 16;

/// What the decompressing thread saw of a stream it read to the end.
pub(crate) struct Produced {
    pub(crate) compression: Compression,
    pub(crate) digest: String,
    pub(crate) tar_bytes: u64,
    pub(crate) blob_bytes: u64,
}

pub(crate) enum ProduceError {
    /// Reading or decompressing the blob failed.
    Read {
        compression: Compression,
        source: io::Error,
    },
    /// The applying side stopped listening (it failed).
    Stopped,
}

/// Counts the bytes read from the blob.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Runs on the decompressing thread until the blob's end, an error, or `tx` hanging up.
pub(crate) fn produce<R: Read>(
    blob: R,
    compression: Compression,
    mut hasher: Hasher,
    tx: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
) -> Result<Produced, ProduceError> {
    let count = Rc::new(Cell::new(0));
    let counted = Counted {
        inner: blob,
        count: count.clone(),
    };
    let read_err = |compression, source| ProduceError::Read {
        compression,
        source,
    };

    let (compression, mut decoder) = match decoder(counted, compression) {
        Ok(found) => found,
        Err((compression, e)) => return Err(read_err(compression, e)),
    };

    let mut tar_bytes = 0u64;
    loop {
        let mut buf = match recycled.try_recv() {
            Ok(buf) => buf,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(CHUNK),
        };
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match decoder.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_err(compression, e)),
            }
        }
        if filled == 0 {
            break;
        }
        buf.truncate(filled);
        hasher.update(&buf);
        tar_bytes += filled as u64;
        if tx.send(buf).is_err() {
            return Err(ProduceError::Stopped);
        }
    }
    Ok(Produced {
        compression,
        digest: hasher.finish(),
        tar_bytes,
        blob_bytes: count.get(),
    })
}

/// How many header bytes the tar parser may still read; armed around `Entries::next`.
#[derive(Default)]
pub(crate) struct HeaderBudget {
    armed: Cell<bool>,
    used: Cell<u64>,
    exceeded: Cell<bool>,
}

impl HeaderBudget {
    pub(crate) fn arm(&self) {
        self.used.set(0);
        self.armed.set(true);
    }

    pub(crate) fn disarm(&self) {
        self.armed.set(false);
    }

    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.get()
    }
}

/// The uncompressed stream as the tar parser reads it: chunks from the queue.
pub(crate) struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    budget: Rc<HeaderBudget>,
    /// Headers plus the padding and end-of-entry bytes read while armed.
    limit: u64,
}

impl ChunkReader {
    pub(crate) fn new(
        rx: Receiver<Vec<u8>>,
        recycle: Sender<Vec<u8>>,
        budget: Rc<HeaderBudget>,
    ) -> Self {
        ChunkReader {
            rx,
            recycle,
            current: Vec::new(),
            pos: 0,
            budget,
            // A few header blocks and padding on top of the extension data itself.
            limit: crate::MAX_HEADER_BYTES + 64 * 1024,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.current.len() {
            let spent = std::mem::take(&mut self.current);
            if spent.capacity() > 0 {
                let _ = self.recycle.send(spent);
            }
            self.pos = 0;
            match self.rx.recv() {
                Ok(chunk) => self.current = chunk,
                Err(_) => return Ok(0),
            }
        }
        let mut n = buf.len().min(self.current.len() - self.pos);
        if self.budget.armed.get() {
            let left = self.limit.saturating_sub(self.budget.used.get());
            if left == 0 {
                self.budget.exceeded.set(true);
                return Err(io::Error::other("entry headers too large"));
            }
            n = n.min(left as usize);
            self.budget.used.set(self.budget.used.get() + n as u64);
        }
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A reader of the uncompressed bytes of a layer blob, and the compression it was in:
/// `Detect` looks at the magic bytes (and gives them back in front of the rest).
pub fn decoder<'a, R: Read + 'a>(
    mut blob: R,
    compression: Compression,
) -> Result<(Compression, Box<dyn Read + 'a>), (Compression, io::Error)> {
    let mut magic = [0u8; 4];
    let mut have = 0;
    if compression == Compression::Detect {
        while have < magic.len() {
            match blob.read(&mut magic[have..]) {
                Ok(0) => break,
                Ok(n) => have += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((compression, e)),
            }
        }
    }
    let compression = match compression {
        Compression::Detect => Compression::from_magic(&magic[..have]),
        other => other,
    };
    let input = io::Cursor::new(magic[..have].to_vec()).chain(blob);
    let decoder: Box<dyn Read + 'a> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            CHUNK, input,
        ))),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(input).map_err(|e| (compression, e))?)
        }
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(
            BufReader::with_capacity(CHUNK, input),
        )),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(
            BufReader::with_capacity(CHUNK, input),
        )),
        Compression::None | Compression::Detect => Box::new(input),
    };
    Ok((compression, decoder))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// The one decoder reads what SmartOS image files hold (several streams, as `cat a.bz2
    /// b.bz2` makes) besides what layers hold.
    #[test]
    fn bzip2_and_xz_streams_decode_whole() {
        let mut bz = Vec::new();
        for part in [&b"first "[..], b"second"] {
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            encoder.write_all(part).unwrap();
            bz.extend(encoder.finish().unwrap());
        }
        let mut xz = Vec::new();
        for part in [&b"first "[..], b"second"] {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
            encoder.write_all(part).unwrap();
            xz.extend(encoder.finish().unwrap());
        }
        for (compression, bytes) in [(Compression::Bzip2, bz), (Compression::Xz, xz)] {
            let (named, mut reader) = decoder(&bytes[..], compression)
                .map_err(|(_, e)| e)
                .unwrap();
            assert_eq!(named, compression);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"first second", "{compression}");
        }
    }
}
