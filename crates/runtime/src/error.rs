//! Errors of the runtime, each naming the container (or bundle) it is about.

use std::path::PathBuf;

/// What went wrong, and on which container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container ID {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("container {id:?} is {status}: cannot {action} it{hint}")]
    WrongStatus {
        id: String,
        status: String,
        action: &'static str,
        hint: &'static str,
    },
    #[error("bundle {bundle}: {why}")]
    Bundle { bundle: PathBuf, why: String },
    #[error("unknown signal {0:?} (use a name such as TERM, SIGKILL, or a number)")]
    UnknownSignal(String),
    #[error("{action} container {id:?}")]
    Backend {
        id: String,
        action: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the {backend} backend cannot {action}: {why}")]
    Unsupported {
        backend: &'static str,
        action: &'static str,
        why: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What `backend` cannot do, and why.
    pub fn unsupported(backend: &'static str, action: &'static str, why: &'static str) -> Self {
        Error::Unsupported {
            backend,
            action,
            why,
        }
    }

    pub(crate) fn backend(
        id: &str,
        action: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            id: id.to_string(),
            action,
            source: Box::new(source),
        }
    }
}
