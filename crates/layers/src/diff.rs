//! The walk behind [`crate::pack_layer`]: what changed, as entries, in a sorted, depth-first
//! order (a directory before what it holds, names by bytes), so that the same tree always
//! gives the same stream.
//!
//! The trees may belong to a container that is still running, so nothing is trusted: every
//! directory is opened relative to its parent's descriptor with `O_NOFOLLOW`, every entry is
//! `fstatat`ed without following it, files are read from a descriptor opened `O_NOFOLLOW`,
//! and a symlink is only ever read with `readlinkat`. An entry swapped for a symlink between
//! two steps makes the pack fail; it never makes it read outside the tree. Other mounts below
//! the root (another device) are not packed.
//!
//! Directories whose own metadata did not change are written only when something below them
//! is (so that the layer records their owner and mode too, as overlayfs copies them up).
//! A directory is written as opaque when it was replaced (in a clone: another inode) or none
//! of its former entries remain; otherwise each deleted name gets its own whiteout.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use crate::entry::{ChangeSource, Entry, Meta};
use crate::path::RelPath;

/// xattrs overlayfs keeps for itself: never part of a layer (they would forge whiteouts).
const OVERLAY_XATTR_PREFIXES: [&str; 2] = ["trusted.overlay.", "user.overlay."];
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

type Emit<'e> = dyn FnMut(Entry<'_>) -> io::Result<()> + 'e;

/// Walks `source`, handing each entry to `emit`.
pub(crate) fn walk(source: &ChangeSource, emit: &mut Emit<'_>) -> io::Result<()> {
    match source {
        ChangeSource::OverlayUpper(upper) => {
            let root = open_root(upper)?;
            let mut walker = Walker::new(emit, &root, false)?;
            walker.children(&root, None, &RelPath::default(), How::Upper)
        }
        ChangeSource::Tree(tree) => {
            let root = open_root(tree)?;
            let mut walker = Walker::new(emit, &root, false)?;
            walker.children(&root, None, &RelPath::default(), How::Whole)
        }
        ChangeSource::Trees {
            base,
            changed,
            inodes_kept,
        } => {
            let changed_root = open_root(changed)?;
            let base_root = open_root(base)?;
            let mut walker = Walker::new(emit, &changed_root, *inodes_kept)?;
            walker.compare(&changed_root, &base_root, &RelPath::default())
        }
    }
}

/// How a directory's entries are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Everything is new.
    Whole,
    /// An overlayfs upper directory: 0:0 character devices are whiteouts.
    Upper,
}

struct Walker<'a, 'e> {
    emit: &'a mut Emit<'e>,
    /// The directories entered, innermost last, and whether each is written yet.
    open: Vec<(RelPath, Meta, bool)>,
    /// First path written for each inode with more than one link.
    links: HashMap<(u64, u64), RelPath>,
    device: u64,
    inodes_kept: bool,
}

impl<'a, 'e> Walker<'a, 'e> {
    fn new(emit: &'a mut Emit<'e>, root: &OwnedFd, inodes_kept: bool) -> io::Result<Self> {
        let device = rustix::fs::fstat(root)?.st_dev;
        Ok(Walker {
            emit,
            open: Vec::new(),
            links: HashMap::new(),
            device,
            inodes_kept,
        })
    }

