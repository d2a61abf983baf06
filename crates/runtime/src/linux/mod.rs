//! The Linux backend: bundles run with namespaces, cgroups (v1, v2 and the hybrid layout),
//! seccomp, capabilities and the rest of the runtime spec, through youki's `libcontainer`
//! (see docs/decisions.md for why). This module owns what `runz` adds around it: the state
//! directory and its notes, ID checks, clear errors, cleanup of failed creates, the init
//! injection, and waiting for a foreground container with signals passed on.
//!
//! One file per operation (create, start, run, state, list, kill, delete, exec, and the
//! cgroup verbs), over the state directory (`state_dir`); this file only joins them into
//! the [`Backend`] runz drives.

mod cgroup;
mod cleanup;
mod create;
mod delete;
mod exec;
mod foreground;
mod kill;
mod list;
mod note;
mod resources;
mod run;
pub mod sealed;
mod start;
mod state;
mod state_dir;
mod stdio;
mod terminal;

use oci_spec::runtime::LinuxResources;

use crate::backend::{Backend, CreateOptions, ExecOptions, RunMode};
use crate::bundle::Bundle;
use crate::error::Result;
use crate::state::StateReport;

pub use foreground::wait_foreground;
pub use state_dir::Runtime;

impl Backend for Runtime {
    fn create(&self, id: &str, bundle: Bundle, options: &CreateOptions) -> Result<()> {
        create::create(self, id, bundle, options)
    }

    fn start(&self, id: &str) -> Result<()> {
        start::start(self, id)
    }

    fn run(&self, id: &str, bundle: Bundle, options: &CreateOptions, mode: RunMode) -> Result<i32> {
        run::run(self, id, bundle, options, mode)
    }

    fn state(&self, id: &str) -> Result<StateReport> {
        state::state(self, id)
    }

    fn list(&self) -> Result<Vec<StateReport>> {
        list::list(self)
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        kill::kill(self, id, signal, all)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        delete::delete(self, id, force)
    }

    fn exec(&self, id: &str, options: &ExecOptions) -> Result<i32> {
        exec::exec(self, id, options)
    }

    fn pause(&self, id: &str) -> Result<()> {
        cgroup::pause(self, id)
    }

    fn resume(&self, id: &str) -> Result<()> {
        cgroup::resume(self, id)
    }

    fn ps(&self, id: &str) -> Result<Vec<i32>> {
        cgroup::ps(self, id)
    }

    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        cgroup::update(self, id, resources)
    }

    fn stats(&self, id: &str) -> Result<serde_json::Value> {
        cgroup::stats(self, id)
    }
}
