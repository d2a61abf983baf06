//! aurora-cgroups: starting the kernel's wait for a cgroup move early, shared by runz (as it
//! begins a create) and podadm (as it begins a `run` or `start`, well before its runtime
//! moves the container's processes).
//!
//! Moving a process into a cgroup (writing `cgroup.procs`, which every runtime does for every
//! container) takes the kernel's `cgroup_threadgroup_rwsem` for writing; the first writer after
//! a quiet spell waits for a full RCU grace period, 9 to 24 ms on these machines: most of the
//! time a container takes to start. runz starts that wait as soon as it knows it will make a
//! container: a child forked for the purpose moves itself into the cgroup it is already in
//! (`0` means the writer; nothing changes) and exits, so the grace period passes while runz
//! reads the bundle, prepares and forks (or podadm creates the container and its monitor), and
//! the container's own moves then find the lock ready. The child only calls `write` and
//! `_exit`, so forking a multi-threaded parent is safe; whatever fails, nothing happens and the
//! container starts as it would have.
//!
//! A process asks as early as it can (podadm before it parses its arguments, then again as a
//! create or start begins); a second ask within [`ALREADY_WAITING`] of the first forks
//! nothing, since a move made during a grace period waits for that one.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after one ask another is covered by it: shorter than the shortest grace period
/// measured, so that an ask after the wait ended (and the kernel went quiet again) forks anew.
const ALREADY_WAITING: Duration = Duration::from_millis(5);

/// When this process last forked the child.
static LAST_STARTED: Mutex<Option<Instant>> = Mutex::new(None);

/// Forks the child that takes the grace period, if this process can write a `cgroup.procs`
/// and did not fork one moments ago.
pub fn start_grace_period() {
    if recently_started() {
        return;
    }
    let Some(procs) = own_cgroup_procs() else {
        return;
    };
    let Ok(path) = CString::new(procs.into_os_string().into_encoded_bytes()) else {
        return;
    };
    // SAFETY: open takes a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    // SAFETY: the child runs only async-signal-safe calls (write, _exit) on memory it owns.
    match unsafe { libc::fork() } {
        0 => unsafe {
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::_exit(0);
        },
        pid if pid < 0 => tracing::debug!("cannot fork to start the cgroup grace period"),
        _ => {}
    }
    // SAFETY: fd is ours and no longer needed here.
    unsafe { libc::close(fd) };
}

/// True if a child was forked less than [`ALREADY_WAITING`] ago; else notes this ask as the
/// latest.
fn recently_started() -> bool {
    let now = Instant::now();
    let Ok(mut last) = LAST_STARTED.lock() else {
        return false;
    };
    if last.is_some_and(|at| now.duration_since(at) < ALREADY_WAITING) {
        return true;
    }
    *last = Some(now);
    false
}

/// `cgroup.procs` of a cgroup this process is in: the unified hierarchy's when mounted at
/// /sys/fs/cgroup, else the first v1 hierarchy's (the lock is shared by all of them).
fn own_cgroup_procs() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let base = PathBuf::from("/sys/fs/cgroup");
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let dir = if controllers.is_empty() {
            base.clone()
        } else {
            base.join(controllers.split(',').next()?.trim_start_matches("name="))
        };
        let procs = dir.join(path.trim_start_matches('/')).join("cgroup.procs");
        procs.exists().then_some(procs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ask_right_after_another_is_covered_by_it() {
        // Whatever came before, two asks in a row: the second is covered.
        *LAST_STARTED.lock().unwrap() = None;
        assert!(!recently_started());
        assert!(recently_started());
        *LAST_STARTED.lock().unwrap() = Some(Instant::now() - ALREADY_WAITING);
        assert!(!recently_started(), "an ask after the window forks again");
    }

    #[test]
    fn a_cgroup_of_this_process_is_found() {
        // Every Linux process is in some cgroup; the file exists wherever cgroupfs is mounted.
        if !std::path::Path::new("/sys/fs/cgroup").exists() {
            return;
        }
        let procs = own_cgroup_procs().expect("a cgroup.procs file");
        assert!(procs.ends_with("cgroup.procs"));
        let pid = std::process::id().to_string();
        let members = std::fs::read_to_string(&procs).unwrap();
        assert!(
            members.lines().any(|l| l == pid),
            "{} does not list {pid}",
            procs.display()
        );
    }
}