    /// Writes `entry` after the directories above it that are not written yet.
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.flush_open()?;
        (self.emit)(entry)
    }

    /// Enters a directory: written now, or only once something below it is.
    fn enter(&mut self, path: &RelPath, meta: Meta, write_now: bool) -> io::Result<()> {
        self.open.push((path.clone(), meta, false));
        if write_now {
            self.flush_open()?;
        }
        Ok(())
    }

    fn flush_open(&mut self) -> io::Result<()> {
        for (path, meta, written) in self.open.iter_mut() {
            if !*written {
                (self.emit)(Entry::Dir(path, meta))?;
                *written = true;
            }
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.open.pop();
    }

    /// Every entry of directory `dir` (at `path`), read as `how` says.
    fn children(
        &mut self,
        dir: &OwnedFd,
        names: Option<Vec<Vec<u8>>>,
        path: &RelPath,
        how: How,
    ) -> io::Result<()> {
        let names = match names {
            Some(names) => names,
            None => list(dir).map_err(at(path))?,
        };
        for name in names {
            let child = path.join(&name);
            let st = stat_at(dir.as_fd(), &name).map_err(at(&child))?;
            if st.st_dev != self.device {
                tracing::warn!(path = %show(&child), "another filesystem is mounted here; not packed");
                continue;
            }
            self.entry(dir, &name, &child, &st, how)?;
        }
        Ok(())
    }

    /// One new entry (a directory with everything below it).
    fn entry(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &RelPath,
        st: &Stat,
        how: How,
    ) -> io::Result<()> {
        let kind = FileType::from_raw_mode(st.st_mode);
        if how == How::Upper && kind == FileType::CharacterDevice && st.st_rdev == 0 {
            let (dir, _) = path.split();
            return self.write(Entry::Whiteout(&dir, name));
        }
        let meta = read_meta(parent.as_fd(), name, st).map_err(at(path))?;
        if how == How::Upper {
            refuse_overlay_features(parent.as_fd(), name, kind).map_err(at(path))?;
        }
        match kind {
            FileType::Directory => {
                let dir = open_dir(parent.as_fd(), name).map_err(at(path))?;
                let opaque = how == How::Upper
                    && get_xattr(parent.as_fd(), name, OPAQUE_XATTR)
                        .map_err(at(path))?
                        .is_some_and(|v| v == b"y");
                self.enter(path, meta, true)?;
                if opaque {
                    self.write(Entry::Opaque(path))?;
                }
                let done = self.children(&dir, None, path, how);
                self.leave();
                done
            }
            FileType::Socket => {
                tracing::debug!(path = %show(path), "a socket; layers cannot hold one");
                Ok(())
            }
            _ => self.non_directory(parent, name, path, st, &meta, kind),
        }
    }

    fn non_directory(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &RelPath,
        st: &Stat,
        meta: &Meta,
        kind: FileType,
    ) -> io::Result<()> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                return self.write(Entry::Hardlink(path, meta, &first));
            }
            self.links.insert(key, path.clone());
        }
        match kind {
            FileType::RegularFile => {
                let mut file = open_file(parent.as_fd(), name).map_err(at(path))?;
                let mut meta = meta.clone();
                // The size of what is read, should the file have changed since the stat.
                meta.size = file.metadata().map_err(at(path))?.len();
                self.write(Entry::File(path, &meta, &mut file))
                    .map_err(at(path))
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(parent.as_fd(), name, Vec::new())
                    .map_err(io::Error::from)
                    .map_err(at(path))?;
                self.write(Entry::Symlink(path, meta, target.as_bytes()))
            }
            FileType::CharacterDevice => self.write(Entry::CharDevice(path, meta)),
            FileType::BlockDevice => self.write(Entry::BlockDevice(path, meta)),
            FileType::Fifo => self.write(Entry::Fifo(path, meta)),
            _ => Ok(()),
        }
    }

    /// Directory `changed` against the directory it started as, `base`.
    fn compare(&mut self, changed: &OwnedFd, base: &OwnedFd, path: &RelPath) -> io::Result<()> {
        let changed_names = list(changed).map_err(at(path))?;
        let base_names = list(base).map_err(at(path))?;
        let mut base_iter = base_names.iter().peekable();
        for name in &changed_names {
            while let Some(gone) = base_iter.next_if(|b| b.as_slice() < name.as_slice()) {
                self.write(Entry::Whiteout(path, gone))?;
            }
            let in_base = base_iter.next_if(|b| *b == name).is_some();
            let child = path.join(name);
            let st = stat_at(changed.as_fd(), name).map_err(at(&child))?;
            if st.st_dev != self.device {
                tracing::warn!(path = %show(&child), "another filesystem is mounted here; not packed");
                continue;
            }
            let before = if in_base {
                Some(stat_at(base.as_fd(), name).map_err(at(&child))?)
            } else {
                None
            };
            match before {
                None => self.entry(changed, name, &child, &st, How::Whole)?,
                Some(before) => self.changed_entry(changed, base, name, &child, &st, &before)?,
            }
        }
        for gone in base_iter {
            self.write(Entry::Whiteout(path, gone))?;
        }
        Ok(())
    }

    /// An entry present in both trees.
    fn changed_entry(
        &mut self,
        changed: &OwnedFd,
        base: &OwnedFd,
        name: &[u8],
        path: &RelPath,
        st: &Stat,
        before: &Stat,
    ) -> io::Result<()> {
        let kind = FileType::from_raw_mode(st.st_mode);
        let was = FileType::from_raw_mode(before.st_mode);
        if kind != FileType::Directory || was != FileType::Directory {
            if kind == was && self.same(changed.as_fd(), base.as_fd(), name, st, before, kind)? {
                return Ok(());
            }
            // A changed entry, or one of another type (which replaces the old one when the
            // layer is applied; a new directory brings everything below it).
            return self.entry(changed, name, path, st, How::Whole);
        }
        let dir = open_dir(changed.as_fd(), name).map_err(at(path))?;
        let base_dir = open_dir(base.as_fd(), name).map_err(at(path))?;
        let names = list(&dir).map_err(at(path))?;
        let base_names = list(&base_dir).map_err(at(path))?;
        let meta = read_meta(changed.as_fd(), name, st).map_err(at(path))?;
        let replaced = self.inodes_kept && st.st_ino != before.st_ino;
        let none_left =
            !base_names.is_empty() && !base_names.iter().any(|n| names.binary_search(n).is_ok());
        if replaced || none_left {
            self.enter(path, meta, true)?;
            self.write(Entry::Opaque(path))?;
            let done = self.children(&dir, Some(names), path, How::Whole);
            self.leave();
            return done;
        }
        let own_change = !self.same(changed.as_fd(), base.as_fd(), name, st, before, kind)?;
        self.enter(path, meta, own_change)?;
        let done = self.compare(&dir, &base_dir, path);
        self.leave();
        done
    }

    /// Whether an entry is unchanged: what a layer records of it is the same (contents by
    /// size and mtime, hardlinks by link count). In a clone, an unchanged inode also keeps its number and its ctime,
    /// which any change to its data, metadata or xattrs sets, so that decides the rest
    /// (zfs-fuse leaves ctime alone on chmod and chown, hence the metadata check first).
    fn same(
        &self,
        changed: BorrowedFd<'_>,
        base: BorrowedFd<'_>,
        name: &[u8],
        st: &Stat,
        before: &Stat,
        kind: FileType,
    ) -> io::Result<bool> {
        let quick = st.st_mode == before.st_mode
            && st.st_uid == before.st_uid
            && st.st_gid == before.st_gid
            && st.st_mtime == before.st_mtime
            && st.st_mtime_nsec == before.st_mtime_nsec
            && (kind == FileType::Directory || st.st_size == before.st_size)
            // A new name for an unchanged file: both names go into the layer, linked.
            && (kind == FileType::Directory || st.st_nlink == before.st_nlink)
            && st.st_rdev == before.st_rdev;
        if !quick {
            return Ok(false);
        }
        if self.inodes_kept {
            return Ok(st.st_ino == before.st_ino
                && st.st_ctime == before.st_ctime
                && st.st_ctime_nsec == before.st_ctime_nsec);
        }
        if kind == FileType::Symlink {
            let now = rustix::fs::readlinkat(changed, name, Vec::new())?;
            let then = rustix::fs::readlinkat(base, name, Vec::new())?;
            if now != then {
                return Ok(false);
            }
        }
        Ok(read_xattrs(changed, name)? == read_xattrs(base, name)?)
    }
}

