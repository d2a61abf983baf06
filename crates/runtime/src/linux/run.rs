//! `run`: create and start in one go; in the foreground runz waits for the container,
//! passing signals on (and relaying its terminal when it has one), then deletes it.

use crate::backend::{CreateOptions, RunMode};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::linux::create::{build, clean_failed_create, Built};
use crate::linux::delete::remove;
use crate::linux::foreground::{self, wait_foreground};
use crate::linux::state_dir::Runtime;
use crate::linux::terminal::Relay;

/// `run`: create and start; unless `mode.detach`, wait for the container, pass signals on,
/// delete it, and return its exit status (128+N when killed by signal N).
pub(super) fn run(
    runtime: &Runtime,
    id: &str,
    bundle: Bundle,
    options: &CreateOptions,
    mode: RunMode,
) -> Result<i32> {
    let Built {
        mut container,
        note,
        console,
    } = build(runtime, id, bundle, options, mode.detach)?;
    let relay = match console.map(|c| {
        c.receive().and_then(|master| {
            foreground::block_signals()?;
            Relay::start(master)
        })
    }) {
        Some(Ok(relay)) => Some(relay),
        Some(Err(e)) => {
            let _ = container.delete(true);
            clean_failed_create(runtime, id);
            return Err(e);
        }
        None => None,
    };
    // start() records the state, so only the note is left to write.
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        clean_failed_create(runtime, id);
        return Err(Error::backend(id, "cannot start", e));
    }
    note.write(&runtime.container_dir(id))?;
    if mode.detach {
        return Ok(0);
    }
    let pid = container
        .pid()
        .ok_or_else(|| Error::Invalid(format!("container {id:?} started without a process")))?;
    let resize = relay.as_ref().map(|r| move || r.resize());
    let status = wait_foreground(pid.as_raw(), resize.as_ref().map(|f| f as &dyn Fn()));
    if let Some(relay) = relay {
        relay.finish();
    }
    if !mode.keep {
        if let Err(e) = remove(runtime, id, &mut container, true) {
            tracing::error!(id, error = %e, "deleting the container after it ran");
        }
    }
    status
}
