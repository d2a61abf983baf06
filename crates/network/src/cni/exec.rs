//! Running one plugin binary as the CNI spec says: the configuration on stdin, the
//! `CNI_*` variables in its environment, the result (or the error object) on stdout. Its
//! output is bounded and it has a deadline: a plugin is someone else's program.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A result is a few KiB; more than this is not one.
pub(crate) const MAX_STDOUT: usize = 1 << 20;
/// What is kept of a plugin's stderr for the error message.
pub(crate) const MAX_STDERR: usize = 16 << 10;

/// One call of a plugin.
pub(crate) struct Invocation<'a> {
    /// `ADD`, `DEL`, `CHECK`.
    pub command: &'static str,
    pub container_id: &'a str,
    /// Empty when the namespace is gone (allowed for DEL).
    pub netns: &'a str,
    pub ifname: &'a str,
    /// `CNI_ARGS`: `K=V;K=V`.
    pub args: &'a str,
    pub bin_dirs: &'a [PathBuf],
    pub timeout: Duration,
}

/// Why a call gave no result.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The binary could not be run.
    Spawn(std::io::Error),
    /// It wrote more than [`MAX_STDOUT`] bytes (it was killed).
    TooMuchOutput,
    /// It outlived its deadline (it was killed).
    TimedOut(Duration),
    /// It exited non-zero: its error object when stdout held one.
    Exited {
        status: ExitStatus,
        error: Option<PluginError>,
        stdout: String,
        stderr: String,
    },
}

/// The CNI error object.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PluginError {
    #[serde(default)]
    pub code: u32,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub details: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Spawn(e) => write!(f, "cannot run the plugin: {e}"),
            Failure::TooMuchOutput => {
                write!(f, "the plugin wrote more than {MAX_STDOUT} bytes (killed)")
            }
            Failure::TimedOut(after) => write!(f, "the plugin took longer than {after:?} (killed)"),
            Failure::Exited {
                status,
                error,
                stdout,
                stderr,
            } => {
                match error {
                    Some(e) => {
                        write!(f, "error code {}: {}", e.code, e.msg)?;
                        if !e.details.is_empty() {
                            write!(f, " ({})", e.details)?;
                        }
                    }
                    None => {
                        write!(f, "{status}")?;
                        let out = stdout.trim();
                        if !out.is_empty() {
                            write!(f, ", stdout: {}", shorten(out))?;
                        }
                    }
                }
                let err = stderr.trim();
                if !err.is_empty() {
                    write!(f, "; stderr: {}", shorten(err))?;
                }
                Ok(())
            }
        }
    }
}

/// At most a few hundred characters of a plugin's text for a message.
fn shorten(text: &str) -> String {
    const MAX: usize = 400;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head}…")
}

/// The plugin `kind` in the first of `bin_dirs` that has it.
pub(crate) fn find_plugin(kind: &str, bin_dirs: &[PathBuf]) -> Option<PathBuf> {
    bin_dirs
        .iter()
        .map(|dir| dir.join(kind))
        .find(|path| path.is_file())
}

/// Runs `binary` with `stdin`; its stdout when it exits 0.
pub(crate) fn run(binary: &Path, call: &Invocation, stdin: &[u8]) -> Result<Vec<u8>, Failure> {
    let path = std::env::join_paths(call.bin_dirs).unwrap_or_default();
    let mut child = Command::new(binary)
        // Inherited otherwise: plugins run iptables and ip, found on PATH.
        .env("CNI_COMMAND", call.command)
        .env("CNI_CONTAINERID", call.container_id)
        .env("CNI_NETNS", call.netns)
        .env("CNI_IFNAME", call.ifname)
        .env("CNI_ARGS", call.args)
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Failure::Spawn)?;
    let outcome = pump(&mut child, stdin, call.timeout);
    if outcome.is_err() {
        let _ = child.kill();
    }
    // Reaped in every case: a killed plugin leaves no zombie.
    let status = child.wait().map_err(Failure::Spawn)?;
    let (stdout, stderr) = outcome?;
    if status.success() {
        return Ok(stdout);
    }
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    Err(Failure::Exited {
        status,
        error: serde_json::from_str::<PluginError>(stdout.trim())
            .ok()
            .filter(|e| !e.msg.is_empty() || e.code != 0),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Feeds stdin and drains stdout and stderr in one poll(2) loop (a plugin that writes
/// before it reads cannot block us), until both reach their end or the deadline passes.
fn pump(
    child: &mut std::process::Child,
    input: &[u8],
    timeout: Duration,
) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let deadline = Instant::now() + timeout;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(|s| s.as_raw_fd()),
        stdout.as_ref().map(|s| s.as_raw_fd()),
        stderr.as_ref().map(|s| s.as_raw_fd()),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd).map_err(Failure::Spawn)?;
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut written = 0;
    if input.is_empty() {
        stdin = None;
    }
    // After the plugin exits, a child it left behind may hold its pipes open: give them a
    // moment, then stop reading.
    let mut exited_at: Option<Instant> = None;
    let mut buf = [0u8; 16 << 10];
    while stdout.is_some() || stderr.is_some() {
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::TimedOut(timeout));
        }
        if exited_at.is_none() && matches!(child.try_wait(), Ok(Some(_))) {
            exited_at = Some(now);
        }
        if exited_at.is_some_and(|at| now.duration_since(at) > Duration::from_millis(500)) {
            break;
        }
        let mut fds = Vec::with_capacity(3);
        if let Some(s) = &stdin {
            fds.push(poll_fd(s.as_raw_fd(), libc::POLLOUT));
        }
        if let Some(s) = &stdout {
            fds.push(poll_fd(s.as_raw_fd(), libc::POLLIN));
        }
        if let Some(s) = &stderr {
            fds.push(poll_fd(s.as_raw_fd(), libc::POLLIN));
        }
        let wait = deadline
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        // SAFETY: `fds` is a live array of initialised pollfd of the length given.
        let ready = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as libc::c_int,
            )
        };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Failure::Spawn(e));
        }
        if let Some(s) = stdin.as_mut() {
            match s.write(&input[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // The plugin closed its stdin (EPIPE): it read what it wanted.
                Err(_) => written = input.len(),
            }
            if written >= input.len() {
                stdin = None;
            }
        }
        if drain(&mut stdout, &mut out, &mut buf, MAX_STDOUT) {
            return Err(Failure::TooMuchOutput);
        }
        // Past its cap stderr is read on and dropped: a chatty plugin still finishes.
        drain(&mut stderr, &mut err, &mut buf, MAX_STDERR);
    }
    Ok((out, err))
}

/// Reads what `pipe` has into `into`, closing it at its end; whether `into` passed `cap`
/// (the excess is dropped).
fn drain<R: Read>(pipe: &mut Option<R>, into: &mut Vec<u8>, buf: &mut [u8], cap: usize) -> bool {
    let Some(reader) = pipe.as_mut() else {
        return false;
    };
    loop {
        match reader.read(buf) {
            Ok(0) => {
                *pipe = None;
                return false;
            }
            Ok(n) => {
                let room = cap.saturating_sub(into.len());
                into.extend_from_slice(&buf[..n.min(room)]);
                if n > room {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

fn poll_fd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn set_nonblocking(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns (a pipe end of its child).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
