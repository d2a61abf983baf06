//! `list`: every container in the state directory.

use libcontainer::container::Container;

use crate::error::Result;
use crate::linux::state::report;
use crate::linux::state_dir::Runtime;
use crate::state::{container_ids, StateReport};

/// `list`: every container in the state directory, by ID.
pub(super) fn list(runtime: &Runtime) -> Result<Vec<StateReport>> {
    let mut reports = Vec::new();
    for id in container_ids(runtime.root(), "state.json")? {
        match Container::load(runtime.root().join(&id)) {
            Ok(container) => reports.push(report(&container)),
            Err(e) => tracing::warn!(id, error = %e, "skipping an unreadable container state"),
        }
    }
    Ok(reports)
}
