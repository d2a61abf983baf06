//! SmartOS images (imgadm's manifest v2 and its file, a compressed `zfs send` stream) in and
//! out of the store, on the zfs storage driver.
//!
//! Import (`import`) checks the manifest and the file (size, sha1), receives the stream into a pending
//! dataset (see `aurora_storage::zfs::send`), packs the dataset's `root/` as one layer blob
//! and makes the received dataset *be* that layer in storage: its layer ID is the chain ID of
//! the one layer, so a later unpack finds it and clones it, laying nothing down. The image in
//! the store records the SmartOS UUID (an annotation, and a zfs user property on the dataset,
//! by which an incremental image finds its origin).
//!
//! The stream must be a plain one of one snapshot, full, or incremental from the origin
//! image's snapshot when the manifest names an origin; the driver refuses any other (a
//! compound `zfs send -p`/`-R`/`-I` stream would bring its own mountpoint, canmount, sharenfs,
//! children and snapshots) before `zfs receive` sees it, and the error names the file and
//! the image's UUID.
//!
//! Export writes NAME-VERSION.json (manifest v2) and NAME-VERSION.zfs.gz (gzip'd `zfs send`
//! of the image's top layer, whole or incremental from its parent layer). UUIDs follow
//! SmartOS's scheme for docker layers, so the same chain gets the same UUID everywhere.

mod error;
mod export;
#[doc(hidden)]
pub mod fuzzing;
mod import;
mod manifest;

pub use error::{Result, SmartosError};
pub use export::{export_smartos, ExportOptions, ExportReport};
pub use import::{import_smartos, ImportOptions, ImportReport};
pub use manifest::{
    default_image_name, docker_layer_uuid, parse_manifest, Manifest, UUID_ANNOTATION,
};
