//! `buildhelper extract ARCHIVE DEST`: a tar (plain, gzip, xz, bzip2 or zstd) or zip archive
//! unpacked under `DEST`, safely.
//!
//! * The format is told by the first bytes, never by the name: gzip `1f 8b`, zstd
//!   `28 b5 2f fd`, xz `fd 37 7a 58 5a 00`, bzip2 `BZh`, zip `PK\3\4` (or `PK\5\6`, empty);
//!   anything else is read as a plain tar. Decompression is aurora-layers' one decoder.
//!   `ARCHIVE` may be `-` (standard input) for tar; zip needs a file.
//! * Names: absolute ones, `..` components, NUL bytes (and backslashes in zip names) are
//!   refused with an error naming the archive and the entry; `--strip-components N` removes
//!   the first N components (as GNU tar counts them); an entry left with nothing, or naming
//!   `DEST` itself (`./`), is skipped: an archive does not change `DEST`'s own owner or mode.
//! * Writing: see [`dest`] — every parent resolved inside `DEST` by the kernel (`pathrs`,
//!   `openat2(RESOLVE_IN_ROOT)`); symlinks the archive made never followed; hardlinks only
//!   to what is already inside `DEST`; nothing written through what is in the way.
//! * Owners: kept (numeric, as in the headers) when running as root, unless
//!   `--no-same-owner`; otherwise files belong to the user extracting. Zip entries always
//!   do. Modes (with setuid, setgid, sticky) and modification times are kept.
//! * Bounds: a plain tar entry declaring more data than the archive has left is refused
//!   before anything is written; any entry whose data ends early fails (and its partial file
//!   is removed); the declared sizes of all files together may not exceed `--max-bytes`
//!   ([`DEFAULT_MAX_BYTES`], 16 GiB), each checked before the file is written; headers of
//!   one tar entry are capped at 1 MiB.
//! * Not done (as GNU tar without `--xattrs`): extended attributes, ACLs, file
//!   capabilities. Devices are made only as root; others are skipped with a warning.
//!
//! On an error, what was extracted before stays: the build step fails, and its container
//! is discarded.

mod dest;
mod paths;
mod tarball;
mod zipfile;

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use aurora_layers::{decoder, Compression};

pub use tarball::MAX_HEADER_BYTES;

/// `--max-bytes` unless given: 16 GiB of file data.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;

/// How to extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    pub strip_components: usize,
    /// `lchown` to the headers' owners (root only; `--no-same-owner` turns it off).
    pub same_owner: bool,
    pub max_bytes: u64,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            strip_components: 0,
            same_owner: rustix::process::geteuid().is_root(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What the first bytes say the archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar(Compression),
    Zip,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Zip => f.write_str("zip"),
            Format::Tar(Compression::None) => f.write_str("tar"),
            Format::Tar(c) => write!(f, "tar+{c}"),
        }
    }
}

/// The format the first bytes of an archive show (at least 6 of them, when it has them).
pub fn detect(head: &[u8]) -> Format {
    let tar = |c| Format::Tar(c);
    if head.starts_with(&[0x1f, 0x8b]) {
        tar(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        tar(Compression::Zstd)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        tar(Compression::Xz)
    } else if head.starts_with(b"BZh") {
        tar(Compression::Bzip2)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Format::Zip
    } else {
        tar(Compression::None)
    }
}

/// What an extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// `tar+gzip`, `zip`, …
    pub format: String,
    pub entries: u64,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// FIFOs and devices.
    pub specials: u64,
    pub skipped: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// At most [`Report::MAX_WARNINGS`]; `warning_count` counts them all.
    pub warnings: Vec<String>,
    pub warning_count: u64,
}

impl Report {
    pub const MAX_WARNINGS: usize = 100;

    fn warn(&mut self, text: String) {
        self.warning_count += 1;
        if self.warnings.len() < Self::MAX_WARNINGS {
            self.warnings.push(text);
        }
    }
}

/// The file data still allowed by `--max-bytes`.
pub struct Budget {
    limit: u64,
    used: u64,
}

impl Budget {
    fn charge(&mut self, declared: u64) -> Result<(), ErrorKind> {
        match self.used.checked_add(declared) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(ErrorKind::TooLarge {
                declared,
                used: self.used,
                limit: self.limit,
            }),
        }
    }
}

