//! What imageadm writes to standard error when it is not a terminal (a pipe, as under a CI
//! runner, a script or `2>log`): no colour codes, and a registry that refuses connections
//! costs one warning before the error, not one per retry — unless RUST_LOG asks for more.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

/// A loopback port nobody listens on: bound a moment to get a free one, then let go.
fn refused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `imageadm pull` of an image on a refused port, stderr to a pipe; `rust_log` as RUST_LOG.
fn pull_from_refused_port(rust_log: Option<&str>) -> (Output, String) {
    let root = tempfile::tempdir().expect("store directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_imageadm"));
    command
        .arg("--root")
        .arg(root.path())
        .arg("pull")
        .arg(format!("127.0.0.1:{}/nobody/here:1", refused_port()))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    let output = command.output().expect("run imageadm");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "a pull from a refused port succeeded:\n{stderr}"
    );
    assert!(
        stderr.contains("Connection refused"),
        "the error does not say the connection was refused:\n{stderr}"
    );
    (output, stderr)
}

fn retry_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("retry"))
        .collect()
}

#[test]
fn a_refused_connection_in_a_pipe_gives_one_plain_warning_then_the_error() {
    let (output, stderr) = pull_from_refused_port(None);

    assert!(
        !output.stderr.contains(&0x1b),
        "ANSI escape codes on a pipe:\n{stderr}"
    );
    let retries = retry_lines(&stderr);
    assert!(
        retries.len() <= 1,
        "more than one warning/retry line before the error:\n{stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("imageadm: ") && last.contains("Connection refused"),
        "the error is not the last line:\n{stderr}"
    );
}

#[test]
fn rust_log_at_debug_shows_every_retry_still_without_colour() {
    let (output, stderr) = pull_from_refused_port(Some("aurora_registry=debug"));

    assert!(
        !output.stderr.contains(&0x1b),
        "ANSI escape codes on a pipe:\n{stderr}"
    );
    // The client tries 5 times: the first retry is the warning, the other 3 are debug lines.
    let retries = stderr
        .lines()
        .filter(|line| line.contains("retrying"))
        .count();
    assert_eq!(retries, 4, "one line per retry asked for:\n{stderr}");
}
