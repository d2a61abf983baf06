//! Writing entries under the destination, safely.
//!
//! * The parent directory of every entry is resolved (and created, 0755, if missing) inside
//!   the destination by the kernel: `pathrs`, `openat2(RESOLVE_IN_ROOT)`. Symlinks already
//!   in the destination (an image's `/lib -> usr/lib`) are followed as if the destination
//!   were `/`, so no symlink, absolute or relative or chained, leads out of it.
//! * Symlinks this archive made are not followed at all: an entry (or hardlink target)
//!   below one is refused with an error, as GNU tar's placeholders make it fail. An archive
//!   that plants `x -> /` and then writes `x/etc/passwd` is hostile or broken either way.
//! * The last component is only touched with `*at` calls on the parent's descriptor that do
//!   not follow it: something in the way is removed (a directory only when empty), never
//!   written through; a file is created `O_EXCL|O_NOFOLLOW`.
//! * Directories already there keep their owner, mode and times (as `--no-overwrite-dir`):
//!   extracting into `/` must not chown `/usr/local` to whoever made the tarball. A
//!   directory entry where a symlink to a directory already is keeps the symlink.
//! * Directories this archive makes are 0700 until the end, then get their mode and time
//!   (so a read-only directory can be filled); a file left half-written by an error is
//!   removed.

use std::collections::HashSet;
use std::fs::{File, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;

use pathrs::flags::OpenFlags;
use pathrs::Root;
use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid,
};
use rustix::io::Errno;

use super::paths::{shown, RelPath};
use super::ErrorKind;
use crate::rootfs::pathrs_io;

/// Owner, permission bits and modification time of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
}

/// A device or FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Fifo,
    Char(u32, u32),
    Block(u32, u32),
}

/// A directory made by this archive, whose mode and time are set at the end (if it is still
/// the same inode then).
struct Deferred {
    path: Vec<u8>,
    dev: u64,
    ino: u64,
    meta: Meta,
}

pub struct Dest {
    root: Root,
    /// The destination itself, for entries at its top.
    top: Rc<OwnedFd>,
    same_owner: bool,
    /// Symlinks this archive made (joined paths): never gone through.
    made_symlinks: HashSet<Vec<u8>>,
    deferred: Vec<Deferred>,
    /// The last parent directory resolved; dropped whenever something is removed.
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    buf: Vec<u8>,
}

fn fs(what: &'static str) -> impl FnOnce(Errno) -> ErrorKind {
    move |e| ErrorKind::Fs {
        what,
        source: e.into(),
    }
}

fn os(name: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(name))
}

fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<Stat>, ErrorKind> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(fs("looking at what is there")(e)),
    }
}

fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

impl Dest {
    /// Opens `dest` (which must exist) as the root entries are resolved in.
    pub fn open(dest: &Path, same_owner: bool) -> io::Result<Dest> {
        let root = Root::open(dest).map_err(pathrs_io)?;
        let top = rfs::openat(
            &root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dest {
            root,
            top: Rc::new(top),
            same_owner,
            made_symlinks: HashSet::new(),
            deferred: Vec::new(),
            cache: None,
            buf: vec![0; 256 * 1024],
        })
    }

    /// Refuses a path that goes through a symlink this archive made.
    pub fn check_path(&self, path: &RelPath) -> Result<(), ErrorKind> {
        match path.ancestors().find(|a| self.made_symlinks.contains(a)) {
            Some(link) => Err(ErrorKind::ThroughSymlink(shown(&link))),
            None => Ok(()),
        }
    }

    /// The parent directory of `path` (created if missing) and its last component.
    fn locate(&mut self, path: &RelPath) -> Result<(Rc<OwnedFd>, Vec<u8>), ErrorKind> {
        self.check_path(path)?;
        let (parent, name) = path.split();
        let name = name.to_vec();
        if parent.is_empty() {
            return Ok((self.top.clone(), name));
        }
        let key = parent.bytes();
        if let Some((cached, fd)) = &self.cache {
            if *cached == key {
                return Ok((fd.clone(), name));
            }
        }
        let handle = self
            .root
            .mkdir_all(os(&key), &Permissions::from_mode(0o755))
            .map_err(|e| ErrorKind::Fs {
                what: "resolving or creating the parent directory",
                source: pathrs_io(e),
            })?;
        let fd = Rc::new(OwnedFd::from(handle));
        self.cache = Some((key, fd.clone()));
        Ok((fd, name))
    }

    /// Removes what is at `name` for a new non-directory entry (a directory only if empty).
    fn clear(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        st: Option<Stat>,
    ) -> Result<(), ErrorKind> {
        let Some(st) = st else { return Ok(()) };
        self.cache = None;
        if kind(&st) == FileType::Directory {
            return match rfs::unlinkat(dir, os(name), AtFlags::REMOVEDIR) {
                Ok(()) => Ok(()),
                Err(Errno::NOTEMPTY | Errno::EXIST) => Err(ErrorKind::DirectoryInTheWay),
                Err(e) => Err(fs("removing the directory in the way")(e)),
            };
        }
        rfs::unlinkat(dir, os(name), AtFlags::empty()).map_err(fs("removing what is in the way"))
    }

