//! Volumes on the store's own storage, as root: btrfs subvolumes on a loop-mounted btrfs and
//! zfs datasets on a zfs-fuse pool (testkit), made, used, mounted again and destroyed.

use std::os::unix::fs::MetadataExt;

use aurora_engine::volume::{VolumeCreate, Volumes};
use aurora_storage::volume::VolumeStorage;
use aurora_storage::zfs::ZfsDriver;
use aurora_testkit::{BtrfsVolume, ZfsPool};

fn named(name: &str) -> VolumeCreate {
    VolumeCreate {
        name: Some(name.into()),
        ..VolumeCreate::default()
    }
}

#[test]
fn btrfs_volumes_are_subvolumes() {
    let Some(fs) = BtrfsVolume::create_or_skip("btrfs_volumes_are_subvolumes") else {
        return;
    };
    let root = fs.path().join("store");
    let volumes = Volumes::open(&root, VolumeStorage::btrfs()).unwrap();
    let volume = volumes.create(&named("data")).unwrap();
    assert_eq!(volume.driver, "btrfs");
    let data = root.join("podadm/volumes/data/_data");
    assert_eq!(volume.mountpoint, data);
    // The root directory of a btrfs subvolume is always inode 256.
    assert_eq!(std::fs::metadata(&data).unwrap().ino(), 256);
    let listed = fs.btrfs(&["subvolume", "list", "-o", &fs.path().to_string_lossy()]);
    assert!(
        listed.contains("store/podadm/volumes/data/_data"),
        "{listed}"
    );
    std::fs::write(data.join("file"), "kept\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(volumes.path("data").unwrap().join("file")).unwrap(),
        "kept\n"
    );

    volumes.remove("data").unwrap();
    assert!(!root.join("podadm/volumes/data").exists());
    let listed = fs.btrfs(&["subvolume", "list", "-o", &fs.path().to_string_lossy()]);
    assert!(!listed.contains("volumes/data"), "{listed}");
}

#[test]
fn zfs_volumes_are_datasets_mounted_on_their_data_directory() {
    let Some(pool) =
        ZfsPool::create_or_skip("zfs_volumes_are_datasets_mounted_on_their_data_directory")
    else {
        return;
    };
    let parent = format!("{}/aurora", pool.name());
    let driver = ZfsDriver::new(&parent, pool.scratch()).unwrap();
    let root = pool.scratch().join("store");
    let volumes = Volumes::open(&root, VolumeStorage::zfs(driver)).unwrap();
    let volume = volumes.create(&named("db")).unwrap();
    assert_eq!(volume.driver, "zfs");
    let dataset = format!("{parent}/volumes/db");
    let data = root.join("podadm/volumes/db/_data");
    let props = pool.zfs(&["get", "-H", "-o", "value", "mountpoint,mounted", &dataset]);
    assert_eq!(props, format!("{}\nyes\n", data.display()));
    std::fs::write(data.join("table"), "rows\n").unwrap();
    // The file is in the dataset, not in the directory below it.
    let used = pool.zfs(&[
        "list",
        "-H",
        "-o",
        "name",
        "-r",
        &format!("{parent}/volumes"),
    ]);
    assert!(used.lines().any(|l| l == dataset), "{used}");

    // Unmounted (a reboot, an export): path() mounts it again.
    pool.zfs(&["umount", &dataset]);
    assert!(!data.join("table").exists());
    let path = volumes.path("db").unwrap();
    assert_eq!(
        std::fs::read_to_string(path.join("table")).unwrap(),
        "rows\n"
    );

    volumes.remove("db").unwrap();
    let left = pool.zfs(&["list", "-H", "-o", "name", "-r", &parent]);
    assert!(!left.lines().any(|l| l == dataset), "{left}");
    assert!(!root.join("podadm/volumes/db").exists());
}
