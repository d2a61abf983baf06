//! `--sync-fd`: the one line podadm waits for after starting the monitor.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

/// The pipe to podadm; one message, then it is closed.
pub struct SyncPipe {
    file: File,
}

impl SyncPipe {
    /// Takes over descriptor `fd`, which podadm left open for us: moved above stderr and
    /// close-on-exec (it may be stdout, which daemonizing points at /dev/null; no runtime
    /// or container may hold it, or podadm's read would wait for them).
    pub fn adopt(fd: RawFd) -> Result<SyncPipe, String> {
        // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor or fails (EBADF: not open).
        let own = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if own < 0 {
            return Err(format!("--sync-fd {fd} is not an open descriptor"));
        }
        if fd > 2 {
            // SAFETY: fd is ours (podadm left it to us) and not used after this.
            unsafe { libc::close(fd) };
        }
        // SAFETY: own is a fresh descriptor nothing else in this process uses.
        let file = unsafe { File::from_raw_fd(own) };
        Ok(SyncPipe { file })
    }

    /// `{"pid":N}`: the container is created.
    pub fn created(self, pid: i32) {
        self.send(&serde_json::json!({ "pid": pid }));
    }

    /// `{"error":"MESSAGE"}`: it could not be.
    pub fn failed(self, message: &str) {
        self.send(&serde_json::json!({ "error": message }));
    }

    fn send(mut self, message: &serde_json::Value) {
        let mut line = message.to_string();
        line.push('\n');
        // podadm gone: nobody to tell.
        let _ = self.file.write_all(line.as_bytes());
    }
}
