//! The state of a fake pool: filesystems and snapshots with their guids, origins, local
//! properties and mounted state, and the transitions `zfs` allows between them. A refused
//! transition is an error with the message zfs prints for it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// What a refused command prints on stderr (zfs exits with status 1 for all of them).
pub(super) type Refusal = String;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Filesystem {
    pub(super) guid: u64,
    /// The snapshot this filesystem was cloned from.
    pub(super) origin: Option<String>,
    pub(super) mounted: bool,
    /// Properties set with `zfs set` (source `local`).
    pub(super) local: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Snapshot {
    pub(super) guid: u64,
}

/// Everything the fake knows, kept in `DIR/state.json` between commands (and processes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Pool {
    pub(super) next_guid: u64,
    pub(super) filesystems: BTreeMap<String, Filesystem>,
    pub(super) snapshots: BTreeMap<String, Snapshot>,
}

/// Where a fake pool keeps its trees: a mounted filesystem's tree is at its mountpoint, an
/// unmounted one's (and every snapshot's) under `DIR/data/GUID`.
#[derive(Debug, Clone)]
pub(super) struct Store {
    pub(super) dir: PathBuf,
}

impl Store {
    fn data(&self, guid: u64) -> PathBuf {
        self.dir.join("data").join(guid.to_string())
    }
}

fn missing(name: &str) -> Refusal {
    format!("cannot open '{name}': dataset does not exist\n")
}

fn parent_of(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(parent, _)| parent)
}

impl Pool {
    /// A pool `name` whose root is mounted at `mountpoint`.
    pub(super) fn create(store: &Store, name: &str, mountpoint: &Path) -> Pool {
        let mut pool = Pool {
            next_guid: 1000,
            ..Pool::default()
        };
        let guid = pool.guid();
        let mut local = BTreeMap::new();
        local.insert("mountpoint".to_string(), mountpoint.display().to_string());
        pool.filesystems.insert(
            name.to_string(),
            Filesystem {
                guid,
                origin: None,
                mounted: false,
                local,
            },
        );
        fs::create_dir_all(store.data(guid)).expect("create the fake pool's root");
        pool.mount(store, name).expect("mount the fake pool's root");
        pool
    }

    fn guid(&mut self) -> u64 {
        self.next_guid += 1;
        self.next_guid
    }

    pub(super) fn exists(&self, name: &str) -> bool {
        self.filesystems.contains_key(name) || self.snapshots.contains_key(name)
    }

    pub(super) fn filesystem(&self, name: &str) -> Result<&Filesystem, Refusal> {
        self.filesystems.get(name).ok_or_else(|| missing(name))
    }

    /// The mountpoint: set on the filesystem, or inherited (the parent's, and its name).
    pub(super) fn mountpoint(&self, name: &str) -> PathBuf {
        match self
            .filesystems
            .get(name)
            .and_then(|f| f.local.get("mountpoint"))
        {
            Some(path) => PathBuf::from(path),
            None => match name.rsplit_once('/') {
                Some((parent, last)) => self.mountpoint(parent).join(last),
                None => PathBuf::from("/").join(name),
            },
        }
    }

    /// Where the filesystem's tree is now.
    pub(super) fn tree(&self, store: &Store, name: &str) -> Result<PathBuf, Refusal> {
        let fs = self.filesystem(name)?;
        Ok(if fs.mounted {
            self.mountpoint(name)
        } else {
            store.data(fs.guid)
        })
    }

    /// The filesystems at and below `name` (`depth` levels of children; `None`: all), and
    /// their snapshots when `snapshots` is set, in name order.
    pub(super) fn below(&self, name: &str, depth: Option<usize>, snapshots: bool) -> Vec<String> {
        let prefix = format!("{name}/");
        let level = |other: &str| other.matches('/').count() - name.matches('/').count();
        let mut found: Vec<String> = self
            .filesystems
            .keys()
            .filter(|other| {
                *other == name
                    || (other.starts_with(&prefix) && depth.is_none_or(|d| level(other) <= d))
            })
            .cloned()
            .collect();
        if snapshots {
            let owners = found.clone();
            found.extend(
                self.snapshots
                    .keys()
                    .filter(|snap| {
                        let owner = snap.split('@').next().unwrap_or_default();
                        // A snapshot is one level below its filesystem.
                        owners.iter().any(|o| o == owner)
                            && (owner == name || depth.is_none_or(|d| level(owner) < d))
                    })
                    .cloned(),
            );
        }
        found.sort();
        found
    }

