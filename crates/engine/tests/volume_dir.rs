//! Volumes on the dir storage: create, list, inspect, path, remove, prune, anonymous
//! volumes, image VOLUMEs, copy-up, and concurrent first use.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aurora_engine::spec::MountSource;
use aurora_engine::volume::{anonymous_volumes_for, VolumeCreate, VolumeError, Volumes};
use aurora_engine::MountRequest;
use aurora_storage::volume::VolumeStorage;
use oci_spec::image::Config as ImageConfig;

fn volumes(root: &Path) -> Volumes {
    Volumes::open(root, VolumeStorage::dir()).unwrap()
}

fn named(name: &str) -> VolumeCreate {
    VolumeCreate {
        name: Some(name.into()),
        ..VolumeCreate::default()
    }
}

fn image_with_volumes(paths: &[&str]) -> ImageConfig {
    serde_json::from_value(serde_json::json!({
        "Volumes": paths.iter().map(|p| (p.to_string(), serde_json::json!({}))).collect::<BTreeMap<_, _>>()
    }))
    .unwrap()
}

#[test]
fn named_volumes_are_created_listed_inspected_and_removed() {
    let root = tempfile::tempdir().unwrap();
    let volumes = volumes(root.path());
    let request = VolumeCreate {
        name: Some("data".into()),
        labels: [("app".to_string(), "web".to_string())].into(),
        options: BTreeMap::new(),
    };
    let created = volumes.create(&request).unwrap();
    let data = root.path().join("podadm/volumes/data/_data");
    assert_eq!(created.mountpoint, data);
    assert_eq!(created.driver, "dir");
    assert!(!created.anonymous);
    assert!(data.is_dir());
    let metadata: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.path().join("podadm/volumes/data/volume.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(metadata["name"], "data");
    assert_eq!(metadata["labels"]["app"], "web");
    assert_eq!(metadata["mountpoint"], data.to_string_lossy().as_ref());
    assert!(chrono::DateTime::parse_from_rfc3339(metadata["created_at"].as_str().unwrap()).is_ok());

    assert_eq!(volumes.inspect("data").unwrap(), created);
    assert_eq!(volumes.path("data").unwrap(), data);
    assert!(matches!(volumes.create(&named("data")), Err(VolumeError::Exists(n)) if n == "data"));
    volumes.create(&named("other")).unwrap();
    let names: Vec<String> = volumes
        .list()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["data", "other"]);

    volumes.remove("data").unwrap();
    assert!(!root.path().join("podadm/volumes/data").exists());
    assert!(matches!(
        volumes.inspect("data"),
        Err(VolumeError::NotFound(_))
    ));
    assert_eq!(
        volumes.remove("data").unwrap_err().to_string(),
        "volume \"data\" does not exist"
    );
    for bad in ["../etc", "", "-x", "a/b", ".hidden"] {
        assert!(
            matches!(volumes.create(&named(bad)), Err(VolumeError::BadName(_))),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn anonymous_volumes_and_prune() {
    let root = tempfile::tempdir().unwrap();
    let volumes = volumes(root.path());
    let anonymous = volumes.create(&VolumeCreate::default()).unwrap();
    assert!(anonymous.anonymous);
    assert_eq!(anonymous.name.len(), 64);
    assert!(anonymous.name.bytes().all(|b| b.is_ascii_hexdigit()));
    volumes.create(&named("kept")).unwrap();
    volumes.create(&named("unused")).unwrap();
    let in_use: HashSet<String> = ["kept".to_string()].into();
    let mut removed = volumes.prune(&in_use).unwrap();
    removed.sort();
    let mut expected = vec![anonymous.name.clone(), "unused".to_string()];
    expected.sort();
    assert_eq!(removed, expected);
    let names: Vec<String> = volumes
        .list()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["kept"]);
}

#[test]
fn a_creation_cut_short_is_cleaned_up_by_the_next() {
    let root = tempfile::tempdir().unwrap();
    let volumes = volumes(root.path());
    // What a podadm killed between making the directory and writing volume.json leaves.
    std::fs::create_dir_all(root.path().join("podadm/volumes/half/_data")).unwrap();
    assert!(volumes.list().unwrap().is_empty());
    let (volume, created) = volumes.open_or_create("half").unwrap();
    assert!(created);
    assert_eq!(volume.name, "half");
}

#[test]
fn concurrent_first_uses_make_one_volume() {
    let root = tempfile::tempdir().unwrap();
    let made: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let volumes = volumes(root.path());
                    volumes.open_or_create("shared").unwrap().1
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(made.iter().filter(|m| **m).count(), 1);
}

#[test]
fn image_volumes_not_mounted_over_get_anonymous_volumes() {
    let image = image_with_volumes(&["/var/lib/data", "/logs/", "/cache"]);
    let requests = vec![MountRequest::Tmpfs {
        destination: "/cache".into(),
        options: vec![],
    }];
    assert_eq!(
        anonymous_volumes_for(&image, &requests),
        ["/logs", "/var/lib/data"]
    );
    assert!(anonymous_volumes_for(&ImageConfig::default(), &[]).is_empty());
}

#[test]
fn new_volumes_get_the_images_content_once() {
    let root = tempfile::tempdir().unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    let seed = rootfs.path().join("var/lib/data");
    std::fs::create_dir_all(seed.join("sub")).unwrap();
    std::fs::write(seed.join("seed.txt"), "from the image\n").unwrap();
    std::fs::write(seed.join("sub/deep.txt"), "deep\n").unwrap();
    std::fs::set_permissions(
        seed.join("seed.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("seed.txt", seed.join("link")).unwrap();
    std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::create_dir_all(rootfs.path().join("etc/app")).unwrap();
    std::fs::write(rootfs.path().join("etc/app/app.conf"), "port=80\n").unwrap();
    let volumes = volumes(root.path());
    let image = image_with_volumes(&["/var/lib/data"]);
    let requests = vec![
        MountRequest::Volume {
            name: Some("conf".into()),
            destination: "/etc/app".into(),
            read_only: true,
        },
        MountRequest::Bind {
            source: "/srv".into(),
            destination: "/srv".into(),
            options: vec![],
            read_only: false,
        },
        MountRequest::Volume {
            name: None,
            destination: "/empty-in-the-image".into(),
            read_only: false,
        },
    ];
    let mounts = volumes
        .container_mounts(&requests, &image, rootfs.path())
        .unwrap();
    assert_eq!(mounts.created, ["conf"]);
    assert_eq!(mounts.anonymous.len(), 2);
    let destinations: Vec<&str> = mounts
        .mounts
        .iter()
        .map(|m| m.destination.as_str())
        .collect();
    assert_eq!(
        destinations,
        ["/etc/app", "/srv", "/empty-in-the-image", "/var/lib/data"]
    );
    let conf = volumes.path("conf").unwrap();
    assert_eq!(mounts.mounts[0].source, MountSource::Host(conf.clone()));
    assert_eq!(
        mounts.mounts[0].options,
        ["ro", "rprivate", "nosuid", "nodev", "rbind"]
    );
    assert_eq!(
        std::fs::read_to_string(conf.join("app.conf")).unwrap(),
        "port=80\n"
    );

    let data = volumes.path(&mounts.anonymous[1]).unwrap();
    assert_eq!(mounts.mounts[3].source, MountSource::Host(data.clone()));
    assert_eq!(
        std::fs::read_to_string(data.join("seed.txt")).unwrap(),
        "from the image\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("sub/deep.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_link(data.join("link")).unwrap(),
        Path::new("seed.txt")
    );
    let mode = std::fs::metadata(data.join("seed.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    let empty = volumes.path(&mounts.anonymous[0]).unwrap();
    assert_eq!(std::fs::read_dir(empty).unwrap().count(), 0);

    // Used again: what the container changed stays, nothing is copied over it.
    std::fs::remove_file(conf.join("app.conf")).unwrap();
    let again = volumes
        .container_mounts(&requests[..1], &ImageConfig::default(), rootfs.path())
        .unwrap();
    assert!(again.created.is_empty() && again.anonymous.is_empty());
    assert!(!conf.join("app.conf").exists());
}

#[test]
fn the_stores_driver_picks_the_volume_storage() {
    use aurora_storage::DriverKind;
    let state = tempfile::tempdir().unwrap();
    let name = |kind, dataset| {
        VolumeStorage::for_driver(kind, dataset, state.path())
            .map(|s| s.name())
            .map_err(|e| e.to_string())
    };
    assert_eq!(name(DriverKind::Overlay, None), Ok("dir"));
    assert_eq!(name(DriverKind::Dir, None), Ok("dir"));
    assert_eq!(name(DriverKind::Btrfs, None), Ok("btrfs"));
    assert!(name(DriverKind::Zfs, None)
        .unwrap_err()
        .contains("zfs dataset"));
}
