//! Linux: parents resolved inside the root by `pathrs` (`openat2(RESOLVE_IN_ROOT)`), last
//! components handled with `*at` calls on the parent's descriptor that never follow them.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use pathrs::flags::OpenFlags;
use pathrs::{Root, RootRef};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::fs::{Gid, Uid, XattrFlags};
use rustix::io::Errno;

use super::{Ctx, Meta, Node, Target, Time};
use crate::path::RelPath;
use crate::{ApplyOptions, ErrorKind, Ownership, WhiteoutMode};

const OVERLAY_OPAQUE: &[u8] = b"trusted.overlay.opaque";
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

fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

fn path(bytes: &[u8]) -> &Path {
    Path::new(os(bytes))
}

fn is_errno(e: &pathrs::error::Error, any_of: &[Errno]) -> bool {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(n)) => any_of.iter().any(|x| x.raw_os_error() == n),
        _ => false,
    }
}

/// pathrs' error as an `io::Error` whose message carries the whole chain (pathrs puts the
/// errno in a source, which most displays drop).
fn pathrs_io(e: pathrs::error::Error) -> io::Error {
    let kind = match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(n)) => io::Error::from_raw_os_error(n).kind(),
        _ => io::ErrorKind::Other,
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    io::Error::new(kind, message)
}

fn is(st: &Stat, ty: FileType) -> bool {
    FileType::from_raw_mode(st.st_mode) == ty
}

fn is_overlay_whiteout(st: &Stat) -> bool {
    is(st, FileType::CharacterDevice) && st.st_rdev == 0
}

fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn proc_fd(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn timespec(t: Time) -> Timespec {
    Timespec {
        tv_sec: t.secs,
        tv_nsec: t.nanos.into(),
    }
}

fn timestamps(meta_atime: Time, meta_mtime: Time) -> Timestamps {
    Timestamps {
        last_access: timespec(meta_atime),
        last_modification: timespec(meta_mtime),
    }
}

/// Sets xattrs, through `set`; unsupported ones (filesystem, namespace, inode type,
/// privilege) are skipped with a warning.
fn set_xattrs(
    ctx: &mut Ctx<'_, '_>,
    meta: &Meta,
    mut set: impl FnMut(&[u8], &[u8]) -> rustix::io::Result<()>,
) -> Result<(), ErrorKind> {
    for (name, value) in &meta.xattrs {
        match set(name, value) {
            Ok(()) => {}
            Err(
                e @ (Errno::OPNOTSUPP
                | Errno::PERM
                | Errno::ACCESS
                | Errno::RANGE
                | Errno::TOOBIG
                | Errno::INVAL),
            ) => ctx.warn(format!(
                "xattr {} not set: {e}",
                String::from_utf8_lossy(name)
            )),
            Err(e) => return Err(ErrorKind::fs("setting an xattr", e)),
        }
    }
    Ok(())
}

impl Linux {
    /// The directory `dir` inside the root, created (0755) if missing, as an open descriptor.
    fn dir(&mut self, dir: &RelPath) -> Result<Rc<OwnedFd>, ErrorKind> {
        if dir.is_root() {
            return Ok(self.root_dir.clone());
        }
        if let Some((cached, fd)) = &self.cache {
            if cached == dir {
                return Ok(fd.clone());
            }
        }
        let handle = self
            .root
            .mkdir_all(path(dir.bytes()), &Permissions::from_mode(0o755))
            .map_err(|e| {
                ErrorKind::fs("resolving or creating the parent directory", pathrs_io(e))
            })?;
        let fd = Rc::new(OwnedFd::from(handle));
        self.cache = Some((dir.clone(), fd.clone()));
        Ok(fd)
    }

    /// The existing directory `dir` inside the root (an `O_PATH` descriptor), or `None` if
    /// there is none (missing, or not a directory).
    fn existing_dir(&self, dir: &RelPath) -> Result<Option<OwnedFd>, ErrorKind> {
        if dir.is_root() {
            return self
                .root_dir
                .try_clone()
                .map(Some)
                .map_err(|e| ErrorKind::fs("duplicating the root descriptor", e));
        }
        match self.root.resolve(path(dir.bytes())) {
            Ok(handle) => Ok(Some(handle.into())),
            Err(e) if is_errno(&e, &[Errno::NOENT, Errno::NOTDIR]) => Ok(None),
            Err(e) => Err(ErrorKind::fs("resolving the directory", pathrs_io(e))),
        }
    }

    /// Removes `name` (recursively for a directory, never following symlinks).
    fn remove(&mut self, dir: BorrowedFd<'_>, name: &[u8], st: &Stat) -> Result<(), ErrorKind> {
        self.cache = None;
        if is(st, FileType::Directory) {
            RootRef::from_fd(dir)
                .remove_all(path(name))
                .map_err(|e| ErrorKind::fs("removing the directory in the way", pathrs_io(e)))
        } else {
            rfs::unlinkat(dir, os(name), AtFlags::empty())
                .map_err(|e| ErrorKind::fs("removing the entry in the way", e))
        }
    }

    /// Removes what lower layers have at `dir/name` (`full` is that path): everything, unless
    /// this layer has put something there; then, for a directory, recursively what it holds
    /// that this layer did not put there.
    fn prune(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: BorrowedFd<'_>,
        full: &RelPath,
        name: &[u8],
        st: &Stat,
    ) -> Result<(), ErrorKind> {
        if !ctx.layer_paths.contains(full) {
            return self.remove(dir, name, st);
        }
        if is(st, FileType::Directory) {
            let sub = rfs::openat(
                dir,
                os(name),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| ErrorKind::fs("opening a directory to prune", e))?;
            self.prune_children(ctx, sub.as_fd(), full)?;
        }
        Ok(())
    }

    fn prune_children(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: BorrowedFd<'_>,
        full: &RelPath,
    ) -> Result<(), ErrorKind> {
        for child in list_dir(dir)? {
            if let Some(st) = lstat_at(dir, &child).map_err(|e| ErrorKind::fs("stat", e))? {
                self.prune(ctx, dir, &full.join(&child), &child, &st)?;
            }
        }
        Ok(())
    }

    fn chmod_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        ty: FileType,
        mode: u32,
    ) -> io::Result<()> {
        // fchmodat() follows symlinks; pin the inode with O_PATH|O_NOFOLLOW, check its type,
        // and change it through its /proc/self/fd magic link.
        let fd = rfs::openat(
            dir,
            os(name),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rfs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != ty {
            return Err(io::Error::other(
                "the entry changed type while being created",
            ));
        }
        rfs::chmodat(
            rfs::CWD,
            proc_fd(fd.as_fd()),
            Mode::from_raw_mode(mode),
            AtFlags::empty(),
        )?;
        Ok(())
    }

    /// Owner, mode, xattrs and times of a non-directory, non-regular entry just created.
    fn meta_at(
        &self,
        ctx: &mut Ctx<'_, '_>,
        dir: BorrowedFd<'_>,
        name: &[u8],
        ty: FileType,
        meta: &Meta,
    ) -> Result<(), ErrorKind> {
        if let Some((uid, gid)) = meta.owner {
            rfs::chownat(
                dir,
                os(name),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ErrorKind::fs("changing the owner", e))?;
        }
        if ty != FileType::Symlink {
            self.chmod_at(dir, name, ty, meta.mode)
                .map_err(|e| ErrorKind::fs("changing the mode", e))?;
        }
        if !meta.xattrs.is_empty() {
            // lsetxattr on DIR_FD/NAME: the parent's magic link, then NAME not followed.
            let at = proc_fd(dir).join(os(name));
            set_xattrs(ctx, meta, |k, v| {
                rfs::lsetxattr(&at, os(k), v, XattrFlags::empty())
            })?;
        }
        rfs::utimensat(
            dir,
            os(name),
            &timestamps(meta.atime, meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ErrorKind::fs("setting the times", e))?;
        Ok(())
    }

    fn put_file(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: BorrowedFd<'_>,
        name: &[u8],
        size: u64,
        meta: &Meta,
        data: &mut dyn Read,
    ) -> Result<u64, ErrorKind> {
        let fd = rfs::openat(
            dir,
            os(name),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| ErrorKind::fs("creating the file", e))?;
        let mut file = File::from(fd);
        let written = write_contents(data, &mut file, size, &mut self.buf)?;
        if let Some((uid, gid)) = meta.owner {
            rfs::fchown(&file, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| ErrorKind::fs("changing the owner", e))?;
        }
        // After chown, which clears setuid and setgid.
        rfs::fchmod(&file, Mode::from_raw_mode(meta.mode))
            .map_err(|e| ErrorKind::fs("changing the mode", e))?;
        set_xattrs(ctx, meta, |k, v| {
            rfs::fsetxattr(&file, os(k), v, XattrFlags::empty())
        })?;
        rfs::futimens(&file, &timestamps(meta.atime, meta.mtime))
            .map_err(|e| ErrorKind::fs("setting the times", e))?;
        Ok(written)
    }

    fn put_dir(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: BorrowedFd<'_>,
        full: &RelPath,
        name: &[u8],
        existing: Option<Stat>,
        meta: &Meta,
    ) -> Result<(), ErrorKind> {
        let mut replaced_whiteout = false;
        match existing {
            Some(st) if is(&st, FileType::Directory) => {}
            other => {
                if let Some(st) = other {
                    replaced_whiteout =
                        self.whiteouts == WhiteoutMode::Overlay && is_overlay_whiteout(&st);
                    self.remove(dir, name, &st)?;
                }
                rfs::mkdirat(dir, os(name), Mode::from_raw_mode(0o700))
                    .map_err(|e| ErrorKind::fs("creating the directory", e))?;
            }
        }
        let fd = rfs::openat(
            dir,
            os(name),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ErrorKind::fs("opening the directory", e))?;
        self.dir_meta(ctx, fd.as_fd(), full, meta)?;
        if replaced_whiteout {
            // This layer deleted the directory, then made a new one: lower content stays hidden.
            rfs::fsetxattr(&fd, os(OVERLAY_OPAQUE), b"y", XattrFlags::empty())
                .map_err(|e| ErrorKind::fs("marking the directory opaque", e))?;
        }
        Ok(())
    }

    /// Owner and xattrs now; mode and times at the end.
    fn dir_meta(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        fd: BorrowedFd<'_>,
        full: &RelPath,
        meta: &Meta,
    ) -> Result<(), ErrorKind> {
        if let Some((uid, gid)) = meta.owner {
            rfs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| ErrorKind::fs("changing the owner", e))?;
        }
        set_xattrs(ctx, meta, |k, v| {
            rfs::fsetxattr(fd, os(k), v, XattrFlags::empty())
        })?;
        let st = rfs::fstat(fd).map_err(|e| ErrorKind::fs("stat", e))?;
        self.deferred.push(Deferred {
            path: full.clone(),
            dev: st.st_dev,
            ino: st.st_ino,
            mode: meta.mode,
            atime: meta.atime,
            mtime: meta.mtime,
        });
        Ok(())
    }

    /// The existing non-directory at `target`: its parent directory and its stat.
    fn find(&self, target: &RelPath) -> Result<Option<(OwnedFd, Stat)>, ErrorKind> {
        let (dir, name) = target.split();
        let Some(dir) = self.existing_dir(&dir)? else {
            return Ok(None);
        };
        match lstat_at(dir.as_fd(), name).map_err(|e| ErrorKind::fs("stat", e))? {
            Some(st) => Ok(Some((dir, st))),
            None => Ok(None),
        }
    }

    fn put_hardlink(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: BorrowedFd<'_>,
        name: &[u8],
        existing: Option<Stat>,
        target: &RelPath,
    ) -> Result<(), ErrorKind> {
        let shown_target = String::from_utf8_lossy(target.bytes()).into_owned();
        let target_err = |source: io::Error| ErrorKind::HardlinkTarget {
            target: shown_target.clone(),
            source,
        };
        let target_name = target.split().1;
        if target_name.is_empty() {
            return Err(target_err(io::Error::other("the root cannot be linked")));
        }
        let mut found = self.find(target)?;
        if found.is_none() && self.copy_up(ctx, target)? {
            found = self.find(target)?;
        }
        let (target_dir, target_st) = found.ok_or_else(|| {
            target_err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such entry (a hardlink must name an earlier entry of this or a lower layer)",
            ))
        })?;
        if is(&target_st, FileType::Directory) {
            return Err(target_err(io::Error::other("is a directory")));
        }
        if let Some(st) = existing {
            if st.st_dev == target_st.st_dev && st.st_ino == target_st.st_ino {
                return Ok(());
            }
            self.remove(dir, name, &st)?;
        }
        // No AT_SYMLINK_FOLLOW: a symlink target is linked as the symlink itself.
        rfs::linkat(
            target_dir.as_fd(),
            os(target_name),
            dir,
            os(name),
            AtFlags::empty(),
        )
        .map_err(|e| target_err(e.into()))
    }

    /// Overlay mode: the topmost lower layer's entry at `rel`, unless a whiteout hides it.
    fn lower_lookup(&self, rel: &RelPath) -> Result<Option<(pathrs::Handle, Stat)>, ErrorKind> {
        for lower in &self.lowers {
            match lower.resolve_nofollow(path(rel.bytes())) {
                Ok(handle) => {
                    let st = rfs::fstat(&handle).map_err(|e| ErrorKind::fs("stat", e))?;
                    if is_overlay_whiteout(&st) {
                        return Ok(None);
                    }
                    return Ok(Some((handle, st)));
                }
                Err(e) if is_errno(&e, &[Errno::NOENT, Errno::NOTDIR]) => continue,
                Err(e) => {
                    return Err(ErrorKind::fs("looking in a lower layer", pathrs_io(e)));
                }
            }
        }
        Ok(None)
    }

    /// A lower entry's metadata, as this layer would declare it.
    fn lower_meta(&self, handle: &pathrs::Handle, st: &Stat) -> Result<Meta, ErrorKind> {
        let time = |secs: i64, nanos: u64| Time {
            secs,
            nanos: nanos as u32,
        };
        let at = proc_fd(handle.as_fd());
        let mut names = vec![0u8; 64 * 1024];
        let mut xattrs = Vec::new();
        if let Ok(n) = rfs::listxattr(&at, &mut names[..]) {
            for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
                if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
                    continue;
                }
                let mut value = vec![0u8; 64 * 1024];
                if let Ok(len) = rfs::getxattr(&at, os(name), &mut value[..]) {
                    value.truncate(len);
                    xattrs.push((name.to_vec(), value));
                }
            }
        }
        Ok(Meta {
            owner: self.copy_owner.then_some((st.st_uid, st.st_gid)),
            mode: st.st_mode & 0o7777,
            #[allow(clippy::unnecessary_cast)]
            atime: time(st.st_atime as i64, st.st_atime_nsec as u64),
            #[allow(clippy::unnecessary_cast)]
            mtime: time(st.st_mtime as i64, st.st_mtime_nsec as u64),
            xattrs,
        })
    }

    /// Overlay mode: before anything is made in `dir`, its missing components are made as
    /// the lower layers have them (owner, mode, times, xattrs), since the upper directory's
    /// attributes are what the merged directory shows; components no lower layer has are
    /// left for [`Linux::dir`] to create (0755) and counted.
    fn parents_from_lowers(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: &RelPath,
    ) -> Result<(), ErrorKind> {
        if self.whiteouts != WhiteoutMode::Overlay || dir.is_root() {
            return Ok(());
        }
        if matches!(&self.cache, Some((cached, _)) if cached == dir)
            || self.existing_dir(dir)?.is_some()
        {
            return Ok(());
        }
        let mut current = RelPath::default();
        for part in dir.bytes().split(|&b| b == b'/') {
            let next = current.join(part);
            let parent = self.dir(&current)?;
            let missing = lstat_at(parent.as_fd(), part)
                .map_err(|e| ErrorKind::fs("stat", e))?
                .is_none();
            // Something else in the way is left to the caller, as without lowers.
            if missing {
                match self.lower_lookup(&next)? {
                    Some((handle, st)) if is(&st, FileType::Directory) => {
                        let meta = self.lower_meta(&handle, &st)?;
                        self.put(ctx, &next, &Node::Dir, &meta, &mut io::empty())?;
                    }
                    _ => self.implied_dirs += 1,
                }
            }
            current = next;
        }
        Ok(())
    }

    /// Overlay mode: copies `target` up from the lower layers into this one (with any parent
    /// directory it lacks), so that a hardlink to it can be made here. False if no lower
    /// layer has it.
    fn copy_up(&mut self, ctx: &mut Ctx<'_, '_>, target: &RelPath) -> Result<bool, ErrorKind> {
        if self.whiteouts != WhiteoutMode::Overlay || self.lowers.is_empty() {
            return Ok(false);
        }
        let Some((handle, st)) = self.lower_lookup(target)? else {
            return Ok(false);
        };
        let (parent, _) = target.split();
        let mut current = RelPath::default();
        if !parent.is_root() {
            for part in parent.bytes().split(|&b| b == b'/') {
                let next = current.join(part);
                let dir = self.dir(&current)?;
                if lstat_at(dir.as_fd(), part)
                    .map_err(|e| ErrorKind::fs("stat", e))?
                    .is_none()
                {
                    match self.lower_lookup(&next)? {
                        Some((dir_handle, dir_st)) if is(&dir_st, FileType::Directory) => {
                            let meta = self.lower_meta(&dir_handle, &dir_st)?;
                            self.put(ctx, &next, &Node::Dir, &meta, &mut io::empty())?;
                        }
                        _ => return Ok(false),
                    }
                }
                current = next;
            }
        }
        let meta = self.lower_meta(&handle, &st)?;
        let ty = FileType::from_raw_mode(st.st_mode);
        let (major, minor) = (rfs::major(st.st_rdev), rfs::minor(st.st_rdev));
        match ty {
            FileType::RegularFile => {
                let mut src = handle
                    .reopen(OpenFlags::O_RDONLY)
                    .map_err(|e| ErrorKind::fs("opening a lower layer's file", pathrs_io(e)))?;
                #[allow(clippy::unnecessary_cast)]
                let node = Node::File {
                    size: st.st_size as u64,
                };
                self.put(ctx, target, &node, &meta, &mut src)?;
            }
            FileType::Symlink => {
                let link = rfs::readlinkat(&handle, "", Vec::new())
                    .map_err(|e| ErrorKind::fs("reading a lower layer's symlink", e))?;
                let node = Node::Symlink(link.as_bytes());
                self.put(ctx, target, &node, &meta, &mut io::empty())?;
            }
            FileType::Fifo => self
                .put(ctx, target, &Node::Fifo, &meta, &mut io::empty())
                .map(drop)?,
            FileType::CharacterDevice => {
                let node = Node::CharDevice { major, minor };
                self.put(ctx, target, &node, &meta, &mut io::empty())?;
            }
            FileType::BlockDevice => {
                let node = Node::BlockDevice { major, minor };
                self.put(ctx, target, &node, &meta, &mut io::empty())?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
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

/// Names in a directory, without `.` and `..`.
fn list_dir(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, ErrorKind> {
    let mut names = Vec::new();
    let entries = rfs::Dir::read_from(dir).map_err(|e| ErrorKind::fs("listing a directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ErrorKind::fs("listing a directory", e))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

/// Copies exactly `size` bytes; runs of zeros become holes.
fn write_contents(
    data: &mut dyn Read,
    file: &mut File,
    size: u64,
    buf: &mut [u8],
) -> Result<u64, ErrorKind> {
    let mut written = 0u64;
    let mut ends_in_hole = false;
    while written < size {
        let want = buf
            .len()
            .min((size - written).try_into().unwrap_or(usize::MAX));
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => return Err(ErrorKind::Truncated { written, size }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ErrorKind::Tar(e)),
        };
        let chunk = &buf[..n];
        if n >= 4096 && chunk.iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(n as i64))
                .map_err(|e| ErrorKind::fs("seeking over zeros", e))?;
            ends_in_hole = true;
        } else {
            file.write_all(chunk)
                .map_err(|e| ErrorKind::fs("writing the file", e))?;
            ends_in_hole = false;
        }
        written += n as u64;
    }
    if ends_in_hole {
        file.set_len(size)
            .map_err(|e| ErrorKind::fs("extending the file", e))?;
    }
    Ok(written)
}
