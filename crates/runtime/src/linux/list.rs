//! `list`: every container in the state directory.

use std::fs;

use libcontainer::container::Container;

use crate::error::{Error, Result};
use crate::linux::state::report;
use crate::linux::state_dir::Runtime;
use crate::state::StateReport;

/// `list`: every container in the state directory, by ID.
pub(super) fn list(runtime: &Runtime) -> Result<Vec<StateReport>> {
    let entries = fs::read_dir(runtime.root()).map_err(|source| Error::Io {
        what: "cannot read the state directory",
        path: runtime.root().to_path_buf(),
        source,
    })?;
    let mut reports = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str() else { continue };
        if id.starts_with('.') || !entry.path().join("state.json").exists() {
            continue;
        }
        match Container::load(entry.path()) {
            Ok(container) => reports.push(report(&container)),
            Err(e) => tracing::warn!(id, error = %e, "skipping an unreadable container state"),
        }
    }
    reports.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(reports)
}
