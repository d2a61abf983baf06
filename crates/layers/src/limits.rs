//! Bounds on what applying layers may write, so that a small hostile blob (a gzip of zeros, a
//! tar of millions of empty files) cannot fill the disk: one limit per layer, and one budget
//! shared by the layers of an image (applied one after the other or side by side).
//!
//! What counts: every entry costs [`ENTRY_COST`] (an inode and a directory slot, whatever its
//! kind, so millions of empty files are bounded like millions of small ones), plus, for a
//! regular file, its declared size — holes included, since a sparse file is only sparse on a
//! filesystem that keeps it so. An entry is charged before it is written: the one that would
//! cross a limit is refused, so a layer never writes past it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ErrorKind;

/// What one entry costs besides its contents: one filesystem block.
pub const ENTRY_COST: u64 = 4096;

/// A number of bytes and what sets it, for the error that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// Where a user changes it, e.g. "max_layer_unpacked_size in the [limits] section of the
    /// config file".
    pub setting: String,
}

/// A budget shared by several layers (one image's): what they used so far, against a limit.
#[derive(Debug)]
pub struct SharedBudget {
    limit: Limit,
    used: AtomicU64,
}

impl SharedBudget {
    pub fn new(limit: Limit) -> Self {
        SharedBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes charged so far, by every layer that drew on it.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> &Limit {
        &self.limit
    }
}

/// Counts one layer's entries against its own limit and the shared budget.
pub(crate) struct Meter<'a> {
    layer: Option<&'a Limit>,
    shared: Option<&'a SharedBudget>,
    pub(crate) used: u64,
}

impl<'a> Meter<'a> {
    pub(crate) fn new(layer: Option<&'a Limit>, shared: Option<&'a SharedBudget>) -> Self {
        Meter {
            layer,
            shared,
            used: 0,
        }
    }

    /// Charges `bytes` about to be written, or refuses them naming the limit they break.
    pub(crate) fn charge(&mut self, bytes: u64) -> Result<(), ErrorKind> {
        let after = self.used.saturating_add(bytes);
        if let Some(limit) = self.layer.filter(|l| after > l.bytes) {
            return Err(ErrorKind::TooLarge {
                scope: "one layer",
                limit: limit.bytes,
                setting: limit.setting.clone(),
            });
        }
        if let Some(shared) = self.shared {
            let before = shared.used.fetch_add(bytes, Ordering::Relaxed);
            if before.saturating_add(bytes) > shared.limit.bytes {
                // Not written, so not used.
                shared.used.fetch_sub(bytes, Ordering::Relaxed);
                return Err(ErrorKind::TooLarge {
                    scope: "one image",
                    limit: shared.limit.bytes,
                    setting: shared.limit.setting.clone(),
                });
            }
        }
        self.used = after;
        Ok(())
    }
}

impl Meter<'_> {
    /// Gives back to the shared budget what this layer drew from it (the layer is discarded).
    pub(crate) fn refund(&mut self) {
        if let Some(shared) = self.shared {
            shared.used.fetch_sub(self.used, Ordering::Relaxed);
        }
        self.used = 0;
    }
}

impl SharedBudget {
    /// Gives back what a layer that is discarded after it was applied (to be laid down again
    /// another way) drew: its [`crate::ApplyReport::unpacked_bytes`].
    pub fn refund(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(bytes: u64, setting: &str) -> Limit {
        Limit {
            bytes,
            setting: setting.into(),
        }
    }

    #[test]
    fn the_layer_limit_and_the_shared_budget_both_hold() {
        let layer = limit(100, "layer-key");
        let shared = SharedBudget::new(limit(150, "image-key"));
        let mut first = Meter::new(Some(&layer), Some(&shared));
        first.charge(100).unwrap();
        assert!(matches!(
            first.charge(1),
            Err(ErrorKind::TooLarge { limit: 100, ref setting, .. }) if setting == "layer-key"
        ));
        let mut second = Meter::new(Some(&layer), Some(&shared));
        second.charge(50).unwrap();
        assert!(matches!(
            second.charge(1),
            Err(ErrorKind::TooLarge { limit: 150, ref setting, .. }) if setting == "image-key"
        ));
        // A discarded layer gives its share back.
        second.refund();
        assert_eq!(shared.used(), 100);
        let mut unbounded = Meter::new(None, None);
        unbounded.charge(u64::MAX).unwrap();
        unbounded.charge(1).unwrap();
    }
}
