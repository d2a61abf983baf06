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
        let staged = self.layout.stage_layer(id)?;
        let dir = self.layout.pending_path(&staged.handle);
        fs::create_dir(&dir).map_err(StorageError::io(&dir))?;
        let root = dir.join("root");
        match parent {
            Some(parent) => {
                if !self.has_layer(parent)? {
                    return Err(StorageError::NoSuchLayer(parent.clone()));
                }
                copy_tree(&self.layer_root(parent), &root)?;
                write_note(&dir.join(PARENT_NOTE), parent.as_str())?;
            }
            None => fs::create_dir(&root).map_err(StorageError::io(&root))?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatasetKind;

    fn id(n: u8) -> LayerId {
        LayerId::parse(&format!("{:064x}", n)).unwrap()
    }

    fn driver() -> (tempfile::TempDir, DirDriver) {
        let dir = tempfile::tempdir().unwrap();
        let driver = DirDriver::new(dir.path().join("storage")).unwrap();
        (dir, driver)
    }

    #[test]
    fn a_chain_of_layers_and_a_container() {
        let (_dir, driver) = driver();
        let base = driver.begin_layer(&id(1), None).unwrap();
        fs::write(base.root.join("a"), "one").unwrap();
        driver.commit_layer(base).unwrap();
        let top = driver.begin_layer(&id(2), Some(&id(1))).unwrap();
        assert_eq!(fs::read_to_string(top.root.join("a")).unwrap(), "one");
        fs::write(top.root.join("b"), "two").unwrap();
        driver.commit_layer(top).unwrap();

        let rootfs = driver.create_container("c1", &id(2)).unwrap();
        assert_eq!(fs::read_to_string(rootfs.join("b")).unwrap(), "two");
        fs::write(rootfs.join("a"), "changed").unwrap();
        let layer_a = driver.layer_root(&id(1)).join("a");
        assert_eq!(
            fs::read_to_string(layer_a).unwrap(),
            "one",
            "layers stay as committed"
        );
        assert!(matches!(
            driver.create_container("c1", &id(2)),
            Err(StorageError::ContainerExists(_))
        ));

        let listed = driver.list().unwrap();
        let names: Vec<(&str, DatasetKind, Option<&LayerId>)> = listed
            .iter()
            .map(|d| (d.name.as_str(), d.kind, d.parent.as_ref()))
            .collect();
        assert_eq!(
            names,
            [
                (id(1).as_str(), DatasetKind::Layer, None),
                (id(2).as_str(), DatasetKind::Layer, Some(&id(1))),
                ("c1", DatasetKind::Container, Some(&id(2))),
            ]
        );
        driver.remove_container("c1").unwrap();
        assert!(driver.container_rootfs("c1").is_err());
    }

    #[test]
    fn pending_layers_are_invisible_and_abandoned_ones_are_cleaned() {
        let (_dir, driver) = driver();
        let pending = driver.begin_layer(&id(1), None).unwrap();
        assert!(!driver.has_layer(&id(1)).unwrap());
        assert!(
            driver.clean_leftovers().unwrap().is_empty(),
            "a live pending layer stays"
        );
        // A crash: the lock goes away with the process, the directory stays.
        let handle = pending.handle.clone();
        drop(pending);
        // A process that another test thread forks holds a copy of the lock's descriptor
        // until it execs: the lock may look held for a moment after the drop.
        let mut cleaned = driver.clean_leftovers().unwrap();
        for _ in 0..100 {
            if !cleaned.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            cleaned = driver.clean_leftovers().unwrap();
        }
        assert_eq!(cleaned, std::slice::from_ref(&handle));
        assert!(!driver.layout.pending_dir().join(handle).exists());
        assert!(!driver.has_layer(&id(1)).unwrap());
    }

    #[test]
    fn committing_a_layer_someone_else_committed_keeps_theirs() {
        let (_dir, driver) = driver();
        let first = driver.begin_layer(&id(1), None).unwrap();
        let second = driver.begin_layer(&id(1), None).unwrap();
        fs::write(first.root.join("x"), "first").unwrap();
        fs::write(second.root.join("x"), "second").unwrap();
        driver.commit_layer(first).unwrap();
        driver.commit_layer(second).unwrap();
        let x = driver.layer_root(&id(1)).join("x");
        assert_eq!(fs::read_to_string(x).unwrap(), "first");
        assert_eq!(
            fs::read_dir(driver.layout.pending_dir()).unwrap().count(),
            0
        );
    }

    #[test]
    fn bad_names_and_missing_parents_are_refused() {
        let (_dir, driver) = driver();
        for bad in ["", "../x", "a/b", ".hidden", "-x", &"a".repeat(64)] {
            assert!(matches!(
                driver.create_container(bad, &id(1)),
                Err(StorageError::BadContainerName(_))
            ));
        }
        assert!(matches!(
            driver.begin_layer(&id(2), Some(&id(9))),
            Err(StorageError::NoSuchLayer(_))
        ));
        assert!(LayerId::parse("../etc").is_none());
        assert!(LayerId::parse(&"A".repeat(64)).is_none());
    }
}
