//! The btrfs driver: every layer a read-only subvolume, snapshot of its parent's, and every
//! container a writable snapshot of its top layer, so that a container costs one snapshot
//! whatever the size of its image. It drives the `btrfs` command (btrfs-progs) through
//! [`cli::Btrfs`] over a [`Runner`]; `BASE` must be a directory on a btrfs filesystem.
//!
//! ```text
//! BASE/layers/ID               a committed layer: read-only subvolume, tree in root/,
//!                              its parent's ID in parent (absent for a base layer)
//! BASE/containers/NAME         a container: writable snapshot of its top layer, rootfs in
//!                              root/, the top layer's ID in layer
//! BASE/pending/HANDLE          a layer being built (HANDLE = ID-PID-ATTEMPT), or a container
//!                              being made (container-NAME-PID-ATTEMPT); HANDLE.lock held meanwhile
//! ```
//!
//! A layer is built in a writable subvolume under `pending/` (a snapshot of its parent, or a
//! new empty subvolume), and committed by a *read-only snapshot* of it taken straight under
//! its final name, after which the pending subvolume is deleted: the layer appears at once,
//! complete and frozen (snapshot creation flushes the data and commits a transaction). A
//! container is snapshotted under `pending/` and renamed into `containers/` with
//! `RENAME_NOREPLACE`, so that a name is never half-made and never taken twice.
//!
//! Observed with btrfs-progs 6.2 on Linux 6.x, and handled here:
//! - A read-only subvolume cannot be renamed (EROFS): hence the read-only snapshot taken
//!   under the final name instead of `property set ro` followed by a rename.
//! - `btrfs subvolume snapshot SRC DEST` snapshots *into* `DEST` (as `DEST/basename(SRC)`)
//!   when `DEST` exists: a destination is always a fresh name, checked first, and a name that
//!   may be taken meanwhile (a container's) is only ever reached by a `RENAME_NOREPLACE`.
//! - A read-only subvolume can be deleted as it is (`btrfs subvolume delete`, as root); a
//!   subvolume holding other subvolumes cannot (ENOTEMPTY): nested ones (made inside a
//!   container) are deleted first. Deletion returns at once; the space is freed later.
//! - Deletion does not wait for users: a subvolume that is a process's working directory or
//!   has files open goes anyway (as with `rm -rf`). Only something mounted inside a container
//!   (which deletion would detach) makes [`Driver::remove_container`] refuse, with `InUse`.
//! - Snapshots do not depend on their source: a layer can be destroyed while layers and
//!   containers made from it live on (they keep the shared extents).
//! - `used_bytes` needs quota groups: with quotas enabled (`btrfs quota enable`, which the
//!   driver never does itself: it slows snapshots down) it is the subvolume's *exclusive*
//!   bytes (what deleting it would free: data it shares with its snapshots is not counted,
//!   nor, until the cleaner has dropped them, with deleted subvolumes such as a committed
//!   layer's pending one; `btrfs subvolume sync` waits for that), read after a
//!   `btrfs filesystem sync`; without quotas it is the size of the files in the tree (the
//!   parent's included).
//! - The cleaner that drops deleted subvolumes runs after a transaction commit: without one
//!   (`btrfs filesystem sync`), `btrfs subvolume sync` waits up to the 30 s commit interval.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) mod cli;

use crate::command::Runner;
use crate::layout::{tree_bytes, write_note, Layout, LAYER_NOTE, PARENT_NOTE};
use crate::{
    check_container_name, ContainerChanges, Dataset, DiffForm, Driver, DriverKind, LayerId,
    PendingLayer, Result, StorageError,
};
use cli::Btrfs;

/// `BTRFS_SUPER_MAGIC`, the `f_type` statfs reports for btrfs.
const BTRFS_SUPER_MAGIC: u32 = 0x9123_683E;

/// Layers and containers as btrfs subvolumes below one directory.
#[derive(Debug)]
pub struct BtrfsDriver {
    layout: Layout,
    btrfs: Btrfs,
}

impl BtrfsDriver {
    /// Uses `base` (created if missing), which must be on a btrfs filesystem; creates its
    /// `layers`, `containers` and `pending` directories.
    pub fn new(base: PathBuf) -> Result<Self> {
        BtrfsDriver::open(Btrfs::system(), base)
    }

    /// [`BtrfsDriver::new`] with `btrfs` run by `runner` (a fake of `btrfs` in tests).
    pub fn with_runner(runner: Arc<dyn Runner>, base: PathBuf) -> Result<Self> {
        BtrfsDriver::open(Btrfs::new(runner), base)
    }