/// Refuses the overlayfs features whose upper entries do not hold the whole change: a
/// renamed directory (`redirect_dir`) or a file whose data stayed below (`metacopy`).
fn refuse_overlay_features(dir: BorrowedFd<'_>, name: &[u8], kind: FileType) -> io::Result<()> {
    let feature = match kind {
        FileType::Directory => "trusted.overlay.redirect",
        FileType::RegularFile => "trusted.overlay.metacopy",
        _ => return Ok(()),
    };
    match get_xattr(dir, name, feature)? {
        Some(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{feature} is set: overlay mounts with redirect_dir or metacopy cannot be committed"),
        )),
        None => Ok(()),
    }
}

fn read_meta(dir: BorrowedFd<'_>, name: &[u8], st: &Stat) -> io::Result<Meta> {
    let kind = FileType::from_raw_mode(st.st_mode);
    let device = matches!(kind, FileType::CharacterDevice | FileType::BlockDevice);
    Ok(Meta {
        mode: st.st_mode & 0o7777,
        uid: u64::from(st.st_uid),
        gid: u64::from(st.st_gid),
        mtime: st.st_mtime,
        size: if kind == FileType::RegularFile {
            st.st_size as u64
        } else {
            0
        },
        rdev_major: if device {
            rustix::fs::major(st.st_rdev)
        } else {
            0
        },
        rdev_minor: if device {
            rustix::fs::minor(st.st_rdev)
        } else {
            0
        },
        xattrs: read_xattrs(dir, name)?,
    })
}

fn open_root(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn open_dir(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_file(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<File> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

fn stat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Stat> {
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// A directory's names, sorted by bytes, without `.` and `..`.
fn list(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The entry `name` of `dir` as a path the `l*xattr` calls take without following it:
/// `/proc/self/fd/N` leads to the directory itself, wherever it is now.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    path
}

/// The entry's xattrs, sorted by name, without overlayfs's own.
fn read_xattrs(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let path = proc_path(dir, name);
    let size = match rustix::fs::llistxattr_query(path.as_slice()) {
        Ok(size) => size,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut list = vec![0u8; size];
    let len = rustix::fs::llistxattr(path.as_slice(), &mut list[..])?;
    let mut xattrs = Vec::new();
    for raw in list[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(key) = std::str::from_utf8(raw) else {
            tracing::warn!(path = %show_bytes(&path), "an xattr name that is not UTF-8; not packed");
            continue;
        };
        if OVERLAY_XATTR_PREFIXES.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        if let Some(value) = get_xattr(dir, name, key)? {
            xattrs.push((key.to_string(), value));
        }
    }
    xattrs.sort();
    Ok(xattrs)
}

fn get_xattr(dir: BorrowedFd<'_>, name: &[u8], key: &str) -> io::Result<Option<Vec<u8>>> {
    let path = proc_path(dir, name);
    let size = match rustix::fs::lgetxattr_query(path.as_slice(), key) {
        Ok(size) => size,
        Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::NOTSUP) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut value = vec![0u8; size];
    let len = rustix::fs::lgetxattr(path.as_slice(), key, &mut value[..])?;
    value.truncate(len);
    Ok(Some(value))
}

fn at(path: &RelPath) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", show(path)))
}

fn show(path: &RelPath) -> String {
    show_bytes(path.bytes())
}

fn show_bytes(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
