//! The ZFS driver: every layer a dataset cloned from its parent's `@final` snapshot, every
//! container a clone of its top layer's `@final`, so that a container costs one clone whatever
//! the size of its image. It drives the `zfs` command (the same on illumos, FreeBSD and Linux,
//! and on Linux also zfs-fuse's), always through the typed wrapper [`cli`] and a
//! [`Runner`]: the system's in production ([`ZfsDriver::new`]), or a stateful fake of `zfs` in
//! tests ([`ZfsDriver::with_runner`]). It compiles everywhere.
//!
//! ```text
//! PARENT/layers/ID             a committed layer: tree in MOUNTPOINT/root, snapshot @final,
//!                              readonly=on; a clone of its parent layer's @final
//! PARENT/containers/NAME       a container: a clone of its top layer's @final, rootfs in
//!                              MOUNTPOINT/root (so the dataset can be an illumos zonepath)
//! PARENT/pending/HANDLE        a layer being built (HANDLE = ID-PID-ATTEMPT)
//! STATE_DIR/HANDLE.lock        held by the builder while PARENT/pending/HANDLE is pending
//! ```
//!
//! As imgadm does, a layer is built under a temporary name and renamed into place only once it
//! is complete (`zfs snapshot @final`, `zfs rename`); a failure destroys it. Pending datasets
//! live under their own parent, so nothing that lists `PARENT/layers` can mistake one for a
//! committed layer, and a committed layer always has its `@final` (the snapshot is taken before
//! the rename). Pending datasets are told from live ones by their lock: free, or missing
//! (builders lock before creating anything, so a pending dataset without a lock file outlived
//! its builder, e.g. when the state directory was lost on reboot), means abandoned.
//!
//! Observed on zfs-fuse 0.7.0 (Debian 12, pool version 23), and handled here so that the same
//! commands work there and on illumos:
//! - `zfs rename` and `zfs destroy` of a *mounted* filesystem fail with "dataset is busy" even
//!   when nothing uses it (and `zfs destroy -f` too): the driver unmounts first.
//! - Right after `zfs umount` returns, the daemon may still hold the dataset for some
//!   milliseconds: a `rename` or `destroy` then fails with "dataset is busy" (about one try in
//!   three in a tight loop); the driver retries those, briefly, after its own unmount.
//! - A renamed filesystem stays unmounted: the driver mounts it again.
//! - `zfs list` has no `-p` (exact numbers): sizes come from `zfs get -Hp`, whose output is the
//!   same on illumos. There is no `clones` property ("bad property list: invalid property
//!   'clones'"): the driver asks for it, and where it is missing finds a snapshot's clones
//!   from the `origin` of every filesystem in the pool.
//! - A `umount` refused because a file is open says "umount: …: target is busy" (zfs-fuse
//!   runs umount(8)); the driver reports it, naming the dataset, and does not retry it.
//! - `zfs get readonly` on a mounted filesystem says `off` (source `temporary`, from the `rw`
//!   FUSE mount option) although writes fail with EROFS; only when unmounted does it say `on`.
//!   The driver never reads `readonly` back.
//! - `origin` is `-` for a filesystem that is not a clone (as on illumos).
//! - `used` lags behind writes until the next transaction group is synced (a snapshot syncs).
//! - Two mounts at the same moment (two `zfs clone`, `zfs create`, `zfs mount` or `zpool
//!   create` running concurrently) can freeze the daemon and every filesystem it serves: each
//!   mount is announced to its FUSE listener with two `write`s to one shared pipe, and when
//!   two announcements interleave the listener reads a garbage length and then blocks in
//!   `read` on that pipe forever, holding the lock every FUSE request needs (seen: a thread in
//!   `read(6, …, 0x6c516ef3)`, `zfs` commands stuck in `fuse_get_req`). The driver therefore
//!   runs its mounting commands one at a time, under a lock in the state directory shared by
//!   every process using the parent dataset; on real ZFS this costs a few milliseconds per
//!   clone at most.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use crate::command::{CommandFailure, Runner};
use crate::pending;
use crate::{
    check_container_name, ContainerChanges, Dataset, DatasetKind, DiffForm, Driver, DriverKind,
    LayerId, PendingLayer, Result, StorageError,
};

pub(crate) mod cli;
mod mounts;
mod names;
mod quota;
pub mod send;
pub mod stream;

