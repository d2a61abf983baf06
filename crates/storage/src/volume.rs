//! Where podadm's named volumes keep their data, made and destroyed by the store's driver:
//! a zfs dataset `PARENT/volumes/NAME` mounted on the volume's data directory, a btrfs
//! subvolume, or a plain directory (dir and overlay stores). Only this module and the
//! drivers speak zfs and btrfs; the engine keeps the volumes' metadata.

use std::fs;
use std::io;
use std::path::Path;

#[cfg(target_os = "linux")]
use crate::btrfs::cli::Btrfs;
use crate::zfs::cli::is_missing;
use crate::zfs::ZfsDriver;
use crate::{DriverKind, Result, StorageError};

/// How volumes are made.
#[derive(Debug)]
pub struct VolumeStorage(Kind);

#[derive(Debug)]
enum Kind {
    /// A directory.
    Dir,
    /// A btrfs subvolume (the data directory's filesystem must be btrfs).
    #[cfg(target_os = "linux")]
    Btrfs(Btrfs),
    /// A dataset below the driver's parent dataset.
    Zfs(ZfsDriver),
}

impl VolumeStorage {
    /// The volume storage that goes with a store's driver: zfs datasets below
    /// `zfs_dataset` (with the driver's state in `zfs_state_dir`, as the store's zfs driver
    /// keeps it), btrfs subvolumes, else directories (overlay and dir stores).
    pub fn for_driver(
        kind: DriverKind,
        zfs_dataset: Option<&str>,
        zfs_state_dir: &Path,
    ) -> Result<Self> {
        match (kind, zfs_dataset) {
            (DriverKind::Zfs, Some(dataset)) => Ok(VolumeStorage::zfs(ZfsDriver::new(
                dataset,
                zfs_state_dir.to_path_buf(),
            )?)),
            (DriverKind::Zfs, None) => Err(StorageError::Unsupported {
                driver: "zfs",
                reason: "volumes need the store's zfs dataset".into(),
            }),
            #[cfg(target_os = "linux")]
            (DriverKind::Btrfs, _) => Ok(VolumeStorage::btrfs()),
            _ => Ok(VolumeStorage::dir()),
        }
    }

    /// Volumes as plain directories.
    pub fn dir() -> Self {
        VolumeStorage(Kind::Dir)
    }

    /// Volumes as btrfs subvolumes, made by the system's `btrfs`.
    #[cfg(target_os = "linux")]
    pub fn btrfs() -> Self {
        VolumeStorage(Kind::Btrfs(Btrfs::system()))
    }

    /// Volumes as datasets `PARENT/volumes/NAME` of the store's zfs driver.
    pub fn zfs(driver: ZfsDriver) -> Self {
        VolumeStorage(Kind::Zfs(driver))
    }

    /// `zfs`, `btrfs` or `dir`: what `volume inspect` reports as the driver.
    pub fn name(&self) -> &'static str {
        match &self.0 {
            Kind::Dir => "dir",
            #[cfg(target_os = "linux")]
            Kind::Btrfs(_) => "btrfs",
            Kind::Zfs(_) => "zfs",
        }
    }

    /// The dataset of volume `name`, on zfs.
    pub fn dataset(&self, name: &str) -> Option<String> {
        match &self.0 {
            Kind::Zfs(driver) => Some(format!("{}/volumes/{name}", driver.parent_dataset())),
            _ => None,
        }
    }

    /// Makes volume `name`'s storage at `data_dir`, which must not exist yet (its parent
    /// must).
    pub fn create(&self, name: &str, data_dir: &Path) -> Result<()> {
        check_name(name)?;
        match &self.0 {
            Kind::Dir => fs::create_dir(data_dir).map_err(StorageError::io(data_dir)),
            #[cfg(target_os = "linux")]
            Kind::Btrfs(btrfs) => Ok(btrfs.create_subvolume(data_dir)?),
            Kind::Zfs(driver) => {
                let dataset = self.dataset(name).unwrap_or_default();
                let mountpoint = format!("mountpoint={}", data_dir.display());
                let created = driver.mounting(|| {
                    driver
                        .cli()
                        .run(&["create", "-p", "-o", &mountpoint, &dataset])
                        .map(drop)
                })?;
                created?;
                driver.mounted(&dataset).map(drop)
            }
        }
    }

    /// Mounts volume `name` again where it is not (zfs after a reboot or an export); nothing
    /// for the others.
    pub fn ensure_mounted(&self, name: &str) -> Result<()> {
        match (&self.0, self.dataset(name)) {
            (Kind::Zfs(driver), Some(dataset)) => driver.mounted(&dataset).map(drop),
            _ => Ok(()),
        }
    }

    /// Destroys volume `name`'s storage and its data directory; nothing if it is gone.
    pub fn destroy(&self, name: &str, data_dir: &Path) -> Result<()> {
        check_name(name)?;
        match &self.0 {
            Kind::Dir => match fs::remove_dir_all(data_dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::io(data_dir)(e)),
                _ => Ok(()),
            },
            #[cfg(target_os = "linux")]
            Kind::Btrfs(btrfs) => btrfs.delete_subvolume(data_dir),
            Kind::Zfs(driver) => {
                let dataset = self.dataset(name).unwrap_or_default();
                match driver.destroy(&dataset) {
                    Ok(_) => {}
                    Err(StorageError::Command(e)) if is_missing(&e) => {}
                    Err(e) => return Err(e),
                }
                // The empty mountpoint directory zfs leaves behind.
                match fs::remove_dir(data_dir) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        Err(StorageError::io(data_dir)(e))
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

/// A volume name becomes a dataset and a directory name: one safe component.
fn check_name(name: &str) -> Result<()> {
    if crate::is_safe_name(name, 200) {
        Ok(())
    } else {
        Err(StorageError::BadVolumeName(name.to_string()))
    }
}