    fn open(btrfs: Btrfs, base: PathBuf) -> Result<Self> {
        fs::create_dir_all(&base).map_err(StorageError::io(&base))?;
        let stat = rustix::fs::statfs(&base).map_err(|e| StorageError::io(&base)(e.into()))?;
        #[allow(clippy::unnecessary_cast)] // f_type is i64, i32 or u32 depending on the target
        let magic = stat.f_type as u32;
        if magic != BTRFS_SUPER_MAGIC {
            return Err(StorageError::Unsupported {
                driver: "btrfs",
                reason: format!(
                    "{} is not on a btrfs filesystem (statfs type {magic:#x}, btrfs is {BTRFS_SUPER_MAGIC:#x})",
                    base.display()
                ),
            });
        }
        if let Err(e) = btrfs.version() {
            return Err(StorageError::Unsupported {
                driver: "btrfs",
                reason: format!("the btrfs command does not work ({e}): install btrfs-progs"),
            });
        }
        Ok(BtrfsDriver {
            layout: Layout::create(base, &[])?,
            btrfs,
        })
    }

    /// The directory the driver keeps everything in.
    pub fn base(&self) -> &Path {
        self.layout.base()
    }

    /// The subvolume of a committed layer (its tree is in `root/` inside).
    pub fn layer_path(&self, id: &LayerId) -> PathBuf {
        self.layout.layer_dir(id)
    }

    /// The subvolume of a container (its rootfs is `root/` inside).
    pub fn container_path(&self, name: &str) -> PathBuf {
        self.layout.container_dir(name)
    }

    /// Fails with `InUse` when anything is mounted at or below `path`.
    fn check_no_mounts(&self, what: &'static str, name: &str, path: &Path) -> Result<()> {
        let text = fs::read_to_string("/proc/self/mountinfo")
            .map_err(StorageError::io("/proc/self/mountinfo"))?;
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mounts = crate::detect::parse_mountinfo(&text);
        match mounts
            .iter()
            .find(|m| m.mount_point.starts_with(&canonical))
        {
            Some(m) => Err(StorageError::InUse {
                what,
                name: name.to_string(),
                reason: format!("{} is mounted ({})", m.mount_point.display(), m.fs_type),
            }),
            None => Ok(()),
        }
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path)(e)),
    }
}