use cli::{is_missing, parse_size, retry_busy, Depth, Zfs};
use mounts::{mounted_datasets, mountpoint_path};
pub use names::check_dataset_name;
use names::{bad_name, check_parent_name};

/// The snapshot that freezes a committed layer (imgadm's name for it too).
const FINAL: &str = "final";

/// In the state directory: locked while a command that mounts runs (see the module docs).
/// Not `*.lock`, which names the locks of pending layers.
const MOUNT_SERIAL: &str = "zfs-mount.serial";

/// Layers and containers as ZFS datasets below one parent dataset.
#[derive(Debug)]
pub struct ZfsDriver {
    zfs: Zfs,
    parent: String,
    state_dir: PathBuf,
    /// Where `PARENT/containers` is mounted, when [`ZfsDriver::new`] learnt it: a new clone
    /// below it is found there without asking zfs again.
    containers_mountpoint: Option<PathBuf>,
    /// Pending datasets with a quota of ours, lifted at commit.
    quotas: quota::Quotas,
}

impl ZfsDriver {
    /// Uses `parent_dataset` (e.g. `pool/aurora`), creating it and its `layers`, `containers`
    /// and `pending` children if missing. `state_dir` holds the locks of pending layers; every
    /// process using `parent_dataset` must use the same one.
    pub fn new(parent_dataset: &str, state_dir: PathBuf) -> Result<Self> {
        ZfsDriver::open(Zfs::system(), parent_dataset, state_dir)
    }

    /// [`ZfsDriver::new`] with `zfs` run by `runner` (a fake of `zfs` in tests).
    pub fn with_runner(
        runner: Arc<dyn Runner>,
        parent_dataset: &str,
        state_dir: PathBuf,
    ) -> Result<Self> {
        ZfsDriver::open(Zfs::new(runner), parent_dataset, state_dir)
    }

    fn open(zfs: Zfs, parent_dataset: &str, state_dir: PathBuf) -> Result<Self> {
        check_parent_name(parent_dataset).map_err(|reason| bad_name(parent_dataset, &reason))?;
        fs::create_dir_all(&state_dir).map_err(StorageError::io(&state_dir))?;
        let mut driver = ZfsDriver {
            zfs,
            parent: parent_dataset.to_string(),
            state_dir,
            containers_mountpoint: None,
            quotas: quota::Quotas::default(),
        };
        if let Some(containers) = driver.children_ready() {
            driver.containers_mountpoint = Some(containers);
            return Ok(driver);
        }
        for child in ["layers", "containers", "pending"] {
            driver.ensure_filesystem(&format!("{}/{child}", driver.parent))?;
        }
        // Fails early, naming the dataset, when the parent has no usable mountpoint.
        driver.mountpoint(&driver.pending_parent())?;
        Ok(driver)
    }

    /// Whether `layers`, `containers` and `pending` all exist with a mountpoint path (and
    /// then the containers' one): one command for the usual case, where an earlier run made
    /// them.
    fn children_ready(&self) -> Option<PathBuf> {
        let children = ["layers", "containers", "pending"].map(|c| format!("{}/{c}", self.parent));
        let mounted = mounted_datasets();
        if children.iter().all(|child| mounted.contains_key(child)) {
            return mounted.get(&children[1]).cloned();
        }
        let names = children.each_ref().map(String::as_str);
        let Ok(rows) = self.zfs.get(&["mountpoint"], &names, Depth::Named, None) else {
            return None;
        };
        let mountpoint = |child: &String| {
            rows.iter()
                .find(|row| &row.name == child && row.value.starts_with('/'))
                .map(|row| PathBuf::from(&row.value))
        };
        let ready = children.iter().all(|child| mountpoint(child).is_some());
        ready.then(|| mountpoint(&children[1])).flatten()
    }

    /// Where a clone just made below `PARENT/containers` is mounted, found without a `zfs`
    /// command when it inherited its mountpoint and zfs mounted it (a different device there
    /// than its parent directory's).
    fn mounted_clone(&self, name: &str) -> Option<PathBuf> {
        use std::os::unix::fs::MetadataExt;
        let parent = self.containers_mountpoint.as_ref()?;
        let path = parent.join(name);
        let (above, here) = (fs::metadata(parent).ok()?, fs::metadata(&path).ok()?);
        (above.dev() != here.dev()).then_some(path)
    }

