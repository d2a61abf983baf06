//! What `imageadm copy` reads from: OCI layouts, OCI archives and docker archives are someone
//! else's input. Their JSON documents are bounded as registry documents are (a huge
//! `index.json` or `manifest.json` is refused without being read into memory), an archive that
//! names a file twice or a config by another digest is refused, and a source layout is only
//! read: nothing is created, locked or changed in it, and no link planted in it is followed.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use aurora_spec::media;
use aurora_testkit::skip::root_or_skip;
use aurora_testkit::{sha256_digest, write_raw_tar as write_tar, ImageBuilder, LayerBuilder};
use common::World;

/// A small image written as an OCI layout at `dir`, tagged `v1`.
fn layout_with_image(dir: &Path) {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/hello", "hello\n", 0o644)
                .build(),
        )
        .write(dir, "v1");
}

/// The files of a valid docker archive of one image with no layers: config (named by its
/// digest) and manifest.json.
fn docker_archive_files() -> (String, Vec<u8>, Vec<u8>) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap();
    let hex = sha256_digest(&config).to_string()["sha256:".len()..].to_string();
    let config_name = format!("{hex}.json");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": ["x:1"], "Layers": []
    }]))
    .unwrap();
    (config_name, config, manifest)
}

fn assert_no_images(world: &World) {
    let images = world.ok(&["--format", "json", "images"]).json();
    assert!(images.as_array().unwrap().is_empty(), "{images}");
}

#[test]
fn an_oci_archive_index_over_the_cap_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("big-index.tar");
    let index = vec![b' '; media::MAX_LAYOUT_INDEX_BYTES as usize + 1];
    write_tar(
        &archive,
        &[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json", &index),
        ],
    );
    let world = World::new();
    world
        .run(&[
            "copy",
            &format!("oci-archive:{}", archive.display()),
            "x/y:1",
        ])
        .assert_fails(
            1,
            &[
                "index.json",
                &media::MAX_LAYOUT_INDEX_BYTES.to_string(),
                "larger than",
            ],
        );
    assert_no_images(&world);
}

/// A 400 MB index.json (sparse: it costs no disk) in a source layout is refused after reading
/// no more than the cap: the process stays far below the file's size.
#[test]
fn a_huge_index_json_in_a_source_layout_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    layout_with_image(&layout);
    let index = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(layout.join("index.json"))
        .unwrap();
    index.set_len(400 * 1024 * 1024).unwrap();
    drop(index);
    let world = World::new();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_imageadm"))
        .args(world.imageadm().get_args())
        .args(["copy", &format!("oci:{}:v1", layout.display()), "x/y:1"])
        .envs(
            world
                .imageadm()
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .output()
        .expect("run /usr/bin/time imageadm");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("index.json")
            && stderr.contains(&media::MAX_LAYOUT_INDEX_BYTES.to_string()),
        "{stderr}"
    );
    let peak_kib: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    assert!(
        peak_kib < 100 * 1024,
        "peak RSS {peak_kib} KiB for a refused 400 MB index.json"
    );
}

#[test]
fn docker_archive_documents_over_their_caps_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::new();
    let (config_name, config, _) = docker_archive_files();
    let huge_manifest = vec![b' '; media::MAX_ARCHIVE_METADATA_BYTES as usize + 1];
    let archive = dir.path().join("big-manifest.tar");
    write_tar(
        &archive,
        &[(&config_name, &config), ("manifest.json", &huge_manifest)],
    );
    world
        .run(&[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            "x/y:1",
        ])
        .assert_fails(
            1,
            &[
                "manifest.json",
                &media::MAX_ARCHIVE_METADATA_BYTES.to_string(),
            ],
        );

    // A config over the config cap, named by its digest as it should be.
    let mut huge_config = br#"{"architecture":"amd64","os":"linux","pad":""#.to_vec();
    huge_config.resize(media::MAX_CONFIG_BYTES as usize + 16, b'x');
    huge_config.extend_from_slice(br#""}"#);
    let hex = sha256_digest(&huge_config).to_string()["sha256:".len()..].to_string();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{hex}.json"), "RepoTags": ["x:1"], "Layers": []
    }]))
    .unwrap();
    let archive = dir.path().join("big-config.tar");
    write_tar(
        &archive,
        &[
            (&format!("{hex}.json"), &huge_config),
            ("manifest.json", &manifest),
        ],
    );
    world
        .run(&[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            "x/y:1",
        ])
        .assert_fails(
            1,
            &[&format!("{hex}.json"), &media::MAX_CONFIG_BYTES.to_string()],
        );
    assert_no_images(&world);
}

