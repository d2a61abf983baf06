use aurora_images::ImageError;
use aurora_registry::RegistryError;

/// What can go wrong moving an image between the store, a registry and an archive; registry
/// errors keep their own detail (registry, repository, digest), and what goes wrong in the
/// store or storage is the image flows' [`ImageError`].
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{reference}: manifest {digest} is malformed: {reason}")]
    BadManifest {
        reference: String,
        digest: String,
        reason: String,
    },
    #[error("blob {digest}: the connection ended after {received} of {expected} bytes")]
    Truncated {
        digest: String,
        received: u64,
        expected: u64,
    },
    #[error("copy: {0}")]
    Copy(String),
    #[error(
        "the {0}: transport is not supported yet (docker://, oci:, oci-archive: and the store are)"
    )]
    UnsupportedTransport(String),
}

impl TransferError {
    /// Worth retrying: a dropped connection or a transient registry failure.
    pub fn is_transient(&self) -> bool {
        match self {
            TransferError::Registry(e) => e.is_transient(),
            TransferError::Truncated { .. } => true,
            _ => false,
        }
    }

    /// No image `what` in the store or layout read from.
    pub(crate) fn not_in_store(what: String) -> Self {
        TransferError::Image(ImageError::NotInStore(what))
    }

    /// The image flows' error underneath, if that is what this is.
    pub fn as_image_error(&self) -> Option<&ImageError> {
        match self {
            TransferError::Image(e) => Some(e),
            _ => None,
        }
    }
}

// What goes wrong in the store or layers underneath reaches a transfer as the image flows'
// error, which already names the object.
aurora_images::through_image_error!(TransferError:
    aurora_store::StoreError,
    aurora_layers::Error,
    aurora_spec::ReferenceError
);

pub type Result<T, E = TransferError> = std::result::Result<T, E>;
