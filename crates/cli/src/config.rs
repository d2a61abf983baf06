//! The optional config file.

use std::path::Path;

use anyhow::Context;
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

/// Bounds on what untrusted input may make Aurora do. Sizes in bytes (`68719476736`) or with
/// a binary unit (`"64GiB"`, `"500M"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The largest blob (layer or config) a pull downloads; 64 GiB when not set.
    pub max_blob_size: Option<ByteSize>,
    /// The most one layer may unpack to (declared file sizes, holes included, plus 4 KiB per
    /// entry); default 64 GiB.
    pub max_layer_unpacked_size: Option<ByteSize>,
    /// The most the layers one unpack lays down may unpack to together; default 64 GiB.
    pub max_image_unpacked_size: Option<ByteSize>,
}

impl Limits {
    /// The unpack limits, defaults where the file sets none.
    pub fn unpack(&self) -> aurora_images::UnpackLimits {
        let defaults = aurora_images::UnpackLimits::default();
        aurora_images::UnpackLimits {
            max_layer_unpacked_size: self
                .max_layer_unpacked_size
                .map_or(defaults.max_layer_unpacked_size, |size| size.0),
            max_image_unpacked_size: self
                .max_image_unpacked_size
                .map_or(defaults.max_image_unpacked_size, |size| size.0),
        }
    }
}

/// A number of bytes, written as an integer or a string with a binary unit: `K`, `M`, `G`,
/// `T`, each optionally followed by `iB` or `B` (all powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => parse_size(&text)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a size (e.g. 68719476736, \"64GiB\", \"500M\")");
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("iB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(unit);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is more bytes than can be counted"))
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
    /// `[[registries.mirror]] registry = "registry.k8s.io"  endpoints = ["http://127.0.0.1:5000"]`:
    /// endpoints pulls from the registry try first, in order (tables naming one registry add
    /// up in file order). Endpoints are checked as the file is read.
    #[serde(default, rename = "mirror")]
    pub mirrors: Vec<aurora_registry::Mirror>,
}

impl Config {
    /// Reads `path`; a missing file is an empty config, a broken one an error.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("config file {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_or_binary_units() {
        assert_eq!(parse_size("68719476736"), Ok(64 << 30));
        assert_eq!(parse_size("64GiB"), Ok(64 << 30));
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("500 MB"), Ok(500 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        for bad in ["", "GiB", "12 parsecs", "-1", "1.5G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let config: Config = toml::from_str("[limits]\nmax_blob_size = 1000\n").unwrap();
        assert_eq!(config.limits.max_blob_size, Some(ByteSize(1000)));
        let config: Config = toml::from_str("[limits]\nmax_blob_size = \"2GiB\"\n").unwrap();
        assert_eq!(config.limits.max_blob_size, Some(ByteSize(2 << 30)));
        let err = toml::from_str::<Config>("[limits]\nmax_blob_size = \"lots\"\n").unwrap_err();
        assert!(err.to_string().contains("lots"), "{err}");
    }

    #[test]
    fn mirrors_are_tables_of_a_registry_and_its_endpoints() {
        let config: Config = toml::from_str(
            r#"
[registries]
insecure = ["registry.lan:5000"]

[[registries.mirror]]
registry = "registry.k8s.io"
endpoints = ["http://127.0.0.1:5077", "mirror.lan/k8s"]

[[registries.mirror]]
registry = "gcr.io"
endpoints = ["http://127.0.0.1:5077"]
"#,
        )
        .unwrap();
        let mirrors = &config.registries.mirrors;
        assert_eq!(mirrors.len(), 2);
        assert_eq!(mirrors[0].registry, "registry.k8s.io");
        assert_eq!(mirrors[0].endpoints[1].prefix, "k8s");
        assert!(mirrors[1].mirrors("gcr.io"));
        for bad in [
            "[[registries.mirror]]\nregistry = \"gcr.io\"\nendpoints = [\"ftp://x\"]\n",
            "[[registries.mirror]]\nregistry = \"gcr.io\"\n",
            "[[registries.mirror]]\nregistry = \"gcr.io\"\nendpoints = []\nextra = 1\n",
        ] {
            assert!(toml::from_str::<Config>(bad).is_err(), "{bad}");
        }
    }
}
