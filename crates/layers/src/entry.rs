//! What packing reads: where a layer's changes come from, and the entries the walk
//! (`diff.rs`) finds there and the tar writer (`pack.rs`) writes. Its own module so that the
//! walk and the writer both depend on it and not on each other.

use std::io::Read;
use std::path::PathBuf;

use crate::path::RelPath;

/// Where a layer's changes come from.
#[derive(Debug, Clone)]
pub enum ChangeSource {
    /// An overlayfs upper directory: everything in it is a change; 0:0 character devices are
    /// whiteouts and `trusted.overlay.opaque=y` marks opaque directories.
    OverlayUpper(PathBuf),
    /// A changed tree and the tree it started as. `inodes_kept`: the changed tree is a clone
    /// (zfs, btrfs) whose unchanged files keep the inode number and ctime they had in `base`,
    /// which then decides alone; otherwise type, mode, owner, size, mtime, link target and
    /// xattrs are compared (as rsync's quick check and containers/storage do).
    Trees {
        base: PathBuf,
        changed: PathBuf,
        inodes_kept: bool,
    },
    /// Every entry of one tree (a base layer).
    Tree(PathBuf),
}

/// File metadata as a layer records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub size: u64,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// One thing the walk found to write.
pub(crate) enum Entry<'a> {
    Dir(&'a RelPath, &'a Meta),
    /// A regular file and a reader of exactly `meta.size` bytes.
    File(&'a RelPath, &'a Meta, &'a mut dyn Read),
    Symlink(&'a RelPath, &'a Meta, &'a [u8]),
    /// A second name of a file already written in this layer.
    Hardlink(&'a RelPath, &'a Meta, &'a RelPath),
    CharDevice(&'a RelPath, &'a Meta),
    BlockDevice(&'a RelPath, &'a Meta),
    Fifo(&'a RelPath, &'a Meta),
    /// `NAME` in this directory is deleted.
    Whiteout(&'a RelPath, &'a [u8]),
    /// What lower layers held in this directory is hidden.
    Opaque(&'a RelPath),
}
