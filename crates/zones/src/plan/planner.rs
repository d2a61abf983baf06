//! The planner's working state (the spec, the options, the warnings so far) and the checks
//! every part of the plan makes of a value before zonecfg sees it.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::plan::error::{value_error, PlanError};
use crate::plan::options::PlanOptions;
use crate::zonecfg::Text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field, as a JSON path (`linux.seccomp`, `mounts[3].options`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

pub(super) fn text(field: &str, value: impl Into<String>) -> Result<Text, PlanError> {
    Ok(Text::new(field, value)?)
}

pub(super) fn path_text(field: &str, path: &Path) -> Result<Text, PlanError> {
    match path.to_str() {
        Some(s) => text(field, s),
        None => Err(value_error(
            field,
            path.display(),
            "is not UTF-8, which zonecfg files are written in",
        )),
    }
}

/// Lexically normalised absolute path: `.` dropped, `..` refused (we resolve no symlinks, so
/// `..` could mean anything).
pub(super) fn clean_absolute(field: &str, path: &Path) -> Result<PathBuf, PlanError> {
    if !path.is_absolute() {
        return Err(value_error(
            field,
            path.display(),
            "must be an absolute path",
        ));
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                return Err(value_error(field, path.display(), "must not contain `..`"))
            }
            Component::Prefix(_) => {
                return Err(value_error(field, path.display(), "is not a Unix path"))
            }
        }
    }
    Ok(out)
}

pub(super) struct Planner<'a> {
    pub(super) spec: &'a Spec,
    pub(super) options: &'a PlanOptions,
    pub(super) warnings: Vec<Warning>,
}

impl Planner<'_> {
    pub(super) fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(super) fn annotation(&self, key: &str) -> Option<&str> {
        self.spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}
