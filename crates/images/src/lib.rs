//! Image operations over the local store and registries. The binary `imageadm` is a thin
//! command line over this crate.

mod change;
mod commit;
mod convert;
mod copy;
mod docker_archive;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod laydown;
mod layers;
mod local;
mod progress;
mod pull;
mod push;
mod sink;
mod smartos;
mod storage;
mod unpack;

pub use aurora_layers::{IdMap, IdRange};
pub use change::{apply_change, INSTRUCTIONS as CHANGE_INSTRUCTIONS};
pub use commit::{commit, CommitOptions, CommitReport};
pub use copy::{copy, CopyReport, Location};
pub use error::{ImageError, Result};
pub use laydown::{UnpackLimits, DEFAULT_MAX_UNPACKED_SIZE};
pub use layers::{collect_layers, disk_usage, Usage};
pub use local::{find_image, gc, inspect, list_images, remove, tag, ImageSummary, Inspection};
pub use progress::{NoProgress, Progress};
pub use pull::{pull, PullOptions, PullReport, SOURCE_DIGEST_ANNOTATION};
pub use push::{push, PushOptions, PushReport};
pub use smartos::{
    export_smartos, import_smartos, ExportOptions, ExportReport, ImportOptions, ImportReport,
    SmartosError,
};
pub use storage::{open_storage, open_storage_if_used, StorageChoice};
pub use unpack::{remove_bundle, unpack, PlannedLayer, UnpackOptions, UnpackReport};
