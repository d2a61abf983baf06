//! The real `runz` binary over a state directory of the test's own, with every container it
//! made deleted (and checked gone) when the test ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

#[allow(unused_imports)] // each test file uses a different part
pub use aurora_testkit::{BusyboxBundle, ConsoleSocket};

/// None (the test skipped through aurora_testkit::skip, which fails it when every test must
/// run) unless the test can run: as root.
pub fn runz_or_skip(test: &str) -> Option<Runz> {
    aurora_testkit::skip::root_or_skip(test).then(Runz::new)
}

pub struct Runz {
    root: tempfile::TempDir,
}

impl Runz {
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("runz-state-")
            .tempdir_in("/run")
            .expect("state directory under /run");
        Runz { root }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn binary() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_runz"))
    }

    /// `runz --root ROOT ARGS…` under a 60 s timeout, stdin closed.
    pub fn command(&self, args: &[&str]) -> Command {
        runz_command(self.root(), args)
    }

    /// Runs to completion, capturing stdout and stderr through files: a container's process
    /// inherits them, and a pipe would not reach end of file until the container stops.
    pub fn output(&self, args: &[&str]) -> Output {
        let stdout = tempfile::tempfile().expect("stdout file");
        let stderr = tempfile::tempfile().expect("stderr file");
        let status = self
            .command(args)
            .stdout(stdout.try_clone().expect("dup"))
            .stderr(stderr.try_clone().expect("dup"))
            .status()
            .expect("run runz");
        Output {
            status,
            stdout: read_all(stdout),
            stderr: read_all(stderr),
        }
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_success(args, &self.output(args))
    }

    /// Runs and asserts failure with exit status `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        expect_exit(args, &self.output(args), code)
    }

    /// `runz run` of the bundle: (exit code, stdout, stderr).
    pub fn run(&self, bundle: &BusyboxBundle) -> (i32, String, String) {
        let id = unique_id();
        let out = self.output(&["run", "--bundle", &bundle.path().to_string_lossy(), &id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `run --detach` of the bundle under a new ID, which it returns.
    pub fn run_detached(&self, bundle: &BusyboxBundle) -> String {
        let id = unique_id();
        self.ok(&[
            "run",
            "--detach",
            "--bundle",
            &bundle.path().to_string_lossy(),
            &id,
        ]);
        id
    }

    /// `state ID` as JSON.
    pub fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state prints JSON")
    }

    /// The IDs in the state directory (what `list -q` prints).
    pub fn ids(&self) -> Vec<String> {
        self.ok(&["list", "-q"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Runz {
    fn drop(&mut self) {
        if let Ok(out) = self.command(&["list", "-q"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self
                    .command(&["delete", "--force", id])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// `runz --root ROOT ARGS…` under a 60 s timeout (a hang guard), stdin closed.
pub fn runz_command(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(Runz::binary())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Asserts that `runz ARGS…` succeeded; returns its stdout.
pub fn expect_success(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "runz {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that `runz ARGS…` exited with `code`; returns its stderr.
pub fn expect_exit(args: &[&str], out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "runz {args:?}: expected exit {code}; stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read_all(mut file: std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.rewind().expect("rewind");
    file.read_to_end(&mut bytes).expect("read back");
    bytes
}

pub fn unique_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The cgroup directories (v1 hierarchies and the unified one) named `…/runz/ID`.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for entry in entries.flatten() {
        let dir = entry.path().join("runz").join(id);
        if dir.exists() {
            found.push(dir);
        }
    }
    found
}

/// The mount points in this process's mount namespace that contain `needle`.
pub fn mounts_containing(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Waits for `check` to hold. The 60 s deadline only guards against a hang: on a loaded
/// machine an event may take long, and a test must not fail for that.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The static podinit for `--init` (the container's root has no libc for a dynamic one).
pub fn static_podinit() -> PathBuf {
    aurora_testkit::static_podinit()
}
