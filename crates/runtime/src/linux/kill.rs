//! `kill`: a signal to the container's init, or to every process in it.

use crate::error::{Error, Result};
use crate::linux::state_dir::{wrong_status, Runtime};

/// `kill`: sends `signal` to the container's init (or, with `all`, every process).
pub(super) fn kill(runtime: &Runtime, id: &str, signal: i32, all: bool) -> Result<()> {
    let mut container = runtime.load(id)?;
    if !container.can_kill() {
        return Err(wrong_status(id, container.status(), "signal", ""));
    }
    let signal = libcontainer::signal::Signal::try_from(signal)
        .map_err(|e| Error::backend(id, "cannot signal", e))?;
    container
        .kill(signal, all)
        .map_err(|e| Error::backend(id, "cannot signal", e))
}
