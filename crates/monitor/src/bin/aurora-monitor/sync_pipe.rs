//! `--sync-fd`: the one line podadm waits for after starting the monitor.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

/// The pipe to podadm; one message, then it is closed.
pub struct SyncPipe {
    file: File,
}

impl SyncPipe {
    /// Takes over descriptor `fd`, which podadm left open for us.
    pub fn adopt(fd: RawFd) -> Result<SyncPipe, String> {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!("--sync-fd {fd} is not an open descriptor"));
        }
        // SAFETY: fd is open, and nothing else in this process uses it.
        let file = unsafe { File::from_raw_fd(fd) };
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
