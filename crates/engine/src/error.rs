//! The engine's one error type: every variant names what it is about.

use std::path::PathBuf;

/// What went wrong, naming the container, image, volume, network or path.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("no pod with name or ID {0} found: no such pod")]
    NoSuchPod(String),
    #[error("the pod name {name:?} is already in use by pod {id}")]
    PodNameInUse { name: String, id: String },
    #[error("pod {name}: {message}")]
    Pod { name: String, message: String },
    #[error("the name {name:?} is already in use by container {id}")]
    NameInUse { name: String, id: String },
    #[error("container name {0:?} is invalid: names are [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    BadName(String),
    #[error("container {name} is {state}: {action} needs it {needed}")]
    WrongState {
        name: String,
        state: String,
        action: &'static str,
        needed: &'static str,
    },
    #[error("container {name} is running: stop it first or use --force")]
    Running { name: String },
    #[error("starting container {name}: {message}")]
    StartFailed { name: String, message: String },
    #[error("OCI runtime {runtime} {verb} {id}: {message}")]
    Runtime {
        runtime: String,
        verb: String,
        id: String,
        message: String,
        /// The runtime's exit status, when it ran.
        status: Option<i32>,
    },
    #[error("the OCI runtime {0:?} was not found (runz, runc, crun or a path)")]
    NoRuntime(String),
    #[error("the container monitor (aurora-monitor) was not found beside podadm or on PATH")]
    NoMonitor,
    #[error("state database {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {name}: {message}")]
    Invalid { name: String, message: String },
    #[error(transparent)]
    Image(Box<aurora_images::ImageError>),
    #[error(transparent)]
    Storage(Box<aurora_storage::StorageError>),
    #[error(transparent)]
    Bundle(Box<aurora_bundle::BundleError>),
    #[error(transparent)]
    Spec(Box<crate::spec::SpecError>),
    #[error(transparent)]
    Volume(Box<crate::volume::VolumeError>),
    #[error(transparent)]
    Network(Box<aurora_network::NetworkError>),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The errors of the parts the engine builds on, boxed: they are large, and the engine's
/// results are returned on every path.
macro_rules! boxed_from {
    ($($variant:ident: $error:ty),* $(,)?) => {
        $(impl From<$error> for EngineError {
            fn from(error: $error) -> Self {
                EngineError::$variant(Box::new(error))
            }
        })*
    };
}

boxed_from! {
    Image: aurora_images::ImageError,
    Storage: aurora_storage::StorageError,
    Bundle: aurora_bundle::BundleError,
    Spec: crate::spec::SpecError,
    Volume: crate::volume::VolumeError,
    Network: aurora_network::NetworkError,
}

/// An I/O error about `path`.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.into();
    move |source| EngineError::Io { path, source }
}
