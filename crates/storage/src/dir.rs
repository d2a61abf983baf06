//! The portable driver: plain directories, each layer a full copy of its parent's tree with
//! its diff applied, each container a copy of its top layer. Copies use reflinks where the
//! filesystem has them (`cp --reflink=auto`), so on XFS or btrfs they cost little space.
//! It needs no privileges and works on any filesystem, at the price of copying.
//!
//! ```text
//! BASE/layers/ID/root          a committed layer's tree;  BASE/layers/ID/parent: its parent
//! BASE/containers/NAME/root    a container's tree;        BASE/containers/NAME/layer: its top
//! BASE/pending/HANDLE/root     a layer being built;       BASE/pending/HANDLE.lock: held meanwhile
//! ```
//!
//! The tree, notes, listing and pending layers are [`crate::layout`]'s; what is this
//! driver's own is copying.

use std::fs;
use std::path::{Path, PathBuf};

use crate::command;
use crate::layout::{self, remove_tree, tree_bytes, write_note, Layout, LAYER_NOTE, PARENT_NOTE};
use crate::{
    ContainerChanges, Dataset, DiffForm, Driver, DriverKind, LayerId, PendingLayer, Result,
    StorageError,
};

pub struct DirDriver {
    layout: Layout,
}

impl DirDriver {
    pub fn new(base: impl Into<PathBuf>) -> Result<Self> {
        Ok(DirDriver {
            layout: Layout::create(base.into(), &[])?,
        })
    }

    fn layer_root(&self, id: &LayerId) -> PathBuf {
        self.layout.layer_dir(id).join("root")
    }
}

/// Copies a tree with everything it holds: owners, modes, times, links, devices, xattrs.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    command::run(
        "cp",
        [
            "-a".as_ref(),
            "--reflink=auto".as_ref(),
            "--no-target-directory".as_ref(),
            from.as_os_str(),
            to.as_os_str(),
        ],
    )?;
    Ok(())
}

impl Driver for DirDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Dir
    }

    fn diff_form(&self) -> DiffForm {
        DiffForm::FullTree
    }

    fn has_layer(&self, id: &LayerId) -> Result<bool> {
        Ok(self.layer_root(id).is_dir())
    }

    fn begin_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<PendingLayer> {
        // Checked before anything is made, so that a refused layer leaves nothing pending.
        if let Some(parent) = parent {
            if !self.has_layer(parent)? {
                return Err(StorageError::NoSuchLayer(parent.clone()));
            }
        }
        let staged = self.layout.stage_layer(id)?;
        let dir = self.layout.pending_path(&staged.handle);
        let root = dir.join("root");
        let made = fs::create_dir(&dir)
            .map_err(StorageError::io(&dir))
            .and_then(|()| match parent {
                Some(parent) => copy_tree(&self.layer_root(parent), &root)
                    .and_then(|()| write_note(&dir.join(PARENT_NOTE), parent.as_str())),
                None => fs::create_dir(&root).map_err(StorageError::io(&root)),
            });
        if let Err(e) = made {
            let _ = remove_tree(&dir);
            self.layout.release(&staged.handle);
            return Err(e);
        }
        Ok(PendingLayer {
            id: id.clone(),
            parent: parent.cloned(),
            root,
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
        if !self
            .layout
            .publish(&pending.handle, &pending.id, || self.has_layer(&pending.id))?
        {
            return self.abort_layer(pending);
        }
        Ok(())
    }

    fn abort_layer(&self, pending: PendingLayer) -> Result<()> {
        remove_tree(&self.layout.pending_path(&pending.handle))?;
        self.layout.release(&pending.handle);
        Ok(())
    }

    fn create_container(&self, name: &str, top: &LayerId) -> Result<PathBuf> {
        crate::check_container_name(name)?;
        if !self.has_layer(top)? {
            return Err(StorageError::NoSuchLayer(top.clone()));
        }
        let dir = self.layout.claim_container(name)?;
        let root = dir.join("root");
        let made = copy_tree(&self.layer_root(top), &root)
            .and_then(|_| write_note(&dir.join(LAYER_NOTE), top.as_str()));
        if let Err(e) = made {
            let _ = remove_tree(&dir);
            return Err(e);
        }
        Ok(root)
    }

    fn container_rootfs(&self, name: &str) -> Result<PathBuf> {
        self.layout.container_tree(name, "root")
    }

    fn container_changes(&self, name: &str) -> Result<(LayerId, ContainerChanges)> {
        let changed = self.container_rootfs(name)?;
        let top = self.layout.container_top(name)?;
        let base = self.layer_root(&top);
        Ok((
            top,
            ContainerChanges::Trees {
                base,
                changed,
                inodes_kept: false,
            },
        ))
    }

    /// The container's tree is a full copy of its top with its changes, as a pending layer
    /// on that top is: moved into one and committed.
    fn adopt_container(&self, name: &str, id: &LayerId) -> Result<bool> {
        crate::check_container_name(name)?;
        let container = self.layout.container_dir(name);
        if !container.exists() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        let top = self.layout.container_top(name)?;
        let staged = self.layout.stage_layer(id)?;
        let dir = self.layout.pending_path(&staged.handle);
        let root = dir.join("root");
        let from = container.join("root");
        let moved = fs::create_dir(&dir)
            .map_err(StorageError::io(&dir))
            .and_then(|()| fs::rename(&from, &root).map_err(StorageError::io(&from)))
            .and_then(|()| write_note(&dir.join(PARENT_NOTE), top.as_str()));
        if let Err(e) = moved {
            // The tree goes back to its container if it left it.
            let _ = fs::rename(&root, &from);
            let _ = remove_tree(&dir);
            self.layout.release(&staged.handle);
            return Err(e);
        }
        self.commit_layer(PendingLayer {
            id: id.clone(),
            parent: Some(top),
            root,
            lowers: Vec::new(),
            handle: staged.handle,
            _lock: staged.lock,
        })?;
        remove_tree(&container)?;
        Ok(true)
    }

    fn remove_container(&self, name: &str) -> Result<()> {
        crate::check_container_name(name)?;
        let dir = self.layout.container_dir(name);
        if !dir.exists() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        remove_tree(&dir)
    }

    fn destroy_layer(&self, id: &LayerId) -> Result<()> {
        if !self.has_layer(id)? {
            return Err(StorageError::NoSuchLayer(id.clone()));
        }
        // Copies do not depend on their parent, so nothing else needs to be checked.
        remove_tree(&self.layout.layer_dir(id))
    }

    fn list(&self) -> Result<Vec<Dataset>> {
        self.layout.list("root", "root", |entry: &layout::Entry| {
            tree_bytes(&entry.tree)
        })
    }

    fn clean_leftovers(&self) -> Result<Vec<String>> {
        self.layout.clean_abandoned(remove_tree)
    }
}
