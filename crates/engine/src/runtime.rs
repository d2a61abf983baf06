//! The OCI runtime a container runs under, driven through runc's command line (runz, runc
//! and crun all speak it). Each runtime gets its own `--root` under the run root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{EngineError, Result};
use crate::paths::Paths;

/// An OCI runtime binary and its state directory.
#[derive(Debug, Clone)]
pub struct OciRuntime {
    /// Its short name (`runz`, `runc`, `crun`, or the file name of a path).
    pub name: String,
    pub path: PathBuf,
    /// Its `--root`.
    pub root: PathBuf,
}

/// What `state` reports.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RuntimeState {
    pub status: String,
    #[serde(default)]
    pub pid: i32,
}

impl OciRuntime {
    /// The runtime `choice` names: `runz` (beside this program first), `runc`, `crun` (on
    /// PATH), or a path.
    pub fn find(choice: &str, paths: &Paths) -> Result<OciRuntime> {
        let path = if choice.contains('/') {
            let path = PathBuf::from(choice);
            path.is_file().then_some(path)
        } else {
            find_program(choice)
        }
        .ok_or_else(|| EngineError::NoRuntime(choice.to_string()))?;
        Ok(Self::at(&path, paths))
    }

    /// The runtime at `path` (as recorded for a container).
    pub fn at(path: &Path, paths: &Paths) -> OciRuntime {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runtime".into());
        let root = paths.runtime_root(&name);
        OciRuntime {
            name,
            path: crate::paths::absolute(path),
            root,
        }
    }

    /// The arguments placed before every verb.
    pub fn global_args(&self) -> Vec<String> {
        vec!["--root".into(), self.root.display().to_string()]
    }

    /// A command for `verb ARGS…`, stdio not yet set.
    pub fn command(&self, verb: &str) -> Command {
        let mut command = Command::new(&self.path);
        command.args(self.global_args()).arg(verb);
        command
    }

    fn run(&self, verb: &str, args: &[&str], id: &str) -> Result<Output> {
        let output = self
            .command(verb)
            .args(args)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.error(verb, id, e.to_string(), None))?;
        if output.status.success() {
            Ok(output)
        } else {
            let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
            Err(self.error(verb, id, message, output.status.code()))
        }
    }

    pub fn error(&self, verb: &str, id: &str, message: String, status: Option<i32>) -> EngineError {
        EngineError::Runtime {
            runtime: self.name.clone(),
            verb: verb.to_string(),
            id: id.to_string(),
            message,
            status,
        }
    }

    pub fn start(&self, id: &str) -> Result<()> {
        self.run("start", &[], id).map(drop)
    }

    /// Sends `signal` (a name or number) to the init, or to every process with `all`.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<()> {
        let mut args = Vec::new();
        if all {
            args.push("--all");
        }
        self.command("kill")
            .args(&args)
            .arg(id)
            .arg(signal)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.error("kill", id, e.to_string(), None))
            .and_then(|output| {
                if output.status.success() {
                    Ok(())
                } else {
                    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
                    Err(self.error("kill", id, message, output.status.code()))
                }
            })
    }

    /// Removes the runtime's container (killing what is left of it); nothing there is fine.
    /// runz, runc and crun keep a container's state in `ROOT/ID`: without it there is nothing
    /// to delete, and no process is started to find that out.
    pub fn delete_force(&self, id: &str) {
        if self.root.join(id).exists() {
            let _ = self.run("delete", &["--force"], id);
        }
    }

    /// The runtime's view of the container; `None` when it does not know it.
    pub fn state(&self, id: &str) -> Option<RuntimeState> {
        let output = self.run("state", &[], id).ok()?;
        serde_json::from_slice(&output.stdout).ok()
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        self.run("pause", &[], id).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        self.run("resume", &[], id).map(drop)
    }

    /// `update` with runc's flags (`--memory N`, `--cpu-quota N`, `--cpu-period N`,
    /// `--pids-limit N`).
    pub fn update(&self, id: &str, args: &[String]) -> Result<()> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("update", &args, id).map(drop)
    }

    /// The host pids of the container's processes.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let output = self.run("ps", &["--format", "json"], id)?;
        serde_json::from_slice(&output.stdout)
            .map_err(|e| self.error("ps", id, format!("unreadable process list: {e}"), None))
    }

    /// One sample of the container's statistics (`events --stats`), as the runtime prints
    /// it (`{"type":"stats","data":{cpu, memory, pids, …}}`).
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let output = self.run("events", &["--stats"], id)?;
        serde_json::from_slice(&output.stdout)
            .map_err(|e| self.error("events", id, format!("unreadable statistics: {e}"), None))
    }
}

/// A program beside the running executable, else on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    })
}