#[test]
fn a_docker_archive_config_not_named_by_its_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::new();
    let (_, config, _) = docker_archive_files();
    let wrong = format!("{}.json", "b".repeat(64));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": wrong, "RepoTags": ["x:1"], "Layers": []
    }]))
    .unwrap();
    let archive = dir.path().join("renamed-config.tar");
    write_tar(&archive, &[(&wrong, &config), ("manifest.json", &manifest)]);
    world
        .run(&[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            "x/y:1",
        ])
        .assert_fails(1, &[&wrong, "not named by its digest"]);
    assert_no_images(&world);

    // The same archive with the config under its own digest is taken.
    let (config_name, config, manifest) = docker_archive_files();
    let good = dir.path().join("good.tar");
    write_tar(
        &good,
        &[(&config_name, &config), ("manifest.json", &manifest)],
    );
    world.ok(&[
        "copy",
        &format!("docker-archive:{}", good.display()),
        "x/y:1",
    ]);
}

#[test]
fn archives_naming_a_file_twice_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::new();
    let (config_name, config, manifest) = docker_archive_files();
    let other_manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": ["evil:1"], "Layers": []
    }]))
    .unwrap();
    let docker = dir.path().join("twice-docker.tar");
    write_tar(
        &docker,
        &[
            (&config_name, &config),
            ("manifest.json", &manifest),
            ("./manifest.json", &other_manifest),
        ],
    );
    world
        .run(&[
            "copy",
            &format!("docker-archive:{}", docker.display()),
            "x/y:1",
        ])
        .assert_fails(1, &["manifest.json", "twice"]);

    // An OCI archive whose index.json comes twice: a valid layout, then another index.
    let layout = dir.path().join("layout");
    layout_with_image(&layout);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            fs::read(layout.join("oci-layout")).unwrap(),
        ),
        (
            "index.json".into(),
            fs::read(layout.join("index.json")).unwrap(),
        ),
    ];
    for blob in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap();
        files.push((
            format!("blobs/sha256/{}", blob.file_name().to_string_lossy()),
            fs::read(blob.path()).unwrap(),
        ));
    }
    files.push((
        "index.json".into(),
        br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
    ));
    let oci = dir.path().join("twice-oci.tar");
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    write_tar(&oci, &borrowed);
    world
        .run(&["copy", &format!("oci-archive:{}", oci.display()), "x/y:1"])
        .assert_fails(1, &["index.json", "twice"]);
    assert_no_images(&world);
    // Without the second index.json, the archive is taken.
    write_tar(&oci, &borrowed[..borrowed.len() - 1]);
    world.ok(&["copy", &format!("oci-archive:{}", oci.display()), "x/y:1"]);
}

/// Every entry under `root` with its type, mode, size, mtime and ctime (nanoseconds): what
/// any write, create, chmod or lock-file creation would change.
fn tree_state(root: &Path) -> BTreeMap<String, (u32, u64, i64, i64, i64, i64)> {
    let mut state = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        state.insert(
            relative,
            (
                meta.mode(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ctime(),
                meta.ctime_nsec(),
            ),
        );
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    state
}

#[test]
fn a_source_layout_is_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    layout_with_image(&source);
    let before = tree_state(&source);
    let world = World::new();
    let destination = dir.path().join("destination");
    world.ok(&[
        "copy",
        &format!("oci:{}:v1", source.display()),
        &format!("oci:{}:v2", destination.display()),
    ]);
    world.ok(&["copy", &format!("oci:{}:v1", source.display()), "x/y:1"]);
    world.ok(&["inspect", "x/y:1"]);
    assert_eq!(tree_state(&source), before, "the source layout was changed");
    assert!(!source.join(".aurora").exists());
    // What was copied is the image.
    assert_eq!(
        common::store_names(&destination),
        vec!["v2".to_string()],
        "the destination names the image"
    );
}

