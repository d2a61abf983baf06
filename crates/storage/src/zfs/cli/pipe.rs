//! The `zfs` commands that carry a stream: `zfs receive -u` fed from a reader, `zfs send`
//! copied into a writer. They run the system's `zfs` directly, not through the [`Runner`]
//! (which passes arguments and collects output, no streams): the fake zfs does not model
//! send streams, and these are tested on zfs-fuse (`tests/zfs_receive.rs`).
//!
//! [`Runner`]: crate::command::Runner

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use super::Zfs;
use crate::command::CommandFailure;

impl Zfs {
    /// `zfs receive -u DATASET` fed from `stream`.
    pub(crate) fn receive_unmounted(&self, dataset: &str, stream: &mut dyn Read) -> Feed {
        let argv = ["zfs", "receive", "-u", dataset];
        let spawned = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => feed(child, stream, &argv),
            Err(e) => Feed::Done(Err(spawn_failure(&argv, e))),
        }
    }

    /// `zfs send [-i FROM] SNAPSHOT` copied into `out`: the command's failure, else how the
    /// copy went.
    pub(crate) fn send(
        &self,
        snapshot: &str,
        from: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<std::io::Result<()>, CommandFailure> {
        let mut argv = vec!["zfs", "send"];
        if let Some(from) = from {
            argv.extend(["-i", from]);
        }
        argv.push(snapshot);
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_failure(&argv, e))?;
        let stderr = collect_stderr(&mut child);
        let copied = match child.stdout.take() {
            Some(mut stdout) => std::io::copy(&mut stdout, out).map(drop),
            None => Ok(()),
        };
        // The pipe is closed here when the copy failed: `zfs send` then ends on EPIPE.
        let status = child.wait().map_err(|e| spawn_failure(&argv, e))?;
        let stderr = stderr.join().unwrap_or_default();
        if !status.success() {
            return Err(failure(&argv, status.code(), stderr));
        }
        Ok(copied)
    }
}

/// What feeding a stream to `zfs receive` came to.
pub(crate) enum Feed {
    /// The command's outcome.
    Done(Result<(), CommandFailure>),
    /// The stream could not be read; the command was stopped.
    ReadFailed(std::io::Error),
}

/// Copies `stream` into the child's stdin and waits for it. A write refused because the
/// command stopped reading (a bad stream) is not an error of its own: the command's failure
/// says why.
fn feed(mut child: Child, stream: &mut dyn Read, argv: &[&str]) -> Feed {
    let stderr = collect_stderr(&mut child);
    let mut read_error = None;
    if let Some(mut stdin) = child.stdin.take() {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            };
            if stdin.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Closing stdin ends the stream: after a read error `zfs receive` fails on the cut
        // stream and cleans up, rather than being killed half way.
    }
    let status = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    if let Some(e) = read_error {
        return Feed::ReadFailed(e);
    }
    Feed::Done(match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(failure(argv, status.code(), stderr)),
        Err(e) => Err(spawn_failure(argv, e)),
    })
}

/// Reads the child's stderr on a thread (so that a chatty command cannot block on a full pipe
/// while we feed or drain it).
fn collect_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn failure(argv: &[&str], status: Option<i32>, stderr: String) -> CommandFailure {
    CommandFailure {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        status,
        stdout: String::new(),
        stderr,
    }
}

fn spawn_failure(argv: &[&str], e: std::io::Error) -> CommandFailure {
    failure(argv, None, e.to_string())
}
