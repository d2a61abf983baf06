//! The filesystem side, behind a narrow trait: the tar-level logic (names, whiteout roles,
//! ownership mapping, counting) is portable; creating, replacing and removing inodes inside
//! the root is per platform.

use std::io::Read;
use std::path::Path;

use crate::path::{LayerPaths, RelPath};
use crate::{ApplyOptions, ErrorKind};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod unsupported;

/// What an entry makes.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    File {
        size: u64,
    },
    Dir,
    Symlink(&'a [u8]),
    /// Another name for an existing (earlier) entry.
    Hardlink(&'a RelPath),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// A point in time as tar headers give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Time {
    pub(crate) secs: i64,
    pub(crate) nanos: u32,
}

/// An entry's metadata, ids already mapped.
#[derive(Debug)]
pub(crate) struct Meta {
    /// `None` leaves the owner alone.
    pub(crate) owner: Option<(u32, u32)>,
    /// Permission bits including setuid, setgid and sticky (`& 0o7777`).
    pub(crate) mode: u32,
    pub(crate) atime: Time,
    pub(crate) mtime: Time,
    /// `(name, value)` from `SCHILY.xattr.NAME` PAX records.
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Collects warnings for the report and logs them.
pub(crate) struct Warnings<'a> {
    pub(crate) label: &'a str,
    pub(crate) list: Vec<String>,
    pub(crate) count: u64,
}

impl Warnings<'_> {
    pub(crate) fn warn(&mut self, message: String) {
        tracing::warn!(layer = %self.label, "{message}");
        self.count += 1;
        if self.list.len() < crate::ApplyReport::MAX_WARNINGS {
            self.list.push(message);
        }
    }
}

/// What the target needs to know about the layer so far.
pub(crate) struct Ctx<'a, 'w> {
    pub(crate) layer_paths: &'a LayerPaths,
    pub(crate) warnings: &'a mut Warnings<'w>,
    /// The entry being applied, for warnings (empty after the last one).
    pub(crate) entry: &'a str,
}

impl Ctx<'_, '_> {
    pub(crate) fn warn(&mut self, message: String) {
        if self.entry.is_empty() {
            self.warnings.warn(message);
        } else {
            self.warnings
                .warn(format!("entry {:?}: {message}", self.entry));
        }
    }
}

/// One root directory receiving one layer.
pub(crate) trait Target {
    /// Creates the entry at `path`, replacing whatever is there unless both are directories.
    /// Returns the bytes of file contents written.
    fn put(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        path: &RelPath,
        node: &Node<'_>,
        meta: &Meta,
        data: &mut dyn Read,
    ) -> Result<u64, ErrorKind>;

    /// Hides `path` of the lower layers.
    fn whiteout(&mut self, ctx: &mut Ctx<'_, '_>, path: &RelPath) -> Result<(), ErrorKind>;

    /// Hides everything the lower layers have in `dir`.
    fn opaque(&mut self, ctx: &mut Ctx<'_, '_>, dir: &RelPath) -> Result<(), ErrorKind>;

    /// After the last entry: directories' modes and times.
    fn finish(&mut self, ctx: &mut Ctx<'_, '_>) -> Result<(), ErrorKind>;

    /// Overlay mode: parent directories made with default attributes because no lower layer
    /// given has them.
    fn implied_dirs(&self) -> u64 {
        0
    }
}

/// The target for this platform.
pub(crate) fn open(root: &Path, options: &ApplyOptions) -> Result<Box<dyn Target>, ErrorKind> {
    #[cfg(target_os = "linux")]
    {
        linux::open(root, options)
    }
    #[cfg(not(target_os = "linux"))]
    {
        unsupported::open(root, options)
    }
}
