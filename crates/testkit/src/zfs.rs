//! Real ZFS pools for tests, on Linux through zfs-fuse (Debian's `zfs-fuse`, which
//! `scripts/install-deps.sh` installs): a file-backed pool per test, destroyed on drop.
//!
//! Nothing here installs anything. [`ZfsPool::create`] starts the `zfs-fuse` daemon when none
//! answers (there is no systemd to do it), tolerating one that is already running.
//!
//! One test pool exists at a time on the machine: a pool holds a lock file from its creation
//! to its destruction, so tests that use pools run one after the other, across threads and
//! processes. zfs-fuse 0.7.0 can freeze for good (the daemon and every filesystem it serves)
//! when two filesystems are mounted at the same moment, e.g. two `zpool create` from two
//! tests; see `aurora_storage::zfs` for the details. A test's own concurrent work goes
//! through the driver, which serializes its mounts.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::tools::find_tool;

/// Where the Debian init script keeps the daemon's pid (so `/etc/init.d/zfs-fuse stop` can
/// stop a daemon started here).
const PIDFILE: &str = "/var/run/zfs-fuse.pid";

/// Every test pool's name starts with this, followed by `PID-N`.
const POOL_PREFIX: &str = "aurora-test-";

/// Size of the sparse file backing a pool.
const POOL_BYTES: u64 = 512 << 20;

/// Why zfs-fuse cannot be used here, said precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZfsUnavailable(pub String);

impl fmt::Display for ZfsUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZfsUnavailable {}

/// A file-backed ZFS pool with a unique name, mounted under a temporary directory;
/// destroyed (`zpool destroy -f`) and its file removed on drop.
#[derive(Debug)]
pub struct ZfsPool {
    name: String,
    dir: Option<tempfile::TempDir>,
    /// The machine-wide turn (see the module docs), released after the pool is destroyed.
    _turn: File,
    _process_turn: ProcessTurn,
}

/// This process's turn: tests of one binary queue here, quietly, before the file lock.
#[derive(Debug)]
struct ProcessTurn;

static PROCESS_TURN: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

impl ProcessTurn {
    fn take() -> ProcessTurn {
        let (busy, freed) = &PROCESS_TURN;
        let mut busy = busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            busy = freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        ProcessTurn
    }
}

impl Drop for ProcessTurn {
    fn drop(&mut self) {
        let (busy, freed) = &PROCESS_TURN;
        *busy.lock().unwrap_or_else(|e| e.into_inner()) = false;
        freed.notify_one();
    }
}

impl ZfsPool {
    /// Creates a pool, starting the zfs-fuse daemon if none answers. Errs, saying why, when
    /// this is not root, zfs-fuse is not installed, there is no `/dev/fuse`, or the daemon
    /// cannot be started or reached.
    pub fn create() -> Result<ZfsPool, ZfsUnavailable> {
        ZfsPool::create_in(POOL_BYTES, None)
    }

