//! What Aurora's command lines (imageadm, podadm) share: the config file and what it
//! configures (the registry client, the storage choice, unpack limits), progress shown as
//! bars on a terminal or plain lines elsewhere, logging without colour on a pipe, and one
//! line for an error and its causes.

mod args;
pub mod config;
pub mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use aurora_images::{NoProgress, Progress};
use aurora_registry::{ClientConfig, CredentialStore, RegistryClient};

pub use args::StoreArgs;
pub use config::Config;

/// Logs to standard error at `warn` unless RUST_LOG says otherwise; colour codes only for a
/// terminal: in a pipe or a log file they are noise.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // libcgroups warns about every cgroup v1 controller the host lacks: noise to users.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libcgroups=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// The error and its causes on one line, skipping causes a message already contains.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if !text.contains(&message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&message);
        }
    }
    text
}

/// A registry client configured by the config file at `config` (insecure registries,
/// mirrors, limits) and the command line's extra insecure registries.
pub fn registry_client(
    config: &Path,
    insecure_registries: &[String],
    credentials: CredentialStore,
) -> Result<RegistryClient> {
    let config = Config::load(config)?;
    let mut insecure = insecure_registries.to_vec();
    insecure.extend(config.registries.insecure);
    let defaults = ClientConfig::default();
    Ok(RegistryClient::new(ClientConfig {
        insecure_registries: insecure,
        credentials,
        max_blob_size: config
            .limits
            .max_blob_size
            .map_or(defaults.max_blob_size, |size| size.0),
        mirrors: config.registries.mirrors,
        ..defaults
    })?)
}

/// The credentials of `--authfile`, else the usual docker/podman auth files.
pub fn credential_store(authfile: Option<&PathBuf>) -> CredentialStore {
    match authfile {
        Some(file) => CredentialStore::from_files(vec![file.clone()]),
        None => CredentialStore::from_environment(),
    }
}

/// The storage driver and dataset from the flags, else the config file.
pub fn storage_choice(
    config: &Path,
    driver: Option<&str>,
    zfs_dataset: Option<&str>,
) -> Result<aurora_images::StorageChoice> {
    let config = Config::load(config)?;
    let driver = driver.map(str::to_string).or(config.storage.driver);
    Ok(aurora_images::StorageChoice {
        driver: driver
            .as_deref()
            .map(str::parse::<aurora_storage::DriverKind>)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        zfs_dataset: zfs_dataset
            .map(str::to_string)
            .or(config.storage.zfs_dataset),
    })
}

/// A tokio runtime for the transfer flows.
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// How much progress to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines elsewhere.
    Shown,
    /// Nothing (--quiet, or output meant for a program).
    Hidden,
}

/// Runs `work` with progress as `mode` and standard error call for: bars on a terminal,
/// plain lines otherwise, nothing when hidden.
pub fn with_progress<T>(mode: ProgressMode, work: impl FnOnce(&dyn Progress) -> T) -> T {
    let shown = mode == ProgressMode::Shown;
    let bars = (shown && std::io::stderr().is_terminal()).then(progress::Bars::new);
    let progress: &dyn Progress = match (&bars, shown) {
        (Some(bars), _) => bars,
        (None, false) => &NoProgress,
        (None, true) => &progress::Lines,
    };
    let result = work(progress);
    if let Some(bars) = &bars {
        bars.finish();
    }
    result
}
