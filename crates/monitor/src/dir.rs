//! A monitor's directory (`RUNROOT/podadm/ID/`) and the files in it.

use std::path::{Path, PathBuf};

use crate::files::{read_json, read_pid};
use crate::{Exit, MonitorError, Status};

/// The paths of the files in a monitor's directory. The names are fixed: podadm and the
/// monitor both find them here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorDir {
    path: PathBuf,
}

impl MonitorDir {
    /// The container's init pid, written by the runtime (`--pid-file`).
    pub const PID: &'static str = "pid";
    /// [`Status`], rewritten after every create.
    pub const STATUS: &'static str = "status";
    /// [`Exit`], written after every exit of the container.
    pub const EXIT: &'static str = "exit";
    /// Created by podadm before a user's stop or kill: never restart after it.
    pub const STOPPED: &'static str = "stopped";
    /// The attach socket.
    pub const ATTACH: &'static str = "attach";
    /// Where the runtime sends the terminal of a `--terminal` container.
    pub const CONSOLE_SOCKET: &'static str = "console.sock";
    /// The monitor's own pid.
    pub const MONITOR_PID: &'static str = "monitor.pid";

    pub fn new(path: impl Into<PathBuf>) -> MonitorDir {
        MonitorDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pid(&self) -> PathBuf {
        self.path.join(Self::PID)
    }

    pub fn status(&self) -> PathBuf {
        self.path.join(Self::STATUS)
    }

    pub fn exit(&self) -> PathBuf {
        self.path.join(Self::EXIT)
    }

    pub fn stopped(&self) -> PathBuf {
        self.path.join(Self::STOPPED)
    }

    pub fn attach(&self) -> PathBuf {
        self.path.join(Self::ATTACH)
    }

    pub fn console_socket(&self) -> PathBuf {
        self.path.join(Self::CONSOLE_SOCKET)
    }

    pub fn monitor_pid(&self) -> PathBuf {
        self.path.join(Self::MONITOR_PID)
    }

    /// The status, or `None` when the container was never created.
    pub fn read_status(&self) -> Result<Option<Status>, MonitorError> {
        read_json(&self.status())
    }

    /// The last exit, or `None` when the container has not exited.
    pub fn read_exit(&self) -> Result<Option<Exit>, MonitorError> {
        read_json(&self.exit())
    }

    /// The container's init pid, or `None` before it was created.
    pub fn read_container_pid(&self) -> Result<Option<i32>, MonitorError> {
        read_pid(&self.pid())
    }

    /// The monitor's pid, or `None` before it daemonized.
    pub fn read_monitor_pid(&self) -> Result<Option<i32>, MonitorError> {
        read_pid(&self.monitor_pid())
    }

    /// Whether the user stopped the container (the `stopped` marker exists).
    pub fn is_stopped(&self) -> bool {
        self.stopped().exists()
    }

    /// Creates the `stopped` marker (before a user's stop or kill).
    pub fn mark_stopped(&self) -> Result<(), MonitorError> {
        let path = self.stopped();
        std::fs::write(&path, b"").map_err(|source| MonitorError::Write { path, source })
    }
}
