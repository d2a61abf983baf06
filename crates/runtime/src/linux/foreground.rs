//! Waiting for a process `runz` started (a container's init for `run`, a process for `exec`)
//! as runc does: every signal runz receives is passed on to it, and its exit becomes runz's.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Blocks every signal, passes each one received on to `pid` (not SIGCHLD), reaps children,
/// and returns `pid`'s exit status: its code, or 128+N when signal N killed it.
pub fn wait_foreground(pid: i32) -> Result<i32> {
    let target = Pid::from_raw(pid);
    let all = SigSet::all();
    all.thread_block()
        .map_err(|e| Error::Invalid(format!("cannot block signals: {e}")))?;
    loop {
        // The process may have exited before the signals were blocked: reap first.
        if let Some(status) = reap(target)? {
            return Ok(status);
        }
        let signal = all
            .wait()
            .map_err(|e| Error::Invalid(format!("waiting for signals: {e}")))?;
        if signal != Signal::SIGCHLD {
            if let Err(e) = kill(target, signal) {
                tracing::warn!(pid, ?signal, error = %e, "cannot pass the signal on");
            }
        }
    }
}

fn reap(target: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == target => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == target => {
                return Ok(Some(128 + signal as i32))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                return Err(Error::Invalid(format!(
                    "process {target} is not a child of runz: cannot wait for it"
                )))
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::Invalid(format!("waiting for process {target}: {e}"))),
        }
    }
}
