//! The one way Aurora runs external commands (`zfs`, `btrfs`, `zonecfg`, `zoneadm`, …): every failure
//! records the command line, exit status, standard output and standard error.

mod runner;

pub use runner::{Runner, SystemRunner};

use std::ffi::OsStr;
use std::fmt;
use std::process::{Command, Output};

/// A finished command that did not succeed, with everything needed to see why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub argv: Vec<String>,
    /// The exit status, or `None` when it could not run or was killed by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ", self.argv.join(" "))?;
        match self.status {
            Some(code) => write!(f, "exited with status {code}")?,
            None => write!(f, "did not run to completion")?,
        }
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            write!(f, ": {stderr}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CommandFailure {}

/// Runs `program args…` and returns its standard output, or the failure.
pub fn run<I, S>(program: &str, args: I) -> Result<String, CommandFailure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let argv = argv_of(program, &args);
    tracing::debug!(command = %argv.join(" "), "running");
    outcome(argv, Command::new(program).args(&args).output())
}

/// Standard output of a command that succeeded, or its failure.
fn outcome(argv: Vec<String>, output: std::io::Result<Output>) -> Result<String, CommandFailure> {
    match output {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Ok(output) => Err(failure(argv, &output)),
        Err(e) => Err(CommandFailure {
            argv,
            status: None,
            stdout: String::new(),
            stderr: e.to_string(),
        }),
    }
}

/// Runs `program args…` with `input` written to its standard input (netavark reads its
/// network options so), and returns its standard output, or the failure.
pub fn run_with_input<I, S>(program: &str, args: I, input: &[u8]) -> Result<String, CommandFailure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::io::Write;
    use std::process::Stdio;
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let argv = argv_of(program, &args);
    tracing::debug!(command = %argv.join(" "), "running with input");
    let spawned = Command::new(program)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let output = spawned.and_then(|mut child| {
        // Written from a thread: a program that answers before it has read everything would
        // otherwise fill its output pipe while we block on its input.
        let mut stdin = child.stdin.take();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(stdin) = stdin.as_mut() {
                // A program that exits without reading is judged by its status, not by EPIPE.
                let _ = stdin.write_all(&input);
            }
        });
        let output = child.wait_with_output();
        let _ = writer.join();
        output
    });
    outcome(argv, output)
}

/// Runs `program args…` with this process's standard input, output and error (its output is
/// the user's, as `zlogin` in `runz exec`), and returns its exit status: its code, or 128+N
/// when signal N ended it. Fails only when the program cannot be started.
pub fn run_attached<I, S>(program: &str, args: I) -> Result<i32, CommandFailure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::os::unix::process::ExitStatusExt;
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    tracing::debug!(program, "running attached");
    match Command::new(program).args(&args).status() {
        Ok(status) => Ok(status
            .code()
            .or_else(|| status.signal().map(|n| 128 + n))
            .unwrap_or(1)),
        Err(e) => Err(CommandFailure {
            argv: argv_of(program, &args),
            status: None,
            stdout: String::new(),
            stderr: e.to_string(),
        }),
    }
}

/// The command line as text, for logs and failures.
fn argv_of(program: &str, args: &[std::ffi::OsString]) -> Vec<String> {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect()
}

fn failure(argv: Vec<String>, output: &Output) -> CommandFailure {
    CommandFailure {
        argv,
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_returns_stdout() {
        assert_eq!(run("sh", ["-c", "echo hi"]).unwrap(), "hi\n");
    }

    #[test]
    fn failure_records_argv_status_and_output() {
        let err = run("sh", ["-c", "echo out; echo err >&2; exit 3"]).unwrap_err();
        assert_eq!(err.argv, ["sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(err.status, Some(3));
        assert_eq!(err.stdout, "out\n");
        assert_eq!(err.stderr, "err\n");
        assert!(
            err.to_string().contains("exited with status 3: err"),
            "{err}"
        );
    }

    #[test]
    fn attached_returns_the_exit_status_or_128_plus_the_signal() {
        assert_eq!(run_attached("sh", ["-c", "exit 7"]).unwrap(), 7);
        assert_eq!(
            run_attached("sh", ["-c", "kill -TERM $$"]).unwrap(),
            128 + 15
        );
        let err = run_attached("no-such-program-here", ["x"]).unwrap_err();
        assert_eq!(err.argv, ["no-such-program-here", "x"]);
    }

    #[test]
    fn input_reaches_standard_input() {
        assert_eq!(
            run_with_input("cat", [] as [&str; 0], b"piped\n").unwrap(),
            "piped\n"
        );
        let err = run_with_input("sh", ["-c", "cat >&2; exit 2"], b"why").unwrap_err();
        assert_eq!((err.status, err.stderr.as_str()), (Some(2), "why"));
    }

    #[test]
    fn a_missing_program_is_a_failure_too() {
        let err = run("no-such-program-here", ["x"]).unwrap_err();
        assert_eq!(err.status, None);
        assert!(err.to_string().contains("no-such-program-here x"));
    }
}
