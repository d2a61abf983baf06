//! Linux: parents resolved inside the root by `pathrs` (`openat2(RESOLVE_IN_ROOT)`), last
//! components handled with `*at` calls on the parent's descriptor that never follow them.

mod entries;
mod overlay;
mod primitives;
mod tree;

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use pathrs::flags::OpenFlags;
use pathrs::Root;
use rustix::fs::XattrFlags;
use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Ctx, Meta, Node, Target, Time};
use crate::path::RelPath;
use crate::{ApplyOptions, ErrorKind, Ownership, WhiteoutMode};
use primitives::{is, is_errno, lstat_at, os, path, pathrs_io, timestamps, OVERLAY_OPAQUE};

/// Buffer for file contents.
const COPY_BUFFER: usize = 1024 * 1024;

pub(crate) fn open(root: &Path, options: &ApplyOptions) -> Result<Box<dyn Target>, ErrorKind> {
    let open_err = |source: io::Error| ErrorKind::OpenRoot {
        path: root.display().to_string(),
        source,
    };
    let handle = Root::open(root).map_err(|e| open_err(pathrs_io(e)))?;
    let root_dir = rfs::openat(
        &handle,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| open_err(e.into()))?;
    let mut lowers = Vec::new();
    if options.whiteouts == WhiteoutMode::Overlay {
        for lower in &options.overlay_lowers {
            lowers.push(Root::open(lower).map_err(|e| ErrorKind::OpenRoot {
                path: lower.display().to_string(),
                source: pathrs_io(e),
            })?);
        }
    }
    Ok(Box::new(Linux {
        lowers,
        copy_owner: options.ownership != Ownership::Ignore,
        root: handle,
        root_dir: Rc::new(root_dir),
        whiteouts: options.whiteouts,
        cache: None,
        deferred: Vec::new(),
        buf: vec![0; COPY_BUFFER],
        implied_dirs: 0,
    }))
}

struct Linux {
    root: Root,
    /// Overlay mode: the lower layers' upper directories, topmost first, for copy-up.
    lowers: Vec<Root>,
    /// Whether copied-up files keep their owners.
    copy_owner: bool,
    /// The root opened for reading, for `*at` calls and listing.
    root_dir: Rc<OwnedFd>,
    whiteouts: WhiteoutMode,
    /// The last parent directory resolved; dropped whenever anything is removed.
    cache: Option<(RelPath, Rc<OwnedFd>)>,
    /// Directories whose mode and times are set at the end.
    deferred: Vec<Deferred>,
    buf: Vec<u8>,
    /// Overlay mode: parent directories created (0755) that no lower layer given has.
    implied_dirs: u64,
}

/// A directory's mode and times, set after the layer's last entry; the inode is remembered
/// so that a later entry replacing the directory is not given its metadata.
struct Deferred {
    path: RelPath,
    dev: u64,
    ino: u64,
    mode: u32,
    atime: Time,
    mtime: Time,
}

impl Target for Linux {
    fn put(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        full: &RelPath,
        node: &Node<'_>,
        meta: &Meta,
        data: &mut dyn Read,
    ) -> Result<u64, ErrorKind> {
        let (parent, name) = full.split();
        if name.is_empty() {
            // The root itself: only a directory entry (`./`) can stand for it.
            return match node {
                Node::Dir => {
                    let fd = self.root_dir.clone();
                    self.dir_meta(ctx, fd.as_fd(), full, meta)?;
                    Ok(0)
                }
                _ => Err(ErrorKind::InvalidEntry(
                    "only a directory entry can stand for the root".into(),
                )),
            };
        }
        self.parents_from_lowers(ctx, &parent)?;
        let dir = self.dir(&parent)?;
        let dir = dir.as_fd();
        let existing = lstat_at(dir, name).map_err(|e| ErrorKind::fs("stat", e))?;
        match node {
            Node::Dir => {
                self.put_dir(ctx, dir, full, name, existing, meta)?;
                return Ok(0);
            }
            Node::Hardlink(target) => {
                self.put_hardlink(ctx, dir, name, existing, target)?;
                return Ok(0);
            }
            _ => {}
        }
        if let Some(st) = existing {
            self.remove(dir, name, &st)?;
        }
        let (ty, dev) = match *node {
            Node::File { size } => return self.put_file(ctx, dir, name, size, meta, data),
            Node::Symlink(target) => {
                rfs::symlinkat(os(target), dir, os(name))
                    .map_err(|e| ErrorKind::fs("creating the symlink", e))?;
                self.meta_at(ctx, dir, name, FileType::Symlink, meta)?;
                return Ok(0);
            }
            Node::CharDevice { major, minor } => {
                (FileType::CharacterDevice, rfs::makedev(major, minor))
            }
            Node::BlockDevice { major, minor } => {
                (FileType::BlockDevice, rfs::makedev(major, minor))
            }
            Node::Fifo => (FileType::Fifo, 0),
            Node::Dir | Node::Hardlink(_) => unreachable!("handled above"),
        };
        rfs::mknodat(dir, os(name), ty, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| ErrorKind::fs("creating the special file", e))?;
        self.meta_at(ctx, dir, name, ty, meta)?;
        Ok(0)
    }

