//! Storage drivers: an image's layers laid down once per host as a chain of snapshots, and
//! every container root a writable clone of the top one.
//!
//! Each driver implements [`Driver`]. A layer is built under a temporary name
//! ([`Driver::begin_layer`]: empty, or a writable copy/clone of its parent), the layer's diff
//! is applied there by the caller (in the form [`Driver::diff_form`] asks for), and only
//! [`Driver::commit_layer`] gives it its final name, frozen. A crash or kill in between
//! leaves only a pending layer, which no later unpack trusts and [`Driver::clean_leftovers`]
//! removes.
//!
//! | driver | layer | container |
//! | --- | --- | --- |
//! | `zfs` | dataset `PARENT/layers/ID` (clone of the parent's `@final`), snapshot `@final` | clone of the top `@final` |
//! | `btrfs` | read-only subvolume (snapshot of the parent's) | writable snapshot of the top |
//! | `overlay` | a directory holding only the layer's diff (overlayfs whiteouts) | overlay mount of the chain |
//! | `dir` | a full copy of the tree (reflinks where the filesystem has them) | a copy of the top |
//!
//! Every layer and container keeps its root filesystem in a `root/` directory inside its
//! dataset, so that a zfs container dataset can serve as an illumos zonepath as it is.
//!
//! The dir, btrfs and overlay drivers share one directory layout (`layout`: paths, notes,
//! listing, pending layers staged, published and cleaned); zfs keeps its layers as datasets.
//! zfs and btrfs run their commands through thin wrappers (`zfs::cli`, `btrfs::cli`) over an
//! [`command::Runner`]: the system's in production, a stateful fake in tests
//! ([`zfs::ZfsDriver::with_runner`], [`btrfs::BtrfsDriver::with_runner`]). Every driver passes
//! one conformance suite (`tests/conformance`).

#[cfg(target_os = "linux")]
pub mod btrfs;
pub use aurora_command as command;
pub mod detect;
pub mod dir;
#[doc(hidden)]
pub mod fuzzing;
mod layout;
#[cfg(target_os = "linux")]
pub mod overlay;
mod pending;
pub mod volume;
pub mod zfs;

use std::fmt;
use std::path::PathBuf;

use aurora_spec::Digest;
use serde::Serialize;

pub use command::CommandFailure;

/// What can go wrong in a storage driver.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Command(#[from] CommandFailure),
    #[error("layer {0} does not exist")]
    NoSuchLayer(LayerId),
    #[error("container {0} does not exist")]
    NoSuchContainer(String),
    #[error("container {0} already exists")]
    ContainerExists(String),
    #[error("invalid container name {0:?}: use letters, digits, '-', '_' and '.', up to 63 characters, not starting with '.' or '-'")]
    BadContainerName(String),
    #[error("invalid volume name {0:?}: use letters, digits, '-', '_' and '.', not starting with '.' or '-'")]
    BadVolumeName(String),
    #[error("{what} {name} is still in use: {reason}")]
    InUse {
        what: &'static str,
        name: String,
        reason: String,
    },
    #[error("storage driver {driver}: {reason}")]
    Unsupported {
        driver: &'static str,
        reason: String,
    },
    /// A received dataset that is not what its stream announced or what the driver set.
    #[error("received dataset {dataset}: {reason}")]
    Received { dataset: String, reason: String },
    /// A `zfs send` stream refused from its first record, before `zfs receive` saw it.
    #[error("zfs stream {label}: {source}")]
    Stream {
        label: String,
        #[source]
        source: zfs::stream::StreamError,
    },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { path, source }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A layer's name in storage: the hex of its chain ID, so that two images sharing base
/// layers share their datasets, and a valid file and dataset name everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LayerId(String);

impl LayerId {
    pub fn from_chain_id(chain_id: &Digest) -> Self {
        LayerId(chain_id.digest().to_string())
    }

    /// Parses a name read back from storage; `None` for anything that is not 64 hex digits.
    pub fn parse(name: &str) -> Option<Self> {
        let valid =
            name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| LayerId(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a container name: it becomes a directory and dataset name (and, on illumos, part
/// of a zone name), so it is kept to a safe alphabet.
pub fn check_container_name(name: &str) -> Result<()> {
    if is_safe_name(name, 63) {
        Ok(())
    } else {
        Err(StorageError::BadContainerName(name.to_string()))
    }
}

/// One path component and dataset name: letters, digits, `-`, `_` and `.`, not starting
/// with `.` or `-`, at most `max_len` bytes.
pub(crate) fn is_safe_name(name: &str, max_len: usize) -> bool {
    !name.is_empty()
        && name.len() <= max_len
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Gives `to` the owner and mode of `from` (the root directory of a layer that does not set
/// its own takes its parent's, as a full copy of the tree would).
#[cfg(unix)]
pub fn copy_root_attributes(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(from).map_err(StorageError::io(from))?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(StorageError::io(to))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(StorageError::io(to))
}

/// How a layer's diff must be written into a pending layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffForm {
    /// The pending layer holds its parent's whole tree; whiteouts delete from it.
    FullTree,
    /// The pending layer is empty and holds only this layer's changes, with whiteouts as
    /// overlayfs writes them (0:0 character devices, `trusted.overlay.opaque`).
    OverlayUpper,
}

/// Where the changes a container made to its top layer can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerChanges {
    /// An overlayfs upper directory: the container's writes alone, whiteouts and opaque
    /// directories in overlayfs's form.
    OverlayUpper(PathBuf),
    /// The container's tree and its top layer's, to compare. `inodes_kept`: the container is
    /// a clone (zfs, btrfs), in which unchanged files keep their inode and ctime.
    Trees {
        base: PathBuf,
        changed: PathBuf,
        inodes_kept: bool,
    },
}

/// Which driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Zfs,
    Btrfs,
    Overlay,
    Dir,
}

impl DriverKind {
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Zfs => "zfs",
            DriverKind::Btrfs => "btrfs",
            DriverKind::Overlay => "overlay",
            DriverKind::Dir => "dir",
        }
    }
}

impl std::str::FromStr for DriverKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "zfs" => Ok(DriverKind::Zfs),
            "btrfs" => Ok(DriverKind::Btrfs),
            "overlay" => Ok(DriverKind::Overlay),
            "dir" => Ok(DriverKind::Dir),
            other => Err(format!(
                "unknown storage driver {other:?}: use zfs, btrfs, overlay or dir"
            )),
        }
    }
}