#[test]
fn links_planted_in_a_source_layout_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let world = World::new();

    // `.aurora` pointing outside: a copy works and writes nothing there.
    let source = dir.path().join("planted-private");
    layout_with_image(&source);
    std::os::unix::fs::symlink(&outside, source.join(".aurora")).unwrap();
    world.ok(&["copy", &format!("oci:{}:v1", source.display()), "x/y:1"]);
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "written outside"
    );

    // index.json a link to a file outside (a valid index of another layout).
    let other = dir.path().join("other");
    layout_with_image(&other);
    let source = dir.path().join("planted-index");
    layout_with_image(&source);
    fs::remove_file(source.join("index.json")).unwrap();
    std::os::unix::fs::symlink(other.join("index.json"), source.join("index.json")).unwrap();
    world
        .run(&["copy", &format!("oci:{}:v1", source.display()), "x/y:2"])
        .assert_fails(1, &["index.json", "symbolic link"]);

    // A blob that is a link out of the layout, to a file holding the very bytes.
    let source = dir.path().join("planted-blob");
    let built = ImageBuilder::new()
        .layer(LayerBuilder::new().file("etc/x", "x\n", 0o644).build())
        .write(&source, "v1");
    let layer = common::blob_path(&source, &built.layers[0].digest);
    let copied = outside.join("layer-bytes");
    fs::copy(&layer, &copied).unwrap();
    fs::remove_file(&layer).unwrap();
    std::os::unix::fs::symlink(&copied, &layer).unwrap();
    world
        .run(&["copy", &format!("oci:{}:v1", source.display()), "x/y:3"])
        .assert_fails(
            1,
            &[&built.layers[0].digest["sha256:".len()..], "symbolic link"],
        );

    // `blobs` itself a link to another layout's blobs.
    let source = dir.path().join("planted-blobs");
    layout_with_image(&source);
    fs::rename(source.join("blobs"), outside.join("blobs")).unwrap();
    std::os::unix::fs::symlink(outside.join("blobs"), source.join("blobs")).unwrap();
    world
        .run(&["copy", &format!("oci:{}:v1", source.display()), "x/y:4"])
        .assert_fails(1, &["blobs", "symbolic link"]);
    let names: Vec<String> = common::store_names(&world.root());
    assert_eq!(names, vec!["docker.io/x/y:1".to_string()], "{names:?}");
}

/// A bind mount made read-only for the test, unmounted when dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_layout_on_a_read_only_mount_copies() {
    if !root_or_skip("a_layout_on_a_read_only_mount_copies") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    layout_with_image(&source);
    let mounted = dir.path().join("ro");
    fs::create_dir(&mounted).unwrap();
    let bind = |args: &[&str]| {
        let status = Command::new("mount").args(args).status().unwrap();
        assert!(status.success(), "mount {args:?}");
    };
    bind(&[
        "--bind",
        &source.to_string_lossy(),
        &mounted.to_string_lossy(),
    ]);
    let _mount = ReadOnlyMount(mounted.clone());
    bind(&["-o", "remount,ro,bind", &mounted.to_string_lossy()]);
    assert!(
        fs::create_dir(mounted.join("probe")).is_err(),
        "not read-only"
    );
    let world = World::new();
    world.ok(&["copy", &format!("oci:{}:v1", mounted.display()), "x/y:1"]);
    let destination = dir.path().join("out");
    world.ok(&[
        "copy",
        &format!("oci:{}:v1", mounted.display()),
        &format!("oci-archive:{}:v1", destination.display()),
    ]);
    assert_eq!(common::store_names(&world.root()), vec!["docker.io/x/y:1"]);
}
