use std::path::PathBuf;

use aurora_spec::DigestError;

/// Everything that can go wrong in the store. Each variant names the object it failed on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout { path: PathBuf, reason: String },
    #[error("{path}: invalid JSON: {source}")]
    BadJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("blob {digest}: {source}; it was not stored")]
    Digest {
        digest: String,
        #[source]
        source: DigestError,
    },
    #[error("blob {digest}: expected {expected} bytes, got {actual}; it was not stored")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} is not in the store")]
    BlobNotFound(String),
    #[error("blob {digest} is {size} bytes, more than the {limit} bytes allowed for this kind of document")]
    TooLarge {
        digest: String,
        size: u64,
        limit: u64,
    },
    #[error("manifest {digest} is damaged ({reason}); nothing was collected: remove the images that use it (`imageadm rm`), then collect again")]
    Damaged { digest: String, reason: String },
    #[error("document {digest} cannot be followed: {reason}")]
    BadDocument { digest: String, reason: String },
    #[error("{0} matches more than one image; give more of the digest or a name")]
    Ambiguous(String),
    #[error("{name} has no image for platform {wanted} (it has: {})", available.join(", "))]
    NoMatchingPlatform {
        name: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error("no image named {0} in the store")]
    RefNotFound(String),
    #[error("{path} is larger than {limit} bytes, the most it may be; it was not read")]
    FileTooLarge { path: PathBuf, limit: u64 },
    #[error("index.json would be {size} bytes, more than the {limit} bytes an index may be; nothing was changed")]
    IndexTooLarge { size: u64, limit: u64 },
    #[error("{path} is {what}; a layout read as a source is only read through plain directories and files, never through links")]
    NotPlain { path: PathBuf, what: &'static str },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
