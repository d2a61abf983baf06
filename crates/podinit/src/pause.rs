//! `podinit pause`: the process of a pod's infra container. It holds the pod's namespaces
//! open, does nothing else, and costs next to nothing: it sleeps in `sigwait`, reaps the
//! zombies reparented to it (it is PID 1 of a pod that shares its PID namespace), and exits
//! 0 on `SIGTERM` or `SIGINT` (a pod's stop). Every other signal is ignored.

use crate::supervise::Signals;

/// Pauses until told to stop; the exit status (0).
pub fn run() -> i32 {
    let signals = match Signals::block() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("podinit: pause: blocking signals: {e}");
            return crate::EXIT_INIT_FAILED;
        }
    };
    // Orphans of the pod's other containers come here when podinit is not PID 1 (a pod
    // that shares no PID namespace still gives the infra its own, where podinit is 1).
    if let Err(e) = crate::supervise::become_subreaper() {
        eprintln!("podinit: pause: becoming a subreaper: {e}");
    }
    loop {
        match signals.wait() {
            Some(libc::SIGTERM) | Some(libc::SIGINT) => return 0,
            Some(libc::SIGCHLD) => reap_all(),
            _ => {}
        }
    }
}

/// Reaps every child that has ended, without waiting for the others.
fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            continue;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return;
    }
}
