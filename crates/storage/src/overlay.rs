//! The overlay driver: every layer a directory holding only that layer's own changes, in the
//! form overlayfs reads (whiteouts as 0:0 character devices, opaque directories marked with
//! `trusted.overlay.opaque=y`), and every container an overlay mount of its layer chain with
//! a writable upper directory of its own. A layer costs only its own bytes, and nothing is
//! copied when a layer is built or a container made. Needs root (overlay mounts, `trusted.*`
//! xattrs); `BASE` can be on any local filesystem that overlayfs accepts as upper (ext4, xfs,
//! btrfs, tmpfs), not on overlayfs itself.
//!
//! ```text
//! BASE/layers/ID/diff          a committed layer's own changes (overlayfs form)
//! BASE/layers/ID/parent        its parent's ID (absent for a base layer)
//! BASE/layers/ID/link          the short name of its link in BASE/l
//! BASE/l/SHORT                 symlink to ../layers/ID/diff (SHORT: the shortest free prefix
//!                              of ID, 12 hex digits or more)
//! BASE/containers/NAME/root    the container's rootfs: overlay mount point
//! BASE/containers/NAME/upper   its writes;  …/work: overlayfs's work directory
//! BASE/containers/NAME/layer   its top layer's ID
//! BASE/pending/HANDLE          a layer being built (diff/, parent); HANDLE.lock held meanwhile
//! BASE/chain.lock              shared while a chain is mounted or extended, exclusive while
//!                              a layer is destroyed
//! ```
//!
//! The kernel takes mount options in one page (4096 bytes on x86-64), which 60 absolute
//! paths of layers would already fill. As containers/storage does, the driver names each
//! layer's directory by a short symlink in `BASE/l` and mounts from a thread whose working
//! directory is `BASE/l` (its own: `unshare(CLONE_FS)`), so that every path in the options
//! is relative and short: `lowerdir=SHORT:SHORT:…,upperdir=../containers/NAME/upper,…`.
//! That fits about 300 layers; overlayfs itself stops at 500.
//!
//! Mounts do not survive a reboot: [`Driver::container_rootfs`] mounts the container again
//! when `/proc/self/mountinfo` does not show it. A layer is committed by a rename after a
//! `syncfs`, so that a committed layer is complete after a crash too.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::layout::{
    read_layer_note, remove_tree, tree_bytes, write_note, Layout, LAYER_NOTE, PARENT_NOTE,
};
use crate::{
    check_container_name, copy_root_attributes, ContainerChanges, Dataset, DatasetKind, DiffForm,
    Driver, DriverKind, LayerId, PendingLayer, Result, StorageError,
};

/// `OVERLAYFS_SUPER_MAGIC`: overlayfs cannot have its upper directory on overlayfs.
const OVERLAYFS_SUPER_MAGIC: u32 = 0x794c_7630;

/// overlayfs's limit on lower layers (`OVL_MAX_STACK`).
const MAX_LOWER_LAYERS: usize = 500;

/// Length of a layer's short link name, unless that prefix of its ID is taken.
const SHORT_LEN: usize = 12;

/// Layers as overlayfs diff directories below one directory, containers as overlay mounts.
#[derive(Debug)]
pub struct OverlayDriver {
    layout: Layout,
}

impl OverlayDriver {
    /// Uses `base` (created if missing, then made absolute and canonical), which must not be on
    /// overlayfs; creates its `layers`, `containers`, `pending` and `l` directories.
    pub fn new(base: PathBuf) -> Result<Self> {
        fs::create_dir_all(&base).map_err(StorageError::io(&base))?;
        let base = base.canonicalize().map_err(StorageError::io(&base))?;
        let stat = rustix::fs::statfs(&base).map_err(|e| StorageError::io(&base)(e.into()))?;
        #[allow(clippy::unnecessary_cast)] // f_type is i64, i32 or u32 depending on the target
        if stat.f_type as u32 == OVERLAYFS_SUPER_MAGIC {
            return Err(StorageError::Unsupported {
                driver: "overlay",
                reason: format!(
                    "{} is on overlayfs, which overlayfs cannot use for containers' writable \
                     layers: put the store on another filesystem, or use the dir driver",
                    base.display()
                ),
            });
        }
        Ok(OverlayDriver {
            layout: Layout::create(base, &["l"])?,
        })
    }

    /// The directory the driver keeps everything in (canonical).
    pub fn base(&self) -> &Path {
        self.layout.base()
    }

