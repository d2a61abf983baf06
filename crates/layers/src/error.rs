//! Errors that name the layer and, where there is one, the tar entry.

use std::fmt;
use std::io;

use crate::Compression;

/// Applying a layer failed. `layer` is the caller's label; `entry` the tar entry being
/// applied (or, for header errors, the last good entry before it).
#[derive(Debug, thiserror::Error)]
pub struct Error {
    pub layer: String,
    pub entry: Option<String>,
    #[source]
    pub kind: ErrorKind,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}", self.layer)?;
        if let Some(entry) = &self.entry {
            write!(f, ", entry {entry:?}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl Error {
    pub(crate) fn new(layer: &str, entry: Option<String>, kind: ErrorKind) -> Self {
        Error {
            layer: layer.to_string(),
            entry,
            kind,
        }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot open the root directory {path}: {source}")]
    OpenRoot { path: String, source: io::Error },
    #[error("reading the {compression} stream: {source}")]
    Decompress {
        compression: Compression,
        source: io::Error,
    },
    #[error("reading the tar stream: {0}")]
    Tar(io::Error),
    #[error("reading the header of the entry after {}: {source}", after.as_deref().unwrap_or("the start"))]
    Header {
        after: Option<String>,
        source: io::Error,
    },
    #[error("the tar stream ends inside this file ({written} of {size} bytes)")]
    Truncated { written: u64, size: u64 },
    #[error(
        "the headers (GNU long names, PAX records) of the entry after {} exceed {limit} bytes",
        after.as_deref().unwrap_or("the start")
    )]
    HeadersTooLarge { after: Option<String>, limit: u64 },
    #[error("the path climbs out of the root with '..'")]
    OutsideRoot,
    #[error("{0}")]
    InvalidEntry(String),
    #[error("hardlink target {target:?}: {source}")]
    HardlinkTarget { target: String, source: io::Error },
    #[error("{op}: {source}")]
    Fs { op: &'static str, source: io::Error },
    #[error("the uncompressed layer has diff ID {actual}, not the expected {expected}")]
    DiffIdMismatch { expected: String, actual: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("it unpacks to more than {limit} bytes, the most {scope} may unpack to (set by {setting}); stopped before writing past it")]
    TooLarge {
        /// "one layer" or "one image".
        scope: &'static str,
        limit: u64,
        setting: String,
    },
    #[error("cannot pack the changes: {0}")]
    Pack(io::Error),
}

impl ErrorKind {
    pub(crate) fn fs(op: &'static str, source: impl Into<io::Error>) -> Self {
        ErrorKind::Fs {
            op,
            source: source.into(),
        }
    }
}

/// A path for messages: lossy UTF-8, and cut short if a hostile entry made it huge.
pub(crate) fn shown(bytes: &[u8]) -> String {
    const MAX: usize = 256;
    if bytes.len() <= MAX {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!(
            "{}…({} bytes)",
            String::from_utf8_lossy(&bytes[..MAX]),
            bytes.len()
        )
    }
}
