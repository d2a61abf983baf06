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

use std::fs;
use std::path::{Path, PathBuf};

use crate::command;
use crate::pending;
use crate::{
    check_container_name, read_layer_note, tree_bytes, write_note, ContainerChanges, Dataset,
    DatasetKind, DiffForm, Driver, DriverKind, LayerId, PendingLayer, Result, StorageError,
};

pub struct DirDriver {
    base: PathBuf,
}

impl DirDriver {
    pub fn new(base: impl Into<PathBuf>) -> Result<Self> {
        let base = base.into();
        for sub in ["layers", "containers", "pending"] {
            let dir = base.join(sub);
            fs::create_dir_all(&dir).map_err(StorageError::io(&dir))?;
        }
        Ok(DirDriver { base })
    }

    fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.base.join("layers").join(id.as_str())
    }

    fn container_dir(&self, name: &str) -> PathBuf {
        self.base.join("containers").join(name)
    }

    fn pending_dir(&self) -> PathBuf {
        self.base.join("pending")
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

fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path)(e)),
    }
}

impl Driver for DirDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Dir
    }

    fn diff_form(&self) -> DiffForm {
        DiffForm::FullTree
    }

    fn has_layer(&self, id: &LayerId) -> Result<bool> {
        Ok(self.layer_dir(id).join("root").is_dir())
    }

    fn begin_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<PendingLayer> {
        let handle = pending::handle(id);
        let lock = pending::lock(&self.pending_dir(), &handle)?;
        let dir = self.pending_dir().join(&handle);
        fs::create_dir(&dir).map_err(StorageError::io(&dir))?;
        let root = dir.join("root");
        match parent {
            Some(parent) => {
                if !self.has_layer(parent)? {
                    return Err(StorageError::NoSuchLayer(parent.clone()));
                }
                copy_tree(&self.layer_dir(parent).join("root"), &root)?;
                write_note(&dir.join("parent"), parent.as_str())?;
            }
            None => fs::create_dir(&root).map_err(StorageError::io(&root))?,
        }
        Ok(PendingLayer {
            id: id.clone(),
            parent: parent.cloned(),
            root,
            lowers: Vec::new(),
            handle,
            _lock: lock,
        })
    }

    fn commit_layer(&self, pending: PendingLayer) -> Result<()> {
        let from = self.pending_dir().join(&pending.handle);
        let to = self.layer_dir(&pending.id);
        if self.has_layer(&pending.id)? {
            // Another process committed the same layer first; its copy is as good as ours.
            return self.abort_layer(pending);
        }
        sync_filesystem(&from)?;
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(_) if self.has_layer(&pending.id)? => return self.abort_layer(pending),
            Err(e) => return Err(StorageError::io(&to)(e)),
        }
        pending::unlock(&self.pending_dir(), &pending.handle);
        Ok(())
    }

    fn abort_layer(&self, pending: PendingLayer) -> Result<()> {
        remove_tree(&self.pending_dir().join(&pending.handle))?;
        pending::unlock(&self.pending_dir(), &pending.handle);
        Ok(())
    }

    fn create_container(&self, name: &str, top: &LayerId) -> Result<PathBuf> {
        check_container_name(name)?;
        if !self.has_layer(top)? {
            return Err(StorageError::NoSuchLayer(top.clone()));
        }
        let dir = self.container_dir(name);
        // Creating the directory claims the name, also against a concurrent process.
        fs::create_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StorageError::ContainerExists(name.to_string()),
            _ => StorageError::io(&dir)(e),
        })?;
        let root = dir.join("root");
        let made = copy_tree(&self.layer_dir(top).join("root"), &root)
            .and_then(|_| write_note(&dir.join("layer"), top.as_str()));
        if let Err(e) = made {
            let _ = remove_tree(&dir);
            return Err(e);
        }
        Ok(root)
    }

    fn container_rootfs(&self, name: &str) -> Result<PathBuf> {
        check_container_name(name)?;
        let root = self.container_dir(name).join("root");
        if root.is_dir() {
            Ok(root)
        } else {
            Err(StorageError::NoSuchContainer(name.to_string()))
        }
    }

    fn container_changes(&self, name: &str) -> Result<(LayerId, ContainerChanges)> {
        let changed = self.container_rootfs(name)?;
        let top = read_layer_note(&self.container_dir(name).join("layer"))
            .ok_or_else(|| StorageError::NoSuchContainer(name.to_string()))?;
        let base = self.layer_dir(&top).join("root");
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
        check_container_name(name)?;
        let dir = self.container_dir(name);
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
        remove_tree(&self.layer_dir(id))
    }

    fn list(&self) -> Result<Vec<Dataset>> {
        let mut datasets = Vec::new();
        for (sub, kind, note) in [
            ("layers", DatasetKind::Layer, "parent"),
            ("containers", DatasetKind::Container, "layer"),
        ] {
            let dir = self.base.join(sub);
            let entries = fs::read_dir(&dir).map_err(StorageError::io(&dir))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                datasets.push(Dataset {
                    used_bytes: tree_bytes(&path.join("root")),
                    parent: read_layer_note(&path.join(note)),
                    kind,
                    name,
                });
            }
        }
        datasets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(datasets)
    }

    fn clean_leftovers(&self) -> Result<Vec<String>> {
        let abandoned = pending::abandoned(&self.pending_dir())?;
        for handle in &abandoned {
            remove_tree(&self.pending_dir().join(handle))?;
            pending::unlock(&self.pending_dir(), handle);
        }
        Ok(abandoned)
    }
}

/// Everything written into a pending layer reaches the disk before the rename commits it,
/// so that a committed layer is complete after a power loss too.
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> Result<()> {
    let file = fs::File::open(dir).map_err(StorageError::io(dir))?;
    rustix::fs::syncfs(&file).map_err(|e| StorageError::io(dir)(e.into()))
}

/// Elsewhere no per-filesystem sync is portable: the rename alone (complete after a crash or
/// a kill, not necessarily after a power loss).
#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let layer_a = driver.layer_dir(&id(1)).join("root/a");
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
        assert!(!driver.pending_dir().join(handle).exists());
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
        let x = driver.layer_dir(&id(1)).join("root/x");
        assert_eq!(fs::read_to_string(x).unwrap(), "first");
        assert_eq!(fs::read_dir(driver.pending_dir()).unwrap().count(), 0);
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