    /// The directory of a committed layer (its changes are in `diff/` inside).
    pub fn layer_path(&self, id: &LayerId) -> PathBuf {
        self.layout.layer_dir(id)
    }

    /// The directory of a container (its rootfs is `root/` inside, `upper/` holds its writes).
    pub fn container_path(&self, name: &str) -> PathBuf {
        self.layout.container_dir(name)
    }

    fn links_dir(&self) -> PathBuf {
        self.base().join("l")
    }

    /// Held shared while a chain is read and mounted or a layer committed on a parent, and
    /// exclusively while a layer is destroyed, so that no layer goes away under a mount.
    fn chain_lock(&self, exclusive: bool) -> Result<File> {
        let path = self.base().join("chain.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(StorageError::io(&path))?;
        Ok(file)
    }

    /// Locks container `name` (its directory) against concurrent mounts and removal.
    fn container_lock(&self, name: &str) -> Result<File> {
        let dir = self.container_path(name);
        let file = File::open(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::NoSuchContainer(name.to_string()),
            _ => StorageError::io(&dir)(e),
        })?;
        file.lock().map_err(StorageError::io(&dir))?;
        Ok(file)
    }

    /// Makes pending layer `id`: `pending/HANDLE/diff`, the parent's ID beside it, the root's
    /// owner and mode from `attributes_from` when given.
    fn begin(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        attributes_from: Option<&Path>,
        lowers: Vec<PathBuf>,
    ) -> Result<PendingLayer> {
        let staged = self.layout.stage_layer(id)?;
        let dir = self.layout.pending_path(&staged.handle);
        let root = dir.join("diff");
        let made = create_dir(&dir)
            .and_then(|()| create_dir(&root))
            .and_then(|()| match attributes_from {
                Some(from) => copy_root_attributes(from, &root),
                None => Ok(()),
            })
            .and_then(|()| match parent {
                Some(parent) => write_note(&dir.join(PARENT_NOTE), parent.as_str()),
                None => Ok(()),
            });
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&dir);
            self.layout.release(&staged.handle);
            return Err(e);
        }
        Ok(PendingLayer {
            id: id.clone(),
            parent: parent.cloned(),
            root,
            lowers,
            handle: staged.handle,
            _lock: staged.lock,
        })
    }

    /// The layers under `top`, `top` first; all must exist.
    fn chain(&self, top: &LayerId) -> Result<Vec<LayerId>> {
        let mut chain: Vec<LayerId> = Vec::new();
        let mut next = Some(top.clone());
        while let Some(id) = next {
            if !self.has_layer(&id)? {
                return Err(StorageError::NoSuchLayer(id));
            }
            if chain.len() > MAX_LOWER_LAYERS || chain.contains(&id) {
                return Err(StorageError::Unsupported {
                    driver: "overlay",
                    reason: format!(
                        "the parent notes under layer {top} do not end (at {id}, after {} layers)",
                        chain.len()
                    ),
                });
            }
            next = read_layer_note(&self.layer_path(&id).join(PARENT_NOTE));
            chain.push(id);
        }
        Ok(chain)
    }

    /// Creates the short link of layer `id` in `BASE/l` (or finds it made): the shortest
    /// prefix of the ID, from 12 hex digits, that is free or already points to the layer.
    fn make_link(&self, id: &LayerId) -> Result<String> {
        let target = link_target(id);
        for len in (SHORT_LEN..=id.as_str().len()).step_by(4) {
            let short = &id.as_str()[..len];
            let link = self.links_dir().join(short);
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => return Ok(short.to_string()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
                        return Ok(short.to_string());
                    }
                }
                Err(e) => return Err(StorageError::io(&link)(e)),
            }
        }
        let link = self.links_dir().join(id.as_str());
        Err(StorageError::io(&link)(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("exists and does not point to {}", target.display()),
        )))
    }

    /// The short name of layer `id`'s link, made again if it is missing (e.g. after
    /// `clean_leftovers` removed it while the layer was being committed).
    fn ensure_link(&self, id: &LayerId) -> Result<String> {
        let note = self.layer_path(id).join("link");
        let noted = fs::read_to_string(&note)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|short| short.len() >= SHORT_LEN && id.as_str().starts_with(short.as_str()));
        if let Some(short) = noted {
            let link = self.links_dir().join(&short);
            let target = link_target(id);
            if fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
                return Ok(short);
            }
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => return Ok(short),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
                        return Ok(short);
                    }
                }
                Err(e) => return Err(StorageError::io(&link)(e)),
            }
        }
        let short = self.make_link(id)?;
        write_note(&note, &short)?;
        Ok(short)
    }

    /// Whether an overlay is mounted at `root` (canonical, as all the driver's paths are).
    fn is_mounted(&self, root: &Path) -> Result<bool> {
        // The kernel says whether `root` is a mount's root (statx, Linux 5.8) and what is
        // mounted there: no need to read every mount of the host on each start.
        use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
        const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
        match statx(
            CWD,
            root,
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::BASIC_STATS,
        ) {
            Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(StorageError::io(root)(e.into())),
            Ok(stat)
                if stat
                    .stx_attributes_mask
                    .contains(StatxAttributes::MOUNT_ROOT) =>
            {
                if !stat.stx_attributes.contains(StatxAttributes::MOUNT_ROOT) {
                    return Ok(false);
                }
                let fs = rustix::fs::statfs(root).map_err(|e| StorageError::io(root)(e.into()))?;
                return Ok(fs.f_type as i64 == OVERLAYFS_SUPER_MAGIC);
            }
            // An older kernel: the mount table says.
            Ok(_) => {}
        }
        let text = fs::read_to_string("/proc/self/mountinfo")
            .map_err(StorageError::io("/proc/self/mountinfo"))?;
        Ok(crate::detect::parse_mountinfo(&text)
            .iter()
            .any(|m| m.mount_point == root && m.fs_type == "overlay"))
    }

    /// Mounts container `name`'s overlay of `chain` (top first) at its `root`.
    fn mount(&self, name: &str, chain: &[LayerId]) -> Result<()> {
        let root = self.container_path(name).join("root");
        if chain.len() > MAX_LOWER_LAYERS {
            return Err(StorageError::Unsupported {
                driver: "overlay",
                reason: format!(
                    "container {name}: a chain of {} layers is more than overlayfs stacks ({MAX_LOWER_LAYERS})",
                    chain.len()
                ),
            });
        }
        let shorts = chain
            .iter()
            .map(|id| self.ensure_link(id))
            .collect::<Result<Vec<_>>>()?;
        // Relative to BASE/l, the mounting thread's working directory.
        let data = format!(
            "lowerdir={},upperdir=../containers/{name}/upper,workdir=../containers/{name}/work,index=off",
            shorts.join(":")
        );
        let limit = rustix::param::page_size() - 1;
        if data.len() > limit {
            return Err(StorageError::Unsupported {
                driver: "overlay",
                reason: format!(
                    "container {name}: the mount options for a chain of {} layers take {} bytes, \
                     more than the kernel accepts ({limit})",
                    chain.len(),
                    data.len()
                ),
            });
        }
        mount_overlay(&self.links_dir(), &root, &data).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(code) if code == rustix::io::Errno::PERM.raw_os_error() => {
                    " (overlay mounts need root)"
                }
                _ => " (the kernel log, dmesg, says why)",
            };
            StorageError::io(&root)(io::Error::new(
                e.kind(),
                format!(
                    "mount -t overlay failed: {e}{hint}; options {data:?} relative to {}",
                    self.links_dir().display()
                ),
            ))
        })
    }

    /// Unmounts container `name`'s root (every overlay stacked there); `InUse` when busy.
    fn unmount(&self, name: &str) -> Result<()> {
        let root = self.container_path(name).join("root");
        for _ in 0..16 {
            if !self.is_mounted(&root)? {
                return Ok(());
            }
            match rustix::mount::unmount(&root, rustix::mount::UnmountFlags::empty()) {
                Ok(()) => {}
                Err(rustix::io::Errno::BUSY) => {
                    return Err(StorageError::InUse {
                        what: "container",
                        name: name.to_string(),
                        reason: format!(
                            "its rootfs {} is busy (a process works in it or has files open \
                             there, or something is mounted below it)",
                            root.display()
                        ),
                    })
                }
                Err(rustix::io::Errno::INVAL) => return Ok(()),
                Err(e) => return Err(StorageError::io(&root)(e.into())),
            }
        }
        Err(StorageError::io(&root)(io::Error::other(
            "still mounted after 16 unmounts",
        )))
    }

    /// Moves `path` into `pending/` under a fresh locked name, so that it disappears at once,
    /// then deletes it.
    fn remove_atomically(&self, path: &Path, kind: &str, name: &str) -> Result<()> {
        let staged = self.layout.stage_other(kind, name)?;
        let trash = self.layout.pending_path(&staged.handle);
        fs::rename(path, &trash).map_err(StorageError::io(path))?;
        let removed = fs::remove_dir_all(&trash).map_err(StorageError::io(&trash));
        self.layout.release(&staged.handle);
        removed
    }
}

