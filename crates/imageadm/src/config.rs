//! The optional config file.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub registries: Registries,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub limits: Limits,
}

/// Bounds on untrusted input. Sizes in bytes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The most one layer may unpack to (declared file sizes, holes included, plus 4 KiB per
    /// entry); default 64 GiB.
    pub max_layer_unpacked_size: Option<u64>,
    /// The most the layers one unpack lays down may unpack to together; default 64 GiB.
    pub max_image_unpacked_size: Option<u64>,
}

impl Limits {
    /// The unpack limits, defaults where the file sets none.
    pub fn unpack(&self) -> aurora_images::UnpackLimits {
        let defaults = aurora_images::UnpackLimits::default();
        aurora_images::UnpackLimits {
            max_layer_unpacked_size: self
                .max_layer_unpacked_size
                .unwrap_or(defaults.max_layer_unpacked_size),
            max_image_unpacked_size: self
                .max_image_unpacked_size
                .unwrap_or(defaults.max_image_unpacked_size),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// zfs, btrfs, overlay or dir.
    pub driver: Option<String>,
    /// For zfs: the dataset under which layers and containers live.
    pub zfs_dataset: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registries {
    /// Registries that may be spoken to over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
}

impl Config {
    /// Reads `path`; a missing file is an empty config, a broken one an error.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("config file {}", path.display())),
        }
    }
}
