//! Which storage driver a store uses. A store keeps its layers and containers with one driver
//! for its whole life: chosen at its first unpack (from the flags, else from the filesystem
//! under the store), recorded in `ROOT/.aurora/storage.json`, and used from then on. Asking for
//! another one is an error rather than a second, invisible set of layers.

use std::path::{Path, PathBuf};

use aurora_storage::detect::{self, Suggestion};
use aurora_storage::{Driver, DriverKind, StorageError};
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};

/// The record of a store's driver, beside the store's other private state.
const RECORD: &str = ".aurora/storage.json";

/// Where and with which driver a store keeps its layers and containers.
#[derive(Debug, Clone, Default)]
pub struct StorageChoice {
    /// The driver; chosen from the filesystem under the store when `None`.
    pub driver: Option<DriverKind>,
    /// For zfs: the dataset under which layers and containers live.
    pub zfs_dataset: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    driver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zfs_dataset: Option<String>,
}

/// Opens the storage of the store at `store_root`, choosing and recording its driver if it
/// has none yet: `STORE/storage` for the directory-based drivers; for zfs the given dataset,
/// or, when the store root is itself where a dataset is mounted, its child `storage` (which
/// then mounts at `STORE/storage`).
pub fn open_storage(store_root: &Path, choice: &StorageChoice) -> Result<Box<dyn Driver>> {
    let store_root = absolute(store_root)?;
    if let Some(record) = read_record(&store_root)? {
        check_choice(&store_root, &record, choice)?;
        return open_recorded(&store_root, &record);
    }
    let record = decide(&store_root, choice)?;
    let driver = open_recorded(&store_root, &record)?;
    write_record(&store_root, &record)?;
    Ok(driver)
}

/// The store's storage if it has a driver already; `None` for a store never unpacked from
/// (so that `gc` and `df` create nothing).
pub fn open_storage_if_used(
    store_root: &Path,
    choice: &StorageChoice,
) -> Result<Option<Box<dyn Driver>>> {
    let store_root = absolute(store_root)?;
    match read_record(&store_root)? {
        Some(record) => {
            check_choice(&store_root, &record, choice)?;
            open_recorded(&store_root, &record).map(Some)
        }
        None => Ok(None),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: std::io::Error) -> ImageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
    .into()
}

fn read_record(store_root: &Path) -> Result<Option<Record>> {
    let path = store_root.join(RECORD);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path, e)),
    };
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| ImageError::StorageRecord {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    record
        .driver
        .parse::<DriverKind>()
        .map_err(|reason| ImageError::StorageRecord { path, reason })?;
    Ok(Some(record))
}

/// Written once, atomically: a crash leaves either no record or a whole one.
fn write_record(store_root: &Path, record: &Record) -> Result<()> {
    let path = store_root.join(RECORD);
    let dir = path.parent().unwrap_or(store_root);
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let temp = dir.join(format!("storage.json.{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
    std::fs::write(&temp, bytes)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            io_error(&path, e)
        })
}

/// A choice that contradicts the record is refused, naming both.
fn check_choice(store_root: &Path, record: &Record, choice: &StorageChoice) -> Result<()> {
    let driver_differs = choice.driver.is_some_and(|d| d.name() != record.driver);
    let dataset_differs = choice
        .zfs_dataset
        .as_ref()
        .is_some_and(|d| Some(d) != record.zfs_dataset.as_ref());
    if driver_differs || dataset_differs {
        let wanted = match (&choice.driver, &choice.zfs_dataset) {
            (_, Some(dataset)) => format!("zfs dataset {dataset}"),
            (Some(kind), None) => format!("the {} driver", kind.name()),
            (None, None) => unreachable!("a choice without a driver or dataset differs from none"),
        };
        let recorded = match &record.zfs_dataset {
            Some(dataset) => format!("zfs dataset {dataset}"),
            None => format!("the {} driver", record.driver),
        };
        return Err(ImageError::StorageMismatch {
            root: store_root.to_path_buf(),
            recorded,
            wanted,
        });
    }
    Ok(())
}

