//! Laying layers down in storage: the missing part of an image's chain found, each layer's
//! blob applied onto a pending layer (side by side where the driver allows) and committed
//! base first.

use std::sync::Arc;

use aurora_layers::{
    ApplyOptions, ApplyReport, Compression, IdMap, Limit, Ownership, SharedBudget, WhiteoutMode,
};
use aurora_storage::{DiffForm, Driver, PendingLayer};

use crate::error::{ImageError, Result};
use crate::plan::PlannedLayer;
use crate::storage::is_root;
use crate::Progress;

/// What laying layers down needs: where the blobs are, where the layers go, whom to tell.
pub struct LayDown<'a> {
    pub store: &'a aurora_store::Store,
    pub driver: &'a dyn Driver,
    pub progress: &'a dyn Progress,
    /// Owners mapped through this map instead of kept.
    pub id_map: Option<&'a IdMap>,
    pub limits: UnpackLimits,
}

/// The default of both [`UnpackLimits`]: generous for any real image, far below what a
/// decompression bomb expands to.
pub const DEFAULT_MAX_UNPACKED_SIZE: u64 = 64 << 30;

/// How much laying layers down may write (counted as `aurora_layers` counts it: declared file
/// sizes, holes included, plus a block per entry): per layer, and per image for the layers one
/// operation lays down (layers already in storage were counted when they were laid down).
/// A layer that would exceed either is stopped while it streams, before writing past it, and
/// its pending layer removed. imageadm reads them from its config file's `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    pub max_layer_unpacked_size: u64,
    pub max_image_unpacked_size: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_layer_unpacked_size: DEFAULT_MAX_UNPACKED_SIZE,
            max_image_unpacked_size: DEFAULT_MAX_UNPACKED_SIZE,
        }
    }
}

impl UnpackLimits {
    fn layer_limit(&self) -> Limit {
        Limit {
            bytes: self.max_layer_unpacked_size,
            setting: "max_layer_unpacked_size in the [limits] section of the config file".into(),
        }
    }

    fn image_budget(&self) -> Arc<SharedBudget> {
        Arc::new(SharedBudget::new(Limit {
            bytes: self.max_image_unpacked_size,
            setting: "max_image_unpacked_size in the [limits] section of the config file".into(),
        }))
    }
}

/// Whether a layer failed for breaking an unpack limit: then no other way of laying it down
/// can help.
fn over_limit(error: &ImageError) -> bool {
    matches!(
        error,
        ImageError::Layer(aurora_layers::Error {
            kind: aurora_layers::ErrorKind::TooLarge { .. },
            ..
        })
    )
}

/// Starts a layer and bounds it in storage too, where the driver can (a zfs quota).
fn begin(work: &LayDown<'_>, layer: &PlannedLayer) -> Result<PendingLayer> {
    let mut pending = work.driver.begin_layer(&layer.id, layer.parent.as_ref())?;
    if let Err(e) = bound(work, &mut pending) {
        let _ = work.driver.abort_layer(pending);
        return Err(e);
    }
    Ok(pending)
}

fn bound(work: &LayDown<'_>, pending: &mut PendingLayer) -> Result<()> {
    let bytes = work.limits.max_layer_unpacked_size;
    Ok(work.driver.limit_pending(pending, bytes)?)
}

/// Lays down the layers the storage lacks, base first. Returns (created, reused).
///
/// A committed layer implies its whole chain below (every driver commits a layer only on a
/// committed parent, and refuses to destroy a layer others are built on), so the search goes
/// from the top down and usually stops at once.
pub fn ensure_layers(work: &LayDown<'_>, layers: &[PlannedLayer]) -> Result<(usize, usize)> {
    let driver = work.driver;
    let mut present = 0;
    for (index, layer) in layers.iter().enumerate().rev() {
        if driver.has_layer(&layer.id)? {
            present = index + 1;
            break;
        }
    }
    let missing = &layers[present..];
    let budget = work.limits.image_budget();
    if missing.len() > 1 && driver.diff_form() == DiffForm::OverlayUpper {
        lay_down_side_by_side(work, missing, &budget)?;
    } else {
        for layer in missing {
            lay_down(work, layer, &budget)?;
        }
    }
    Ok((missing.len(), present))
}

