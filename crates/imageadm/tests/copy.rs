//! `imageadm copy` between the store, registries, OCI layouts and OCI archives, checked with
//! skopeo and podman both ways: what we write they read, what they write we read, digests kept,
//! and hostile archives refused without writing outside.

mod common;

use std::process::Command;

use aurora_testkit::skip::tools_or_skip;
use aurora_testkit::{sha256_digest, skopeo_inspect_raw, Registry};
use common::{pulled, skopeo_inspect_store, World};

/// podman with storage of its own (vfs, no daemon), one test at a time: podman processes of
/// parallel tests share its tmpdir and locks.
struct Podman {
    root: tempfile::TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

static PODMAN_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Podman {
    /// `None` when podman is not installed: `test`'s podman half is then skipped, through
    /// `aurora_testkit::skip` (a failure when the run requires every test).
    fn new(test: &str) -> Option<Self> {
        if !tools_or_skip(test, &["podman"]) {
            return None;
        }
        Some(Podman {
            _turn: PODMAN_TURN.lock().unwrap_or_else(|e| e.into_inner()),
            root: tempfile::tempdir().unwrap(),
        })
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("podman")
            .arg("--root")
            .arg(self.root.path().join("storage"))
            .arg("--runroot")
            .arg(self.root.path().join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "file",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(args)
            .output()
            .unwrap()
    }
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// skopeo copies `source` (docker://…) to `written` (a transport:location:tag); a new store
/// copies it in from `read_as` (the same place, as imageadm names it) as `name`. The digest
/// reported must be the one skopeo reads back from what it wrote.
fn import_what_skopeo_wrote(source: &str, written: &str, read_as: &str, name: &str) -> World {
    skopeo(&["copy", "--src-tls-verify=false", source, written]);
    let other = World::new();
    let report = copy_json(&other, read_as, name);
    let digest = sha256_digest(&skopeo(&["inspect", "--raw", written]));
    assert_eq!(report["digest"], digest.to_string(), "{report}");
    other
}

fn copy_json(world: &World, source: &str, destination: &str) -> serde_json::Value {
    world
        .ok(&["--format", "json", "copy", source, destination])
        .json()
}

#[test]
fn the_store_to_an_oci_layout_and_back_keeps_every_digest() {
    let registry = Registry::open();
    let (world, source) = pulled(&registry);
    let ours = skopeo_inspect_store(&world.root(), &source);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let report = copy_json(&world, &source, &format!("oci:{}:v1", layout.display()));
    assert_eq!(
        report["digest"],
        sha256_digest(&ours).to_string(),
        "{report}"
    );
    assert_eq!(
        report["blobs_copied"], 5,
        "manifest, config and 3 layers: {report}"
    );
    // skopeo reads the layout we wrote, byte for byte.
    let theirs = skopeo(&["inspect", "--raw", &format!("oci:{}:v1", layout.display())]);
    assert_eq!(theirs, ours);
    // Again: nothing to copy.
    let again = copy_json(&world, &source, &format!("oci:{}:v1", layout.display()));
    assert_eq!(again["blobs_copied"], 0, "{again}");

    // A layout skopeo wrote comes into a new store under a name of our choosing.
    let from_skopeo = format!("oci:{}:s", dir.path().join("skopeo").display());
    let other = import_what_skopeo_wrote(
        &format!("docker://{source}"),
        &from_skopeo,
        &from_skopeo,
        "example.com/imported:1",
    );
    let listed = other.ok(&["--format", "json", "images"]).json();
    assert!(
        listed.to_string().contains("example.com/imported"),
        "{listed}"
    );
}

#[test]
fn oci_archives_both_ways_with_skopeo_and_podman() {
    let registry = Registry::open();
    let (world, source) = pulled(&registry);
    let ours = skopeo_inspect_store(&world.root(), &source);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    copy_json(
        &world,
        &source,
        &format!("oci-archive:{}:v1", archive.display()),
    );
    let theirs = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}:v1", archive.display()),
    ]);
    assert_eq!(theirs, ours);
    if let Some(podman) = Podman::new("oci_archives_both_ways_with_skopeo_and_podman") {
        let loaded = podman.run(&["load", "-i", &archive.to_string_lossy()]);
        assert!(
            loaded.status.success(),
            "podman load: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
    }

    // An archive skopeo wrote comes into a store with the same digest.
    let archive = dir.path().join("skopeo.tar");
    import_what_skopeo_wrote(
        &format!("docker://{source}"),
        &format!("oci-archive:{}:s", archive.display()),
        &format!("oci-archive:{}", archive.display()),
        "example.com/from-archive:1",
    );
}

#[test]
fn registry_to_layout_and_layout_to_registry() {
    let registry = Registry::open();
    let (world, source) = pulled(&registry);
    let ours = skopeo_inspect_store(&world.root(), &source);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fresh = World::new();
    copy_json(
        &fresh,
        &format!("docker://{source}"),
        &format!("oci:{}:x", layout.display()),
    );
    assert_eq!(
        skopeo(&["inspect", "--raw", &format!("oci:{}:x", layout.display())]),
        ours
    );
    assert!(
        fresh
            .ok(&["--format", "json", "images"])
            .json()
            .as_array()
            .unwrap()
            .is_empty(),
        "the store is left as it was"
    );
    let back = registry.image_ref("team/back:2");
    copy_json(
        &fresh,
        &format!("oci:{}:x", layout.display()),
        &format!("docker://{back}"),
    );
    assert_eq!(skopeo_inspect_raw(&back, None), ours);
}

#[test]
fn hostile_or_wrong_sources_fail_clearly_and_write_nothing_outside() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    // An archive with a path that climbs out.
    let evil = dir.path().join("evil.tar");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&evil).unwrap());
        let mut header = tar::Header::new_old();
        let data = b"pwned";
        let name = b"blobs/../../escaped";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, &data[..]).unwrap();
        tar.finish().unwrap();
    }
    world
        .run(&["copy", &format!("oci-archive:{}", evil.display()), "x/y:1"])
        .assert_fails(1, &["no OCI layout has"]);
    assert!(!dir.path().join("escaped").exists());
    assert!(!world.root().join("escaped").exists());
    // A directory that is not a layout; a tag that is not there; a transport not supported.
    world
        .run(&["copy", &format!("oci:{}", dir.path().display()), "x/y:1"])
        .assert_fails(1, &["is not an OCI image layout"]);
    world
        .run(&["copy", "containers-storage:x", "x/y:1"])
        .assert_fails(1, &["containers-storage: transport is not supported yet"]);
    world
        .run(&[
            "copy",
            "no/such:image",
            &format!("oci:{}/out:1", dir.path().display()),
        ])
        .assert_fails(3, &["no image no/such:image in the store"]);
}

