//! The OCI runtime (runz, runc, crun: one command line), driven as conmon drives it.

use std::ffi::OsStr;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, ExitStatus, Stdio};

use aurora_monitor::MonitorDir;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::pipe::{pipe_with, PipeFlags};

use crate::args::Args;
use crate::daemon::set_nonblocking;

/// The container's side of its stdio, as the monitor holds it.
pub enum ContainerIo {
    /// Pipes: the read ends of stdout and stderr, the write end of stdin (with `--stdin`).
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin: Option<OwnedFd>,
    },
    /// The master of the container's pseudo-terminal: output, and input when `input`
    /// (`--stdin`; as podman's `-t` without `-i`, a terminal alone takes no input).
    Terminal { master: OwnedFd, input: bool },
}

/// A created container.
pub struct Created {
    pub pid: i32,
    pub io: ContainerIo,
}

pub struct Runtime<'a> {
    args: &'a Args,
    dir: MonitorDir,
}

impl<'a> Runtime<'a> {
    pub fn new(args: &'a Args) -> Runtime<'a> {
        Runtime {
            args,
            dir: MonitorDir::new(&args.dir),
        }
    }

    fn command(&self, verb: &str) -> Command {
        let mut command = Command::new(&self.args.runtime);
        command.args(&self.args.runtime_args).arg(verb);
        command
    }

    /// `RUNTIME ARGS create --bundle DIR --pid-file MONDIR/pid [--console-socket …] ID`, or
    /// with `run` `RUNTIME ARGS run --detach …` (created and started by one runtime
    /// process). The error is the runtime's own message.
    pub fn create(&self, run: bool) -> Result<Created, String> {
        let pid_file = self.dir.pid();
        let _ = std::fs::remove_file(&pid_file);
        let verb = if run { "run" } else { "create" };
        let mut command = self.command(verb);
        if run {
            command.arg("--detach");
        }
        command
            .arg("--bundle")
            .arg(&self.args.bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        let io = if self.args.terminal {
            self.create_with_terminal(command, verb)?
        } else {
            self.create_with_pipes(command, verb)?
        };
        let pid = self
            .dir
            .read_container_pid()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} {verb} wrote no pid file", self.name()))?;
        Ok(Created { pid, io })
    }

    fn create_with_pipes(&self, mut command: Command, verb: &str) -> Result<ContainerIo, String> {
        let pipe = || pipe_with(PipeFlags::CLOEXEC).map_err(|e| format!("cannot make a pipe: {e}"));
        let (stdout, stdout_theirs) = pipe()?;
        let (stderr, stderr_theirs) = pipe()?;
        let (stdin, stdin_theirs) = if self.args.stdin {
            let (theirs, ours) = pipe()?;
            (Some(ours), Stdio::from(theirs))
        } else {
            (None, Stdio::null())
        };
        command
            .arg(&self.args.id)
            .stdin(stdin_theirs)
            .stdout(Stdio::from(stdout_theirs))
            .stderr(Stdio::from(stderr_theirs));
        // The runtime writes its errors to the container's stderr, the one it was given.
        let status = run(command, &self.args.runtime);
        for fd in [Some(&stdout), Some(&stderr), stdin.as_ref()]
            .into_iter()
            .flatten()
        {
            set_nonblocking(fd.as_raw_fd())
                .map_err(|e| format!("cannot set up the container's stdio: {e}"))?;
        }
        self.check(verb, status, &stderr)?;
        Ok(ContainerIo::Pipes {
            stdout,
            stderr,
            stdin,
        })
    }

    fn create_with_terminal(
        &self,
        mut command: Command,
        verb: &str,
    ) -> Result<ContainerIo, String> {
        // Bound by its name relative to MONDIR (the working directory): the full path may be
        // longer than a socket address holds. The runtime gets the absolute path.
        let _ = std::fs::remove_file(MonitorDir::CONSOLE_SOCKET);
        let listener = UnixListener::bind(MonitorDir::CONSOLE_SOCKET).map_err(|e| {
            format!(
                "cannot listen on {}: {e}",
                self.dir.console_socket().display()
            )
        })?;
        command
            .arg("--console-socket")
            .arg(self.dir.console_socket())
            .arg(&self.args.id);
        let received = self
            .run_with_diagnostics(verb, command)
            .and_then(|()| receive_terminal(&listener));
        let _ = std::fs::remove_file(MonitorDir::CONSOLE_SOCKET);
        let master = received?;
        set_nonblocking(master.as_raw_fd())
            .map_err(|e| format!("cannot set up the terminal: {e}"))?;
        Ok(ContainerIo::Terminal {
            master,
            input: self.args.stdin,
        })
    }

    /// `RUNTIME ARGS start ID`.
    pub fn start(&self) -> Result<(), String> {
        let mut command = self.command("start");
        command.arg(&self.args.id);
        self.run_with_diagnostics("start", command)
    }

    /// Runs `command` (`verb`) with stdin and stdout on /dev/null and its stderr kept for
    /// the error message.
    fn run_with_diagnostics(&self, verb: &str, mut command: Command) -> Result<(), String> {
        let (diagnostics, theirs) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|e| format!("cannot make a pipe: {e}"))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(theirs));
        let status = run(command, &self.args.runtime);
        let _ = set_nonblocking(diagnostics.as_raw_fd());
        self.check(verb, status, &diagnostics)
    }

    /// `RUNTIME ARGS delete --force ID`: whatever is left of the container, gone.
    pub fn delete_force(&self) {
        let mut command = self.command("delete");
        command
            .arg("--force")
            .arg(&self.args.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = run(command, &self.args.runtime);
    }

    fn name(&self) -> String {
        self.args
            .runtime
            .file_name()
            .unwrap_or(OsStr::new("runtime"))
            .to_string_lossy()
            .into_owned()
    }

    /// Turns a runtime's failure into its message: what it wrote to `diagnostics`.
    fn check(
        &self,
        verb: &str,
        status: Result<ExitStatus, String>,
        diagnostics: &OwnedFd,
    ) -> Result<(), String> {
        let status = status?;
        if status.success() {
            return Ok(());
        }
        let mut message = Vec::new();
        let mut buf = [0u8; 4096];
        // What is there now; the runtime has exited. At most 64 KiB of it.
        while message.len() < 64 * 1024 {
            match rustix::io::read(diagnostics, &mut buf) {
                Ok(n) if n > 0 => message.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let message = String::from_utf8_lossy(&message);
        Err(format!(
            "{} {verb} {} failed ({status}): {}",
            self.name(),
            self.args.id,
            message.trim()
        ))
    }
}

/// Runs `command` to its end (the Command, and with it the child's ends of the pipes, is
/// dropped before returning).
fn run(mut command: Command, runtime: &std::path::Path) -> Result<ExitStatus, String> {
    command
        .status()
        .map_err(|e| format!("cannot run the runtime {}: {e}", runtime.display()))
}

/// The terminal the runtime sent over the console socket (SCM_RIGHTS). It sent it during
/// create, which has returned: the connection waits in the backlog.
fn receive_terminal(listener: &UnixListener) -> Result<OwnedFd, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("console socket: {e}"))?;
    let (stream, _) = listener
        .accept()
        .map_err(|e| format!("the runtime sent no terminal over the console socket: {e}"))?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    // The runtime sends the terminal's name along with it.
    let mut name = [0u8; 4096];
    rustix::net::recvmsg(
        stream.as_fd(),
        &mut [IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("cannot receive the terminal from the console socket: {e}"))?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            if let Some(master) = fds.next() {
                return Ok(master);
            }
        }
    }
    Err("the runtime's message on the console socket carried no terminal".into())
}