/// An archive that was not extracted whole: which archive, which entry (when one is at
/// fault), and why.
#[derive(Debug)]
pub struct ExtractError {
    /// The archive as given, with its format once known (`app.tgz (tar+gzip)`).
    pub archive: String,
    pub entry: Option<String>,
    pub kind: ErrorKind,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(entry) => write!(f, "{}: entry {entry:?}: {}", self.archive, self.kind),
            None => write!(f, "{}: {}", self.archive, self.kind),
        }
    }
}

impl std::error::Error for ExtractError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// Why an archive or entry was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot open: {0}")]
    Open(io::Error),
    #[error("cannot open or create the destination {path}: {source}")]
    Dest { path: String, source: io::Error },
    #[error(
        "a zip archive must be a file (it is read from its end), not standard input or a pipe"
    )]
    ZipNotAFile,
    #[error("does not hold a tar archive (known: tar, plain or compressed with gzip, xz, bzip2 or zstd, and zip): {0}")]
    NotTar(io::Error),
    #[error("cannot decompress: {0}")]
    Decompress(io::Error),
    #[error("reading the archive: {0}")]
    Read(io::Error),
    #[error("bad entry header{}: {source}", after.as_ref().map(|a| format!(" after entry {a:?}")).unwrap_or_default())]
    Header {
        after: Option<String>,
        source: io::Error,
    },
    #[error("the headers of one entry (long names, PAX records) exceed {limit} bytes")]
    HeadersTooLarge { limit: u64 },
    #[error("bad header field {field}: {source}")]
    BadField {
        field: &'static str,
        source: io::Error,
    },
    #[error("{0}")]
    Zip(zip::result::ZipError),
    #[error("empty name")]
    EmptyName,
    #[error("NUL byte in the name")]
    NulInName,
    #[error("absolute name refused: entries are extracted relative to the destination")]
    Absolute,
    #[error("`..` in the name refused: entries may not climb out of the destination")]
    DotDot,
    #[error("backslash in a zip name refused (a Windows separator, or a trick)")]
    Backslash,
    #[error("goes through {0:?}, a symlink this archive created: refusing to follow it")]
    ThroughSymlink(String),
    #[error("empty or invalid symlink target")]
    BadSymlinkTarget,
    #[error("hardlink without a target")]
    NoLinkTarget,
    #[error("hardlink target {target:?} refused: {reason}")]
    LinkTarget {
        target: String,
        reason: Box<ErrorKind>,
    },
    #[error("hardlink target {0:?} is removed whole by --strip-components")]
    LinkTargetStripped(String),
    #[error("hardlink target {0:?} does not exist in the destination (hardlinks may only point at entries already extracted there)")]
    LinkTargetMissing(String),
    #[error("hardlink target {0:?} is a directory")]
    LinkToDirectory(String),
    #[error("declares {declared} bytes of data but only {left} bytes of the archive follow")]
    BeyondArchive { declared: u64, left: u64 },
    #[error("declares {declared} bytes: with {used} bytes already extracted that exceeds the limit of {limit} bytes (--max-bytes)")]
    TooLarge {
        declared: u64,
        used: u64,
        limit: u64,
    },
    #[error("data ends after {got} of its {declared} bytes")]
    Truncated { got: u64, declared: u64 },
    #[error("holds more data than the {declared} bytes it declares")]
    Overlong { declared: u64 },
    #[error("a directory that is not empty is in the way")]
    DirectoryInTheWay,
    #[error("the entry just created is gone or changed")]
    Vanished,
    #[error("{what}: {source}")]
    Fs {
        what: &'static str,
        source: io::Error,
    },
}

