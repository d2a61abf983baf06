//! aurora-bundle: an OCI image configuration → an OCI runtime-spec `config.json`.
//!
//! This is the pure half of `imageadm unpack`: [`convert`] follows the image-spec's
//! conversion document (`conversion.md`) the way umoci does, on top of the defaults that
//! `runc spec` writes ([`default_spec`]); [`write_bundle_config`] writes the result into a
//! bundle directory atomically. Only `/etc/passwd` and `/etc/group` of the image's root
//! filesystem are read, and only from inside it (see [`user`]).
//!
//! ```no_run
//! # fn main() -> Result<(), aurora_bundle::BundleError> {
//! use std::path::Path;
//! let blob = std::fs::read("config-blob.json").unwrap();
//! let image = "docker.io/library/alpine:3.19";
//! let config = aurora_bundle::parse_image_config(image, &blob)?;
//! let bundle = Path::new("/var/tmp/bundle");
//! let converted = aurora_bundle::convert(
//!     image,
//!     &config,
//!     &bundle.join("rootfs"),
//!     &aurora_bundle::Overrides::default(),
//! )?;
//! aurora_bundle::write_bundle_config(bundle, &converted.spec)?;
//! # Ok(())
//! # }
//! ```

mod convert;
mod defaults;
mod error;
pub mod init;
pub mod user;
mod userns;

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::Value;

pub use convert::{
    convert, env_entry_name, parse_image_config, set_env, Converted, Overrides,
    UNSAFE_LABEL_PREFIXES, VOLUMES_ANNOTATION,
};
pub use defaults::{
    default_spec, ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_HOSTNAME, DEFAULT_PATH,
    OCI_VERSION,
};
pub use error::BundleError;
pub use user::{resolve_user, ResolvedUser, MAX_ID_FILE_SIZE};
pub use userns::add_user_namespace;

/// The runtime configuration as a JSON value in canonical form: object keys sorted and
/// capability sets sorted, so that the same spec always gives the same bytes (oci-spec
/// keeps annotations in a `HashMap` and capabilities in a `HashSet`).
pub fn canonical_value(spec: &Spec) -> Result<Value, BundleError> {
    serde_json::to_value(spec)
        .map(canonical_value_of)
        .map_err(BundleError::Serialize)
}

/// [`canonical_value`] of an already serialised runtime configuration.
pub fn canonical_value_of(mut value: Value) -> Value {
    if let Some(Value::Object(caps)) = value.pointer_mut("/process/capabilities") {
        for set in caps.values_mut() {
            if let Value::Array(items) = set {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    sort_keys(value)
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The runtime configuration as pretty-printed canonical JSON (see [`canonical_value`]),
/// ending with a newline.
pub fn to_json_pretty(spec: &Spec) -> Result<Vec<u8>, BundleError> {
    let mut bytes =
        serde_json::to_vec_pretty(&canonical_value(spec)?).map_err(BundleError::Serialize)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Reads a bundle's `config.json` back (as [`write_bundle_config`] wrote it).
pub fn read_bundle_config(bundle_dir: &Path) -> Result<Spec, BundleError> {
    let path = bundle_dir.join("config.json");
    Spec::load(&path).map_err(|e| BundleError::ReadConfig {
        reason: e.to_string(),
        path,
    })
}

/// Whether a written `config.json` must survive a power loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The file and its directory are fsynced: bundles handed to users (`imageadm unpack`).
    #[default]
    Synced,
    /// Renamed into place without fsync: a container engine's working copy, rewritten on
    /// its way to a start (podman does not fsync its bundles either). Readers never see half
    /// a file; only a power loss can lose it.
    Unsynced,
}

/// Write `spec` to `bundle_dir/config.json` atomically: the JSON (see [`to_json_pretty`])
/// goes to a temporary file in the same directory, which is fsynced and renamed over
/// `config.json`, and the directory is fsynced. The file is mode 0600 (the environment may
/// hold secrets given as overrides). Returns the path written.
pub fn write_bundle_config(bundle_dir: &Path, spec: &Spec) -> Result<PathBuf, BundleError> {
    write_bundle_config_as(bundle_dir, spec, Durability::Synced)
}

/// [`write_bundle_config`] with the fsyncs only when `durability` asks for them.
pub fn write_bundle_config_as(
    bundle_dir: &Path,
    spec: &Spec,
    durability: Durability,
) -> Result<PathBuf, BundleError> {
    let path = bundle_dir.join("config.json");
    let bytes = to_json_pretty(spec)?;
    let io_err = |source| BundleError::WriteConfig {
        path: path.clone(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(bundle_dir)
        .map_err(io_err)?;
    tmp.write_all(&bytes).map_err(io_err)?;
    let synced = durability == Durability::Synced;
    if synced {
        tmp.as_file().sync_all().map_err(io_err)?;
    }
    tmp.persist(&path).map_err(|e| io_err(e.error))?;
    if synced {
        std::fs::File::open(bundle_dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err)?;
    }
    Ok(path)
}
