//! Packing: a filesystem's changes written as one OCI layer (a tar stream, compressed), with
//! its diff ID and blob digest computed while it is written.
//!
//! The changes come from a [`ChangeSource`]: an overlayfs upper directory (the driver already
//! knows what changed), two trees to compare (a container and the layer it was cloned from),
//! or one whole tree. The walk (`diff`, Linux only) turns them into [`Entry`]s; this module
//! writes them as tar: ustar headers, GNU long names where a path needs one, PAX records for
//! xattrs, whiteouts as `.wh.NAME` and opaque directories as `.wh..wh..opq`, as the image
//! spec's "Representing Changes" describes.
//!
//! The tar is built and hashed (diff ID) on one thread and compressed and hashed (digest) on
//! another, with a bounded queue between them, so memory stays bounded for any layer size.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use aurora_spec::{Digest, Hasher};

use crate::entry::{ChangeSource, Entry, Meta};
use crate::options::Compression;
use crate::path::{RelPath, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::{Error, ErrorKind};

/// Bytes per chunk handed from the tar thread to the compressing one.
const CHUNK: usize = 256 * 1024;

/// Chunks in flight between the two threads.
const QUEUE: usize = 16;

/// How to pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// `None`, `Gzip` or `Zstd` (`Detect` packs as gzip).
    pub compression: Compression,
    /// Compression level; `None` for the compressor's default.
    pub level: Option<i32>,
    /// Same tree, same bytes: every mtime clamped to at most this many seconds since the
    /// epoch (`SOURCE_DATE_EPOCH`, or 0). Entries are always sorted and gzip headers always
    /// fixed (no name, mtime 0), so this is what reproducible builds add.
    pub clamp_mtime: Option<i64>,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            compression: Compression::Gzip,
            level: None,
            clamp_mtime: None,
        }
    }
}

impl PackOptions {
    /// The layer media type for this compression.
    pub fn media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => aurora_spec::media::OCI_LAYER_TAR,
            Compression::Zstd => aurora_spec::media::OCI_LAYER_ZSTD,
            Compression::Gzip | Compression::Detect => aurora_spec::media::OCI_LAYER_GZIP,
            // Never written: [`pack_layer`] refuses them (no layer media type names them).
            Compression::Bzip2 => "application/vnd.oci.image.layer.v1.tar+bzip2",
            Compression::Xz => "application/vnd.oci.image.layer.v1.tar+xz",
        }
    }
}

/// What a pack wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackReport {
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Digest and size of the compressed blob (the manifest's layer descriptor).
    pub digest: Digest,
    pub size: u64,
    /// Entries written (files, directories, links, …), of which whiteouts and opaque markers.
    pub entries: u64,
    pub whiteouts: u64,
    /// Bytes of regular file contents.
    pub file_bytes: u64,
}

/// Packs the changes `source` names into `out`. Returns the report and the writer.
pub fn pack_layer<W: Write + Send>(
    source: &ChangeSource,
    out: W,
    options: &PackOptions,
) -> Result<(PackReport, W), Error> {
    let label = source_label(source);
    if matches!(options.compression, Compression::Bzip2 | Compression::Xz) {
        return Err(Error::new(
            &label,
            None,
            ErrorKind::Unsupported(format!(
                "packing a layer with {} (no layer media type names it: use gzip, zstd or none)",
                options.compression
            )),
        ));
    }
    let fail = |e: io::Error| Error::new(&label, None, ErrorKind::Pack(e));
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
    std::thread::scope(|scope| {
        let compressing = scope.spawn(move || compress(receiver, out, options));
        let mut tar = TarWriter::new(ChunkSender::new(sender), options.clamp_mtime);
        let walked = crate::diff::walk(source, &mut |entry| tar.append(entry));
        let finished = walked.and_then(|()| tar.finish());
        // The sender is dropped with the tar writer, which ends the compressing thread.
        let compressed = compressing
            .join()
            .map_err(|_| fail(io::Error::other("the compressor panicked")))?;
        let (counts, diff_id) = finished.map_err(fail)?;
        let (digest, size, out) = compressed.map_err(fail)?;
        let report = PackReport {
            diff_id,
            digest,
            size,
            entries: counts.entries,
            whiteouts: counts.whiteouts,
            file_bytes: counts.file_bytes,
        };
        Ok((report, out))
    })
}

fn source_label(source: &ChangeSource) -> String {
    match source {
        ChangeSource::OverlayUpper(upper) => upper.display().to_string(),
        ChangeSource::Trees { changed, .. } => changed.display().to_string(),
        ChangeSource::Tree(root) => root.display().to_string(),
    }
}

