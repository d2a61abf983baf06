//! `exec`: another process in a running container, through the OCI runtime's `exec` with a
//! process description derived from the container's own (so it gets the same capabilities,
//! environment, user and working directory unless told otherwise).

use std::path::PathBuf;
use std::process::Command;

use oci_spec::runtime::{Process, User};

use crate::engine::Engine;
use crate::error::{io, EngineError, Result};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    /// `NAME=VALUE`, added to the container's environment.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub detach: bool,
}

/// A prepared `exec`: the runtime command to run with the caller's stdio, and the process
/// file it reads (removed when this is dropped).
pub struct PreparedExec {
    pub command: Command,
    process_file: PathBuf,
    /// Where the runtime writes the exec'd process's pid (on the host).
    pid_file: PathBuf,
}

impl PreparedExec {
    /// Kills the exec'd process itself (SIGKILL), not only the runtime waiting for it: a
    /// caller that gives up on an exec (a timeout) must not leave it running in the
    /// container. Nothing happens when it has not started or has already gone.
    pub fn kill_process(&self) {
        let pid = std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for PreparedExec {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.process_file);
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Engine {
    /// Prepares `exec` in container `key`, which must be running.
    pub fn exec(&self, key: &str, options: &ExecOptions) -> Result<PreparedExec> {
        let record = self.find(key)?;
        self.require_active(&record, "exec")?;
        if options.command.is_empty() {
            return Err(EngineError::Invalid {
                name: record.name.clone(),
                message: "exec needs a command".into(),
            });
        }
        let bundle = self.paths.bundle(&record.id);
        let spec = aurora_bundle::read_bundle_config(&bundle)?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(options.command.clone()));
        process.set_terminal(Some(options.tty));
        let mut env = process.env().clone().unwrap_or_default();
        for entry in &options.env {
            let key = entry.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(entry.clone());
        }
        process.set_env(Some(env));
        if let Some(workdir) = &options.workdir {
            process.set_cwd(PathBuf::from(workdir));
        }
        if let Some(user) = &options.user {
            let rootfs = self
                .images
                .storage()?
                .container_rootfs(record.storage_name())?;
            let resolved = aurora_bundle::user::resolve_user(&record.image, &rootfs, user)?;
            let mut spec_user = User::default();
            spec_user.set_uid(resolved.uid);
            spec_user.set_gid(resolved.gid);
            spec_user.set_additional_gids(Some(resolved.additional_gids));
            process.set_user(spec_user);
        }
        let rootfs = self
            .images
            .storage()?
            .container_rootfs(record.storage_name())?;
        check_command(
            &rootfs,
            &options.command[0],
            process.env().as_deref().unwrap_or_default(),
        )
        .map_err(|message| EngineError::StartFailed {
            name: record.name.clone(),
            message,
        })?;
        let exec_id = crate::names::new_id()?;
        let process_file = self
            .paths
            .monitor_dir(&record.id)
            .join(format!("exec-{exec_id}.json"));
        let pid_file = self
            .paths
            .monitor_dir(&record.id)
            .join(format!("exec-{exec_id}.pid"));
        write_process(&process_file, &process)?;
        let runtime = self.runtime_of(&record);
        let mut command = runtime.command("exec");
        // The runtime logs to its stderr, which is the process's here: a caller's RUST_LOG
        // would put the runtime's lines into the command's output.
        command.env_remove("RUST_LOG");
        command.arg("--process").arg(&process_file);
        command.arg("--pid-file").arg(&pid_file);
        if options.tty {
            command.arg("--tty");
        }
        if options.detach {
            command.arg("--detach");
        }
        command.arg(&record.id);
        self.event(&record, "exec");
        Ok(PreparedExec {
            command,
            process_file,
            pid_file,
        })
    }
}

fn write_process(path: &std::path::Path, process: &Process) -> Result<()> {
    let bytes = serde_json::to_vec(process).map_err(|e| EngineError::Other(e.to_string()))?;
    std::fs::write(path, bytes).map_err(io(path))
}

/// The command exists in the container and can be run (podman tells 127 from 126 by this):
/// looked up as the runtime will, along the process's PATH, every path resolved inside the
/// container's root.
pub(crate) fn check_command(
    rootfs: &std::path::Path,
    command: &str,
    env: &[String],
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(root) = pathrs::Root::open(rootfs) else {
        return Ok(()); // The runtime will say what is wrong.
    };
    let candidates: Vec<String> = if command.contains('/') {
        vec![command.to_string()]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .map(|dir| format!("{dir}/{command}"))
            .collect()
    };
    let mut found_unrunnable = None;
    for candidate in &candidates {
        let Ok(handle) = root.resolve(candidate) else {
            continue;
        };
        let Ok(file) = handle.reopen(pathrs::flags::OpenFlags::O_RDONLY) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(());
        }
        found_unrunnable.get_or_insert(candidate.clone());
    }
    Err(match found_unrunnable {
        Some(path) => format!("{path}: permission denied: the command cannot be run"),
        None => {
            format!("executable file `{command}` not found in $PATH: no such file or directory")
        }
    })
}
