//! The one way in for the flows that touch storage: a store root and its storage choice, taken
//! once per command. The layout and the driver are opened when a flow first needs them, in
//! the order the flow needs them (so that `gc` and `df` on a store never unpacked from choose
//! and record nothing, and removing a bundle creates no layout).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use aurora_storage::Driver;
use aurora_store::Store;

use crate::commit::{commit, CommitOptions, CommitReport};
use crate::error::Result;
use crate::progress::Progress;
use crate::storage::{open_storage, open_storage_if_used, open_zfs_storage, StorageChoice};
use crate::unpack::{remove_bundle, unpack, UnpackOptions, UnpackReport};
use crate::usage::{collect_layers, disk_usage, Usage};

/// A store with the storage it keeps its layers and containers in.
pub struct Images {
    /// The layout, once a flow has opened it.
    store: OnceCell<Store>,
    root: PathBuf,
    choice: StorageChoice,
    /// The driver, once a flow has opened it.
    driver: OnceCell<Box<dyn Driver>>,
}

impl Images {
    /// The store at `root`; `choice` is the storage asked for (checked against the one the
    /// store records when the driver is opened). Nothing is opened yet.
    pub fn new(root: &Path, choice: StorageChoice) -> Images {
        Images {
            store: OnceCell::new(),
            root: root.to_path_buf(),
            choice,
            driver: OnceCell::new(),
        }
    }

    /// The image layout, opened (and created when missing) on first use.
    pub fn store(&self) -> Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = Store::open(&self.root)?;
        Ok(self.store.get_or_init(|| store))
    }

    /// The storage, choosing and recording its driver if the store has none yet.
    pub fn storage(&self) -> Result<&dyn Driver> {
        if let Some(driver) = self.driver.get() {
            return Ok(driver.as_ref());
        }
        let driver = open_storage(&self.root, &self.choice)?;
        Ok(self.driver.get_or_init(|| driver).as_ref())
    }

    /// The storage if the store has a driver already; `None` for a store never unpacked from.
    pub fn storage_in_use(&self) -> Result<Option<&dyn Driver>> {
        if let Some(driver) = self.driver.get() {
            return Ok(Some(driver.as_ref()));
        }
        Ok(open_storage_if_used(&self.root, &self.choice)?
            .map(|driver| self.driver.get_or_init(|| driver).as_ref()))
    }

    /// The storage as the zfs driver itself, for what only zfs can do (SmartOS images).
    pub fn zfs_storage(&self) -> Result<aurora_storage::zfs::ZfsDriver> {
        open_zfs_storage(&self.root, &self.choice)
    }

    /// See [`crate::unpack()`].
    pub fn unpack(
        &self,
        reference: &str,
        bundle: &Path,
        options: &UnpackOptions,
        progress: &dyn Progress,
    ) -> Result<UnpackReport> {
        let store = self.store()?;
        unpack(store, self.storage()?, reference, bundle, options, progress)
    }

    /// See [`crate::commit()`]; `None` when nothing was ever unpacked in this store, so there
    /// is no container to commit.
    pub fn commit(
        &self,
        container: &str,
        reference: &str,
        options: &CommitOptions,
        progress: &dyn Progress,
    ) -> Result<Option<CommitReport>> {
        let Some(driver) = self.storage_in_use()? else {
            return Ok(None);
        };
        commit(
            self.store()?,
            driver,
            container,
            reference,
            options,
            progress,
        )
        .map(Some)
    }

    /// See [`crate::remove_bundle()`].
    pub fn remove_bundle(&self, bundle: &Path) -> Result<String> {
        remove_bundle(&self.root, &self.choice, bundle)
    }

    /// The layers and containers no image or bundle uses, removed; none for a store never
    /// unpacked from.
    pub fn collect_layers(&self) -> Result<Vec<aurora_storage::LayerId>> {
        match self.storage_in_use()? {
            Some(driver) => collect_layers(self.store()?, driver),
            None => Ok(Vec::new()),
        }
    }

    /// Disk usage per layer and container; none for a store never unpacked from.
    pub fn disk_usage(&self) -> Result<Vec<Usage>> {
        match self.storage_in_use()? {
            Some(driver) => disk_usage(self.store()?, driver),
            None => Ok(Vec::new()),
        }
    }
}