/// The compressing thread: chunks in, compressed bytes hashed and counted out.
fn compress<W: Write>(
    chunks: mpsc::Receiver<Vec<u8>>,
    out: W,
    options: &PackOptions,
) -> io::Result<(Digest, u64, W)> {
    let hashed = HashingWriter::new(out);
    let mut encoder: Box<dyn Encoder<W>> = match options.compression {
        Compression::None => Box::new(Plain(hashed)),
        Compression::Zstd => {
            let level = options.level.unwrap_or(zstd::DEFAULT_COMPRESSION_LEVEL);
            Box::new(zstd::stream::write::Encoder::new(hashed, level)?)
        }
        Compression::Bzip2 | Compression::Xz => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} layers are not written", options.compression),
            ))
        }
        Compression::Gzip | Compression::Detect => {
            let level = options.level.map_or(flate2::Compression::default(), |l| {
                flate2::Compression::new(l.clamp(0, 9) as u32)
            });
            // No file name and mtime 0: the header is the same for the same bytes.
            Box::new(flate2::GzBuilder::new().mtime(0).write(hashed, level))
        }
    };
    // A closed channel is how the tar thread says it is done (or failed; then the caller
    // drops what this returns).
    for chunk in chunks {
        encoder.write_all(&chunk)?;
    }
    let hashed = encoder.finish_encoder()?;
    hashed.finish()
}

/// A compressor that can be finished behind a trait object.
trait Encoder<W: Write>: Write {
    fn finish_encoder(self: Box<Self>) -> io::Result<HashingWriter<W>>;
}

struct Plain<W: Write>(HashingWriter<W>);

impl<W: Write> Write for Plain<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Encoder<W> for Plain<W> {
    fn finish_encoder(self: Box<Self>) -> io::Result<HashingWriter<W>> {
        Ok(self.0)
    }
}

impl<W: Write> Encoder<W> for flate2::write::GzEncoder<HashingWriter<W>> {
    fn finish_encoder(self: Box<Self>) -> io::Result<HashingWriter<W>> {
        (*self).finish()
    }
}

impl<W: Write> Encoder<W> for zstd::stream::write::Encoder<'static, HashingWriter<W>> {
    fn finish_encoder(self: Box<Self>) -> io::Result<HashingWriter<W>> {
        (*self).finish()
    }
}

/// Hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::sha256(),
            bytes: 0,
        }
    }

    fn finish(mut self) -> io::Result<(Digest, u64, W)> {
        self.inner.flush()?;
        let digest = self
            .hasher
            .finish()
            .parse()
            .map_err(|e| io::Error::other(format!("digest: {e}")))?;
        Ok((digest, self.bytes, self.inner))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Collects tar bytes into chunks for the compressing thread.
struct ChunkSender {
    sender: mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn new(sender: mpsc::SyncSender<Vec<u8>>) -> Self {
        ChunkSender {
            sender,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.sender
            .send(full)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the compressor stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    entries: u64,
    whiteouts: u64,
    file_bytes: u64,
}

/// Writes entries as tar and hashes the tar (the diff ID).
struct TarWriter {
    builder: tar::Builder<HashingWriter<ChunkSender>>,
    clamp_mtime: Option<i64>,
    counts: Counts,
}

impl TarWriter {
    fn new(out: ChunkSender, clamp_mtime: Option<i64>) -> Self {
        let mut builder = tar::Builder::new(HashingWriter::new(out));
        builder.mode(tar::HeaderMode::Complete);
        TarWriter {
            builder,
            clamp_mtime,
            counts: Counts::default(),
        }
    }

    fn finish(self) -> io::Result<(Counts, Digest)> {
        let counts = self.counts;
        let hashed = self.builder.into_inner()?;
        let (diff_id, _, mut chunks) = hashed.finish()?;
        chunks.flush()?;
        Ok((counts, diff_id))
    }

    fn append(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.counts.entries += 1;
        match entry {
            Entry::Dir(path, meta) => {
                let mut name = path.bytes().to_vec();
                name.push(b'/');
                self.plain(&name, meta, tar::EntryType::Directory, 0)
            }
            Entry::File(path, meta, contents) => {
                let header = self.header(meta, tar::EntryType::Regular, meta.size)?;
                self.counts.file_bytes += meta.size;
                let mut exact = ExactReader {
                    inner: contents.take(meta.size),
                    left: meta.size,
                };
                self.builder
                    .append_data(&mut { header }, as_path(path.bytes())?, &mut exact)
            }
            Entry::Symlink(path, meta, target) => {
                let mut header = self.header(meta, tar::EntryType::Symlink, 0)?;
                self.builder
                    .append_link(&mut header, as_path(path.bytes())?, as_path(target)?)
            }
            Entry::Hardlink(path, meta, target) => {
                let mut header = self.header(meta, tar::EntryType::Link, 0)?;
                self.builder.append_link(
                    &mut header,
                    as_path(path.bytes())?,
                    as_path(target.bytes())?,
                )
            }
            Entry::CharDevice(path, meta) => {
                self.plain(path.bytes(), meta, tar::EntryType::Char, 0)
            }
            Entry::BlockDevice(path, meta) => {
                self.plain(path.bytes(), meta, tar::EntryType::Block, 0)
            }
            Entry::Fifo(path, meta) => self.plain(path.bytes(), meta, tar::EntryType::Fifo, 0),
            Entry::Whiteout(dir, name) => {
                self.counts.whiteouts += 1;
                let mut marker = WHITEOUT_PREFIX.to_vec();
                marker.extend_from_slice(name);
                self.marker(&dir.join(&marker))
            }
            Entry::Opaque(dir) => {
                self.counts.whiteouts += 1;
                self.marker(&dir.join(OPAQUE_MARKER))
            }
        }
    }

    /// An entry without contents.
    fn plain(
        &mut self,
        name: &[u8],
        meta: &Meta,
        kind: tar::EntryType,
        size: u64,
    ) -> io::Result<()> {
        let mut header = self.header(meta, kind, size)?;
        self.builder
            .append_data(&mut header, as_path(name)?, io::empty())
    }

    /// A whiteout or opaque marker: an empty regular file owned by root, as Docker writes them.
    fn marker(&mut self, path: &RelPath) -> io::Result<()> {
        let meta = Meta {
            mtime: 0,
            ..Meta::default()
        };
        self.plain(path.bytes(), &meta, tar::EntryType::Regular, 0)
    }

    /// The header for `meta`, after writing its xattrs as a PAX record.
    fn header(&mut self, meta: &Meta, kind: tar::EntryType, size: u64) -> io::Result<tar::Header> {
        if !meta.xattrs.is_empty() {
            let keys: Vec<(String, &[u8])> = meta
                .xattrs
                .iter()
                .map(|(name, value)| (format!("SCHILY.xattr.{name}"), value.as_slice()))
                .collect();
            self.builder
                .append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(meta.mode & 0o7777);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        let mtime = match self.clamp_mtime {
            Some(clamp) => meta.mtime.min(clamp),
            None => meta.mtime,
        };
        header.set_mtime(mtime.max(0) as u64);
        header.set_size(size);
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            header.set_device_major(meta.rdev_major)?;
            header.set_device_minor(meta.rdev_minor)?;
        }
        Ok(header)
    }
}

/// File names are bytes on Unix; tar's API wants paths.
fn as_path(bytes: &[u8]) -> io::Result<&std::path::Path> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(std::path::Path::new)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Reads exactly `left` bytes: a file that shrank while it was read is an error (the tar
/// header already promised its size), never a short entry that would corrupt the stream.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "a file shrank by {} bytes while it was packed (is the container running?)",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_shrinks_while_it_is_read_fails_instead_of_cutting_the_entry_short() {
        let mut short = ExactReader {
            inner: &b"only seven"[..7],
            left: 10,
        };
        let mut out = Vec::new();
        let error = short.read_to_end(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(error.to_string().contains("shrank by 3 bytes"), "{error}");
        let mut exact = ExactReader {
            inner: &b"exactly"[..],
            left: 7,
        };
        out.clear();
        exact.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"exactly");
    }

    #[test]
    fn bzip2_and_xz_are_read_but_never_packed() {
        let root = tempfile::tempdir().unwrap();
        for compression in [Compression::Bzip2, Compression::Xz] {
            let options = PackOptions {
                compression,
                ..PackOptions::default()
            };
            let source = ChangeSource::Tree(root.path().to_path_buf());
            let error = pack_layer(&source, Vec::new(), &options).unwrap_err();
            assert!(
                matches!(error.kind, ErrorKind::Unsupported(_)),
                "{compression}: {error}"
            );
        }
    }

    #[test]
    fn media_types_follow_the_compression() {
        let with = |compression| PackOptions {
            compression,
            ..PackOptions::default()
        };
        assert_eq!(
            PackOptions::default().media_type(),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(
            with(Compression::Zstd).media_type(),
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        assert_eq!(
            with(Compression::None).media_type(),
            "application/vnd.oci.image.layer.v1.tar"
        );
    }
}
