//! `start`: the created container's process is released to run the user's program.

use libcontainer::container::ContainerStatus;

use crate::error::{Error, Result};
use crate::linux::state_dir::{wrong_status, Runtime};

/// `start`: runs the user's process in a created container.
pub(super) fn start(runtime: &Runtime, id: &str) -> Result<()> {
    let mut container = runtime.load(id)?;
    if container.status() != ContainerStatus::Created {
        return Err(wrong_status(id, container.status(), "start", ""));
    }
    container
        .start()
        .map_err(|e| Error::backend(id, "cannot start", e))
}