/// One layer on its committed parent: begin, apply, commit (or abort).
fn lay_down(work: &LayDown<'_>, layer: &PlannedLayer, budget: &Arc<SharedBudget>) -> Result<()> {
    let (driver, progress) = (work.driver, work.progress);
    let pending = begin(work, layer)?;
    match apply_layer(work, layer, &pending, budget) {
        Ok(_) => {
            driver.commit_layer(pending)?;
            progress.layer_done(&layer.blob);
            Ok(())
        }
        Err(e) => {
            let _ = driver.abort_layer(pending);
            Err(e)
        }
    }
}

/// Layers whose pending trees hold only their own changes (overlay) are applied side by
/// side, as many at once as there are cores, and committed base first. From the first layer
/// that fails side by side on (a hardlink to a file of a lower layer needs that layer
/// committed, to copy the file up from), the rest are laid down one by one.
fn lay_down_side_by_side(
    work: &LayDown<'_>,
    layers: &[PlannedLayer],
    budget: &Arc<SharedBudget>,
) -> Result<()> {
    let (driver, progress) = (work.driver, work.progress);
    let abort_all = |pendings: Vec<PendingLayer>| {
        for pending in pendings {
            let _ = driver.abort_layer(pending);
        }
    };
    let mut pendings: Vec<PendingLayer> = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let begun = match index {
            0 => begin(work, layer).map(Some),
            _ => driver
                .begin_layer_on_pending(&layer.id, &layers[index - 1].id)
                .map_err(ImageError::from)
                .and_then(|begun| match begun {
                    Some(mut pending) => match bound(work, &mut pending) {
                        Ok(()) => Ok(Some(pending)),
                        Err(e) => {
                            let _ = driver.abort_layer(pending);
                            Err(e)
                        }
                    },
                    None => Ok(None),
                }),
        };
        match begun {
            Ok(Some(pending)) => pendings.push(pending),
            Ok(None) => {
                // The driver cannot: one by one, from where the side-by-side start ends.
                abort_all(pendings);
                for layer in layers {
                    lay_down(work, layer, budget)?;
                }
                return Ok(());
            }
            Err(e) => {
                abort_all(pendings);
                return Err(e);
            }
        }
    }

    let mut reports = apply_side_by_side(work, layers, &pendings, budget);
    // A layer over a limit is over it however it is laid down: nothing is kept.
    let over = reports
        .iter()
        .position(|r| r.as_ref().is_err_and(over_limit));
    if let Some(Err(e)) = over.map(|at| reports.swap_remove(at)) {
        abort_all(pendings);
        return Err(e);
    }
    // A layer above the first that made parent directories of its own could not know their
    // attributes in the layers below (no lowers side by side): it is laid down again.
    let failed = reports
        .iter()
        .enumerate()
        .position(|(index, report)| match report {
            Err(_) => true,
            Ok(report) => index > 0 && report.implied_dirs > 0,
        })
        .unwrap_or(layers.len());
    if failed < layers.len() {
        tracing::debug!(layer = %layers[failed].id, "not side by side: one by one from here");
    }
    // A layer without its own root entry takes its parent's root attributes, as it would
    // have on a committed parent.
    for index in 1..failed {
        if matches!(&reports[index], Ok(report) if !report.root_entry) {
            let (below, above) = pendings.split_at(index);
            let inherited =
                aurora_storage::copy_root_attributes(&below[index - 1].root, &above[0].root);
            if let Err(e) = inherited {
                abort_all(pendings);
                return Err(e.into());
            }
        }
    }
    let mut pendings = pendings.into_iter();
    for layer in &layers[..failed] {
        let pending = pendings.next().expect("one pending layer per layer");
        if let Err(e) = driver.commit_layer(pending) {
            abort_all(pendings.collect());
            return Err(e.into());
        }
        progress.layer_done(&layer.blob);
    }
    abort_all(pendings.collect());
    // What the discarded side-by-side attempts drew is charged again when they are redone.
    for report in reports[failed..].iter().flatten() {
        budget.refund(report.unpacked_bytes);
    }
    for layer in &layers[failed..] {
        lay_down(work, layer, budget)?;
    }
    Ok(())
}

