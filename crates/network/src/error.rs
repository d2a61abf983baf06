//! The one error type of the crate: every variant names the network, container, path, port
//! text or subnet it is about.

use std::path::PathBuf;

use aurora_command::CommandFailure;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0:?} not found")]
    NotFound(String),

    #[error("network {0:?} already exists")]
    Exists(String),

    #[error("network name {name:?} is not valid: {reason}")]
    BadName { name: String, reason: &'static str },

    #[error("network {network:?}: {reason}")]
    Refused { network: String, reason: String },

    #[error("subnet {text:?} is not valid: {reason}")]
    BadSubnet { text: String, reason: String },

    #[error("gateway {text:?} is not valid: {reason}")]
    BadGateway { text: String, reason: String },

    #[error("subnet {subnet} overlaps {what}")]
    SubnetInUse { subnet: String, what: String },

    #[error("no free subnet left in {0} for a new network")]
    NoFreeSubnet(String),

    #[error("network {network:?} has no free address left for container {container}")]
    NoFreeAddress { network: String, container: String },

    #[error("address {address} for container {container} on network {network:?}: {reason}")]
    BadAddress {
        network: String,
        container: String,
        address: String,
        reason: String,
    },

    #[error("port mapping {text:?} is not valid: {reason}")]
    BadPort { text: String, reason: String },

    #[error("host port {port}/{protocol} on {address} is already in use")]
    PortInUse {
        address: String,
        port: u16,
        protocol: &'static str,
    },

    #[error("{what} is not installed (looked in {looked})")]
    ToolMissing { what: &'static str, looked: String },

    #[error("netavark {verb} for container {container}: {message}")]
    Netavark {
        verb: &'static str,
        container: String,
        message: String,
        #[source]
        source: Option<Box<CommandFailure>>,
    },

    /// A CNI plugin failed or answered what is not a CNI result.
    #[error("CNI network {network:?}, plugin {plugin:?} ({command}): {message}")]
    Cni {
        network: String,
        plugin: String,
        command: &'static str,
        message: String,
    },

    /// No usable CNI network configuration, or a configuration CNI cannot use.
    #[error("CNI configuration {path}: {reason}")]
    CniConfig { path: PathBuf, reason: String },

    #[error("network namespace {path}: {action}")]
    Netns {
        path: PathBuf,
        action: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {action}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not a valid {what}")]
    Json {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

/// A closure for `map_err` that names the path and what was being done to it.
pub(crate) fn io(
    path: impl Into<PathBuf>,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> NetworkError {
    let path = path.into();
    move |source| NetworkError::Io {
        path,
        action,
        source,
    }
}