#[test]
fn docker_archives_both_ways_with_skopeo_and_podman() {
    let registry = Registry::open();
    let (world, source) = pulled(&registry);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("saved.tar");
    let report = copy_json(
        &world,
        &source,
        &format!("docker-archive:{}:example.com/saved:1", archive.display()),
    );
    assert!(
        report["note"].as_str().unwrap().contains("uncompressed"),
        "{report}"
    );
    // skopeo reads it: same config, the layers' diff IDs as their digests.
    let config: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{}", archive.display()),
    ]))
    .unwrap();
    let ours: serde_json::Value = world.ok(&["inspect", &source]).json();
    assert_eq!(config["rootfs"], ours["config"]["rootfs"]);
    assert_eq!(config["config"], ours["config"]["config"]);
    if let Some(podman) = Podman::new("docker_archives_both_ways_with_skopeo_and_podman") {
        let loaded = podman.run(&["load", "-i", &archive.to_string_lossy()]);
        assert!(
            loaded.status.success(),
            "podman load: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let images = String::from_utf8_lossy(
            &podman
                .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
                .stdout,
        )
        .into_owned();
        assert!(images.contains("example.com/saved:1"), "{images}");
        // podman save writes one back, which we read.
        let resaved = dir.path().join("podman.tar");
        let saved = podman.run(&[
            "save",
            "--format",
            "docker-archive",
            "-o",
            &resaved.to_string_lossy(),
            "example.com/saved:1",
        ]);
        assert!(
            saved.status.success(),
            "podman save: {}",
            String::from_utf8_lossy(&saved.stderr)
        );
        let other = World::new();
        let back = copy_json(
            &other,
            &format!("docker-archive:{}", resaved.display()),
            "example.com/back:1",
        );
        let inspected: serde_json::Value = other.ok(&["inspect", "example.com/back:1"]).json();
        assert_eq!(
            inspected["config"]["rootfs"], ours["config"]["rootfs"],
            "{back}"
        );
    }

    // An archive skopeo wrote comes in; its layers are checked against the config.
    let from_skopeo = dir.path().join("skopeo.tar");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{source}"),
        &format!("docker-archive:{}:example.com/s:1", from_skopeo.display()),
    ]);
    let other = World::new();
    copy_json(
        &other,
        &format!("docker-archive:{}", from_skopeo.display()),
        "example.com/from-docker:1",
    );
    let inspected: serde_json::Value = other.ok(&["inspect", "example.com/from-docker:1"]).json();
    assert_eq!(inspected["config"]["rootfs"], ours["config"]["rootfs"]);
    // And the image unpacks: its layers are there in full.
    let layout_check = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:example.com/from-docker:1", other.root().display()),
    ]);
    assert!(!layout_check.is_empty());
}

#[test]
fn a_docker_archive_with_a_wrong_layer_or_a_strange_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hex = "a".repeat(64);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{hex}")]}
    }))
    .unwrap();
    // Configs are named by their digest.
    let config_hex = sha256_digest(&config).to_string()["sha256:".len()..].to_string();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{config_hex}.json"), "RepoTags": ["x:1"], "Layers": [format!("{hex}/layer.tar")]
    }]))
    .unwrap();
    let write = aurora_testkit::write_raw_tar;
    let layer_name = format!("{hex}/layer.tar");
    let config_name = format!("{config_hex}.json");
    // The layer is not what the config's diff ID says.
    let wrong = dir.path().join("wrong.tar");
    write(
        &wrong,
        &[
            ("manifest.json", &manifest),
            (&config_name, &config),
            (&layer_name, b"not that layer"),
        ],
    );
    let world = World::new();
    world
        .run(&[
            "copy",
            &format!("docker-archive:{}", wrong.display()),
            "x/y:1",
        ])
        .assert_fails(1, &["the config says"]);
    // A name docker never writes, climbing out.
    let strange = dir.path().join("strange.tar");
    write(
        &strange,
        &[("../escaped", b"x"), ("manifest.json", &manifest)],
    );
    world
        .run(&[
            "copy",
            &format!("docker-archive:{}", strange.display()),
            "x/y:1",
        ])
        .assert_fails(1, &["does not write"]);
    assert!(!dir.path().parent().unwrap().join("escaped").exists());
    assert!(world
        .ok(&["--format", "json", "images"])
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}