/// Applies `layers[i]` onto `pendings[i]` for every i, on as many threads as there are cores,
/// base first.
fn apply_side_by_side(
    work: &LayDown<'_>,
    layers: &[PlannedLayer],
    pendings: &[PendingLayer],
    budget: &Arc<SharedBudget>,
) -> Vec<Result<ApplyReport>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let results: Vec<Mutex<Option<Result<ApplyReport>>>> =
        layers.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(layers.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let (Some(layer), Some(pending)) = (layers.get(index), pendings.get(index)) else {
                    break;
                };
                let result = apply_layer(work, layer, pending, budget);
                *results[index].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    Err(ImageError::from(
                        aurora_storage::StorageError::Unsupported {
                            driver: "overlay",
                            reason: "a layer was not applied (its worker thread panicked)".into(),
                        },
                    ))
                })
        })
        .collect()
}

/// Applies one layer's blob from the store onto a pending layer's root, checking its diff ID
/// while streaming.
fn apply_layer(
    work: &LayDown<'_>,
    layer: &PlannedLayer,
    pending: &PendingLayer,
    budget: &Arc<SharedBudget>,
) -> Result<ApplyReport> {
    let (store, progress) = (work.store, work.progress);

    let label = layer.blob.to_string();
    let compression =
        Compression::from_media_type(&layer.media_type).map_err(|kind| aurora_layers::Error {
            layer: label.clone(),
            entry: None,
            kind,
        })?;
    let path = store.blob_path(&layer.blob);
    let blob = std::fs::File::open(&path).map_err(|source| {
        ImageError::from(aurora_storage::StorageError::Io {
            path: path.clone(),
            source,
        })
    })?;
    let size = blob.metadata().map(|m| m.len()).unwrap_or(0);
    progress.layer_started(&layer.blob, size);
    let blob = crate::progress::ProgressReader {
        inner: blob,
        blob: &layer.blob,
        progress,
    };
    let mut options = if is_root() {
        ApplyOptions::new(label)
    } else {
        ApplyOptions::unprivileged(label)
    };
    if let Some(map) = work.id_map {
        options.ownership = Ownership::Map(map.clone());
        if layer.parent.is_none() {
            // The root directory is the driver's until a layer sets it: the container's root
            // user must own it, as the image's root does without a map.
            let (uid, gid) = (map.uid(0), map.gid(0));
            std::os::unix::fs::chown(&pending.root, uid, gid).map_err(|source| {
                ImageError::from(aurora_storage::StorageError::Io {
                    path: pending.root.clone(),
                    source,
                })
            })?;
        }
    }
    options.whiteouts = match work.driver.diff_form() {
        DiffForm::FullTree => WhiteoutMode::Delete,
        DiffForm::OverlayUpper => WhiteoutMode::Overlay,
    };
    options.expected_diff_id = Some(layer.diff_id.clone());
    options.overlay_lowers = pending.lowers.clone();
    options.max_bytes = Some(work.limits.layer_limit());
    options.shared_budget = Some(budget.clone());
    let report = aurora_layers::apply_layer(&pending.root, blob, compression, &options)?;
    for warning in &report.warnings {
        tracing::warn!(layer = %layer.blob, "{warning}");
    }
    let unlisted = report.warning_count - report.warnings.len() as u64;
    if unlisted > 0 {
        tracing::warn!(layer = %layer.blob, "{unlisted} more warnings of the same kinds");
    }
    tracing::debug!(
        layer = %layer.id,
        blob = %layer.blob,
        entries = report.entries,
        bytes = report.file_bytes,
        "layer applied"
    );
    Ok(report)
}
