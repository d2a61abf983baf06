//! `state`: libcontainer's state and runz's note as the runtime spec's state report.

use libcontainer::container::Container;

use crate::error::Result;
use crate::linux::note::Note;
use crate::linux::state_dir::{status_of, Runtime};
use crate::state::{StateReport, Status};

/// `state`: the runtime spec's state of one container.
pub(super) fn state(runtime: &Runtime, id: &str) -> Result<StateReport> {
    let container = runtime.load(id)?;
    Ok(report(&container))
}

pub(super) fn report(container: &Container) -> StateReport {
    let status = status_of(container.status());
    let note = Note::read(&container.root).unwrap_or_default();
    let pid = match status {
        Status::Stopped => 0,
        _ => container.pid().map_or(0, |p| p.as_raw()),
    };
    StateReport {
        oci_version: container.state.oci_version.clone(),
        id: container.id().to_string(),
        pid,
        status,
        bundle: container.bundle().clone(),
        rootfs: note.rootfs,
        created: container
            .created()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default(),
        owner: String::new(),
        annotations: container
            .state
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    }
}
