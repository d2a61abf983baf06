//! `delete`: libcontainer's delete (processes, cgroups, poststop hooks), then runz's own
//! directory; with `--force`, whatever is left of a broken container.

use std::fs;

use libcontainer::container::{Container, ContainerStatus};

use crate::error::{Error, Result};
use crate::linux::cleanup;
use crate::linux::state_dir::{pid_of, wrong_status, Runtime};

/// `delete`: removes a stopped (or created) container; `force` kills a running one first,
/// and removes the container whatever is left of it (an unreadable state, a failed hook).
pub(super) fn delete(runtime: &Runtime, id: &str, force: bool) -> Result<()> {
    let mut container = match runtime.load(id) {
        Ok(container) => container,
        // runc: `delete --force` of a container that is not there succeeds.
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) if force => {
            tracing::warn!(id, error = %e, "removing what is left of the container");
            return cleanup::force_remove(id, &runtime.container_dir(id), None);
        }
        Err(e) => return Err(e),
    };
    let status = container.status();
    if !force && matches!(status, ContainerStatus::Running | ContainerStatus::Paused) {
        return Err(wrong_status(
            id,
            status,
            "delete",
            " (stop it first, or use --force)",
        ));
    }
    remove(runtime, id, &mut container, force)
}

/// libcontainer's delete (process, cgroups, poststop hooks), then what runz keeps; with
/// `force`, what libcontainer could not remove is removed by runz.
pub(super) fn remove(
    runtime: &Runtime,
    id: &str,
    container: &mut Container,
    force: bool,
) -> Result<()> {
    // Without the configuration it recorded (cgroup, hooks) libcontainer's delete would
    // leave the processes and the cgroup behind, and succeed.
    if force {
        if let Err(e) = container.spec() {
            tracing::warn!(id, error = %e, "removing what is left of the container");
            return cleanup::force_remove(id, &runtime.container_dir(id), pid_of(container));
        }
    }
    if let Err(e) = container.delete(force) {
        if !force {
            return Err(Error::backend(id, "cannot delete", e));
        }
        tracing::warn!(id, error = %e, "removing what is left of the container");
        return cleanup::force_remove(id, &runtime.container_dir(id), pid_of(container));
    }
    // libcontainer leaves the directory when it had nothing to clean; runz owns it.
    let _ = fs::remove_dir_all(runtime.container_dir(id));
    Ok(())
}
