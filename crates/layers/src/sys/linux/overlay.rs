//! Overlay mode: looking entries up in the lower layers, and copying parents and hardlink
//! targets up from them.

use std::io;
use std::os::fd::AsFd;

use pathrs::flags::OpenFlags;
use rustix::fs::{self as rfs, FileType, Stat};
use rustix::io::Errno;

use crate::path::RelPath;
use crate::sys::{Ctx, Meta, Node, Target, Time};
use crate::{ErrorKind, WhiteoutMode};

use super::primitives::{
    is, is_errno, is_overlay_whiteout, lstat_at, os, path, pathrs_io, proc_fd,
};
use super::Linux;

impl Linux {
    /// Overlay mode: the topmost lower layer's entry at `rel`, unless a whiteout hides it.
    pub(super) fn lower_lookup(
        &self,
        rel: &RelPath,
    ) -> Result<Option<(pathrs::Handle, Stat)>, ErrorKind> {
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
    pub(super) fn lower_meta(&self, handle: &pathrs::Handle, st: &Stat) -> Result<Meta, ErrorKind> {
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
    pub(super) fn parents_from_lowers(
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
    pub(super) fn copy_up(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        target: &RelPath,
    ) -> Result<bool, ErrorKind> {
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