    /// The `zfs` command this driver runs (for the volume module).
    pub(crate) fn cli(&self) -> &Zfs {
        &self.zfs
    }

    /// The dataset given to [`ZfsDriver::new`].
    pub fn parent_dataset(&self) -> &str {
        &self.parent
    }

    /// The dataset of layer `id`, committed or not.
    pub fn layer_dataset(&self, id: &LayerId) -> String {
        format!("{}/layers/{id}", self.parent)
    }

    /// The dataset of container `name`.
    pub fn container_dataset(&self, name: &str) -> String {
        format!("{}/containers/{name}", self.parent)
    }

    /// The tree of a committed layer (read-only), mounting its dataset if it is not.
    pub fn layer_root(&self, id: &LayerId) -> Result<PathBuf> {
        if !self.has_layer(id)? {
            return Err(StorageError::NoSuchLayer(id.clone()));
        }
        Ok(self.mounted(&self.layer_dataset(id))?.join("root"))
    }

    fn pending_parent(&self) -> String {
        format!("{}/pending", self.parent)
    }

    fn pending_dataset(&self, handle: &str) -> String {
        format!("{}/{handle}", self.pending_parent())
    }

    fn exists(&self, dataset: &str) -> Result<bool> {
        Ok(self.zfs.exists(dataset)?)
    }

