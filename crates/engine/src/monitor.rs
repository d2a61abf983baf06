//! Starting a container's monitor and reading what it reports (see `aurora-monitor`): the
//! monitor creates the container through the OCI runtime, holds its stdio, writes its log
//! and exit, and applies its restart policy; podadm only starts it and reads its files.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

use aurora_monitor::{Exit, MonitorDir, Status};

use crate::config::RestartPolicy;
use crate::error::{io, EngineError, Result};
use crate::runtime::{find_program, OciRuntime};

/// How to start a monitor.
pub struct Launch<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub bundle: &'a Path,
    pub dir: &'a Path,
    pub runtime: &'a OciRuntime,
    pub log: &'a Path,
    pub log_max_size: u64,
    pub terminal: bool,
    pub stdin: bool,
    pub restart: RestartPolicy,
    /// The command the monitor runs after the container's last exit.
    pub exit_command: Vec<String>,
    /// The monitor creates and starts the container with one runtime call (`--run`).
    pub run: bool,
    /// With `run`: the monitor holds the container's output and exit until an attach
    /// client connects, which the caller does at once.
    pub await_attach: bool,
}

/// Starts the monitor and waits until it has created (with `run`, created and started)
/// the container; returns the container's pid. The monitor detaches itself and outlives this process.
pub fn launch(launch: &Launch<'_>) -> Result<i32> {
    let program = find_program("aurora-monitor").ok_or(EngineError::NoMonitor)?;
    let (mut read_end, write_end) = pipe()?;
    let mut command = Command::new(&program);
    command
        .arg("--id")
        .arg(launch.id)
        .arg("--bundle")
        .arg(launch.bundle)
        .arg("--dir")
        .arg(launch.dir)
        .arg("--runtime")
        .arg(&launch.runtime.path);
    for arg in launch.runtime.global_args() {
        command.arg(format!("--runtime-arg={arg}"));
    }
    command
        .arg("--log-path")
        .arg(launch.log)
        .arg("--log-max-size")
        .arg(launch.log_max_size.to_string())
        .arg("--restart")
        .arg(aurora_monitor::RestartPolicyArg::from(launch.restart).to_string())
        // Its stdout until it daemonizes: passing the pipe as a standard descriptor keeps
        // `pre_exec` out, so the monitor is started with posix_spawn (a vfork) rather than
        // a fork of podadm's whole address space.
        .arg("--sync-fd")
        .arg("1");
    if launch.terminal {
        command.arg("--terminal");
    }
    if launch.stdin {
        command.arg("--stdin");
    }
    if launch.run {
        command.arg("--run");
        if launch.await_attach {
            command.arg("--await-attach");
        }
    }
    if let Some((program, args)) = launch.exit_command.split_first() {
        command.arg("--exit-command").arg(program);
        for arg in args {
            command.arg(format!("--exit-arg={arg}"));
        }
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::null());
    let mut child = command.spawn().map_err(io(&program))?;
    // The parent's copy of the write end went with `command`.
    drop(command);
    // The monitor forks and its first process exits at once.
    let _ = child.wait();
    let mut answer = String::new();
    read_end
        .read_to_string(&mut answer)
        .map_err(io(launch.dir))?;
    parse_sync(launch.name, &answer)
}

fn parse_sync(name: &str, answer: &str) -> Result<i32> {
    #[derive(serde::Deserialize)]
    struct Sync {
        pid: Option<i32>,
        error: Option<String>,
    }
    let failed = |message: String| EngineError::StartFailed {
        name: name.to_string(),
        message,
    };
    let sync: Sync = serde_json::from_str(answer.trim()).map_err(|_| {
        failed(if answer.trim().is_empty() {
            "the monitor exited without creating the container".into()
        } else {
            format!("the monitor answered {:?}", answer.trim())
        })
    })?;
    match (sync.pid, sync.error) {
        (Some(pid), None) => Ok(pid),
        // The runtime's stderr: its log lines, then its one-line summary.
        (_, Some(error)) => Err(failed(last_line(&error))),
        (None, None) => Err(failed("the monitor reported no pid".into())),
    }
}

fn pipe() -> Result<(std::fs::File, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| io("pipe")(e.into()))?;
    Ok((std::fs::File::from(read), write))
}

/// What a container's monitor directory says.
pub struct Report {
    /// The monitor process is alive.
    pub alive: bool,
    pub status: Option<Status>,
    pub exit: Option<Exit>,
}

/// Reads the monitor directory `dir`.
pub fn report(dir: &Path) -> Report {
    let dir = MonitorDir::new(dir);
    Report {
        alive: monitor_alive(&dir),
        status: dir.read_status().ok().flatten(),
        exit: dir.read_exit().ok().flatten(),
    }
}

/// The monitor of `dir` still runs: its pid file names a live `aurora-monitor`.
fn monitor_alive(dir: &MonitorDir) -> bool {
    monitor_pid(dir).is_some()
}

/// The pid of the monitor of `dir`, if it runs.
pub fn monitor_pid(dir: &MonitorDir) -> Option<i32> {
    let pid = dir.read_monitor_pid().ok().flatten()?;
    let name = crate::process::name(pid)?;
    (name.starts_with("aurora-monitor") && crate::process::alive(pid)).then_some(pid)
}

/// Marks the container as stopped by the user, so that the monitor does not restart it.
pub fn mark_stopped(dir: &Path) -> Result<()> {
    MonitorDir::new(dir)
        .mark_stopped()
        .map_err(|e| EngineError::Other(e.to_string()))
}

/// The last non-empty line of a runtime's error output.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or(text)
        .to_string()
}
