//! What only the overlay driver does, against real overlayfs in a temporary directory per
//! test: the root directory's attributes up the chain, busy containers, long chains and the
//! mount options' page limit, mounting again after a reboot. What every driver does is in the
//! conformance suite (`tests/conformance`). Needs root (overlay mounts, `trusted.*` xattrs);
//! without root each test is skipped, saying why.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Instant;

use aurora_storage::{Driver, LayerId, StorageError};
use common::*;

/// Layer `n` (a SHA-256: this driver names layers by short prefixes of their IDs).
fn id(n: u16) -> LayerId {
    hashed_id(n)
}

fn setup(test: &str) -> Option<OverlaySetup> {
    overlay_or_skip(test)
}

#[test]
fn the_root_directory_keeps_its_owner_and_mode_up_the_chain() {
    let Some(s) = setup("the_root_directory_keeps_its_owner_and_mode_up_the_chain") else {
        return;
    };
    let driver = &s.driver;
    let pending = driver.begin_layer(&id(1), None).unwrap();
    fs::set_permissions(&pending.root, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&pending.root, Some(12), Some(34)).unwrap();
    driver.commit_layer(pending).unwrap();
    ensure_layer(driver, &id(2), Some(&id(1)), &[("a", "a")]);
    let rootfs = driver.create_container("c", &id(2)).unwrap();
    let meta = fs::metadata(&rootfs).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o750);
    assert_eq!((meta.uid(), meta.gid()), (12, 34));
}

#[test]
fn a_container_in_use_is_not_removed() {
    let Some(s) = setup("a_container_in_use_is_not_removed") else {
        return;
    };
    let driver = &s.driver;
    ensure_layer(driver, &id(1), None, &[("a", "a")]);
    let rootfs = driver.create_container("busy", &id(1)).unwrap();
    let open = fs::File::open(rootfs.join("a")).unwrap();
    let err = driver.remove_container("busy").unwrap_err();
    assert!(
        matches!(&err, StorageError::InUse { what: "container", name, .. } if name == "busy"),
        "{err}"
    );
    assert!(err.to_string().contains("busy"), "{err}");
    assert_eq!(
        fs::read_to_string(rootfs.join("a")).unwrap(),
        "a",
        "still mounted"
    );
    drop(open);
    driver.remove_container("busy").unwrap();
    assert!(!driver.container_path("busy").exists());
}

#[test]
fn a_chain_of_100_layers_mounts() {
    let Some(s) = setup("a_chain_of_100_layers_mounts") else {
        return;
    };
    let driver = &s.driver;
    const LAYERS: u16 = 100;
    for n in 0..LAYERS {
        let parent = n.checked_sub(1).map(id);
        let count = n.to_string();
        let own = format!("f{n}");
        ensure_layer(
            driver,
            &id(n),
            parent.as_ref(),
            &[(own.as_str(), "own"), ("common", count.as_str())],
        );
    }
    let rootfs = driver.create_container("tall", &id(LAYERS - 1)).unwrap();
    assert_eq!(fs::read_to_string(rootfs.join("common")).unwrap(), "99");
    assert_eq!(names_in(&rootfs).len(), LAYERS as usize + 1);
    for n in 0..LAYERS {
        assert!(rootfs.join(format!("f{n}")).is_file());
    }
}

#[test]
fn chains_mount_up_to_the_page_limit_and_longer_ones_are_refused_clearly() {
    let Some(s) = setup("chains_mount_up_to_the_page_limit_and_longer_ones_are_refused_clearly")
    else {
        return;
    };
    let driver = &s.driver;
    // 12-digit links: 300 layers take 3984 bytes of options, 310 take 4114 (limit 4095).
    const LAYERS: u16 = 310;
    for n in 0..LAYERS {
        let parent = n.checked_sub(1).map(id);
        let own = format!("f{n}");
        ensure_layer(driver, &id(n), parent.as_ref(), &[(own.as_str(), "")]);
    }
    let rootfs = driver.create_container("near", &id(299)).unwrap();
    assert_eq!(names_in(&rootfs).len(), 300);

    let err = driver
        .create_container("over", &id(LAYERS - 1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Unsupported {
                driver: "overlay",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("310 layers") && text.contains("more than the kernel accepts"),
        "{text}"
    );
    assert!(!driver.container_path("over").exists());
}

#[test]
fn container_rootfs_mounts_again_after_an_unmount() {
    let Some(s) = setup("container_rootfs_mounts_again_after_an_unmount") else {
        return;
    };
    let driver = &s.driver;
    ensure_layer(driver, &id(1), None, &[("a", "from the layer")]);
    let rootfs = driver.create_container("c", &id(1)).unwrap();
    fs::write(rootfs.join("b"), "from the container").unwrap();
    // As after a reboot: the mount is gone, the directories stay.
    rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::empty()).unwrap();
    assert!(!rootfs.join("a").exists());
    // Its link too, as if BASE/l had been cleaned meanwhile.
    for link in names_in(&driver.base().join("l")) {
        fs::remove_file(driver.base().join("l").join(link)).unwrap();
    }

    assert_eq!(driver.container_rootfs("c").unwrap(), rootfs);
    assert_eq!(
        fs::read_to_string(rootfs.join("a")).unwrap(),
        "from the layer"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("b")).unwrap(),
        "from the container"
    );
    assert_eq!(mounts_under(&rootfs).len(), 1);
    // Mounted already: nothing is stacked on it.
    driver.container_rootfs("c").unwrap();
    assert_eq!(mounts_under(&rootfs).len(), 1);
}

/// Prints how long `create_container` takes on a layer of 50 and of 5,000 files (nothing is
/// asserted about the times: `cargo test -- --nocapture` shows them).
#[test]
fn container_mount_time_by_layer_size() {
    let Some(s) = setup("container_mount_time_by_layer_size") else {
        return;
    };
    let driver = &s.driver;
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
            "overlay create_container, layer of {files} files: median {:?} (min {:?}, max {:?})",
            times[2], times[0], times[4]
        );
    }
}
