//! Helpers shared by the tests of the real `podinit` binary: running it with a deadline,
//! reading its output, and watching the processes it supervises.

// Each test binary uses some of these helpers, none uses all of them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_podinit");

pub fn podinit(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).stdin(Stdio::null());
    c
}

/// Waits for `child` with a deadline, so that a hanging podinit fails the test.
pub fn wait(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("podinit did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn output(cmd: &mut Command) -> Output {
    wait(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// (exit code, stdout, stderr)
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = output(cmd);
    (
        out.status
            .code()
            .expect("podinit itself must exit, not die by a signal"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

pub fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    p
}

pub fn kill(pid: u32, sig: i32) {
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

/// Reads lines from a child's stdout as they come.
pub struct Lines(BufReader<std::process::ChildStdout>);

impl Lines {
    pub fn new(child: &mut Child) -> Self {
        Lines(BufReader::new(child.stdout.take().unwrap()))
    }
    pub fn next(&mut self) -> String {
        let mut s = String::new();
        self.0.read_line(&mut s).unwrap();
        s
    }
}

/// `/proc/PID/stat` fields 3 (state) and 4 (parent pid), or None once the process is gone.
pub fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The signals pending on `pid` (its thread's and its process's, `SigPnd | ShdPnd` of
/// /proc/PID/status, bit N-1 for signal N), or None once it is gone.
pub fn pending_signals(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut pending = 0;
    for line in status.lines() {
        if let Some(mask) = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
        {
            pending |= u64::from_str_radix(mask.trim(), 16).ok()?;
        }
    }
    Some(pending)
}

pub fn wait_gone(pid: u32, within: Duration) -> Result<(), (char, u32)> {
    let deadline = Instant::now() + within;
    loop {
        match proc_state(pid) {
            None => return Ok(()),
            Some(s) if Instant::now() > deadline => return Err(s),
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub fn config_run(dir: &Path, config: serde_json::Value) -> (i32, String, String) {
    let p = write_json(dir, "podinit.json", &config);
    run(&mut podinit(&["--config", p.to_str().unwrap()]))
}
