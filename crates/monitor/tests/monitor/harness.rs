//! Starting the monitor as podadm does, and waiting for what it records.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aurora_monitor::{Exit, MonitorDir, Status};
pub use aurora_testkit::BusyboxBundle;

/// Only a guard against a hang: every wait ends on the event it waits for.
pub const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Runz,
    Runc,
    Crun,
}

impl Runtime {
    pub fn all() -> [Runtime; 3] {
        [Runtime::Runz, Runtime::Runc, Runtime::Crun]
    }

    /// The path podadm would pass as `--runtime`.
    pub fn binary(self) -> PathBuf {
        match self {
            Runtime::Runz => aurora_testkit::runz_binary(),
            Runtime::Runc => installed("runc"),
            Runtime::Crun => crun_wrapper(),
        }
    }
}

fn installed(tool: &str) -> PathBuf {
    let found = Command::new("sh")
        .args(["-c", "PATH=$PATH:/usr/sbin:/sbin command -v \"$0\"", tool])
        .output()
        .expect("sh");
    PathBuf::from(String::from_utf8(found.stdout).expect("a path").trim())
}

/// crun 1.8 refuses a hybrid cgroup host (v1 and v2 mounted together); as testkit's
/// `OciRuntime::Crun` does, it runs in a private mount namespace without the v2 mount. The
/// monitor needs a path, so that command line is a script.
fn crun_wrapper() -> PathBuf {
    static WRAPPER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    WRAPPER
        .get_or_init(|| {
            // One name for every run (replaced whole, so a concurrent run sees one or the
            // other, both the same), so that runs leave no trail of scripts.
            let path = std::env::temp_dir().join("aurora-monitor-crun");
            let temporary = std::env::temp_dir().join(format!("aurora-monitor-crun.{}", std::process::id()));
            let script = format!(
                "#!/bin/sh\nexec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec {} \"$@\"' sh \"$@\"\n",
                installed("crun").display()
            );
            std::fs::write(&temporary, script).expect("write the crun wrapper");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            std::fs::rename(&temporary, &path).expect("put the crun wrapper in place");
            path
        })
        .clone()
}

/// `true` when the test can run here: root, runc, crun and busybox installed; otherwise skipped
/// (a failure under AURORA_TEST_REQUIRE_ALL=1).
pub fn can_run(test: &str) -> bool {
    aurora_testkit::skip::root_or_skip(test)
        && aurora_testkit::skip::tools_or_skip(test, &["runc", "crun", "unshare", "busybox"])
}

/// The monitor's binary: the debug build cargo made for these tests.
pub fn monitor_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aurora-monitor"))
}

/// Options beyond the required flags.
#[derive(Default, Clone)]
pub struct Options {
    pub terminal: bool,
    pub stdin: bool,
    pub start: bool,
    /// `--run`: created and started by one runtime call.
    pub run: bool,
    /// With `start` or `run`: `--await-attach`.
    pub await_attach: bool,
    pub restart: Option<&'static str>,
    pub log_max_size: Option<u64>,
    pub log_dir: Option<PathBuf>,
    pub exit_command: Option<(PathBuf, Vec<String>)>,
    /// Run the monitor through `sh -c` that exits right after it (the parent goes away).
    pub through_shell: bool,
    pub binary: Option<PathBuf>,
}

impl Options {
    /// The monitor runs `start` itself.
    pub fn started() -> Options {
        Options {
            start: true,
            ..Options::default()
        }
    }
}

/// A monitor over a container; on drop the container is deleted and the monitor killed.
pub struct Monitored {
    pub runtime: Runtime,
    pub id: String,
    pub dir: MonitorDir,
    pub log: PathBuf,
    runtime_root: PathBuf,
    _scratch: tempfile::TempDir,
    /// The line the monitor wrote to the sync pipe.
    pub sync: String,
}

fn unique_id(runtime: Runtime) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "aurora-monitor-test-{:?}-{}-{}",
        runtime,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
    .to_lowercase()
}