impl Driver for BtrfsDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Btrfs
    }

    fn diff_form(&self) -> DiffForm {
        DiffForm::FullTree
    }

    fn has_layer(&self, id: &LayerId) -> Result<bool> {
        Ok(self.layer_path(id).join("root").is_dir())
    }

    fn begin_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<PendingLayer> {
        if let Some(parent) = parent {
            if !self.has_layer(parent)? {
                return Err(StorageError::NoSuchLayer(parent.clone()));
            }
        }
        let staged = self.layout.stage_layer(id)?;
        let subvolume = self.layout.pending_path(&staged.handle);
        let made = match parent {
            Some(parent) => self
                .btrfs
                .snapshot(&self.layer_path(parent), &subvolume, false)
                .and_then(|()| write_note(&subvolume.join(PARENT_NOTE), parent.as_str())),
            None => self
                .btrfs
                .create_subvolume(&subvolume)
                .map_err(StorageError::from)
                .and_then(|_| {
                    let root = subvolume.join("root");
                    fs::create_dir(&root).map_err(StorageError::io(&root))
                }),
        };
        if let Err(e) = made {
            let _ = self.btrfs.delete_subvolume(&subvolume);
            self.layout.release(&staged.handle);
            return Err(e);
        }
        Ok(PendingLayer {
            id: id.clone(),
            parent: parent.cloned(),
            root: subvolume.join("root"),
            lowers: Vec::new(),
            handle: staged.handle,
            _lock: staged.lock,
        })
    }

    fn commit_layer(&self, pending: PendingLayer) -> Result<()> {
        if self.has_layer(&pending.id)? {
            // Another process committed the same layer first; its copy is as good as ours.
            return self.abort_layer(pending);
        }
        let from = self.layout.pending_path(&pending.handle);
        let to = self.layer_path(&pending.id);
        if let Err(e) = self.btrfs.snapshot(&from, &to, true) {
            // Lost a race: the winner's read-only subvolume is there (and refused ours inside).
            let lost = self.has_layer(&pending.id);
            let discarded = self.abort_layer(pending);
            return match lost {
                Ok(true) => discarded,
                _ => Err(e),
            };
        }
        // The layer is committed; the writable subvolume it was snapshotted from goes.
        self.abort_layer(pending)
    }

    fn abort_layer(&self, pending: PendingLayer) -> Result<()> {
        self.btrfs
            .delete_subvolume(&self.layout.pending_path(&pending.handle))?;
        self.layout.release(&pending.handle);
        Ok(())
    }

    fn create_container(&self, name: &str, top: &LayerId) -> Result<PathBuf> {
        check_container_name(name)?;
        if !self.has_layer(top)? {
            return Err(StorageError::NoSuchLayer(top.clone()));
        }
        let path = self.container_path(name);
        if fs::symlink_metadata(&path).is_ok() {
            return Err(StorageError::ContainerExists(name.to_string()));
        }
        let staged = self.layout.stage_other("container", name)?;
        let made = self.layout.pending_path(&staged.handle);
        let result = self
            .btrfs
            .snapshot(&self.layer_path(top), &made, false)
            .and_then(|()| remove_if_present(&made.join(PARENT_NOTE)))
            .and_then(|()| write_note(&made.join(LAYER_NOTE), top.as_str()))
            .and_then(|()| {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &made,
                    rustix::fs::CWD,
                    &path,
                    rustix::fs::RenameFlags::NOREPLACE,
                )
                .map_err(|e| match e {
                    rustix::io::Errno::EXIST => StorageError::ContainerExists(name.to_string()),
                    e => StorageError::io(&path)(e.into()),
                })
            });
        if let Err(e) = result {
            let _ = self.btrfs.delete_subvolume(&made);
            self.layout.release(&staged.handle);
            return Err(e);
        }
        self.layout.release(&staged.handle);
        Ok(path.join("root"))
    }

    fn container_rootfs(&self, name: &str) -> Result<PathBuf> {
        self.layout.container_tree(name, "root")
    }

    fn container_changes(&self, name: &str) -> Result<(LayerId, ContainerChanges)> {
        let changed = self.container_rootfs(name)?;
        let top = self.layout.container_top(name)?;
        let base = self.layer_path(&top).join("root");
        // A writable snapshot shares the unchanged inodes with the layer it was taken of.
        Ok((
            top,
            ContainerChanges::Trees {
                base,
                changed,
                inodes_kept: true,
            },
        ))
    }

    /// The container is a writable snapshot of its top, as a pending layer on that top is:
    /// its note made a parent's note, a read-only snapshot of it becomes the layer.
    fn adopt_container(&self, name: &str, id: &LayerId) -> Result<bool> {
        check_container_name(name)?;
        let path = self.container_path(name);
        if fs::symlink_metadata(&path).is_err() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        self.check_no_mounts("container", name, &path)?;
        if !self.has_layer(id)? {
            let top = self.layout.container_top(name)?;
            remove_if_present(&path.join(LAYER_NOTE))?;
            write_note(&path.join(PARENT_NOTE), top.as_str())?;
            if let Err(e) = self.btrfs.snapshot(&path, &self.layer_path(id), true) {
                // Lost a race: the winner's layer is as good as ours. Else the container is
                // given its note back, as it was.
                if !self.has_layer(id)? {
                    let _ = remove_if_present(&path.join(PARENT_NOTE));
                    let _ = write_note(&path.join(LAYER_NOTE), top.as_str());
                    return Err(e);
                }
            }
        }
        self.btrfs.delete_subvolume(&path)?;
        Ok(true)
    }

    fn remove_container(&self, name: &str) -> Result<()> {
        check_container_name(name)?;
        let path = self.container_path(name);
        if fs::symlink_metadata(&path).is_err() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        // Deleting a subvolume would detach whatever is mounted in it (a runtime's /proc).
        self.check_no_mounts("container", name, &path)?;
        self.btrfs.delete_subvolume(&path)
    }

    fn destroy_layer(&self, id: &LayerId) -> Result<()> {
        if !self.has_layer(id)? {
            return Err(StorageError::NoSuchLayer(id.clone()));
        }
        // Snapshots do not depend on their source: nothing else needs to be checked.
        self.btrfs.delete_subvolume(&self.layer_path(id))
    }

    fn list(&self) -> Result<Vec<Dataset>> {
        let exclusive = self.btrfs.exclusive_bytes(self.base());
        self.layout.list("root", "root", |entry| match &exclusive {
            Some(by_id) => self
                .btrfs
                .subvolume_id(&entry.path)
                .and_then(|id| by_id.get(&id).copied())
                .unwrap_or(0),
            None => tree_bytes(&entry.tree),
        })
    }

    fn clean_leftovers(&self) -> Result<Vec<String>> {
        self.layout
            .clean_abandoned(|path| self.btrfs.delete_subvolume(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_not_on_btrfs_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("storage");
        match BtrfsDriver::new(base.clone()) {
            Ok(_) => {} // the temporary directory happens to be on btrfs
            Err(e) => {
                let text = e.to_string();
                assert!(matches!(
                    e,
                    StorageError::Unsupported {
                        driver: "btrfs",
                        ..
                    }
                ));
                assert!(text.contains(&base.display().to_string()), "{text}");
                assert!(text.contains("not on a btrfs filesystem"), "{text}");
            }
        }
    }
}
