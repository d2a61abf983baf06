//! Waiting for a process `runz` started (a container's init for `run`, a process for `exec`)
//! as runc does: every signal runz receives is passed on to it, and its exit becomes runz's.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Blocks every signal in this thread and in the threads it starts afterwards, so that each
/// signal reaches [`wait_foreground`] and none is lost to a relay thread.
pub fn block_signals() -> Result<()> {
    SigSet::all()
        .thread_block()
        .map_err(|e| Error::Invalid(format!("cannot block signals: {e}")))
}

/// Blocks every signal, passes each one received on to `pid` (not SIGCHLD; SIGWINCH goes to
/// `on_resize` when there is one), reaps children, and returns `pid`'s exit status: its code,
/// or 128+N when signal N killed it.
pub fn wait_foreground(pid: i32, on_resize: Option<&dyn Fn()>) -> Result<i32> {
    let target = Pid::from_raw(pid);
    let all = SigSet::all();
    block_signals()?;
    loop {
        // The process may have exited before the signals were blocked: reap first.
        if let Some(status) = reap(target)? {
            return Ok(status);
        }
        let signal = all
            .wait()
            .map_err(|e| Error::Invalid(format!("waiting for signals: {e}")))?;
        if signal == Signal::SIGCHLD {
            continue;
        }
        if let (Signal::SIGWINCH, Some(resize)) = (signal, on_resize) {
            resize();
            continue;
        }
        {
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
