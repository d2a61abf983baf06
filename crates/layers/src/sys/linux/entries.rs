//! Making entries: regular files, directories, hardlinks and the others, with their owner,
//! mode, xattrs and times.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::fs::{Gid, Uid, XattrFlags};

use crate::path::RelPath;
use crate::sys::{Ctx, Meta};
use crate::{ErrorKind, WhiteoutMode};

use super::primitives::{
    is, is_overlay_whiteout, os, proc_fd, set_xattrs, timestamps, write_contents, OVERLAY_OPAQUE,
};
use super::{Deferred, Linux};

impl Linux {
    pub(super) fn chmod_at(
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
    pub(super) fn meta_at(
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

    pub(super) fn put_file(
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

    pub(super) fn put_dir(
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
    pub(super) fn dir_meta(
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

    pub(super) fn put_hardlink(
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
}
