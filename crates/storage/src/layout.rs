//! The directory tree that the dir, btrfs and overlay drivers share, and what they all do
//! with it: where a layer, a container and a pending layer live, the notes beside each tree
//! (a layer's parent, a container's top layer), listing, staging a pending layer under a
//! locked temporary name, publishing it under its final name, and cleaning what killed
//! builders left. Each driver keeps only what is its own: how a tree is made (a copy, a
//! snapshot, an empty diff), frozen and destroyed, and where a container's changes are read.
//!
//! ```text
//! BASE/layers/ID/TREE          a committed layer (TREE: root/, or diff/ for overlay)
//! BASE/layers/ID/parent        its parent's ID (absent for a base layer)
//! BASE/containers/NAME/layer   a container's top layer's ID
//! BASE/pending/HANDLE          a layer being built (HANDLE = ID-PID-ATTEMPT), or a container
//!                              being made or removed; HANDLE.lock held meanwhile
//! ```

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pending;
use crate::{check_container_name, Dataset, DatasetKind, LayerId, Result, StorageError};

/// The note beside a layer's tree naming its parent layer.
pub(crate) const PARENT_NOTE: &str = "parent";

/// The note beside a container's tree naming its top layer.
pub(crate) const LAYER_NOTE: &str = "layer";

/// A driver's base directory with its `layers/`, `containers/` and `pending/`.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    base: PathBuf,
}

/// A pending entry under `pending/`: its fresh name, and the lock held while it lives.
pub(crate) struct Staged {
    pub(crate) handle: String,
    pub(crate) lock: File,
}