/// Where a layer's short link points, relative to `BASE/l`.
fn link_target(id: &LayerId) -> PathBuf {
    Path::new("../layers").join(id.as_str()).join("diff")
}

/// `mount -t overlay overlay -o DATA TARGET`, from a thread whose working directory (its own)
/// is `cwd`, so that relative paths in `data` are resolved there.
fn mount_overlay(cwd: &Path, target: &Path, data: &str) -> io::Result<()> {
    let data = CString::new(data).map_err(io::Error::other)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<()> {
                // SAFETY: CLONE_FS gives this thread its own working directory, root and umask
                // and nothing else; its file descriptors stay shared with the process.
                unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
                rustix::process::chdir(cwd)?;
                rustix::mount::mount(
                    "overlay",
                    target,
                    "overlay",
                    rustix::mount::MountFlags::empty(),
                    data.as_c_str(),
                )?;
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the mounting thread panicked")))
    })
}

/// Creates one directory, naming it in the error.
fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir(path).map_err(StorageError::io(path))
}

impl Driver for OverlayDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Overlay
    }

    fn diff_form(&self) -> DiffForm {
        DiffForm::OverlayUpper
    }

    fn has_layer(&self, id: &LayerId) -> Result<bool> {
        Ok(self.layer_path(id).join("diff").is_dir())
    }

    fn begin_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<PendingLayer> {
        let lowers = match parent {
            Some(parent) => self
                .chain(parent)?
                .iter()
                .map(|id| self.layer_path(id).join("diff"))
                .collect(),
            None => Vec::new(),
        };
        // The root directory carries the tree's owner and mode, as a full copy would.
        let attributes_from = lowers.first().cloned();
        self.begin(id, parent, attributes_from.as_deref(), lowers)
    }

    fn begin_layer_on_pending(
        &self,
        id: &LayerId,
        parent: &LayerId,
    ) -> Result<Option<PendingLayer>> {
        self.begin(id, Some(parent), None, Vec::new()).map(Some)
    }

    fn commit_layer(&self, pending: PendingLayer) -> Result<()> {
        // Shared: the parent cannot be destroyed until the new layer names it.
        let _chain = self.chain_lock(false)?;
        if self.has_layer(&pending.id)? {
            // Another process committed the same layer first; its copy is as good as ours.
            return self.abort_layer(pending);
        }
        if let Some(parent) = pending.parent.clone() {
            if !self.has_layer(&parent)? {
                self.abort_layer(pending)?;
                return Err(StorageError::NoSuchLayer(parent));
            }
        }
        let from = self.layout.pending_path(&pending.handle);
        let published = self.make_link(&pending.id).and_then(|short| {
            write_note(&from.join("link"), &short)?;
            self.layout
                .publish(&pending.handle, &pending.id, || self.has_layer(&pending.id))
        });
        match published {
            Ok(true) => Ok(()),
            // Lost a race: the layer is there now, and ours goes.
            Ok(false) => self.abort_layer(pending),
            Err(e) => {
                // Failed, unless the layer is there now after all (a race lost otherwise).
                let lost = self.has_layer(&pending.id);
                let discarded = self.abort_layer(pending);
                match lost {
                    Ok(true) => discarded,
                    _ => Err(e),
                }
            }
        }
    }

    fn abort_layer(&self, pending: PendingLayer) -> Result<()> {
        remove_tree(&self.layout.pending_path(&pending.handle))?;
        self.layout.release(&pending.handle);
        Ok(())
    }

    fn create_container(&self, name: &str, top: &LayerId) -> Result<PathBuf> {
        check_container_name(name)?;
        let _chain = self.chain_lock(false)?;
        let chain = self.chain(top)?;
        let dir = self.layout.claim_container(name)?;
        let made = self.container_lock(name).and_then(|_lock| {
            write_note(&dir.join(LAYER_NOTE), top.as_str())?;
            let upper = dir.join("upper");
            create_dir(&upper)?;
            copy_root_attributes(&self.layer_path(top).join("diff"), &upper)?;
            create_dir(&dir.join("work"))?;
            create_dir(&dir.join("root"))?;
            self.mount(name, &chain)
        });
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(dir.join("root"))
    }

    fn container_rootfs(&self, name: &str) -> Result<PathBuf> {
        check_container_name(name)?;
        let dir = self.container_path(name);
        let root = dir.join("root");
        let top = self.layout.container_top(name)?;
        if self.is_mounted(&root)? {
            return Ok(root);
        }
        // Not mounted (the host rebooted, or someone unmounted it): mount it again.
        let _chain = self.chain_lock(false)?;
        let _lock = self.container_lock(name)?;
        if !dir.join(LAYER_NOTE).is_file() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        if !self.is_mounted(&root)? {
            tracing::info!(container = name, "mounting the container's overlay again");
            let chain = self.chain(&top)?;
            self.mount(name, &chain)?;
        }
        Ok(root)
    }

    fn container_changes(&self, name: &str) -> Result<(LayerId, ContainerChanges)> {
        let top = self.layout.container_top(name)?;
        let upper = self.container_path(name).join("upper");
        Ok((top, ContainerChanges::OverlayUpper(upper)))
    }

    /// The container's upper directory is in the layers' own form (whiteouts as 0:0
    /// devices, opaque directories marked): once unmounted, it is renamed into a pending
    /// layer on the container's top and committed.
    fn adopt_container(&self, name: &str, id: &LayerId) -> Result<bool> {
        check_container_name(name)?;
        let dir = self.container_path(name);
        let _lock = self.container_lock(name)?;
        if !dir.join(LAYER_NOTE).is_file() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        let top = self.layout.container_top(name)?;
        self.unmount(name)?;
        let pending = self.begin(id, Some(&top), None, Vec::new())?;
        let upper = dir.join("upper");
        let moved = fs::remove_dir(&pending.root)
            .and_then(|()| fs::rename(&upper, &pending.root))
            .map_err(StorageError::io(&upper));
        if let Err(e) = moved {
            let _ = self.abort_layer(pending);
            return Err(e);
        }
        self.commit_layer(pending)?;
        self.remove_atomically(&dir, "removed", name)?;
        Ok(true)
    }

    fn remove_container(&self, name: &str) -> Result<()> {
        check_container_name(name)?;
        let dir = self.container_path(name);
        let _lock = self.container_lock(name)?;
        if !dir.exists() {
            return Err(StorageError::NoSuchContainer(name.to_string()));
        }
        self.unmount(name)?;
        self.remove_atomically(&dir, "removed", name)
    }

    fn destroy_layer(&self, id: &LayerId) -> Result<()> {
        let _chain = self.chain_lock(true)?;
        if !self.has_layer(id)? {
            return Err(StorageError::NoSuchLayer(id.clone()));
        }
        let in_use = |reason: String| StorageError::InUse {
            what: "layer",
            name: id.to_string(),
            reason,
        };
        for child in self.layout.entries(DatasetKind::Layer, "diff")? {
            if child.parent.as_ref() == Some(id) {
                return Err(in_use(format!("layer {} is built on it", child.name)));
            }
        }
        for container in self.layout.entries(DatasetKind::Container, "upper")? {
            // A chain that cannot be read (a layer missing) cannot be mounted either.
            let uses = container
                .parent
                .is_some_and(|top| self.chain(&top).is_ok_and(|c| c.contains(id)));
            if uses {
                return Err(in_use(format!(
                    "container {} is made from it",
                    container.name
                )));
            }
        }
        let path = self.layer_path(id);
        let short = fs::read_to_string(path.join("link")).ok();
        self.remove_atomically(&path, "destroyed", id.as_str())?;
        if let Some(short) = short {
            let link = self.links_dir().join(short.trim());
            if fs::read_link(&link).ok() == Some(link_target(id)) {
                let _ = fs::remove_file(&link);
            }
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<Dataset>> {
        self.layout
            .list("diff", "upper", |entry| tree_bytes(&entry.tree))
    }

    fn clean_leftovers(&self) -> Result<Vec<String>> {
        let removed = self.layout.clean_abandoned(remove_tree)?;
        // Links to layers that were never committed or are gone. A link removed just before
        // its layer's commit completes is made again when a container needs it.
        let links = self.links_dir();
        let entries = fs::read_dir(&links).map_err(StorageError::io(&links))?;
        for entry in entries.flatten() {
            let link = entry.path();
            if fs::symlink_metadata(&link).is_ok_and(|m| m.is_symlink()) && !link.exists() {
                let _ = fs::remove_file(&link);
            }
        }
        Ok(removed)
    }
}
