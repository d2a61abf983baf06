//! Helpers shared by the driver tests: layer IDs, building small layers through any driver,
//! reading trees back, and running this test binary again as a builder to be killed.

#![allow(dead_code)] // each driver's tests use a different part

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aurora_storage::{Driver, LayerId};

/// Layer `n`: IDs that sort as their numbers do.
pub fn id(n: u16) -> LayerId {
    LayerId::parse(&format!("{n:064x}")).unwrap()
}

pub fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Builds layer `id` on `parent` with `files` (path, content), unless it exists; returns
/// whether it built it.
pub fn ensure_layer(
    driver: &dyn Driver,
    id: &LayerId,
    parent: Option<&LayerId>,
    files: &[(&str, &str)],
) -> bool {
    if driver.has_layer(id).unwrap() {
        return false;
    }
    let pending = driver.begin_layer(id, parent).unwrap();
    for (path, content) in files {
        write(&pending.root.join(path), content);
    }
    driver.commit_layer(pending).unwrap();
    true
}

/// `clean_leftovers` until it has removed `expected` pending layers (10 s at most). A lock
/// can outlive its holder for a moment: a command another test thread is starting shares
/// the lock's open file between its fork and its exec.
pub fn clean_leftovers_eventually(driver: &dyn Driver, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut cleaned = driver.clean_leftovers().unwrap();
    while cleaned.len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        cleaned.extend(driver.clean_leftovers().unwrap());
    }
    cleaned
}

/// Everything under `root`: path → "dir", "file CONTENT", "link TARGET" or "char MAJ:MIN".
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &path, out);
            } else if meta.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, format!("link {}", target.display()));
            } else if meta.file_type().is_char_device() {
                let (major, minor) = (meta.rdev() >> 8, meta.rdev() & 0xff);
                out.insert(rel, format!("char {major}:{minor}"));
            } else {
                out.insert(rel, format!("file {}", fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub fn expect(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(path, what)| (path.to_string(), what.to_string()))
        .collect()
}

pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs this test binary again as the test `builder_to_be_killed` (an ignored test, with
/// `env` set to `value`), and waits until it prints a line containing `marker`: its layer is
/// pending then. Returns the child, to kill, and that line.
pub fn start_builder(env: &str, value: &str, marker: &str) -> (Child, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args([
            "--exact",
            "builder_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(env, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run this test binary again ({}): {e}", exe.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let found = lines.find_map(|line| line.ok().filter(|line| line.contains(marker)));
    match found {
        Some(line) => (child, line),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the builder exited before its layer was pending");
        }
    }
}

/// The mount points at and below `dir`, in the order mountinfo lists them.
pub fn mounts_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    aurora_storage::detect::parse_mountinfo(&text)
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Unmounts whatever is still mounted under `dir` (lazily), deepest first: what a test that
/// failed half way left there.
#[cfg(target_os = "linux")]
pub fn unmount_all_under(dir: &Path) {
    for mount in mounts_under(dir).iter().rev() {
        let _ = rustix::mount::unmount(mount, rustix::mount::UnmountFlags::DETACH);
    }
}

/// A layer ID like a real chain ID (a SHA-256 of `n`), so that IDs differ from their first
/// digits (overlay names layers by short prefixes).
pub fn hashed_id(n: u16) -> LayerId {
    let digest = aurora_testkit::sha256_digest(&n.to_be_bytes());
    LayerId::parse(digest.strip_prefix("sha256:").unwrap()).unwrap()
}

/// An overlay driver in a temporary directory; whatever is still mounted there is unmounted
/// first when it is dropped.
#[cfg(target_os = "linux")]
pub struct OverlaySetup {
    pub driver: aurora_storage::overlay::OverlayDriver,
    _dir: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl Drop for OverlaySetup {
    fn drop(&mut self) {
        unmount_all_under(self.driver.base());
    }
}

/// An overlay driver for `test`, or `None` after `aurora_testkit::skip` said why: overlay
/// mounts and `trusted.*` xattrs need root.
#[cfg(target_os = "linux")]
pub fn overlay_or_skip(test: &str) -> Option<OverlaySetup> {
    if !aurora_testkit::skip::root_or_skip(test) {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("aurora-overlay-")
        .tempdir()
        .unwrap();
    let driver = aurora_storage::overlay::OverlayDriver::new(dir.path().join("storage")).unwrap();
    Some(OverlaySetup { driver, _dir: dir })
}
