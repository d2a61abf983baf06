//! A bundle as runz reads it: its directory made absolute and its config.json parsed, once.
//! Everything about a create is decided from this one parse (whether runz must run from a
//! sealed copy of itself, what runz adapts) and libcontainer is handed the same `Spec`, so no
//! second reading of the file can disagree with the first.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// A bundle directory and its parsed configuration.
#[derive(Clone, Debug)]
pub struct Bundle {
    path: PathBuf,
    spec: Spec,
}

impl Bundle {
    /// Reads `BUNDLE/config.json`; errors name the bundle and what is wrong with it.
    pub fn load(bundle: &Path) -> Result<Bundle> {
        let path = fs::canonicalize(bundle).map_err(|source| Error::Bundle {
            bundle: bundle.to_path_buf(),
            why: format!("cannot open it: {source}"),
        })?;
        let spec = load_spec(&path)?;
        Ok(Bundle { path, spec })
    }

    /// The bundle's absolute path: what the state and every hook report as `bundle`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub(crate) fn into_parts(self) -> (PathBuf, Spec) {
        (self.path, self.spec)
    }
}

fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = fs::read(&path).map_err(|source| Error::Bundle {
        bundle: bundle.to_path_buf(),
        why: match source.kind() {
            std::io::ErrorKind::NotFound => "it has no config.json".to_string(),
            _ => format!("cannot read config.json: {source}"),
        },
    })?;
    serde_json::from_slice(&text).map_err(|e| Error::Bundle {
        bundle: bundle.to_path_buf(),
        why: format!("config.json is not a valid runtime spec: {e}"),
    })
}

/// The container's root filesystem, absolute (a relative `root.path` is the bundle's).
pub(crate) fn rootfs_of(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec.root().as_ref().ok_or_else(|| Error::Bundle {
        bundle: bundle.to_path_buf(),
        why: "config.json has no root".to_string(),
    })?;
    let path = bundle.join(root.path());
    fs::canonicalize(&path).map_err(|source| Error::Bundle {
        bundle: bundle.to_path_buf(),
        why: format!("its root {} cannot be opened: {source}", path.display()),
    })
}
