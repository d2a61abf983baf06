//! The one interface runz drives: runc's verbs over one state directory. The Linux backend
//! (`linux::Runtime`) and the zone backend (`zone::ZoneRuntime`) implement it, so the command line is written once; what a backend cannot do it refuses with
//! [`crate::Error::Unsupported`], never silently.

use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::state::StateReport;

/// How to create a container (runc's `create` and `run` flags; the bundle is loaded first,
/// see [`Bundle`]).
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    /// Extra file descriptors passed on from 3 upwards (runc's `--preserve-fds`).
    pub preserve_fds: i32,
    /// Run this podinit binary (host path) as the container's first process.
    pub init: Option<PathBuf>,
}

/// What `exec` runs in a container (runc's `exec` flags, or a process.json).
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub process_file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub capabilities: Vec<String>,
    pub no_new_privs: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    pub detach: bool,
    pub ignore_paused: bool,
    pub cgroup: Option<String>,
    /// runc's `--process-label` (SELinux): see [`crate::selinux`].
    pub process_label: Option<String>,
}

/// How `run` ends (runc's `run` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunMode {
    /// Return once the container has started, leaving it running.
    pub detach: bool,
    /// Keep the container's state after it exits (delete it later).
    pub keep: bool,
}

/// runc's lifecycle and inspection verbs, as every backend offers them.
pub trait Backend {
    /// `create`: sets the container up and leaves its process waiting for `start`.
    fn create(&self, id: &str, bundle: Bundle, options: &CreateOptions) -> Result<()>;
    /// `start`: runs the user's process in a created container.
    fn start(&self, id: &str) -> Result<()>;
    /// `run`: create and start; unless `mode.detach`, wait for the container, delete it
    /// (unless `mode.keep`) and return its exit status (128+N when killed by signal N).
    fn run(&self, id: &str, bundle: Bundle, options: &CreateOptions, mode: RunMode) -> Result<i32>;
    /// `state`: the runtime spec's state of one container.
    fn state(&self, id: &str) -> Result<StateReport>;
    /// `list`: every container in the state directory, by ID.
    fn list(&self) -> Result<Vec<StateReport>>;
    /// `kill`: sends `signal` to the container's init (or, with `all`, every process).
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()>;
    /// `delete`: removes a stopped (or created) container; `force` kills a running one first.
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// `exec`: runs another process in a running container; its exit status unless detached.
    fn exec(&self, id: &str, options: &ExecOptions) -> Result<i32>;
    fn pause(&self, id: &str) -> Result<()>;
    fn resume(&self, id: &str) -> Result<()>;
    /// `ps`: the host PIDs of every process in the container.
    fn ps(&self, id: &str) -> Result<Vec<i32>>;
    /// `update`: applies new resources to a running container.
    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()>;
    /// The container's resource statistics, as runc's `events` reports them under `data`.
    fn stats(&self, id: &str) -> Result<serde_json::Value>;
}