/// A layer being built: apply the diff under `root`, then commit or abort it.
#[derive(Debug)]
pub struct PendingLayer {
    pub id: LayerId,
    pub parent: Option<LayerId>,
    /// The directory to apply the layer's diff into.
    pub root: PathBuf,
    /// For [`DiffForm::OverlayUpper`]: the diff directories of the layers below, topmost
    /// first (a hardlink to a lower file is made by copying it up from these). Empty for the
    /// other drivers, whose pending layer already holds the whole tree.
    pub lowers: Vec<PathBuf>,
    /// The driver's own name for the pending dataset or directory.
    pub(crate) handle: String,
    /// Held while the layer is pending, so that `clean_leftovers` in another process can tell
    /// an abandoned pending layer from one being built.
    pub(crate) _lock: std::fs::File,
}

/// What `list` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dataset {
    pub name: String,
    pub kind: DatasetKind,
    /// The layer this one was made from (a layer's parent, a container's top layer).
    pub parent: Option<LayerId>,
    /// Bytes the dataset holds beyond what it shares with its parent, where the driver can
    /// tell; the whole tree otherwise.
    pub used_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Layer,
    Container,
}

/// A storage driver. Implementations must be safe against concurrent processes doing the
/// same work: two unpacks of one layer each build their own pending layer, and the second
/// commit finds the layer present and discards its copy.
pub trait Driver: Send + Sync {
    fn kind(&self) -> DriverKind;

    /// The form in which a diff is applied to this driver's pending layers.
    fn diff_form(&self) -> DiffForm;

    /// Whether the layer exists, committed.
    fn has_layer(&self, id: &LayerId) -> Result<bool>;

    /// Starts layer `id` on top of `parent` (which must exist), under a temporary name.
    fn begin_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<PendingLayer>;

    /// Starts layer `id` on a parent that may itself still be pending, so that layers can be
    /// applied side by side; they must still be committed base first. Only drivers whose
    /// pending layers hold just their own changes ([`DiffForm::OverlayUpper`]) can: the
    /// others return `None`. The pending layer has no `lowers`, and its root keeps default
    /// attributes (the caller copies the parent's when the layer does not set them).
    fn begin_layer_on_pending(
        &self,
        _id: &LayerId,
        _parent: &LayerId,
    ) -> Result<Option<PendingLayer>> {
        Ok(None)
    }

    /// Bounds what the pending layer may hold to about `bytes` (plus the filesystem's own
    /// overhead), where storage can enforce it itself: zfs puts a `quota` on the pending
    /// dataset, lifted when it is committed. The others do nothing: the apply stream's own
    /// limit is what bounds them.
    fn limit_pending(&self, _pending: &mut PendingLayer, _bytes: u64) -> Result<()> {
        Ok(())
    }

    /// Freezes the pending layer under its final name. If another process committed the same
    /// layer meanwhile, this one is discarded and that is not an error.
    fn commit_layer(&self, pending: PendingLayer) -> Result<()>;

    /// Throws a pending layer away.
    fn abort_layer(&self, pending: PendingLayer) -> Result<()>;

    /// A new writable container root cloned from layer `top`; returns the rootfs path.
    fn create_container(&self, name: &str, top: &LayerId) -> Result<PathBuf>;

    /// The rootfs of an existing container.
    fn container_rootfs(&self, name: &str) -> Result<PathBuf>;

    /// The container's top layer, and where the changes made since can be read.
    fn container_changes(&self, name: &str) -> Result<(LayerId, ContainerChanges)>;

    /// Makes container `name`'s changes committed layer `id` on the container's top layer,
    /// as they are (no copy), and removes the container: a build step's clone becomes the
    /// next step's base. Drivers that cannot return `Ok(false)` and leave the container as
    /// it was (the caller then lays the layer down from its blob).
    fn adopt_container(&self, _name: &str, _id: &LayerId) -> Result<bool> {
        Ok(false)
    }

    /// Removes a container and everything in it.
    fn remove_container(&self, name: &str) -> Result<()>;

    /// Removes a committed layer; refused while containers or other layers depend on it.
    fn destroy_layer(&self, id: &LayerId) -> Result<()>;

    /// Every layer and container.
    fn list(&self) -> Result<Vec<Dataset>>;

    /// Removes pending layers left by crashed or killed unpacks; returns their names.
    fn clean_leftovers(&self) -> Result<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_ids_are_64_lowercase_hex_digits_and_nothing_else() {
        assert!(LayerId::parse(&"a".repeat(64)).is_some());
        assert!(LayerId::parse("../etc").is_none());
        assert!(LayerId::parse(&"A".repeat(64)).is_none());
        assert!(LayerId::parse(&"a".repeat(63)).is_none());
    }
}
