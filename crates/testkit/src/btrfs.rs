//! Real btrfs filesystems for tests: a sparse file formatted with `mkfs.btrfs` and
//! loop-mounted in a temporary directory, one per test; unmounted and removed on drop.
//! Needs root and btrfs-progs (`scripts/install-deps.sh` installs it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::tools::find_tool;

/// Size of the sparse file behind a volume.
const VOLUME_BYTES: u64 = 1 << 30;

/// How long to keep retrying a loop mount that lost a race for a loop device.
const MOUNT_RETRY_FOR: Duration = Duration::from_secs(30);

/// Why a btrfs volume cannot be made here, said precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtrfsUnavailable(pub String);

impl fmt::Display for BtrfsUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BtrfsUnavailable {}

/// A btrfs filesystem on a 1 GiB sparse file, mounted through a loop device at
/// [`BtrfsVolume::path`] (`mount -o loop`, so the loop device goes away with the mount).
#[derive(Debug)]
pub struct BtrfsVolume {
    dir: Option<tempfile::TempDir>,
}

impl BtrfsVolume {
    /// Formats and mounts a new volume. Errs, saying why, when this is not root or
    /// btrfs-progs is missing; panics when formatting or mounting fails otherwise.
    pub fn create() -> Result<BtrfsVolume, BtrfsUnavailable> {
        BtrfsVolume::create_in(VOLUME_BYTES, None)
    }

    /// [`BtrfsVolume::create`] on a sparse file of `bytes`, in a new directory under `parent`
    /// (default: the system's temporary directory). For `aurora-testenv btrfs up`.
    pub fn create_in(bytes: u64, parent: Option<&Path>) -> Result<BtrfsVolume, BtrfsUnavailable> {
        match effective_uid() {
            Some(0) => {}
            Some(uid) => {
                return Err(BtrfsUnavailable(format!(
                    "not root (euid {uid}): loop-mounting a btrfs filesystem needs root"
                )))
            }
            None => return Err(BtrfsUnavailable("cannot tell the effective uid".into())),
        }
        let Some(mkfs) = find_tool("mkfs.btrfs") else {
            return Err(BtrfsUnavailable(
                "`mkfs.btrfs` is not installed: apt-get install btrfs-progs (or ./scripts/install-deps.sh)"
                    .into(),
            ));
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix("aurora-btrfs-");
        let dir = match parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .expect("create a temporary directory for a btrfs volume");
        let image = dir.path().join("image");
        let mountpoint = dir.path().join("mnt");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(bytes))
            .unwrap_or_else(|e| panic!("create {}: {e}", image.display()));
        std::fs::create_dir(&mountpoint).expect("create the mount point");
        let output = run(Command::new(mkfs).args(["-q", "-f"]).arg(&image));
        assert!(
            output.status.success(),
            "mkfs.btrfs {} failed ({}): {}",
            image.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // Parallel tests race for free loop devices: a mount that lost the race fails
        // ("failed to setup loop device", "Device or resource busy") and is tried again.
        let deadline = Instant::now() + MOUNT_RETRY_FOR;
        let mut attempt = 0u32;
        loop {
            let output = run(Command::new(mount_bin("mount"))
                .args(["-t", "btrfs", "-o", "loop"])
                .arg(&image)
                .arg(&mountpoint));
            if output.status.success() {
                break;
            }
            attempt += 1;
            if Instant::now() > deadline {
                panic!(
                    "mount -o loop {} {} failed {attempt} times, last ({}): {}",
                    image.display(),
                    mountpoint.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20 * u64::from(attempt.min(10))));
        }
        Ok(BtrfsVolume { dir: Some(dir) })
    }

    /// [`BtrfsVolume::create`] for a test that may be skipped: `None` after printing why
    /// when this is not root; as root, a volume that cannot be made fails the test.
    pub fn create_or_skip(test: &str) -> Option<BtrfsVolume> {
        match BtrfsVolume::create() {
            Ok(volume) => Some(volume),
            Err(why) => {
                crate::skip::skip(test, why);
                None
            }
        }
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> PathBuf {
        self.dir().join("mnt")
    }

    /// Runs `btrfs ARGS…`, panicking with its stderr if it fails; returns its stdout.
    pub fn btrfs(&self, args: &[&str]) -> String {
        let output = run(Command::new(mount_bin("btrfs")).args(args));
        assert!(
            output.status.success(),
            "btrfs {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("volume directory").path()
    }
}

impl Drop for BtrfsVolume {
    fn drop(&mut self) {
        let mountpoint = self.path();
        // Just after a test, something may still hold the filesystem for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = run(Command::new(mount_bin("umount")).arg(&mountpoint));
            if output.status.success() {
                return; // the temporary directory (with the image) goes next
            }
            if Instant::now() > deadline {
                // Detach it lazily, so that the image can go and the loop device follows
                // once the last user lets go.
                let lazy = run(Command::new(mount_bin("umount")).arg("-l").arg(&mountpoint));
                eprintln!(
                    "warning: btrfs volume {} was busy ({}); lazily unmounted: {}",
                    mountpoint.display(),
                    String::from_utf8_lossy(&output.stderr).trim(),
                    lazy.status
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn mount_bin(tool: &str) -> PathBuf {
    find_tool(tool).unwrap_or_else(|| PathBuf::from(tool))
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"))
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
