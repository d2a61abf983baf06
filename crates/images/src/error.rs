use aurora_spec::ReferenceError;
use aurora_store::StoreError;

/// What can go wrong with an image in the store or in storage; store, storage and layer errors
/// keep their own detail (digest, path, dataset).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] aurora_storage::StorageError),
    #[error(transparent)]
    Layer(#[from] aurora_layers::Error),
    #[error(transparent)]
    Bundle(#[from] aurora_bundle::BundleError),
    #[error("{reference}: no image for platform {wanted}; the index has {}", available_list(.available))]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error("{reference}: manifest {digest} is malformed: {reason}")]
    BadManifest {
        reference: String,
        digest: String,
        reason: String,
    },
    #[error("no image {0} in the store (see `imageadm images`)")]
    NotInStore(String),
    #[error("{0} matches more than one image; give more of the digest or a name")]
    Ambiguous(String),
    #[error("{0}: the bundle directory is not empty; choose a new or empty directory")]
    BundleExists(std::path::PathBuf),
    #[error("{0} is not a bundle made by `imageadm unpack` (no .aurora-bundle.json)")]
    NotABundle(std::path::PathBuf),
    #[error(
        "the store at {} keeps its layers and containers with {recorded}, not {wanted}; \
         use another --root for {wanted}",
        root.display()
    )]
    StorageMismatch {
        root: std::path::PathBuf,
        recorded: String,
        wanted: String,
    },
    #[error("{}: the store's storage record is damaged: {reason}", path.display())]
    StorageRecord {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{0}: a tag cannot carry a digest; name the new tag as name:tag")]
    TagWithDigest(String),
    #[error("commit: {0}")]
    Commit(String),
}

fn available_list(platforms: &[String]) -> String {
    if platforms.is_empty() {
        "no platform entries".to_string()
    } else {
        platforms.join(", ")
    }
}

/// Lets the errors of the crates under the image flows (store, storage, layers, references)
/// reach a flow's own error through [`ImageError`], which already names them: for each
/// source type, `From<source> for target` via `From<ImageError> for target`.
///
/// `aurora_images::through_image_error!(TransferError: aurora_store::StoreError, ...);`
#[macro_export]
macro_rules! through_image_error {
    ($target:ty: $($source:ty),* $(,)?) => {$(
        impl From<$source> for $target {
            fn from(source: $source) -> Self {
                <$target>::from($crate::ImageError::from(source))
            }
        }
    )*};
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