    /// The filesystems cloned from `snapshot`.
    pub(super) fn clones_of(&self, snapshot: &str) -> Vec<String> {
        self.filesystems
            .iter()
            .filter(|(_, fs)| fs.origin.as_deref() == Some(snapshot))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `zfs create [-p]`: an empty filesystem, mounted.
    pub(super) fn create_filesystem(
        &mut self,
        store: &Store,
        name: &str,
        with_parents: bool,
    ) -> Result<(), Refusal> {
        if self.exists(name) {
            return Err(format!("cannot create '{name}': dataset already exists\n"));
        }
        let parent = parent_of(name).ok_or_else(|| format!("cannot create '{name}': no pool\n"))?;
        if !self.filesystems.contains_key(parent) {
            if !with_parents {
                return Err(format!("cannot create '{name}': parent does not exist\n"));
            }
            self.create_filesystem(store, parent, true)?;
        }
        self.add(store, name, None, None)
    }

    /// `zfs clone SNAPSHOT NAME`: a filesystem holding the snapshot's tree, mounted.
    pub(super) fn clone_snapshot(
        &mut self,
        store: &Store,
        snapshot: &str,
        name: &str,
    ) -> Result<(), Refusal> {
        let source = self
            .snapshots
            .get(snapshot)
            .ok_or_else(|| missing(snapshot))?;
        let from = store.data(source.guid);
        if self.exists(name) {
            return Err(format!("cannot create '{name}': dataset already exists\n"));
        }
        match parent_of(name) {
            Some(parent) if self.filesystems.contains_key(parent) => {}
            _ => return Err(format!("cannot create '{name}': parent does not exist\n")),
        }
        self.add(store, name, Some(snapshot.to_string()), Some(&from))
    }

    fn add(
        &mut self,
        store: &Store,
        name: &str,
        origin: Option<String>,
        copy_of: Option<&Path>,
    ) -> Result<(), Refusal> {
        let guid = self.guid();
        let data = store.data(guid);
        match copy_of {
            Some(from) => copy_tree(from, &data)?,
            None => fs::create_dir_all(&data).map_err(|e| format!("fake zfs: {e}\n"))?,
        }
        self.filesystems.insert(
            name.to_string(),
            Filesystem {
                guid,
                origin,
                mounted: false,
                local: BTreeMap::new(),
            },
        );
        self.mount(store, name)
    }

    /// `zfs snapshot NAME@SNAP`: the filesystem's tree as it is now.
    pub(super) fn snapshot(&mut self, store: &Store, snapshot: &str) -> Result<(), Refusal> {
        let (owner, _) = snapshot
            .split_once('@')
            .ok_or_else(|| format!("cannot create snapshot '{snapshot}': invalid name\n"))?;
        let tree = self.tree(store, owner)?;
        if self.snapshots.contains_key(snapshot) {
            return Err(format!(
                "cannot create snapshot '{snapshot}': dataset already exists\n"
            ));
        }
        let guid = self.guid();
        copy_tree(&tree, &store.data(guid))?;
        self.snapshots
            .insert(snapshot.to_string(), Snapshot { guid });
        Ok(())
    }

    /// `zfs mount`: the tree moves to the mountpoint, which must be empty.
    pub(super) fn mount(&mut self, store: &Store, name: &str) -> Result<(), Refusal> {
        let fs = self.filesystem(name)?;
        if fs.mounted {
            return Err(format!(
                "cannot mount '{name}': filesystem already mounted\n"
            ));
        }
        let data = store.data(fs.guid);
        let at = self.mountpoint(name);
        if fs::read_dir(&at).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(format!(
                "cannot mount '{}': directory is not empty\n",
                at.display()
            ));
        }
        let _ = fs::remove_dir(&at);
        if let Some(parent) = at.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("fake zfs: {e}\n"))?;
        }
        fs::rename(&data, &at).map_err(|e| format!("fake zfs: mount {name}: {e}\n"))?;
        if let Some(fs) = self.filesystems.get_mut(name) {
            fs.mounted = true;
        }
        Ok(())
    }

    /// `zfs umount`: refused while a filesystem is mounted inside; the tree moves away, and
    /// the mountpoint directory with it (as OpenZFS removes the directories it made).
    pub(super) fn unmount(&mut self, store: &Store, name: &str) -> Result<(), Refusal> {
        let fs = self.filesystem(name)?;
        if !fs.mounted {
            return Err(format!("cannot unmount '{name}': not currently mounted\n"));
        }
        let guid = fs.guid;
        let at = self.mountpoint(name);
        let inside = self.filesystems.iter().any(|(other, f)| {
            other != name && f.mounted && self.mountpoint(other).starts_with(&at)
        });
        if inside {
            return Err(format!("cannot unmount '{}': Device busy\n", at.display()));
        }
        fs::rename(&at, store.data(guid)).map_err(|e| format!("fake zfs: umount {name}: {e}\n"))?;
        if let Some(fs) = self.filesystems.get_mut(name) {
            fs.mounted = false;
        }
        Ok(())
    }

    /// `zfs rename FROM TO`: a snapshot within its filesystem, or an unmounted filesystem
    /// (zfs-fuse calls a mounted one busy) with its snapshots and children; clones keep
    /// following their origin under its new name.
    pub(super) fn rename(&mut self, from: &str, to: &str) -> Result<(), Refusal> {
        if self.exists(to) {
            return Err(format!("cannot rename '{from}': dataset already exists\n"));
        }
        if let Some(snapshot) = self.snapshots.remove(from) {
            self.snapshots.insert(to.to_string(), snapshot);
            self.follow_origins(from, to);
            return Ok(());
        }
        self.filesystem(from)?;
        match parent_of(to) {
            Some(parent) if self.filesystems.contains_key(parent) => {}
            _ => return Err(format!("cannot rename to '{to}': parent does not exist\n")),
        }
        let moved = self.below(from, None, false);
        if moved.iter().any(|name| self.filesystems[name].mounted) {
            return Err(format!("cannot rename '{from}': dataset is busy\n"));
        }
        let renamed = |name: &str| format!("{to}{}", &name[from.len()..]);
        for name in moved {
            let fs = self.filesystems.remove(&name).expect("listed");
            self.filesystems.insert(renamed(&name), fs);
        }
        let snapshots: Vec<String> = self
            .snapshots
            .keys()
            .filter(|s| s.starts_with(&format!("{from}@")) || s.starts_with(&format!("{from}/")))
            .cloned()
            .collect();
        for name in snapshots {
            let snapshot = self.snapshots.remove(&name).expect("listed");
            self.snapshots.insert(renamed(&name), snapshot);
            self.follow_origins(&name, &renamed(&name));
        }
        Ok(())
    }

    fn follow_origins(&mut self, from: &str, to: &str) {
        for fs in self.filesystems.values_mut() {
            if fs.origin.as_deref() == Some(from) {
                fs.origin = Some(to.to_string());
            }
        }
    }

    /// `zfs destroy -r NAME`: the filesystem, its children and all their snapshots; refused
    /// while one of those snapshots has clones outside, or one of the filesystems is mounted.
    pub(super) fn destroy_recursive(&mut self, store: &Store, name: &str) -> Result<(), Refusal> {
        if let Some(snapshot) = self.snapshots.get(name) {
            let clones = self.clones_of(name);
            if !clones.is_empty() {
                return Err(dependent_clones(name, &clones));
            }
            let _ = fs::remove_dir_all(store.data(snapshot.guid));
            self.snapshots.remove(name);
            return Ok(());
        }
        self.filesystem(name)?;
        let doomed = self.below(name, None, true);
        let outside: Vec<String> = doomed
            .iter()
            .filter(|d| self.snapshots.contains_key(*d))
            .flat_map(|snap| self.clones_of(snap))
            .filter(|clone| !doomed.contains(clone))
            .collect();
        if !outside.is_empty() {
            return Err(dependent_clones(name, &outside));
        }
        if doomed
            .iter()
            .any(|d| self.filesystems.get(d).is_some_and(|f| f.mounted))
        {
            return Err(format!("cannot destroy '{name}': dataset is busy\n"));
        }
        for dataset in doomed.iter().rev() {
            let guid = match (
                self.filesystems.remove(dataset),
                self.snapshots.remove(dataset),
            ) {
                (Some(fs), _) => fs.guid,
                (None, Some(snapshot)) => snapshot.guid,
                (None, None) => continue,
            };
            let _ = fs::remove_dir_all(store.data(guid));
        }
        Ok(())
    }

    /// `zfs set PROPERTY=VALUE NAME`: a local property.
    pub(super) fn set(&mut self, name: &str, property: &str, value: &str) -> Result<(), Refusal> {
        const SETTABLE: [&str; 5] = ["readonly", "quota", "canmount", "sharenfs", "sharesmb"];
        if !SETTABLE.contains(&property) && !property.contains(':') {
            return Err(format!(
                "cannot set property for '{name}': invalid property '{property}'\n"
            ));
        }
        let fs = self
            .filesystems
            .get_mut(name)
            .ok_or_else(|| missing(name))?;
        fs.local.insert(property.to_string(), value.to_string());
        Ok(())
    }
}

fn dependent_clones(name: &str, clones: &[String]) -> Refusal {
    format!(
        "cannot destroy '{name}': filesystem has dependent clones\nuse '-R' to destroy the \
         following datasets:\n{}\n",
        clones.join("\n")
    )
}

/// Copies a tree with everything in it, as a snapshot or a clone holds it.
fn copy_tree(from: &Path, to: &Path) -> Result<(), Refusal> {
    let output = Command::new("cp")
        .args(["-a", "--reflink=auto", "--no-target-directory"])
        .arg(from)
        .arg(to)
        .output()
        .map_err(|e| format!("fake zfs: cp: {e}\n"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "fake zfs: cp {} {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
