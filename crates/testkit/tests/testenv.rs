//! `aurora-testenv`, the shell's way to the testkit's environments: what `up` reports is
//! there and usable after `up` returns, `down` takes it away, a second `up` on the same
//! directory reuses it without claiming it, a zfs-fuse pool holds the same machine-wide turn
//! as the tests' pools, and a keeper that was killed leaves nothing `down` cannot clean.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Command, Output};

use aurora_testkit::skip::{root_or_skip, tools_or_skip};
use aurora_testkit::Registry;

fn testenv(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aurora-testenv"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run aurora-testenv")
}

/// Runs `aurora-testenv ARGS --dir DIR`, which must succeed; its KEY=VALUE lines.
fn facts(args: &[&str], dir: &Path) -> BTreeMap<String, String> {
    let output = testenv(args, dir);
    assert!(
        output.status.success(),
        "aurora-testenv {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {line}"));
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn down(kind: &str, dir: &Path) {
    let output = testenv(&[kind, "down"], dir);
    assert!(
        output.status.success(),
        "{kind} down failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn fs_type(path: &str) -> String {
    let output = Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE", "--mountpoint", path])
        .output()
        .expect("run findmnt");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn a_registry_lives_from_up_to_down_and_keeps_its_data() {
    if !tools_or_skip(
        "a_registry_lives_from_up_to_down_and_keeps_its_data",
        &["docker-registry"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("directory");
    let port = free_port().to_string();

    let up = facts(&["registry", "up", "--port", &port], dir.path());
    let address = format!("127.0.0.1:{port}");
    assert_eq!(up["ADDRESS"], address);
    assert_eq!(up["STARTED"], "1");
    assert_eq!(Registry::probe(&address), Some(200));

    let again = facts(&["registry", "up", "--port", &port], dir.path());
    assert_eq!(again["STARTED"], "0", "a second up claims the registry");

    down("registry", dir.path());
    assert_eq!(
        Registry::probe(&address),
        None,
        "still answering after down"
    );
    assert!(dir.path().join("data").is_dir(), "the blobs went with it");
    assert!(!dir.path().join("registry.env").exists());
}

#[test]
fn down_after_the_keeper_was_killed_stops_the_registry_it_left() {
    if !tools_or_skip(
        "down_after_the_keeper_was_killed_stops_the_registry_it_left",
        &["docker-registry"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("directory");
    let port = free_port().to_string();
    let up = facts(&["registry", "up", "--port", &port], dir.path());
    let keeper: i32 = up["KEEPER_PID"].parse().expect("keeper pid");
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(keeper, libc::SIGKILL) }, 0);

    down("registry", dir.path());
    let registry = &up["PID"];
    // The registry was the keeper's child: once killed it is a zombie or gone, never running.
    let state = std::fs::read_to_string(format!("/proc/{registry}/stat")).unwrap_or_default();
    let running = state
        .rsplit_once(')')
        .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']));
    assert!(!running, "docker-registry {registry} still runs: {state}");
}

#[test]
fn a_btrfs_volume_is_mounted_from_up_to_down() {
    if !root_or_skip("a_btrfs_volume_is_mounted_from_up_to_down")
        || !tools_or_skip("a_btrfs_volume_is_mounted_from_up_to_down", &["mkfs.btrfs"])
    {
        return;
    }
    let dir = tempfile::tempdir().expect("directory");

    let up = facts(&["btrfs", "up", "--size", "1G"], dir.path());
    let mountpoint = &up["MOUNTPOINT"];
    assert!(mountpoint.starts_with(dir.path().to_str().expect("UTF-8")));
    assert_eq!(fs_type(mountpoint), "btrfs");

    down("btrfs", dir.path());
    assert_eq!(fs_type(mountpoint), "", "still mounted after down");
}

#[test]
fn a_zfs_pool_holds_the_tests_turn_from_up_to_down() {
    if !root_or_skip("a_zfs_pool_holds_the_tests_turn_from_up_to_down")
        || !tools_or_skip(
            "a_zfs_pool_holds_the_tests_turn_from_up_to_down",
            &["zfs-fuse", "zpool"],
        )
    {
        return;
    }
    let dir = tempfile::tempdir().expect("directory");

    let up = facts(&["zfs-pool", "up", "--size", "1G"], dir.path());
    let pool = &up["POOL"];
    let listed = Command::new("zpool")
        .args(["list", "-H", "-o", "name,health", pool])
        .output()
        .expect("run zpool");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        format!("{pool}\tONLINE")
    );
    assert_eq!(fs_type(&up["MOUNTPOINT"]), "fuse.zfs");
    // The turn the tests' pools take (aurora_testkit::ZfsPool) is held by the keeper.
    let turn = OpenOptions::new()
        .write(true)
        .open("/run/lock/aurora-zfs-test-pool.lock")
        .expect("the turn's lock file exists");
    assert!(
        matches!(turn.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        "the zfs-fuse turn is free while a pool is up"
    );

    down("zfs-pool", dir.path());
    let listed = Command::new("zpool")
        .args(["list", "-H", "-o", "name", pool])
        .output()
        .expect("run zpool");
    assert!(!listed.status.success(), "pool {pool} still there");
    // The keeper, which held the turn, is gone (another pool user may take the turn at once,
    // so its lock is not checked here).
    let keeper = &up["KEEPER_PID"];
    let state = std::fs::read_to_string(format!("/proc/{keeper}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z"),
        "the keeper {keeper} still runs: {state}"
    );
}