impl Monitored {
    /// Starts the monitor on `bundle` and waits for its sync line.
    pub fn start(runtime: Runtime, bundle: &BusyboxBundle, options: Options) -> Monitored {
        let scratch = tempfile::Builder::new()
            .prefix("aurora-monitor-")
            .tempdir_in("/run")
            .expect("scratch directory under /run");
        let mondir = scratch.path().join("mon");
        let runtime_root = scratch.path().join("runtime");
        std::fs::create_dir_all(&mondir).expect("monitor directory");
        let log_dir = options
            .log_dir
            .clone()
            .unwrap_or_else(|| scratch.path().to_owned());
        let log = log_dir.join("ctr.log");
        let id = unique_id(runtime);
        let mut argv: Vec<OsString> = vec![
            "--id".into(),
            id.clone().into(),
            "--bundle".into(),
            bundle.path().into(),
            "--dir".into(),
            mondir.clone().into(),
            "--runtime".into(),
            runtime.binary().into(),
            "--runtime-arg".into(),
            "--root".into(),
            "--runtime-arg".into(),
            runtime_root.clone().into(),
            "--log-path".into(),
            log.clone().into(),
            "--sync-fd".into(),
            "5".into(),
        ];
        let flags = [
            (options.terminal, "--terminal"),
            (options.stdin, "--stdin"),
            (options.start, "--start"),
            (options.run, "--run"),
            (options.await_attach, "--await-attach"),
        ];
        argv.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, flag)| flag.into()),
        );
        if let Some(policy) = options.restart {
            argv.extend(["--restart".into(), policy.into()]);
        }
        if let Some(size) = options.log_max_size {
            argv.extend(["--log-max-size".into(), size.to_string().into()]);
        }
        if let Some((path, args)) = &options.exit_command {
            argv.extend(["--exit-command".into(), path.into()]);
            for arg in args {
                argv.extend(["--exit-arg".into(), arg.into()]);
            }
        }
        let binary = options.binary.clone().unwrap_or_else(monitor_binary);
        let mut command = if options.through_shell {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg("\"$@\"; exit 0")
                .arg("sh")
                .arg(binary)
                .args(&argv);
            shell
        } else {
            let mut direct = Command::new(binary);
            direct.args(&argv);
            direct
        };
        let (sync_read, sync_write) = pipe();
        let write_fd = sync_write.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; the pipe was made close-on-exec, so no other
        // test's child inherits it, and dup2 gives the monitor its own copy at 5.
        unsafe {
            command.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec: clear it instead.
                let done = if write_fd == 5 {
                    libc::fcntl(5, libc::F_SETFD, 0)
                } else {
                    libc::dup2(write_fd, 5)
                };
                if done < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let status = command
            .stdin(Stdio::null())
            .status()
            .expect("start the monitor");
        assert!(status.success(), "the monitor's parent exits 0: {status}");
        drop(sync_write);
        let mut sync = String::new();
        std::fs::File::from(sync_read)
            .read_to_string(&mut sync)
            .expect("read the sync pipe");
        Monitored {
            runtime,
            id,
            dir: MonitorDir::new(mondir),
            log,
            runtime_root,
            _scratch: scratch,
            sync,
        }
    }

    /// The container's pid from the sync line.
    pub fn pid(&self) -> i32 {
        let line: serde_json::Value = serde_json::from_str(&self.sync)
            .unwrap_or_else(|e| panic!("sync line {:?}: {e}", self.sync));
        line["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in the sync line {:?}", self.sync)) as i32
    }

    pub fn monitor_pid(&self) -> i32 {
        self.dir
            .read_monitor_pid()
            .expect("monitor.pid readable")
            .expect("monitor.pid written before the sync line")
    }

    /// `RUNTIME --root R ARGS…`, as podadm would run it.
    pub fn runtime_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.runtime.binary())
            .arg("--root")
            .arg(&self.runtime_root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the runtime")
    }

    /// podadm's `start` (for a monitor started without `--start`).
    pub fn start_container(&self) {
        let out = self.runtime_command(&["start", &self.id]);
        assert!(
            out.status.success(),
            "start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits for the monitor process to end; then its last exit.
    pub fn wait_monitor_exit(&self) -> Exit {
        let pid = self.monitor_pid();
        wait_for(&format!("monitor {pid} to end"), || !is_alive(pid));
        self.dir
            .read_exit()
            .expect("exit readable")
            .expect("exit written")
    }

    pub fn status(&self) -> Option<Status> {
        self.dir.read_status().expect("status readable")
    }

    /// The log's records, their timestamps checked and removed: "stream tag message".
    pub fn log_records(&self) -> Vec<String> {
        let text =
            String::from_utf8(std::fs::read(&self.log).expect("read the log")).expect("UTF-8 log");
        text.lines()
            .map(|record| {
                let (time, rest) = record.split_once(' ').expect("a record");
                assert!(time.ends_with('Z') && time.len() == 30, "{record:?}");
                rest.to_owned()
            })
            .collect()
    }
}

impl Drop for Monitored {
    fn drop(&mut self) {
        if let Ok(Some(pid)) = self.dir.read_monitor_pid() {
            if is_alive(pid) {
                // SAFETY: kill has no memory effects.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = self.runtime_command(&["delete", "--force", &self.id]);
    }
}

/// Whether `pid` runs (a zombie counts as gone).
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `done` holds (checked every 10 ms), failing after DEADLINE.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe")
}
