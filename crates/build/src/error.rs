//! The build's one error type: what failed, at which step of which Containerfile line.

use std::path::PathBuf;

/// A build failure.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{}: {source}", file.display())]
    Parse {
        file: PathBuf,
        #[source]
        source: aurora_containerfile::ParseError,
    },
    /// A step refused or failed; `line` is the Containerfile's.
    #[error("line {line}: {message}")]
    Step { line: usize, message: String },
    #[error("the build context {}: {message}", path.display())]
    Context { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] aurora_images::ImageError),
    #[error(transparent)]
    Store(#[from] aurora_store::StoreError),
    #[error(transparent)]
    Storage(#[from] aurora_storage::StorageError),
    #[error(transparent)]
    Bundle(#[from] aurora_bundle::BundleError),
}

pub type Result<T> = std::result::Result<T, BuildError>;

/// An I/O error's mapper naming `path`.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A step error at `line`.
pub(crate) fn step(line: usize, message: impl Into<String>) -> BuildError {
    BuildError::Step {
        line,
        message: message.into(),
    }
}
