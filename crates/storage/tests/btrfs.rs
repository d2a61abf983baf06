//! What only the btrfs driver does, against real btrfs (a loop-mounted filesystem per test,
//! testkit's `BtrfsVolume`): read-only layers, nested subvolumes and mounts in containers,
//! sizes with and without quotas. What every driver does is in the conformance suite
//! (`tests/conformance`). Needs root; without root each test is skipped, saying why.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::process::Command;
use std::time::Instant;

use aurora_storage::btrfs::BtrfsDriver;
use aurora_storage::{Driver, StorageError};
use aurora_testkit::BtrfsVolume;
use common::*;

fn setup(test: &str) -> Option<(BtrfsVolume, BtrfsDriver)> {
    let volume = BtrfsVolume::create_or_skip(test)?;
    let driver = BtrfsDriver::new(volume.path().join("aurora")).unwrap();
    Some((volume, driver))
}

#[test]
fn committed_layers_are_read_only_and_containers_writable() {
    let Some((_volume, driver)) = setup("committed_layers_are_read_only_and_containers_writable")
    else {
        return;
    };
    ensure_layer(&driver, &id(1), None, &[("etc/os-release", "base")]);
    let root = driver.layer_path(&id(1)).join("root");
    let erofs = |result: std::io::Result<()>| {
        let err = result.expect_err("a committed layer must refuse writes");
        assert_eq!(err.raw_os_error(), Some(30), "EROFS expected, got {err}");
    };
    erofs(fs::write(root.join("etc/os-release"), "changed"));
    erofs(fs::write(root.join("new-file"), "x"));
    erofs(fs::remove_file(root.join("etc/os-release")));
    erofs(fs::write(driver.layer_path(&id(1)).join("parent"), "x"));
    assert_eq!(
        fs::read_to_string(root.join("etc/os-release")).unwrap(),
        "base"
    );

    let pending = driver.begin_layer(&id(2), Some(&id(1))).unwrap();
    fs::write(
        pending.root.join("etc/os-release"),
        "pending layers are writable",
    )
    .unwrap();
    driver.abort_layer(pending).unwrap();
    let rootfs = driver.create_container("c", &id(1)).unwrap();
    fs::write(rootfs.join("etc/os-release"), "containers are writable").unwrap();
    assert_eq!(
        fs::read_to_string(root.join("etc/os-release")).unwrap(),
        "base"
    );
}

#[test]
fn removing_a_container_deletes_nested_subvolumes_but_not_mounts() {
    let Some((volume, driver)) =
        setup("removing_a_container_deletes_nested_subvolumes_but_not_mounts")
    else {
        return;
    };
    ensure_layer(&driver, &id(1), None, &[("a", "a")]);
    let rootfs = driver.create_container("c", &id(1)).unwrap();
    let nested = rootfs.join("nested");
    volume.btrfs(&["subvolume", "create", nested.to_str().unwrap()]);
    fs::write(nested.join("f"), "inside a nested subvolume").unwrap();

    let mnt = rootfs.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(mounted.success());
    let err = driver.remove_container("c").unwrap_err();
    let _ = Command::new("umount").arg(&mnt).status();
    assert!(
        matches!(&err, StorageError::InUse { what: "container", name, .. } if name == "c"),
        "{err}"
    );
    assert!(err.to_string().contains("mnt"), "{err}");

    driver.remove_container("c").unwrap();
    assert!(!driver.container_path("c").exists());
}

#[test]
fn used_bytes_are_tree_sizes_without_quotas_and_exclusive_bytes_with_them() {
    let Some((volume, driver)) =
        setup("used_bytes_are_tree_sizes_without_quotas_and_exclusive_bytes_with_them")
    else {
        return;
    };
    let mib = "x".repeat(1 << 20);
    ensure_layer(&driver, &id(1), None, &[("big", &mib)]);
    ensure_layer(&driver, &id(2), Some(&id(1)), &[("small", "12345")]);
    let used = |driver: &BtrfsDriver| -> Vec<u64> {
        driver
            .list()
            .unwrap()
            .iter()
            .map(|d| d.used_bytes)
            .collect()
    };
    assert_eq!(used(&driver), [1 << 20, (1 << 20) + 5]);

    let path = volume.path();
    let path = path.to_str().unwrap();
    volume.btrfs(&["quota", "enable", path]);
    volume.btrfs(&["quota", "rescan", "-w", path]);
    ensure_layer(&driver, &id(3), Some(&id(2)), &[("more", &mib)]);
    // Deleted subvolumes (the pending ones) share extents until the cleaner has dropped
    // them; it runs after a transaction commit (the sync), else within 30 s.
    volume.btrfs(&["filesystem", "sync", path]);
    volume.btrfs(&["subvolume", "sync", path]);
    let used = used(&driver);
    assert!(
        used[0] < 1 << 20,
        "the base shares its data with layer 2: {used:?}"
    );
    assert!(used[2] >= 1 << 20, "layer 3 holds its own MiB: {used:?}");
}

/// Prints how long `create_container` takes on a layer of 50 and of 5,000 files (nothing is
/// asserted about the times: `cargo test -- --nocapture` shows them).
#[test]
fn container_snapshot_time_by_layer_size() {
    let Some((_volume, driver)) = setup("container_snapshot_time_by_layer_size") else {
        return;
    };
    for (n, files) in [(1u16, 50usize), (2, 5000)] {
        let pending = driver.begin_layer(&id(n), None).unwrap();
        for i in 0..files {
            write(
                &pending.root.join(format!("d{}/f{i}", i % 50)),
                &"x".repeat(100),
            );
        }
        driver.commit_layer(pending).unwrap();
        let mut times = Vec::new();
        for round in 0..5 {
            let name = format!("c{n}-{round}");
            let started = Instant::now();
            let rootfs = driver.create_container(&name, &id(n)).unwrap();
            times.push(started.elapsed());
            assert!(rootfs.join("d0/f0").is_file());
        }
        times.sort();
        eprintln!(
            "btrfs create_container, layer of {files} files: median {:?} (min {:?}, max {:?})",
            times[2], times[0], times[4]
        );
    }
}