    fn chown_at(&self, dir: BorrowedFd<'_>, name: &[u8], meta: &Meta) -> Result<(), ErrorKind> {
        if !self.same_owner {
            return Ok(());
        }
        rfs::chownat(
            dir,
            os(name),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(fs("changing the owner"))
    }

    /// A directory entry.
    pub fn dir(&mut self, path: &RelPath, meta: Meta) -> Result<(), ErrorKind> {
        let (dir, name) = self.locate(path)?;
        let dir = dir.as_fd();
        let joined = path.bytes();
        match lstat_at(dir, &name)? {
            Some(st) if kind(&st) == FileType::Directory => return Ok(()),
            Some(st) if kind(&st) == FileType::Symlink && !self.made_symlinks.contains(&joined) => {
                // The destination's own symlink to a directory (merged /usr) stays.
                if let Ok(handle) = self.root.resolve(os(&joined)) {
                    if rfs::fstat(&handle).is_ok_and(|t| kind(&t) == FileType::Directory) {
                        return Ok(());
                    }
                }
                self.clear(dir, &name, Some(st))?;
            }
            other => self.clear(dir, &name, other)?,
        }
        self.made_symlinks.remove(&joined);
        rfs::mkdirat(dir, os(&name), Mode::from_raw_mode(0o700))
            .map_err(fs("creating the directory"))?;
        self.chown_at(dir, &name, &meta)?;
        let st = lstat_at(dir, &name)?.ok_or(ErrorKind::Vanished)?;
        self.deferred.push(Deferred {
            path: joined,
            dev: st.st_dev,
            ino: st.st_ino,
            meta,
        });
        Ok(())
    }

    /// A regular file of `size` bytes read from `data`, which must hold exactly that many.
    pub fn file(
        &mut self,
        path: &RelPath,
        meta: Meta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), ErrorKind> {
        let (dir, name) = self.locate(path)?;
        let dir = dir.as_fd();
        let existing = lstat_at(dir, &name)?;
        self.clear(dir, &name, existing)?;
        self.made_symlinks.remove(&path.bytes());
        let fd = rfs::openat(
            dir,
            os(&name),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(fs("creating the file"))?;
        let mut file = File::from(fd);
        let written = self.fill(&mut file, size, data, &meta);
        if written.is_err() {
            // No half-written file is left for a later step to mistake for the real one.
            let _ = rfs::unlinkat(dir, os(&name), AtFlags::empty());
        }
        written
    }

    fn fill(
        &mut self,
        file: &mut File,
        size: u64,
        data: &mut dyn Read,
        meta: &Meta,
    ) -> Result<(), ErrorKind> {
        let mut got = 0u64;
        while got < size {
            let want = (size - got).min(self.buf.len() as u64) as usize;
            let n = match data.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(ErrorKind::Truncated {
                        got,
                        declared: size,
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ErrorKind::Read(e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| ErrorKind::Fs {
                    what: "writing the file",
                    source,
                })?;
            got += n as u64;
        }
        // A zip entry's data can be longer than its header says; a tar entry's cannot.
        let mut extra = [0u8; 1];
        match data.read(&mut extra) {
            Ok(0) => {}
            Ok(_) => return Err(ErrorKind::Overlong { declared: size }),
            Err(e) => return Err(ErrorKind::Read(e)),
        }
        if self.same_owner {
            rfs::fchown(
                &*file,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(fs("changing the owner"))?;
        }
        // After chown, which clears setuid and setgid.
        rfs::fchmod(&*file, Mode::from_raw_mode(meta.mode & 0o7777))
            .map_err(fs("changing the mode"))?;
        rfs::futimens(&*file, &times(meta.mtime)).map_err(fs("setting the time"))
    }

    /// A symlink; its target is stored as the archive has it and never followed here.
    pub fn symlink(&mut self, path: &RelPath, target: &[u8], meta: Meta) -> Result<(), ErrorKind> {
        if target.is_empty() || target.contains(&0) {
            return Err(ErrorKind::BadSymlinkTarget);
        }
        let (dir, name) = self.locate(path)?;
        let dir = dir.as_fd();
        let existing = lstat_at(dir, &name)?;
        self.clear(dir, &name, existing)?;
        rfs::symlinkat(os(target), dir, os(&name)).map_err(fs("creating the symlink"))?;
        self.made_symlinks.insert(path.bytes());
        self.chown_at(dir, &name, &meta)?;
        rfs::utimensat(
            dir,
            os(&name),
            &times(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(fs("setting the time"))
    }

    /// A hardlink to `target`, which must already be in the destination (an earlier entry,
    /// or what was there), resolved inside it; a symlink there is linked, not followed.
    pub fn hardlink(&mut self, path: &RelPath, target: &RelPath) -> Result<(), ErrorKind> {
        let shown_target = shown(&target.bytes());
        self.check_path(target).map_err(|e| ErrorKind::LinkTarget {
            target: shown_target.clone(),
            reason: Box::new(e),
        })?;
        let missing = || ErrorKind::LinkTargetMissing(shown_target.clone());
        let (tparent, tname) = target.split();
        let tdir: OwnedFd = if tparent.is_empty() {
            self.top.try_clone().map_err(|source| ErrorKind::Fs {
                what: "duplicating a descriptor",
                source,
            })?
        } else {
            match self.root.resolve(os(&tparent.bytes())) {
                Ok(handle) => handle.into(),
                Err(e) => {
                    let e = pathrs_io(e);
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) {
                        return Err(missing());
                    }
                    return Err(ErrorKind::Fs {
                        what: "resolving the hardlink target",
                        source: e,
                    });
                }
            }
        };
        let tst = lstat_at(tdir.as_fd(), tname)?.ok_or_else(missing)?;
        if kind(&tst) == FileType::Directory {
            return Err(ErrorKind::LinkToDirectory(shown_target));
        }
        let (dir, name) = self.locate(path)?;
        let dir = dir.as_fd();
        let existing = lstat_at(dir, &name)?;
        if existing.is_some_and(|st| st.st_dev == tst.st_dev && st.st_ino == tst.st_ino) {
            return Ok(());
        }
        self.clear(dir, &name, existing)?;
        rfs::linkat(tdir.as_fd(), os(tname), dir, os(&name), AtFlags::empty())
            .map_err(fs("creating the hardlink"))?;
        if kind(&tst) == FileType::Symlink {
            self.made_symlinks.insert(path.bytes());
        } else {
            self.made_symlinks.remove(&path.bytes());
        }
        Ok(())
    }

    /// A FIFO or device; `Ok(false)` when devices cannot be made here (not root).
    pub fn special(
        &mut self,
        path: &RelPath,
        special: Special,
        meta: Meta,
    ) -> Result<bool, ErrorKind> {
        let (dir, name) = self.locate(path)?;
        let dir = dir.as_fd();
        let existing = lstat_at(dir, &name)?;
        self.clear(dir, &name, existing)?;
        self.made_symlinks.remove(&path.bytes());
        let (ty, dev) = match special {
            Special::Fifo => (FileType::Fifo, 0),
            Special::Char(major, minor) => (FileType::CharacterDevice, rfs::makedev(major, minor)),
            Special::Block(major, minor) => (FileType::BlockDevice, rfs::makedev(major, minor)),
        };
        match rfs::mknodat(dir, os(&name), ty, Mode::from_raw_mode(0o600), dev) {
            Ok(()) => {}
            Err(Errno::PERM) if special != Special::Fifo => return Ok(false),
            Err(e) => return Err(fs("creating the node")(e)),
        }
        self.chown_at(dir, &name, &meta)?;
        // fchmodat follows a symlink, so the node is checked to be the one just made (the
        // destination is not changed by others meanwhile; the archive cannot race us).
        let st = lstat_at(dir, &name)?.ok_or(ErrorKind::Vanished)?;
        if kind(&st) != ty {
            return Err(ErrorKind::Vanished);
        }
        rfs::chmodat(
            dir,
            os(&name),
            Mode::from_raw_mode(meta.mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(fs("changing the mode"))?;
        rfs::utimensat(
            dir,
            os(&name),
            &times(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(fs("setting the time"))?;
        Ok(true)
    }

    /// Gives the directories this archive made their mode and time, deepest first; returns
    /// the path of the one that failed with the error.
    pub fn finish(mut self) -> Result<(), (String, ErrorKind)> {
        while let Some(d) = self.deferred.pop() {
            let fail = |what, source| (shown(&d.path), ErrorKind::Fs { what, source });
            let handle = match self.root.resolve_nofollow(os(&d.path)) {
                Ok(handle) => handle,
                // Replaced or removed by a later entry: that entry's metadata stands.
                Err(_) => continue,
            };
            let st = rfs::fstat(&handle).map_err(|e| fail("looking at the directory", e.into()))?;
            if (st.st_dev, st.st_ino) != (d.dev, d.ino) || kind(&st) != FileType::Directory {
                continue;
            }
            let dir = handle
                .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC)
                .map_err(|e| fail("opening the directory", pathrs_io(e)))?;
            rfs::fchmod(&dir, Mode::from_raw_mode(d.meta.mode & 0o7777))
                .map_err(|e| fail("changing the mode", e.into()))?;
            rfs::futimens(&dir, &times(d.meta.mtime))
                .map_err(|e| fail("setting the time", e.into()))?;
        }
        Ok(())
    }
}
