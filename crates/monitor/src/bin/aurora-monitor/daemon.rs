//! Becoming a daemon that outlives podadm, and the signals it listens to.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use rustix::io::Errno;

/// Forks: the parent exits 0 at once (podadm reaps it); the child, which returns, leads a
/// new session (so the terminal podadm ran in can close), adopts the container's orphans
/// (the runtime's init is reparented to us and we wait for it), works in `dir` and has its
/// stdio on /dev/null. Call before any thread exists.
pub fn daemonize(dir: &Path) -> std::io::Result<()> {
    // SAFETY: no other thread exists yet (main calls this first), so the child is a
    // complete copy; the parent only calls _exit.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    rustix::process::setsid()?;
    #[cfg(target_os = "linux")]
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    std::env::set_current_dir(dir)?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

/// Marks every inherited descriptor above stderr close-on-exec, so that neither the runtime
/// nor the container holds podadm's pipes (podadm's read of the sync pipe ends when we close
/// our copy, not when the container exits).
pub fn close_inherited_on_exec() {
    #[cfg(target_os = "linux")]
    {
        // close_range(3, ~0, CLOSE_RANGE_CLOEXEC), Linux 5.11.
        // SAFETY: the call only changes descriptor flags.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if done == 0 {
            return;
        }
    }
    for fd in 3..1024 {
        // SAFETY: F_SETFD on a descriptor that may not exist only fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// The write end of the self-pipe SIGCHLD writes to.
static SIGCHLD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_PIPE.load(Ordering::Relaxed);
    let byte = 0u8;
    // SAFETY: write(2) is async-signal-safe; a full pipe (EAGAIN) already means "look".
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Set by SIGUSR1: the log is to be opened again (the engine's `reopen_log`).
static REOPEN_LOG: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(signal: libc::c_int) {
    REOPEN_LOG.store(true, Ordering::Relaxed);
    on_sigchld(signal);
}

extern "C" fn ignore(_: libc::c_int) {}

/// SIGCHLD, delivered through a pipe the poll loop watches.
pub struct ChildSignals {
    read: OwnedFd,
    _write: OwnedFd,
}

impl ChildSignals {
    /// Installs the handlers: SIGCHLD and SIGUSR1 (reopen the log) into the pipe; SIGHUP
    /// caught and ignored (a caught
    /// signal, unlike an ignored one, is back to its default in the programs we start).
    /// SIGPIPE is ignored already by Rust's runtime, which restores it for children.
    pub fn install() -> std::io::Result<ChildSignals> {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        use std::os::fd::AsRawFd;
        SIGCHLD_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
        set_handler(libc::SIGCHLD, on_sigchld, libc::SA_NOCLDSTOP)?;
        set_handler(libc::SIGHUP, ignore, 0)?;
        set_handler(libc::SIGUSR1, on_sigusr1, 0)?;
        Ok(ChildSignals {
            read,
            _write: write,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Whether SIGUSR1 asked for the log to be opened again since the last call.
    pub fn take_reopen_log(&self) -> bool {
        REOPEN_LOG.swap(false, Ordering::Relaxed)
    }

    /// Empties the pipe after poll said it is readable.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }
}

fn set_handler(
    signal: libc::c_int,
    handler: extern "C" fn(libc::c_int),
    flags: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: sigaction is plain data; the handlers only call async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = flags | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A child that exited: its pid and exit code (status, or 128 + signal).
pub fn reap_one() -> Option<(i32, i32)> {
    let mut status = 0;
    // SAFETY: waitpid writes only into status.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        return Some((pid, -1));
    };
    Some((pid, code))
}

/// Whether an error means "try again later" on a non-blocking descriptor.
pub fn would_block(error: Errno) -> bool {
    error == Errno::AGAIN || error == Errno::WOULDBLOCK || error == Errno::INTR
}

/// Makes `fd` non-blocking.
pub fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: the caller owns fd; fcntl only reads and sets its status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