fn decide(store_root: &Path, choice: &StorageChoice) -> Result<Record> {
    let zfs = |dataset: String| Record {
        driver: DriverKind::Zfs.name().into(),
        zfs_dataset: Some(dataset),
    };
    let other = |kind: DriverKind| Record {
        driver: kind.name().into(),
        zfs_dataset: None,
    };
    Ok(match (choice.driver, &choice.zfs_dataset) {
        (Some(DriverKind::Zfs) | None, Some(dataset)) => zfs(dataset.clone()),
        (Some(kind), Some(_)) => {
            return Err(StorageError::Unsupported {
                driver: kind.name(),
                reason: "--zfs-dataset is for the zfs driver only".into(),
            }
            .into())
        }
        (Some(DriverKind::Zfs), None) => match detected(store_root) {
            Suggestion::Zfs(dataset) => zfs(dataset),
            Suggestion::Other(_) => {
                return Err(StorageError::Unsupported {
                    driver: "zfs",
                    reason: format!(
                        "{} is not where a ZFS dataset is mounted: name the dataset to use with \
                         --zfs-dataset (or [storage] zfs_dataset in aurora.toml)",
                        store_root.display()
                    ),
                }
                .into())
            }
        },
        (Some(kind), None) => other(kind),
        (None, None) => match detected(store_root) {
            Suggestion::Zfs(dataset) => zfs(dataset),
            Suggestion::Other(kind) => other(kind),
        },
    })
}

fn open_recorded(store_root: &Path, record: &Record) -> Result<Box<dyn Driver>> {
    let base = store_root.join("storage");
    let kind: DriverKind = record
        .driver
        .parse()
        .map_err(|reason| ImageError::StorageRecord {
            path: store_root.join(RECORD),
            reason,
        })?;
    Ok(match (kind, &record.zfs_dataset) {
        (DriverKind::Zfs, Some(dataset)) => Box::new(aurora_storage::zfs::ZfsDriver::new(
            dataset,
            zfs_state_dir(dataset),
        )?),
        (DriverKind::Zfs, None) => {
            return Err(ImageError::StorageRecord {
                path: store_root.join(RECORD),
                reason: "the zfs driver is recorded without a dataset".into(),
            })
        }
        (DriverKind::Dir, _) => Box::new(aurora_storage::dir::DirDriver::new(base)?),
        #[cfg(target_os = "linux")]
        (DriverKind::Btrfs, _) => Box::new(aurora_storage::btrfs::BtrfsDriver::new(base)?),
        #[cfg(target_os = "linux")]
        (DriverKind::Overlay, _) => Box::new(aurora_storage::overlay::OverlayDriver::new(base)?),
        #[allow(unreachable_patterns)]
        (kind, _) => {
            return Err(StorageError::Unsupported {
                driver: kind.name(),
                reason: "this driver is for Linux only".into(),
            }
            .into())
        }
    })
}

/// The store's storage as the zfs driver itself, for what only zfs can do (SmartOS images);
/// chosen and recorded as [`open_storage`] does, and refused when the store uses another.
pub fn open_zfs_storage(
    store_root: &Path,
    choice: &StorageChoice,
) -> Result<aurora_storage::zfs::ZfsDriver> {
    let store_root = absolute(store_root)?;
    let (record, new) = match read_record(&store_root)? {
        Some(record) => {
            check_choice(&store_root, &record, choice)?;
            (record, false)
        }
        None => (decide(&store_root, choice)?, true),
    };
    let Some(dataset) = record
        .zfs_dataset
        .as_ref()
        .filter(|_| record.driver == DriverKind::Zfs.name())
    else {
        return Err(ImageError::StorageMismatch {
            root: store_root,
            recorded: format!("the {} driver", record.driver),
            wanted: "the zfs driver".into(),
        });
    };
    let driver = aurora_storage::zfs::ZfsDriver::new(dataset, zfs_state_dir(dataset))?;
    if new {
        write_record(&store_root, &record)?;
    }
    Ok(driver)
}

/// The driver the filesystem under the store suggests. ZFS only when the store root is
/// exactly where a dataset is mounted, as `DATASET/storage` (which then mounts at
/// `STORE/storage` by inheritance, beside the image layout); a store deeper inside a dataset
/// gets the dir driver: that tree is not ours to carve datasets out of.
fn detected(store_root: &Path) -> Suggestion {
    let canonical = store_root
        .canonicalize()
        .unwrap_or_else(|_| store_root.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| detect::parse_mountinfo(&t))
        .unwrap_or_default();
    let mount = detect::mount_of(&mounts, &canonical);
    match detect::suggest(mount, is_root()) {
        Suggestion::Zfs(dataset) if mount.is_some_and(|m| m.mount_point == canonical) => {
            Suggestion::Zfs(format!("{dataset}/storage"))
        }
        Suggestion::Zfs(_) => Suggestion::Other(DriverKind::Dir),
        other => other,
    }
}

/// Where the zfs driver keeps the locks of pending layers: one directory per dataset for the
/// whole machine, so that every store using the dataset agrees. Under /var/run (/run on
/// Linux, which a reboot empties along with the builders those locks belonged to).
fn zfs_state_dir(dataset: &str) -> PathBuf {
    PathBuf::from("/var/run/aurora/zfs").join(dataset.replace('/', "%"))
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