/// Up to 6 bytes from the start of `r` (fewer only at its end).
fn read_head(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; 6];
    let mut have = 0;
    while have < head.len() {
        match r.read(&mut head[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(have);
    Ok(head)
}

/// Extracts `archive` (a path, or `-` for standard input) under `dest`, creating `dest`
/// (and its parents) when missing.
pub fn extract(
    archive: &Path,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<Report, ExtractError> {
    let stdin = archive == Path::new("-");
    let mut label = if stdin {
        "standard input".to_string()
    } else {
        archive.display().to_string()
    };
    let fail = |label: &str, entry: Option<String>, kind| ExtractError {
        archive: label.to_string(),
        entry,
        kind,
    };

    // The archive: its first bytes, and the rest of it to read after them.
    let mut file = if stdin {
        None
    } else {
        Some(File::open(archive).map_err(|e| fail(&label, None, ErrorKind::Open(e)))?)
    };
    let regular_len = match &file {
        Some(f) => {
            let meta = f
                .metadata()
                .map_err(|e| fail(&label, None, ErrorKind::Open(e)))?;
            meta.is_file().then_some(meta.len())
        }
        None => None,
    };
    // Locked only when read: the lock is process-wide.
    let mut stdin_lock = stdin.then(|| io::stdin().lock());
    let head = match (file.as_mut(), stdin_lock.as_mut()) {
        (Some(f), _) => read_head(f),
        (None, Some(lock)) => read_head(lock),
        (None, None) => Ok(Vec::new()),
    }
    .map_err(|e| fail(&label, None, ErrorKind::Open(e)))?;
    let format = detect(&head);
    label = format!("{label} ({format})");

    std::fs::create_dir_all(dest).map_err(|source| {
        let path = dest.display().to_string();
        fail(&label, None, ErrorKind::Dest { path, source })
    })?;
    // Zip keeps no portable owner: its files are the extracting user's.
    let same_owner = options.same_owner && format != Format::Zip;
    let mut writer = dest::Dest::open(dest, same_owner).map_err(|source| {
        let path = dest.display().to_string();
        fail(&label, None, ErrorKind::Dest { path, source })
    })?;
    let mut budget = Budget {
        limit: options.max_bytes,
        used: 0,
    };
    let mut report = Report {
        format: format.to_string(),
        ..Report::default()
    };
    let strip = options.strip_components;

    let done = match (format, file) {
        (Format::Zip, Some(mut f)) if regular_len.is_some() => {
            let len = regular_len.unwrap_or_default();
            f.seek(SeekFrom::Start(0))
                .map_err(|e| fail(&label, None, ErrorKind::Open(e)))?;
            zipfile::extract(f, len, &mut writer, strip, &mut budget, &mut report)
        }
        (Format::Zip, _) => Err((None, ErrorKind::ZipNotAFile)),
        (Format::Tar(compression), file) => {
            let rest: Box<dyn Read> = match (file, stdin_lock) {
                (Some(f), _) => Box::new(f),
                (None, Some(lock)) => Box::new(lock),
                (None, None) => Box::new(io::empty()),
            };
            let input = io::BufReader::with_capacity(256 * 1024, Cursor::new(head).chain(rest));
            let (_, stream) = decoder(input, compression)
                .map_err(|(_, e)| fail(&label, None, ErrorKind::Decompress(e)))?;
            let source = tarball::Source {
                stream,
                plain_len: regular_len.filter(|_| compression == Compression::None),
            };
            tarball::extract(source, &mut writer, strip, &mut budget, &mut report)
        }
    };
    done.map_err(|(entry, kind)| fail(&label, entry, kind))?;
    writer
        .finish()
        .map_err(|(entry, kind)| fail(&label, Some(entry), kind))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_magic() {
        assert_eq!(
            detect(&[0x1f, 0x8b, 8, 0, 0, 0]),
            Format::Tar(Compression::Gzip)
        );
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
            Format::Tar(Compression::Zstd)
        );
        assert_eq!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Format::Tar(Compression::Xz)
        );
        assert_eq!(detect(b"BZh91A"), Format::Tar(Compression::Bzip2));
        assert_eq!(detect(b"PK\x03\x04\x14\x00"), Format::Zip);
        assert_eq!(detect(b"PK\x05\x06\x00\x00"), Format::Zip);
        assert_eq!(detect(b"etc/pa"), Format::Tar(Compression::None));
        assert_eq!(detect(b""), Format::Tar(Compression::None));
        assert_eq!(Format::Tar(Compression::Gzip).to_string(), "tar+gzip");
        assert_eq!(Format::Tar(Compression::None).to_string(), "tar");
    }

    #[test]
    fn budget_counts_declared_sizes() {
        let mut b = Budget { limit: 10, used: 0 };
        b.charge(6).unwrap();
        b.charge(4).unwrap();
        let err = b.charge(1).unwrap_err().to_string();
        assert_eq!(
            err,
            "declares 1 bytes: with 10 bytes already extracted that exceeds the limit of 10 bytes (--max-bytes)"
        );
        assert!(b.charge(u64::MAX).is_err());
    }
}
