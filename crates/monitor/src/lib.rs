//! The monitor: the files and the attach protocol it shares with podadm, and the decisions it
//! makes (restart or not, and after how long).
//!
//! The `aurora-monitor` binary (src/bin/aurora-monitor) runs beside each container, like
//! conmon: podadm starts it, it daemonizes, creates the container through the OCI runtime,
//! holds the container's stdio, writes its log (`aurora-crilog`), serves attach clients over
//! `MONDIR/attach`, records the exit in `MONDIR/exit` and restarts the container as its
//! policy says. This library is what the engine uses to talk to it.

pub mod attach;
mod dir;
mod error;
mod files;
mod restart;

pub use dir::MonitorDir;
pub use error::MonitorError;
pub use files::{write_json_atomic, Exit, Status};
pub use restart::{back_off_delay, decide_restart, RestartPolicyArg, BACK_OFF_RESET_AFTER};
