//! What can make a container's configuration impossible to turn into a runtime spec.

use std::path::PathBuf;

/// An error of [`super::apply`], naming the container's image, flag, path or mount.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("image {image}: no command to run: the image has neither Entrypoint nor Cmd, and none was given")]
    NoCommand { image: String },
    #[error("-w {dir:?}: the working directory must be an absolute path")]
    RelativeWorkdir { dir: String },
    #[error("-w {dir:?}: the working directory does not exist in the container (image {image})")]
    MissingWorkdir { image: String, dir: String },
    #[error("cannot create the working directory {dir:?} in the container's root {}: {source}", rootfs.display())]
    CreateWorkdir {
        dir: String,
        rootfs: PathBuf,
        #[source]
        source: pathrs::error::Error,
    },
    #[error("-u {user:?}: {source}")]
    User {
        user: String,
        #[source]
        source: Box<aurora_bundle::BundleError>,
    },
    #[error("invalid environment variable {entry:?}: {reason}")]
    Env { entry: String, reason: &'static str },
    #[error("{flag} {name:?}: unknown capability")]
    UnknownCapability { flag: &'static str, name: String },
    #[error("mount on {destination:?}: {reason}")]
    Mount { destination: String, reason: String },
    #[error("--init: {0}")]
    Init(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}
