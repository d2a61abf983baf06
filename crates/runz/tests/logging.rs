//! runz's log output carries no colour codes unless it goes to a terminal: stderr to a pipe
//! (as under conmon, containerd's shim or a script) and `--log FILE` are plain text.

mod common;

use std::process::{Command, Stdio};

use aurora_testkit::skip::root_or_skip;
use common::{BusyboxBundle, Runz};

#[test]
fn debug_logs_on_a_pipe_and_in_a_log_file_have_no_colour_codes() {
    if !root_or_skip("debug_logs_on_a_pipe_and_in_a_log_file_have_no_colour_codes") {
        return;
    }
    let runz = Runz::new();
    let bundle = BusyboxBundle::new(&["/bin/true"]);
    let log_dir = tempfile::tempdir().expect("log directory");
    let log_file = log_dir.path().join("runz.log");

    // stderr to a pipe: /bin/true exits at once, so the pipe reaches end of file.
    let on_pipe = Command::new(Runz::binary())
        .arg("--root")
        .arg(runz.root())
        .args(["--debug", "run", "--bundle"])
        .arg(bundle.path())
        .arg("colourless-pipe")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run runz");
    let stderr = String::from_utf8_lossy(&on_pipe.stderr);
    assert!(on_pipe.status.success(), "runz run failed: {stderr}");
    assert!(
        stderr.contains("DEBUG"),
        "--debug logged nothing to check:\n{stderr}"
    );
    assert!(
        !on_pipe.stderr.contains(&0x1b),
        "ANSI escape codes on a pipe:\n{stderr}"
    );

    let to_file = runz.output(&[
        "--debug",
        "--log",
        log_file.to_str().expect("UTF-8 path"),
        "run",
        "--bundle",
        bundle.path().to_str().expect("UTF-8 path"),
        "colourless-file",
    ]);
    assert!(
        to_file.status.success(),
        "runz run --log failed: {}",
        String::from_utf8_lossy(&to_file.stderr)
    );
    let logged = std::fs::read(&log_file).expect("read the log file");
    let text = String::from_utf8_lossy(&logged);
    assert!(text.contains("DEBUG"), "--debug logged nothing:\n{text}");
    assert!(
        !logged.contains(&0x1b),
        "ANSI escape codes in the log file:\n{text}"
    );
}
