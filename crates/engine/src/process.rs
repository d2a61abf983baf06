//! Processes the engine watches (containers' inits, monitors, podadm processes owning a
//! transition): whether they live, and waiting for them to end. Linux answers through
//! /proc and pidfds; elsewhere (illumos) the signal-0 probe and a short poll do.

use std::time::{Duration, Instant};

/// `pid` runs: it exists and is not a zombie (a dead process not yet reaped keeps its
/// entry, and its name, until its parent reaps it).
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The state follows the command name, which is in parentheses and may hold anything.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        !matches!(state, None | Some('Z') | Some('X'))
    }
    #[cfg(not(target_os = "linux"))]
    {
        rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
    }
}

/// The program `pid` runs, when the system says (Linux: /proc/PID/exe).
pub fn executable(pid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The short name of `pid`'s program (Linux: /proc/PID/comm).
pub fn name(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|n| n.trim().to_string())
        .or_else(|| {
            executable(pid)?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
}

/// A process being waited for.
pub struct Watched {
    pid: i32,
    #[cfg(target_os = "linux")]
    fd: Option<std::os::fd::OwnedFd>,
}

impl Watched {
    /// `pid`, if it still runs.
    pub fn new(pid: i32) -> Option<Watched> {
        if !alive(pid) {
            return None;
        }
        Some(Watched {
            pid,
            #[cfg(target_os = "linux")]
            fd: rustix::process::Pid::from_raw(pid).and_then(|p| {
                rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
            }),
        })
    }

    /// Waits until the process ends or `timeout` passes; true if it ended.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            return wait_pidfd(fd, deadline);
        }
        loop {
            if !alive(self.pid) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(target_os = "linux")]
fn wait_pidfd(fd: &std::os::fd::OwnedFd, deadline: Option<Instant>) -> bool {
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timespec = left.map(|l| rustix::event::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
        match rustix::event::poll(&mut fds, timespec.as_ref()) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}