    /// [`ZfsPool::create`] with a backing file of `bytes` (sparse), in a new directory under
    /// `parent` (default: the system's temporary directory). For `aurora-testenv zfs-pool up`,
    /// whose benchmarks need more room than a test, on a filesystem of their choosing.
    pub fn create_in(bytes: u64, parent: Option<&Path>) -> Result<ZfsPool, ZfsUnavailable> {
        check_prerequisites()?;
        let process_turn = ProcessTurn::take();
        let turn = take_turn()?;
        ensure_daemon()?;
        remove_stale_pools();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{POOL_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut builder = tempfile::Builder::new();
        builder.prefix("aurora-zfs-");
        let dir = match parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(|e| ZfsUnavailable(format!("cannot create a temporary directory: {e}")))?;
        let vdev = dir.path().join("vdev");
        let mountpoint = dir.path().join("mnt");
        File::create(&vdev)
            .and_then(|f| f.set_len(bytes))
            .map_err(|e| ZfsUnavailable(format!("cannot create {}: {e}", vdev.display())))?;
        let output = zpool(&[
            "create".as_ref(),
            "-m".as_ref(),
            mountpoint.as_os_str(),
            name.as_ref(),
            vdev.as_os_str(),
        ]);
        if !output.status.success() {
            return Err(ZfsUnavailable(format!(
                "`zpool create -m {} {name} {}` failed ({}): {}",
                mountpoint.display(),
                vdev.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(ZfsPool {
            name,
            dir: Some(dir),
            _turn: turn,
            _process_turn: process_turn,
        })
    }

    /// [`ZfsPool::create`] for a test that may be skipped: `None` after [`crate::skip::skip`]
    /// says why (which fails the test when the run requires every test).
    pub fn create_or_skip(test: &str) -> Option<ZfsPool> {
        match ZfsPool::create() {
            Ok(pool) => Some(pool),
            Err(why) => {
                crate::skip::skip(test, why);
                None
            }
        }
    }

    /// The pool's name, which is also its root dataset.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the pool's root dataset is mounted.
    pub fn mountpoint(&self) -> PathBuf {
        self.dir().join("mnt")
    }

    /// A temporary directory beside the pool, removed with it (e.g. for driver state).
    pub fn scratch(&self) -> PathBuf {
        let path = self.dir().join("scratch");
        fs::create_dir_all(&path).expect("create the scratch directory");
        path
    }

    /// Runs `zfs ARGS…`, panicking with its stderr if it fails; returns its stdout.
    pub fn zfs(&self, args: &[&str]) -> String {
        let output = Command::new(zfs_bin("zfs"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("could not run zfs {args:?}: {e}"));
        assert!(
            output.status.success(),
            "zfs {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What `dataset` and its snapshots and children have of their own: `zfs get -Hp -r -s
    /// local,received all` as sorted "NAME PROPERTY VALUE" lines, `readonly` left out (zfs-fuse
    /// shows it `temporary`, not `local`, while the dataset is mounted).
    pub fn own_properties(&self, dataset: &str) -> Vec<String> {
        let text = self.zfs(&[
            "get",
            "-Hp",
            "-r",
            "-s",
            "local,received",
            "-o",
            "name,property,value",
            "all",
            dataset,
        ]);
        let mut rows: Vec<String> = text
            .lines()
            .filter(|l| l.split('\t').nth(1) != Some("readonly"))
            .map(|l| l.replace('\t', " "))
            .collect();
        rows.sort();
        rows
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("pool directory").path()
    }
}

impl Drop for ZfsPool {
    fn drop(&mut self) {
        // Just after unmounting, zfs-fuse may still call the pool busy for a moment.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let output = zpool(&["destroy".as_ref(), "-f".as_ref(), self.name.as_ref()]);
            if output.status.success() {
                break;
            }
            if Instant::now() > deadline {
                // Keep the backing file: removing it under a live pool would fault the pool.
                let dir = self.dir.take().map(|d| d.keep());
                eprintln!(
                    "warning: could not destroy test pool {} ({}): {}; its file stays in {:?}",
                    self.name,
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim(),
                    dir
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        forget_state_dirs(&self.name);
        // The mountpoint directory may stay busy for a moment after the pool is gone.
        let Some(dir) = self.dir.take() else { return };
        let path = dir.keep();
        for attempt in 0.. {
            match fs::remove_dir_all(&path) {
                Ok(()) => return,
                Err(e) if attempt == 50 => {
                    eprintln!("warning: could not remove {}: {e}", path.display());
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// The zfs driver keeps the locks of pending layers per dataset in a machine-wide directory
/// (/var/run/aurora/zfs/POOL%DATASET, see aurora-images' storage choice); a destroyed test
/// pool's entries are of no use to anyone.
fn forget_state_dirs(pool: &str) {
    let Ok(entries) = fs::read_dir("/var/run/aurora/zfs") else {
        return;
    };
    let prefix = format!("{pool}%");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == pool || name.starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn zfs_bin(tool: &str) -> PathBuf {
    find_tool(tool).unwrap_or_else(|| PathBuf::from(tool))
}

fn zpool(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(zfs_bin("zpool"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| Output {
            status: failed_status(),
            stdout: Vec::new(),
            stderr: format!("could not run zpool: {e}").into_bytes(),
        })
}

fn failed_status() -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(1 << 8)
}

fn check_prerequisites() -> Result<(), ZfsUnavailable> {
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Err(ZfsUnavailable(format!(
                "not root (euid {uid}): zfs-fuse pools need root"
            )))
        }
        None => return Err(ZfsUnavailable("cannot tell the effective uid".into())),
    }
    for tool in ["zfs-fuse", "zpool", "zfs"] {
        if find_tool(tool).is_none() {
            return Err(ZfsUnavailable(format!(
                "`{tool}` is not installed: apt-get install zfs-fuse (or ./scripts/install-deps.sh)"
            )));
        }
    }
    if !Path::new("/dev/fuse").exists() {
        return Err(ZfsUnavailable(
            "/dev/fuse does not exist: this machine (or container) gives no FUSE".into(),
        ));
    }
    Ok(())
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether a daemon answers: `zpool list` fails with "connect: …" when none does.
fn daemon_answers() -> Result<(), String> {
    let output = zpool(&[
        "list".as_ref(),
        "-H".as_ref(),
        "-o".as_ref(),
        "name".as_ref(),
    ]);
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Waits for the machine-wide turn to have a test pool: a lock file, which the benchmarks'
/// pools (`aurora-testenv zfs-pool up`, through this same type) take too. Opened close-on-exec, so that no child (the
/// daemon, a test's helper process) inherits it.
fn take_turn() -> Result<File, ZfsUnavailable> {
    let path = if Path::new("/run/lock").is_dir() {
        PathBuf::from("/run/lock/aurora-zfs-test-pool.lock")
    } else {
        std::env::temp_dir().join("aurora-zfs-test-pool.lock")
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ZfsUnavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "waiting for the zfs-fuse turn ({}, held by a test or benchmark using a pool)",
                path.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(ZfsUnavailable(format!(
                "cannot lock {}: {e}",
                path.display()
            )))
        }
    }
    file.lock()
        .map_err(|e| ZfsUnavailable(format!("cannot lock {}: {e}", path.display())))?;
    Ok(file)
}

/// Starts `zfs-fuse` unless one answers. Called with the turn held, so no other test starts
/// one meanwhile.
fn ensure_daemon() -> Result<(), ZfsUnavailable> {
    if daemon_answers().is_ok() {
        return Ok(());
    }
    // zfs-fuse exits with status 1, silently, when its pid file exists, also when the pid in
    // it is long dead (a killed daemon leaves its pid file behind).
    if let Some(pid) = fs::read_to_string(PIDFILE)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    {
        if is_live_daemon(pid) {
            // Maybe still starting: give it a moment before calling it broken.
            wait_for_daemon(Duration::from_secs(10)).map_err(|why| {
                ZfsUnavailable(format!(
                    "zfs-fuse (pid {pid}, {PIDFILE}) is running but does not answer: {why}"
                ))
            })?;
            return Ok(());
        }
    }
    let _ = fs::remove_file(PIDFILE);
    // It forks into the background itself; its stdio must not keep our pipes open.
    let status = Command::new(zfs_bin("zfs-fuse"))
        .args(["--pidfile", PIDFILE])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| ZfsUnavailable(format!("cannot run zfs-fuse: {e}")))?;
    if !status.success() {
        return Err(ZfsUnavailable(format!(
            "`zfs-fuse --pidfile {PIDFILE}` failed ({status}); it logs to syslog only"
        )));
    }
    wait_for_daemon(Duration::from_secs(15))
        .map_err(|why| ZfsUnavailable(format!("zfs-fuse started but does not answer: {why}")))
}

fn wait_for_daemon(patience: Duration) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    loop {
        match daemon_answers() {
            Ok(()) => return Ok(()),
            Err(why) if Instant::now() > deadline => {
                return Err(format!("{why} (waited {patience:?})"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Whether `pid` is a zfs-fuse process that has not exited (a zombie has).
fn is_live_daemon(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // PID (COMM) STATE …; COMM may hold spaces and parentheses, so split at the last ')'.
    let Some((head, tail)) = stat.rsplit_once(')') else {
        return false;
    };
    head.ends_with("(zfs-fuse") && !matches!(tail.trim_start().chars().next(), Some('Z' | 'X'))
}

/// Destroys test pools left by test processes that were killed before their drop ran.
fn remove_stale_pools() {
    let output = zpool(&[
        "list".as_ref(),
        "-H".as_ref(),
        "-o".as_ref(),
        "name".as_ref(),
    ]);
    for name in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(pid) = name
            .strip_prefix(POOL_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = zpool(&["destroy".as_ref(), "-f".as_ref(), name.as_ref()]);
        }
    }
}
