//! Quotas on pending layer datasets: the apply stream bounds what a layer may write, and on
//! zfs the dataset being built is bounded too, so that whatever the stream does not count
//! (metadata, a bug) still cannot fill the pool. Lifted when the layer is committed: a
//! committed layer is read-only, and its containers are clones that the quota does not cover.

use std::collections::HashSet;
use std::sync::Mutex;

use super::cli::Zfs;
use crate::command::CommandFailure;

/// Above this a quota is pointless (and zfs refuses values near `u64::MAX`): none is set.
const UNBOUNDED: u64 = 1 << 60;

/// The quota for a layer limited to `bytes` by the apply stream: the limit, plus a quarter
/// and 64 MiB for what zfs itself spends (metadata, indirect blocks, the copies of a clone's
/// blocks that the layer rewrites), so that the stream's own limit, with its clear error, is
/// what a layer meets first. `None` when there is nothing worth bounding.
pub(crate) fn quota_for(bytes: u64) -> Option<u64> {
    let quota = bytes
        .saturating_add(bytes / 4)
        .saturating_add(64 * 1024 * 1024);
    (quota < UNBOUNDED).then_some(quota)
}

/// The pending datasets this driver put a quota on, to lift at commit.
#[derive(Debug, Default)]
pub(crate) struct Quotas(Mutex<HashSet<String>>);

impl Quotas {
    /// `zfs set quota=BYTES DATASET`, remembered.
    pub(crate) fn set(&self, zfs: &Zfs, dataset: &str, bytes: u64) -> Result<(), CommandFailure> {
        zfs.set(dataset, "quota", &bytes.to_string())?;
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dataset.to_string());
        Ok(())
    }

    /// `zfs set quota=none DATASET` if this driver set one; forgotten either way.
    pub(crate) fn lift(&self, zfs: &Zfs, dataset: &str) -> Result<(), CommandFailure> {
        let had = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(dataset);
        if had {
            zfs.set(dataset, "quota", "none")?;
        }
        Ok(())
    }

    /// Forgets a dataset that was destroyed.
    pub(crate) fn forget(&self, dataset: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(dataset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_leave_room_above_the_limit_and_none_for_huge_ones() {
        let mib = 1024 * 1024;
        assert_eq!(quota_for(16 * mib), Some(84 * mib));
        assert_eq!(quota_for(64 << 30), Some((80 << 30) + 64 * mib));
        assert_eq!(quota_for(u64::MAX), None);
    }
}
