//! The real OCI runtimes, `runc` and `crun`, run on a bundle the way an operator would, with
//! the container deleted afterwards whatever happened.
//!
//! On a host with cgroup v1 and v2 mounted together (hybrid), crun 1.8 refuses to start, so
//! it runs in a private mount namespace with `/sys/fs/cgroup/unified` unmounted.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One of the runtimes Aurora's bundles must work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciRuntime {
    /// `runc`.
    Runc,
    /// `crun`.
    Crun,
    /// Aurora's own `runz`, from this workspace's target directory (built if missing).
    Runz,
}

impl OciRuntime {
    /// The runtime's command name.
    pub fn name(self) -> &'static str {
        match self {
            OciRuntime::Runc => "runc",
            OciRuntime::Crun => "crun",
            OciRuntime::Runz => "runz",
        }
    }

    /// The command line for `args` of this runtime, under a 60 s timeout (crun in its own
    /// mount namespace without the cgroup2 mount of a hybrid host).
    pub fn command(self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        match self {
            OciRuntime::Runc => {
                cmd.arg("60").arg("runc").args(args);
            }
            OciRuntime::Crun => {
                cmd.args(["60", "unshare", "-m", "sh", "-c"])
                    .arg("umount /sys/fs/cgroup/unified 2>/dev/null; exec crun \"$@\"")
                    .arg("sh")
                    .args(args);
            }
            OciRuntime::Runz => {
                cmd.arg("60").arg(runz_binary()).args(args);
            }
        }
        cmd
    }

    /// Why this runtime cannot run here (not root, not installed), if it cannot.
    pub fn unavailable(self) -> Option<String> {
        let euid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1);
        if euid != 0 {
            return Some("needs root".into());
        }
        if self == OciRuntime::Runz {
            return None;
        }
        let installed = Command::new(self.name())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            return Some(format!(
                "{} is not installed (apt-get install -y {})",
                self.name(),
                self.name()
            ));
        }
        None
    }

    /// `RUNTIME run --bundle BUNDLE ID` with no stdin, a fresh container ID, and the
    /// container deleted afterwards. Returns what it printed and how it exited.
    pub fn run_bundle(self, bundle: &Path) -> Output {
        let container = Container {
            runtime: self,
            id: unique_id(self),
        };
        let bundle = bundle.to_string_lossy();
        self.command(&["run", "--bundle", &bundle, &container.id])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.name()))
    }
}

/// Deletes the container, whatever happened to the test.
struct Container {
    runtime: OciRuntime,
    id: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self
            .runtime
            .command(&["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn unique_id(runtime: OciRuntime) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "aurora-test-{}-{}-{}",
        runtime.name(),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// `runz` from the workspace's target directory (see [`workspace_binary`]).
pub fn runz_binary() -> std::path::PathBuf {
    workspace_binary("runz", "runz")
}

/// Binary `bin` of workspace package `package` from the target directory: the test binary
/// runs from `target/PROFILE/deps/`, and binaries are built into `target/PROFILE/`. Built
/// with cargo when a test of another package needs it before the workspace built it (once
/// per test process and binary).
pub fn workspace_binary(package: &str, bin: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/PROFILE/deps");
    let path = profile_dir.join(bin);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() && !built.iter().any(|b| b == bin) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--locked", "-p", package, "--bin", bin]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .expect("run cargo to build a workspace binary");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {bin} failed"
        );
        built.push(bin.to_string());
    }
    path
}

/// The static podinit that containers and zones run (no host libraries inside them):
/// `$AURORA_PODINIT` (test.sh builds it), else built now by scripts/build-podinit.sh.
pub fn static_podinit() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| static_binary("AURORA_PODINIT", "build-podinit.sh"))
        .clone()
}

/// The static buildhelper that `imageadm build` mounts into its steps:
/// `$AURORA_BUILDHELPER` (test.sh builds it), else built now by scripts/build-buildhelper.sh.
pub fn static_buildhelper() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| static_binary("AURORA_BUILDHELPER", "build-buildhelper.sh"))
        .clone()
}

fn static_binary(env: &str, script: &str) -> std::path::PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return std::path::PathBuf::from(path);
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
