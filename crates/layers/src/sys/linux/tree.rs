//! Finding and removing inside the root: parent directories (resolved inside the root and
//! cached), existing entries, and recursive removal of what lower layers have.

use std::fs::Permissions;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::rc::Rc;

use pathrs::RootRef;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::path::RelPath;
use crate::sys::Ctx;
use crate::ErrorKind;

use super::primitives::{is, is_errno, list_dir, lstat_at, os, path, pathrs_io};
use super::Linux;

impl Linux {
    /// The directory `dir` inside the root, created (0755) if missing, as an open descriptor.
    pub(super) fn dir(&mut self, dir: &RelPath) -> Result<Rc<OwnedFd>, ErrorKind> {
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
    pub(super) fn existing_dir(&self, dir: &RelPath) -> Result<Option<OwnedFd>, ErrorKind> {
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
    pub(super) fn remove(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        st: &Stat,
    ) -> Result<(), ErrorKind> {
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
    pub(super) fn prune(
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

    pub(super) fn prune_children(
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

    /// The existing non-directory at `target`: its parent directory and its stat.
    pub(super) fn find(&self, target: &RelPath) -> Result<Option<(OwnedFd, Stat)>, ErrorKind> {
        let (dir, name) = target.split();
        let Some(dir) = self.existing_dir(&dir)? else {
            return Ok(None);
        };
        match lstat_at(dir.as_fd(), name).map_err(|e| ErrorKind::fs("stat", e))? {
            Some(st) => Ok(Some((dir, st))),
            None => Ok(None),
        }
    }
}