    fn whiteout(&mut self, ctx: &mut Ctx<'_, '_>, full: &RelPath) -> Result<(), ErrorKind> {
        let (parent, name) = full.split();
        match self.whiteouts {
            WhiteoutMode::Delete => {
                let Some(dir) = self.existing_dir(&parent)? else {
                    return Ok(());
                };
                let Some(st) = lstat_at(dir.as_fd(), name).map_err(|e| ErrorKind::fs("stat", e))?
                else {
                    return Ok(());
                };
                self.prune(ctx, dir.as_fd(), full, name, &st)
            }
            WhiteoutMode::Overlay => {
                self.parents_from_lowers(ctx, &parent)?;
                let dir = self.dir(&parent)?;
                match lstat_at(dir.as_fd(), name).map_err(|e| ErrorKind::fs("stat", e))? {
                    // This layer has put a directory there: hide the lower one's content.
                    Some(st) if is(&st, FileType::Directory) => {
                        let fd = rfs::openat(
                            dir.as_fd(),
                            os(name),
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|e| ErrorKind::fs("opening the directory", e))?;
                        rfs::fsetxattr(&fd, os(OVERLAY_OPAQUE), b"y", XattrFlags::empty())
                            .map_err(|e| ErrorKind::fs("marking the directory opaque", e))
                    }
                    // This layer has put something else there, which hides the lower one.
                    Some(_) => Ok(()),
                    None => rfs::mknodat(
                        dir.as_fd(),
                        os(name),
                        FileType::CharacterDevice,
                        Mode::empty(),
                        0,
                    )
                    .map_err(|e| ErrorKind::fs("creating the overlay whiteout (char 0:0)", e)),
                }
            }
        }
    }

    fn opaque(&mut self, ctx: &mut Ctx<'_, '_>, dir: &RelPath) -> Result<(), ErrorKind> {
        match self.whiteouts {
            WhiteoutMode::Delete => {
                let Some(handle) = self.existing_dir(dir)? else {
                    return Ok(());
                };
                let fd = rfs::openat(
                    &handle,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| ErrorKind::fs("opening the opaque directory", e))?;
                self.prune_children(ctx, fd.as_fd(), dir)
            }
            WhiteoutMode::Overlay => {
                self.parents_from_lowers(ctx, dir)?;
                let fd = self.dir(dir)?;
                rfs::fsetxattr(&*fd, os(OVERLAY_OPAQUE), b"y", XattrFlags::empty())
                    .map_err(|e| ErrorKind::fs("marking the directory opaque", e))
            }
        }
    }

    fn implied_dirs(&self) -> u64 {
        self.implied_dirs
    }

    fn finish(&mut self, _ctx: &mut Ctx<'_, '_>) -> Result<(), ErrorKind> {
        let deferred = std::mem::take(&mut self.deferred);
        let mut done = HashSet::new();
        // Deepest (latest created) first, so an unprivileged user can still reach them; the
        // last record for an inode is the one that counts.
        for d in deferred.iter().rev() {
            if !done.insert((d.dev, d.ino)) {
                continue;
            }
            let fd: OwnedFd = if d.path.is_root() {
                self.root_dir
                    .try_clone()
                    .map_err(|e| ErrorKind::fs("duplicating the root descriptor", e))?
            } else {
                match self.root.resolve_nofollow(path(d.path.bytes())) {
                    Ok(handle) => {
                        let st = rfs::fstat(&handle).map_err(|e| ErrorKind::fs("stat", e))?;
                        // Replaced since (the inode number may even have been reused).
                        if st.st_dev != d.dev || st.st_ino != d.ino || !is(&st, FileType::Directory)
                        {
                            continue;
                        }
                        handle
                            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
                            .map_err(|e| ErrorKind::fs("opening a directory", pathrs_io(e)))?
                            .into()
                    }
                    Err(e) if is_errno(&e, &[Errno::NOENT, Errno::NOTDIR, Errno::LOOP]) => continue,
                    Err(e) => return Err(ErrorKind::fs("resolving a directory", pathrs_io(e))),
                }
            };
            rfs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .map_err(|e| ErrorKind::fs("changing a directory's mode", e))?;
            rfs::futimens(&fd, &timestamps(d.atime, d.mtime))
                .map_err(|e| ErrorKind::fs("setting a directory's times", e))?;
        }
        Ok(())
    }
}