impl Layout {
    /// Uses `base`, creating it and its `layers`, `containers` and `pending` directories (and
    /// the driver's `extra` ones) if missing.
    pub(crate) fn create(base: PathBuf, extra: &[&str]) -> Result<Layout> {
        for sub in ["layers", "containers", "pending"].iter().chain(extra) {
            let dir = base.join(sub);
            fs::create_dir_all(&dir).map_err(StorageError::io(&dir))?;
        }
        Ok(Layout { base })
    }

    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// The directory (or subvolume) of layer `id`.
    pub(crate) fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.base.join("layers").join(id.as_str())
    }

    /// The directory (or subvolume) of container `name`.
    pub(crate) fn container_dir(&self, name: &str) -> PathBuf {
        self.base.join("containers").join(name)
    }

    pub(crate) fn pending_dir(&self) -> PathBuf {
        self.base.join("pending")
    }

    pub(crate) fn pending_path(&self, handle: &str) -> PathBuf {
        self.pending_dir().join(handle)
    }

    /// A fresh pending name for layer `id`, locked: the lock comes before anything is made
    /// under that name, which is what [`Layout::clean_abandoned`] relies on.
    pub(crate) fn stage_layer(&self, id: &LayerId) -> Result<Staged> {
        let handle = pending::handle(id);
        let lock = pending::lock(&self.pending_dir(), &handle)?;
        Ok(Staged { handle, lock })
    }

    /// A fresh pending name for something that is not a layer (`KIND-NAME-PID-ATTEMPT`:
    /// never a layer's, `ID-PID-ATTEMPT` with 64 hex digits first), locked.
    pub(crate) fn stage_other(&self, kind: &str, name: &str) -> Result<Staged> {
        static ATTEMPT: AtomicU64 = AtomicU64::new(0);
        let handle = format!(
            "{kind}-{name}-{}-{}",
            std::process::id(),
            ATTEMPT.fetch_add(1, Ordering::Relaxed)
        );
        let lock = pending::lock(&self.pending_dir(), &handle)?;
        Ok(Staged { handle, lock })
    }

    /// Removes the lock file of a pending entry that is gone (committed, aborted, removed).
    pub(crate) fn release(&self, handle: &str) {
        pending::unlock(&self.pending_dir(), handle);
    }

    /// Renames pending `handle` to layer `id`'s directory, after everything written into it
    /// reached the disk. `Ok(false)` when another process committed the layer first
    /// (`committed` says so): then ours is left where it was, for the caller to discard.
    pub(crate) fn publish(
        &self,
        handle: &str,
        id: &LayerId,
        committed: impl Fn() -> Result<bool>,
    ) -> Result<bool> {
        let from = self.pending_path(handle);
        let to = self.layer_dir(id);
        sync_filesystem(&from)?;
        match fs::rename(&from, &to) {
            Ok(()) => {
                self.release(handle);
                Ok(true)
            }
            Err(_) if committed()? => Ok(false),
            Err(e) => Err(StorageError::io(&to)(e)),
        }
    }

    /// Creates container `name`'s directory: creating it claims the name, also against a
    /// concurrent process.
    pub(crate) fn claim_container(&self, name: &str) -> Result<PathBuf> {
        check_container_name(name)?;
        let dir = self.container_dir(name);
        fs::create_dir(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => StorageError::ContainerExists(name.to_string()),
            _ => StorageError::io(&dir)(e),
        })?;
        Ok(dir)
    }

    /// Container `name`'s `tree` directory (its rootfs), which must exist.
    pub(crate) fn container_tree(&self, name: &str, tree: &str) -> Result<PathBuf> {
        check_container_name(name)?;
        let root = self.container_dir(name).join(tree);
        if root.is_dir() {
            Ok(root)
        } else {
            Err(StorageError::NoSuchContainer(name.to_string()))
        }
    }

    /// The top layer container `name` was made from, as its note says.
    pub(crate) fn container_top(&self, name: &str) -> Result<LayerId> {
        check_container_name(name)?;
        read_layer_note(&self.container_dir(name).join(LAYER_NOTE))
            .ok_or_else(|| StorageError::NoSuchContainer(name.to_string()))
    }

    /// The entries of `layers/` (or `containers/`) that hold a `tree` directory, each with the
    /// layer its note names, sorted by name.
    pub(crate) fn entries(&self, kind: DatasetKind, tree: &str) -> Result<Vec<Entry>> {
        let (sub, note) = match kind {
            DatasetKind::Layer => ("layers", PARENT_NOTE),
            DatasetKind::Container => ("containers", LAYER_NOTE),
        };
        let dir = self.base.join(sub);
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(StorageError::io(&dir))? {
            let entry = entry.map_err(StorageError::io(&dir))?;
            let path = entry.path();
            if path.join(tree).is_dir() {
                found.push(Entry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    parent: read_layer_note(&path.join(note)),
                    tree: path.join(tree),
                    path,
                });
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// Every layer and container whose `tree` directory (`layer_tree`, `container_tree`)
    /// exists, sorted by name, each with the bytes `used` says it holds.
    pub(crate) fn list(
        &self,
        layer_tree: &str,
        container_tree: &str,
        used: impl Fn(&Entry) -> u64,
    ) -> Result<Vec<Dataset>> {
        let mut datasets = Vec::new();
        for (kind, tree) in [
            (DatasetKind::Layer, layer_tree),
            (DatasetKind::Container, container_tree),
        ] {
            for entry in self.entries(kind, tree)? {
                datasets.push(Dataset {
                    used_bytes: used(&entry),
                    name: entry.name,
                    kind,
                    parent: entry.parent,
                });
            }
        }
        datasets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(datasets)
    }

    /// Removes every pending entry whose builder is gone (its lock free or missing) with
    /// `remove`, and lock files left without their entry; returns the entries' names.
    pub(crate) fn clean_abandoned(
        &self,
        remove: impl Fn(&Path) -> Result<()>,
    ) -> Result<Vec<String>> {
        let dir = self.pending_dir();
        let entries = fs::read_dir(&dir).map_err(StorageError::io(&dir))?;
        let mut removed = Vec::new();
        for entry in entries {
            let name = entry.map_err(StorageError::io(&dir))?.file_name();
            let Some(handle) = name.to_str() else {
                continue;
            };
            if handle.ends_with(".lock") || !pending::is_abandoned(&dir, handle)? {
                continue;
            }
            remove(&dir.join(handle))?;
            pending::unlock(&dir, handle);
            removed.push(handle.to_string());
        }
        // Locks left without their pending entry (a crash between the two removals); a
        // builder's lock file exists a moment before its entry does.
        for handle in pending::abandoned(&dir)? {
            if !dir.join(&handle).exists() {
                pending::remove_if_abandoned(&dir, &handle)?;
            }
        }
        removed.sort();
        Ok(removed)
    }
}

/// A layer or container found by [`Layout::entries`].
pub(crate) struct Entry {
    pub(crate) name: String,
    /// Its directory.
    pub(crate) path: PathBuf,
    /// Its tree (`path/TREE`).
    pub(crate) tree: PathBuf,
    /// The layer its note names.
    pub(crate) parent: Option<LayerId>,
}

/// Removes a directory tree; nothing when it is gone already.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path)(e)),
    }
}

/// Bytes of the regular files under `path` (links and directories are not counted); 0 when
/// it cannot be read.
pub(crate) fn tree_bytes(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Writes a small note (a layer's parent, a container's top layer) beside a tree.
pub(crate) fn write_note(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(StorageError::io(path))
}

/// Reads back a note naming a layer; `None` when missing or not a layer ID.
pub(crate) fn read_layer_note(path: &Path) -> Option<LayerId> {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| LayerId::parse(t.trim()))
}

/// Everything written into a pending layer reaches the disk before the rename commits it,
/// so that a committed layer is complete after a power loss too.
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> Result<()> {
    let file = File::open(dir).map_err(StorageError::io(dir))?;
    rustix::fs::syncfs(&file).map_err(|e| StorageError::io(dir)(e.into()))
}

/// Elsewhere no per-filesystem sync is portable: the rename alone (complete after a crash or
/// a kill, not necessarily after a power loss).
#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_dir: &Path) -> Result<()> {
    Ok(())
}
