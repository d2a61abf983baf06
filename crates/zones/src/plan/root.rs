//! The zone's root and the paths podinit uses inside it: the rootfs must be the zonepath's
//! `root/`, ids cannot be mapped, and paths given to zoneadmd are plain.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::plan::error::{value_error, PlanError};
use crate::plan::options::PlanOptions;
use crate::plan::planner::{clean_absolute, path_text};

pub(super) fn check_root(
    spec: &Spec,
    options: &PlanOptions,
    zonepath: &Path,
) -> Result<(), PlanError> {
    let expected = zonepath.join("root");
    let root = spec.root().as_ref().ok_or_else(|| PlanError::NoRoot {
        expected: expected.clone(),
    })?;
    let given = if root.path().is_absolute() {
        root.path().clone()
    } else {
        options.bundle.join(root.path())
    };
    let matches = clean_absolute("root.path", &given).is_ok_and(|p| p == expected);
    if !matches {
        return Err(PlanError::RootNotInZonepath {
            root: given,
            expected,
        });
    }
    if root.readonly() == Some(true) {
        return Err(PlanError::ReadonlyRoot);
    }
    Ok(())
}

pub(super) fn check_id_mappings(spec: &Spec) -> Result<(), PlanError> {
    let nonempty = |m: &Option<Vec<_>>| m.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
    if let Some(linux) = spec.linux() {
        if nonempty(linux.uid_mappings()) {
            return Err(PlanError::IdMappings {
                field: "linux.uidMappings".into(),
            });
        }
        if nonempty(linux.gid_mappings()) {
            return Err(PlanError::IdMappings {
                field: "linux.gidMappings".into(),
            });
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if nonempty(m.uid_mappings()) || nonempty(m.gid_mappings()) {
            return Err(PlanError::IdMappings {
                field: format!("mounts[{i}]"),
            });
        }
    }
    Ok(())
}

/// A path inside the zone that goes into bootargs (split on blanks by zoneadmd) or is read
/// by the executor: absolute, no `..`, no blanks.
pub(super) fn zone_path_arg(field: &str, path: &Path) -> Result<PathBuf, PlanError> {
    let clean = clean_absolute(field, path)?;
    let s = path_text(field, &clean)?;
    if s.as_str().chars().any(char::is_whitespace) || clean == Path::new("/") {
        return Err(value_error(
            field,
            path.display(),
            "must be a file path without blanks (it goes into bootargs)",
        ));
    }
    Ok(clean)
}
