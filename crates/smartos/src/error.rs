use std::path::{Path, PathBuf};

use aurora_images::ImageError;

/// What can go wrong with a SmartOS image.
#[derive(Debug, thiserror::Error)]
pub enum SmartosError {
    /// The store, storage or image step under the SmartOS flow failed (the image flows'
    /// error, unchanged).
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{}: not a usable SmartOS image manifest: {reason}", path.display())]
    BadManifest { path: PathBuf, reason: String },
    #[error("{}: {found} bytes, but the manifest says {expected}", path.display())]
    WrongSize {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{}: sha1 {found}, but the manifest says {expected}", path.display())]
    WrongSha1 {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "image {uuid} is incremental from origin image {origin}, which is not imported here: \
         import {origin} first"
    )]
    MissingOrigin { uuid: String, origin: String },
    #[error("{}: the {compression} stream is damaged or not a zfs stream: {reason}", path.display())]
    BadStream {
        path: PathBuf,
        compression: String,
        reason: String,
    },
    #[error("{}: SmartOS image {uuid}: its zfs stream is refused: {reason}", path.display())]
    RefusedStream {
        path: PathBuf,
        uuid: String,
        reason: String,
    },
    #[error("{0:?}: no image name can be made of it; give one with --tag")]
    NoName(String),
    #[error("export-smartos {reference}: {reason}")]
    Export { reference: String, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SmartosError + '_ {
    move |source| SmartosError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// What goes wrong in the store, storage or layers underneath reaches a SmartOS import or
// export as the image flows' error, which already names the object.
aurora_images::through_image_error!(SmartosError:
    aurora_store::StoreError,
    aurora_storage::StorageError,
    aurora_layers::Error,
    aurora_spec::ReferenceError
);

pub type Result<T, E = SmartosError> = std::result::Result<T, E>;
