//! Errors of the image-config → runtime-config conversion.

use std::path::PathBuf;

/// Everything that can go wrong while turning an image configuration into a runtime bundle
/// configuration. Every variant names the image (as the caller named it) and, where one is
/// involved, the user, group or file.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The image configuration blob is not valid JSON for an OCI image configuration.
    #[error("image {image}: invalid image configuration: {source}")]
    InvalidImageConfig {
        image: String,
        #[source]
        source: serde_json::Error,
    },

    /// Only Linux images can become a Linux runtime bundle.
    #[error("image {image}: operating system {os:?} is not supported (only \"linux\" images can be unpacked into a Linux runtime bundle)")]
    UnsupportedOs { image: String, os: String },

    /// Neither Entrypoint nor Cmd is set and no arguments were given.
    #[error("image {image}: no command to run: the image configuration has neither Entrypoint nor Cmd; give the arguments explicitly")]
    NoCommand { image: String },

    /// Arguments were given explicitly, but the list is empty or starts with an empty string.
    #[error("image {image}: the process arguments given are empty")]
    EmptyArgs { image: String },

    /// An environment entry is not `NAME=VALUE` with a non-empty name.
    #[error("image {image}: invalid environment variable {entry:?} in {origin}: {reason}")]
    InvalidEnv {
        image: String,
        /// `"the image configuration's Env"` or `"the --env overrides"`.
        origin: &'static str,
        entry: String,
        reason: &'static str,
    },

    /// WorkingDir must be absolute (the runtime spec requires an absolute `process.cwd`).
    #[error("image {image}: WorkingDir {dir:?} is not an absolute path")]
    InvalidWorkingDir { image: String, dir: String },

    /// `Config.User` cannot be parsed (`user[:group]`).
    #[error("image {image}: invalid User {user:?}: {reason}")]
    InvalidUser {
        image: String,
        user: String,
        reason: String,
    },

    /// A user name that is not in the rootfs's passwd file (or there is no passwd file).
    #[error(
        "image {image}: user {user:?} not found in {}{}",
        file.display(),
        if *file_missing { " (the image has no such file)" } else { "" }
    )]
    UnknownUser {
        image: String,
        user: String,
        file: PathBuf,
        file_missing: bool,
    },

    /// A group name that is not in the rootfs's group file (or there is no group file).
    #[error(
        "image {image}: group {group:?} (of User {user:?}) not found in {}{}",
        file.display(),
        if *file_missing { " (the image has no such file)" } else { "" }
    )]
    UnknownGroup {
        image: String,
        user: String,
        group: String,
        file: PathBuf,
        file_missing: bool,
    },

    /// The rootfs directory cannot be opened.
    #[error("image {image}: cannot open root filesystem {}: {source}", rootfs.display())]
    RootfsOpen {
        image: String,
        rootfs: PathBuf,
        #[source]
        source: pathrs::error::Error,
    },

    /// `/etc/passwd` or `/etc/group` could not be resolved inside the rootfs (for example a
    /// symlink loop) or could not be opened.
    #[error("image {image}: cannot open {}: {source}", file.display())]
    IdFileOpen {
        image: String,
        file: PathBuf,
        #[source]
        source: pathrs::error::Error,
    },

    /// `/etc/passwd` or `/etc/group` could not be read.
    #[error("image {image}: cannot read {}: {source}", file.display())]
    IdFileRead {
        image: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `/etc/passwd` or `/etc/group` is a directory, device, FIFO or socket.
    #[error("image {image}: {} is not a regular file", file.display())]
    IdFileNotRegular { image: String, file: PathBuf },

    /// `/etc/passwd` or `/etc/group` is larger than [`crate::MAX_ID_FILE_SIZE`].
    #[error("image {image}: {} is too large ({size} bytes; the limit is {limit})", file.display())]
    IdFileTooLarge {
        image: String,
        file: PathBuf,
        size: u64,
        limit: u64,
    },

    /// The runtime configuration could not be serialised (an internal error).
    #[error("cannot serialise the runtime configuration: {0}")]
    Serialize(#[source] serde_json::Error),

    /// A bundle's `config.json` could not be read back.
    #[error("cannot read the runtime spec {}: {reason}; remove the container and create it again", path.display())]
    ReadConfig { path: PathBuf, reason: String },

    /// `config.json` could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A part of the runtime configuration could not be built (an internal error).
    #[error("cannot build the runtime configuration: {0}")]
    Invalid(String),

    /// podinit cannot be injected (`--init`): a relative binary, or nothing to run under it.
    #[error("cannot run the process under the init {}: {reason}", podinit.display())]
    Init { podinit: PathBuf, reason: String },
}
