//! Images in the local store and in storage: resolving a name to one platform's manifest and
//! config, listing, inspecting, tagging, removing and collecting garbage; planning an image's
//! layers, laying them down as a chain in storage, unpacking to a bundle, committing a
//! container, and disk usage. Moving images to and from registries and archives is
//! `aurora-transfer`; SmartOS images are `aurora-smartos`; both build on this crate.

mod change;
mod commit;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod laydown;
mod local;
mod plan;
mod progress;
mod resolve;
mod storage;
mod unpack;
mod usage;

pub use aurora_layers::{IdMap, IdRange};
pub use change::{apply_change, INSTRUCTIONS as CHANGE_INSTRUCTIONS};
pub use commit::{
    commit, pack_container_changes, pack_tree_into_store, CommitOptions, CommitReport, NewLayer,
};
pub use error::{ImageError, Result};
pub use handle::Images;
pub use laydown::{ensure_layers, LayDown, UnpackLimits, DEFAULT_MAX_UNPACKED_SIZE};
pub use local::{gc, inspect, list_images, remove, tag, ImageSummary, Inspection};
pub use plan::{plan_layers, PlannedLayer};
pub use progress::{NoProgress, Progress};
pub use resolve::{
    entry_for, find_image, read_document, resolve, resolve_manifest, SOURCE_DIGEST_ANNOTATION,
};
pub use storage::{open_storage, open_storage_if_used, open_zfs_storage, StorageChoice};
pub use unpack::{remove_bundle, unpack, UnpackOptions, UnpackReport};
pub use usage::{collect_layers, disk_usage, Usage};