    /// Creates a filesystem and its missing parents, tolerating a concurrent creator.
    fn ensure_filesystem(&self, dataset: &str) -> Result<()> {
        if self.exists(dataset)? {
            return Ok(());
        }
        match self.mounting(|| self.zfs.create(dataset, true))? {
            Ok(_) => Ok(()),
            Err(_) if self.exists(dataset)? => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The `mountpoint` property, which must be a path for the driver to use the dataset.
    fn mountpoint(&self, dataset: &str) -> Result<PathBuf> {
        let state = self.zfs.mount_state(dataset)?;
        mountpoint_path(dataset, state.mountpoint.as_deref())
    }

    /// The dataset's mountpoint, after mounting it if it is not mounted.
    pub(crate) fn mounted(&self, dataset: &str) -> Result<PathBuf> {
        let state = self.zfs.mount_state(dataset)?;
        let path = mountpoint_path(dataset, state.mountpoint.as_deref())?;
        if !state.mounted {
            // zfs-fuse finishes an unmount after `zfs umount` returns: a mount right after
            // one can be refused as busy for a moment.
            let mut tries = 0;
            loop {
                match self.mounting(|| self.zfs.mount(dataset))? {
                    Ok(_) => break,
                    Err(e) if e.stderr.contains("already mounted") => break,
                    Err(e) if e.stderr.contains("is busy") && tries < 20 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(path)
    }

    /// Runs a `zfs` command that mounts a filesystem, never two at once (see the module docs).
    pub(crate) fn mounting(
        &self,
        op: impl FnOnce() -> Result<(), CommandFailure>,
    ) -> Result<Result<(), CommandFailure>> {
        let path = self.state_dir.join(MOUNT_SERIAL);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        file.lock().map_err(StorageError::io(&path))?;
        Ok(op())
    }

    /// Unmounts a filesystem and the filesystems below it, deepest first.
    fn unmount_tree(&self, dataset: &str) -> Result<()> {
        let mut names = self.zfs.filesystems(dataset, Depth::All)?;
        names.sort_unstable_by(|a, b| b.cmp(a));
        for name in &names {
            match self.zfs.unmount(name) {
                Ok(_) => {}
                Err(e) if e.stderr.contains("not currently mounted") || is_missing(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Destroys a dataset with its snapshots and children (never clones of them: zfs refuses
    /// then); returns whether there was one to destroy.
    pub(crate) fn destroy(&self, dataset: &str) -> Result<bool> {
        match self.unmount_tree(dataset) {
            Ok(()) => {}
            Err(StorageError::Command(e)) if is_missing(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
        match retry_busy(|| self.zfs.destroy_recursive(dataset)) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives up a pending layer after a failure: destroys its dataset if it can (otherwise
    /// `clean_leftovers` will, its lock being gone) and removes its lock file.
    fn discard(&self, handle: &str) {
        let dataset = self.pending_dataset(handle);
        self.quotas.forget(&dataset);
        if let Err(e) = self.destroy(&dataset) {
            tracing::warn!(%dataset, error = %e, "could not destroy a failed pending layer");
        }
        pending::unlock(&self.state_dir, handle);
    }

    /// Every filesystem cloned from a snapshot of `dataset`: from the snapshots' `clones`
    /// property where zfs has it (illumos, OpenZFS), else from every filesystem's `origin` in
    /// the pool (zfs-fuse has no `clones`).
    fn clones_of(&self, dataset: &str) -> Result<Vec<String>> {
        if let Some(clones) = self.zfs.clones(dataset)? {
            return Ok(clones);
        }
        let pool = self.parent.split('/').next().unwrap_or(&self.parent);
        let prefix = format!("{dataset}@");
        Ok(self
            .zfs
            .origins(pool)?
            .into_iter()
            .filter(|(_, origin)| origin.as_deref().is_some_and(|o| o.starts_with(&prefix)))
            .map(|(name, _)| name)
            .collect())
    }

    fn make_pending(&self, dataset: &str, parent: Option<&LayerId>) -> Result<PathBuf> {
        match parent {
            Some(parent) => {
                let origin = format!("{}@{FINAL}", self.layer_dataset(parent));
                self.mounting(|| self.zfs.clone_snapshot(&origin, dataset))??;
            }
            None => {
                self.mounting(|| self.zfs.create(dataset, false))??;
            }
        }
        let root = self.mounted(dataset)?.join("root");
        if parent.is_none() {
            fs::create_dir(&root).map_err(StorageError::io(&root))?;
        }
        Ok(root)
    }
}

/// What `list` reports, from the rows of `zfs get -Hp -r -o name,property,value type,origin,used PARENT`:
/// the filesystems `PARENT/layers/ID` and `PARENT/containers/NAME`, each with the layer its
/// origin snapshot belongs to. Pending layers, snapshots and anything else are left out.
fn datasets_from_rows(parent: &str, rows: Vec<cli::PropRow>) -> Vec<Dataset> {
    let mut props: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        props
            .entry(row.name)
            .or_default()
            .insert(row.property, row.value);
    }
    let layers = format!("{parent}/layers/");
    let containers = format!("{parent}/containers/");
    let mut datasets: Vec<Dataset> = props
        .iter()
        .filter(|(_, p)| p.get("type").is_none_or(|t| t == "filesystem"))
        .filter_map(|(name, p)| {
            let (kind, short) = if let Some(rest) = name.strip_prefix(&layers) {
                LayerId::parse(rest)?;
                (DatasetKind::Layer, rest)
            } else if let Some(rest) = name.strip_prefix(&containers) {
                check_container_name(rest).ok()?;
                (DatasetKind::Container, rest)
            } else {
                return None;
            };
            let parent = p
                .get("origin")
                .and_then(|origin| origin.strip_prefix(&layers))
                .and_then(|snapshot| snapshot.split_once('@'))
                .and_then(|(id, _)| LayerId::parse(id));
            Some(Dataset {
                name: short.to_string(),
                kind,
                parent,
                used_bytes: p.get("used").and_then(|u| parse_size(u)).unwrap_or(0),
            })
        })
        .collect();
    datasets.sort_by(|a, b| a.name.cmp(&b.name));
    datasets
}

impl Driver for ZfsDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Zfs
    }

    fn diff_form(&self) -> DiffForm {
        DiffForm::FullTree
    }

    fn has_layer(&self, id: &LayerId) -> Result<bool> {
        // The snapshot is taken before the rename, so a layer dataset without it is not one
        // this driver committed.
        self.exists(&format!("{}@{FINAL}", self.layer_dataset(id)))
    }

    fn begin_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<PendingLayer> {
        if let Some(parent) = parent {
            if !self.has_layer(parent)? {
                return Err(StorageError::NoSuchLayer(parent.clone()));
            }
        }
        let handle = pending::handle(id);
        // The lock comes first: a pending dataset always has a lock file while its builder
        // lives, which is what `clean_leftovers` relies on.
        let lock = pending::lock(&self.state_dir, &handle)?;
        let dataset = self.pending_dataset(&handle);
        let root = match self.make_pending(&dataset, parent) {
            Ok(root) => root,
            Err(e) => {
                self.discard(&handle);
                return Err(e);
            }
        };
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
        if self.has_layer(&pending.id)? {
            // Another process committed the same layer first; its copy is as good as ours.
            return self.abort_layer(pending);
        }
        let from = self.pending_dataset(&pending.handle);
        let to = self.layer_dataset(&pending.id);
        // Frozen before the rename: whoever sees `to` sees it complete, with its @final.
        let frozen = self
            .quotas
            .lift(&self.zfs, &from)
            .and_then(|_| self.zfs.snapshot(&format!("{from}@{FINAL}")))
            .and_then(|_| self.zfs.set(&from, "readonly", "on"))
            .map_err(StorageError::from)
            .and_then(|_| self.unmount_tree(&from));
        if let Err(e) = frozen {
            self.discard(&pending.handle);
            return Err(e);
        }
        match retry_busy(|| self.zfs.rename(&from, &to)) {
            Ok(_) => {}
            // Another process renamed its copy into place first; ours is not needed.
            Err(_) if self.has_layer(&pending.id)? => return self.abort_layer(pending),
            Err(e) => {
                self.discard(&pending.handle);
                return Err(e.into());
            }
        }
        pending::unlock(&self.state_dir, &pending.handle);
        // Committed; mounted so that its tree can be read (clones do not need it mounted).
        self.mounted(&to)?;
        Ok(())
    }

    fn limit_pending(&self, pending: &mut PendingLayer, bytes: u64) -> Result<()> {
        match quota::quota_for(bytes) {
            Some(quota) => {
                let dataset = self.pending_dataset(&pending.handle);
                Ok(self.quotas.set(&self.zfs, &dataset, quota)?)
            }
            None => Ok(()),
        }
    }

    fn abort_layer(&self, pending: PendingLayer) -> Result<()> {
        self.quotas.forget(&self.pending_dataset(&pending.handle));
        self.destroy(&self.pending_dataset(&pending.handle))?;
        pending::unlock(&self.state_dir, &pending.handle);
        Ok(())
    }

    fn create_container(&self, name: &str, top: &LayerId) -> Result<PathBuf> {
        check_container_name(name)?;
        let dataset = self.container_dataset(name);
        let origin = format!("{}@{FINAL}", self.layer_dataset(top));
        // The clone claims the name, also against a concurrent process; why it failed is
        // only asked afterwards, so that the usual case costs one command.
        if let Err(e) = self.mounting(|| self.zfs.clone_snapshot(&origin, &dataset))? {
            return Err(if !self.has_layer(top)? {
                StorageError::NoSuchLayer(top.clone())
            } else if self.exists(&dataset)? {
                StorageError::ContainerExists(name.to_string())
            } else {
                e.into()
            });
        }
        let mounted = match self.mounted_clone(name) {
            Some(path) => Ok(path),
            None => self.mounted(&dataset),
        };
        match mounted {
            Ok(path) => Ok(path.join("root")),
            Err(e) => {
                if let Err(cleanup) = self.destroy(&dataset) {
                    tracing::warn!(%dataset, error = %cleanup, "could not destroy a container that failed to mount");
                }
                Err(e)
            }
        }
    }

    fn container_rootfs(&self, name: &str) -> Result<PathBuf> {
        check_container_name(name)?;
        let dataset = self.container_dataset(name);
        if let Some(path) = mounted_datasets().remove(&dataset) {
            return Ok(path.join("root"));
        }
        if !self.exists(&dataset)? {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        Ok(self.mounted(&dataset)?.join("root"))
    }

    fn container_changes(&self, name: &str) -> Result<(LayerId, ContainerChanges)> {
        let changed = self.container_rootfs(name)?;
        let dataset = self.container_dataset(name);
        let origin = self.zfs.origin(&dataset)?.unwrap_or_else(|| "-".into());
        let layers = format!("{}/layers/", self.parent);
        let top = origin
            .strip_prefix(&layers)
            .and_then(|rest| rest.strip_suffix(&format!("@{FINAL}")))
            .and_then(LayerId::parse)
            .ok_or_else(|| StorageError::Unsupported {
                driver: "zfs",
                reason: format!(
                    "{dataset} is a clone of {:?}, not of a layer's @{FINAL}",
                    origin.trim()
                ),
            })?;
        let base = self.layer_root(&top)?;
        // A clone shares the unchanged inodes (number and ctime) with its origin snapshot.
        // (`zfs diff` would say the same, but zfs-fuse's pool version has none.)
        Ok((
            top,
            ContainerChanges::Trees {
                base,
                changed,
                inodes_kept: true,
            },
        ))
    }

    /// The container is a clone of its top's `@final`, as a pending layer on that top is:
    /// renamed into the pending name, it is committed as one (snapshot, read-only, renamed).
    fn adopt_container(&self, name: &str, id: &LayerId) -> Result<bool> {
        check_container_name(name)?;
        let dataset = self.container_dataset(name);
        if !self.exists(&dataset)? {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        let (top, _) = self.container_changes(name)?;
        let handle = pending::handle(id);
        let lock = pending::lock(&self.state_dir, &handle)?;
        let pending_dataset = self.pending_dataset(&handle);
        // Unmounted first: zfs-fuse calls a mounted dataset busy. commit_layer mounts the
        // layer again once it is committed.
        self.unmount_tree(&dataset)?;
        if let Err(e) = retry_busy(|| self.zfs.rename(&dataset, &pending_dataset)) {
            return Err(e.into());
        }
        // Unmounted, the pending layer has no root to write into; commit_layer reads none.
        let root = PathBuf::new();
        self.commit_layer(PendingLayer {
            id: id.clone(),
            parent: Some(top),
            root,
            lowers: Vec::new(),
            handle,
            _lock: lock,
        })?;
        Ok(true)
    }

    fn remove_container(&self, name: &str) -> Result<()> {
        check_container_name(name)?;
        let dataset = self.container_dataset(name);
        if !self.exists(&dataset)? {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        self.destroy(&dataset).map(drop)
    }

    fn destroy_layer(&self, id: &LayerId) -> Result<()> {
        if !self.has_layer(id)? {
            return Err(StorageError::NoSuchLayer(id.clone()));
        }
        let dataset = self.layer_dataset(id);
        let clones = self.clones_of(&dataset)?;
        if !clones.is_empty() {
            return Err(StorageError::InUse {
                what: "layer",
                name: id.to_string(),
                reason: format!("clones of {dataset} exist: {}", clones.join(", ")),
            });
        }
        self.destroy(&dataset).map(drop)
    }

    fn list(&self) -> Result<Vec<Dataset>> {
        let layers = format!("{}/layers", self.parent);
        let containers = format!("{}/containers", self.parent);
        let rows = self.zfs.get(
            &["type", "origin", "used"],
            &[&layers, &containers],
            Depth::All,
            None,
        )?;
        Ok(datasets_from_rows(&self.parent, rows))
    }

    /// Destroys pending datasets whose builder is gone (its lock is free, or missing) and
    /// returns their names; also removes lock files left without a dataset.
    fn clean_leftovers(&self) -> Result<Vec<String>> {
        // Datasets first, locks second: a builder takes its lock before creating its dataset,
        // so every pending dataset seen here already had its lock file.
        let parent = self.pending_parent();
        let listed = self.zfs.filesystems(&parent, Depth::Children)?;
        let prefix = format!("{parent}/");
        let handles: Vec<&str> = listed
            .iter()
            .filter_map(|name| name.strip_prefix(&prefix))
            .filter(|handle| !handle.is_empty() && !handle.contains('/'))
            .collect();
        let mut removed = Vec::new();
        for handle in &handles {
            if pending::is_abandoned(&self.state_dir, handle)? {
                let dataset = self.pending_dataset(handle);
                // Gone meanwhile when its builder just committed or aborted it.
                if self.destroy(&dataset)? {
                    removed.push(dataset);
                }
                pending::unlock(&self.state_dir, handle);
            }
        }
        for handle in pending::abandoned(&self.state_dir)? {
            if !handles.contains(&handle.as_str()) {
                pending::remove_if_abandoned(&self.state_dir, &handle)?;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::cli::parse_get;
    use super::*;

    #[test]
    fn new_refuses_bad_parents_before_running_zfs() {
        let err = ZfsDriver::new("pool/../etc", PathBuf::from("/nonexistent")).unwrap_err();
        assert!(
            matches!(&err, StorageError::Unsupported { driver: "zfs", reason } if reason.contains("pool/../etc")),
            "{err}"
        );
    }

    /// Recorded from zfs-fuse 0.7.0 (`zfs get -Hp -r -o name,property,value
    /// type,origin,used aurtest/aurora`), after a layer, a container and a pending layer.
    const ZFS_FUSE_GET: &str = "\
aurtest/aurora\ttype\tfilesystem
aurtest/aurora\torigin\t-
aurtest/aurora\tused\t1056768
aurtest/aurora/containers\ttype\tfilesystem
aurtest/aurora/containers\torigin\t-
aurtest/aurora/containers\tused\t217088
aurtest/aurora/containers/c1\ttype\tfilesystem
aurtest/aurora/containers/c1\torigin\taurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111@final
aurtest/aurora/containers/c1\tused\t94208
aurtest/aurora/layers\ttype\tfilesystem
aurtest/aurora/layers\torigin\t-
aurtest/aurora/layers\tused\t331776
aurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111\ttype\tfilesystem
aurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111\torigin\t-
aurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111\tused\t208896
aurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111@final\ttype\tsnapshot
aurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111@final\torigin\t-
aurtest/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111@final\tused\t81920
aurtest/aurora/pending\ttype\tfilesystem
aurtest/aurora/pending\torigin\t-
aurtest/aurora/pending\tused\t368640
aurtest/aurora/pending/1111111111111111111111111111111111111111111111111111111111111111-77-0\ttype\tfilesystem
aurtest/aurora/pending/1111111111111111111111111111111111111111111111111111111111111111-77-0\torigin\t-
aurtest/aurora/pending/1111111111111111111111111111111111111111111111111111111111111111-77-0\tused\t114688
";

    /// The same shape as illumos prints it (zfs(8): `-H` tab-separated, `-p` exact numbers),
    /// with a layer chain, a user snapshot of a container, a foreign dataset and a value with
    /// a tab, and a line cut short.
    const ILLUMOS_GET: &str = "\
zones/aurora/layers\ttype\tfilesystem
zones/aurora/layers\torigin\t-
zones/aurora/layers\tused\t1234
zones/aurora/layers/2222222222222222222222222222222222222222222222222222222222222222\ttype\tfilesystem
zones/aurora/layers/2222222222222222222222222222222222222222222222222222222222222222\torigin\tzones/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111@final
zones/aurora/layers/2222222222222222222222222222222222222222222222222222222222222222\tused\t40960
zones/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111\ttype\tfilesystem
zones/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111\torigin\t-
zones/aurora/layers/1111111111111111111111111111111111111111111111111111111111111111\tused\t5368709120
zones/aurora/layers/not-a-layer\ttype\tfilesystem
zones/aurora/layers/not-a-layer\torigin\t-
zones/aurora/containers/web.1\ttype\tfilesystem
zones/aurora/containers/web.1\torigin\tzones/aurora/layers/2222222222222222222222222222222222222222222222222222222222222222@final
zones/aurora/containers/web.1\tused\t8192
zones/aurora/containers/web.1@before-upgrade\ttype\tsnapshot
zones/aurora/containers/web.1@before-upgrade\tused\t0
zones/aurora/containers/odd\ttype\tfilesystem
zones/aurora/containers/odd\torigin\tsomewhere/else@snap\twith a tab
zones/aurora/containers/odd\tused\t12
zones/aurora/containers/cut\ttype
";

    fn id(n: char) -> LayerId {
        LayerId::parse(&n.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn list_from_zfs_fuse_output() {
        let datasets = datasets_from_rows("aurtest/aurora", parse_get(ZFS_FUSE_GET));
        assert_eq!(
            datasets,
            [
                Dataset {
                    name: id('1').to_string(),
                    kind: DatasetKind::Layer,
                    parent: None,
                    used_bytes: 208896,
                },
                Dataset {
                    name: "c1".into(),
                    kind: DatasetKind::Container,
                    parent: Some(id('1')),
                    used_bytes: 94208,
                },
            ]
        );
    }

    #[test]
    fn list_from_illumos_output() {
        let datasets = datasets_from_rows("zones/aurora", parse_get(ILLUMOS_GET));
        let summary: Vec<_> = datasets
            .iter()
            .map(|d| (d.name.as_str(), d.kind, d.parent.clone(), d.used_bytes))
            .collect();
        assert_eq!(
            summary,
            [
                (id('1').as_str(), DatasetKind::Layer, None, 5368709120),
                (id('2').as_str(), DatasetKind::Layer, Some(id('1')), 40960),
                ("odd", DatasetKind::Container, None, 12),
                ("web.1", DatasetKind::Container, Some(id('2')), 8192),
            ]
        );
    }
}
