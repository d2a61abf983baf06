//! `imageadm commit`, end to end, on every storage driver: a container is unpacked, changed
//! the ways a container changes its files (new, changed, chmod/chown, deleted files,
//! symlinks and fifos, a deleted directory, a directory emptied and refilled, a file
//! replacing a directory and the other way round, new hardlinks, long names, xattrs), and
//! committed; the new image, unpacked again by imageadm and by `umoci unpack`, must equal the
//! changed tree path by path. The layer itself is checked for its whiteouts and opaque
//! markers, and `--reproducible` for giving the same digest twice.
//!
//! Needs root (overlay mounts, owners, devices); btrfs and zfs need their tools: skipped
//! through `aurora_testkit::skip` otherwise (a failure when the run requires every test).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_testkit::skip::root_or_skip;
use aurora_testkit::tree::{diff, layer_tree};
use aurora_testkit::{require_tools, BtrfsVolume, ImageBuilder, LayerBuilder, ZfsPool};
use common::{blob_path, umoci_unpack, StoreState, World};
use serde_json::Value;

const BASE: &str = "test/base:1";
const NEW: &str = "test/committed:1";

/// A base image with something of every kind to change.
fn base_image() -> ImageBuilder {
    let layer = LayerBuilder::busybox_rootfs()
        .dir("data", 0o755)
        .file("data/keep.txt", "keep\n", 0o644)
        .file("data/link-me", "gains a name\n", 0o644)
        .file("data/edit.txt", "before\n", 0o644)
        .file("data/gone.txt", "deleted by the container\n", 0o644)
        .symlink("data/link", "keep.txt")
        .fifo("data/fifo", 0o620)
        .dir("data/tree", 0o755)
        .file("data/tree/a", "a\n", 0o644)
        .dir("data/tree/b", 0o700)
        .file("data/tree/b/c", "c\n", 0o600)
        .dir("opt", 0o755)
        .dir("opt/old", 0o755)
        .file("opt/old/x", "replaced with its directory\n", 0o644)
        .file("opt/old/y", "replaced too\n", 0o644)
        .dir("srv", 0o755)
        .file("srv/was-a-file", "becomes a directory\n", 0o644)
        .dir("srv/was-a-dir", 0o755)
        .file("srv/was-a-dir/inner", "goes with it\n", 0o644)
        .dir("home", 0o755)
        .file_owned("home/own.txt", "mine\n", 0o640, 1000, 1000)
        .file("usr/bin/tool", "#!/bin/sh\n", 0o755)
        .build();
    ImageBuilder::new().layer(layer).cmd(&["/bin/sh"])
}

/// What a container does to its root, as root in the host (`xattrs`: whether the
/// filesystem takes user xattrs; zfs-fuse has none).
fn change(rootfs: &Path, xattrs: bool) {
    let at = |p: &str| rootfs.join(p);
    fs::write(at("data/edit.txt"), "after, and longer\n").unwrap();
    fs::write(at("data/new.txt"), "new\n").unwrap();
    fs::remove_file(at("data/gone.txt")).unwrap();
    fs::remove_file(at("data/link")).unwrap();
    fs::remove_file(at("data/fifo")).unwrap();
    std::os::unix::fs::symlink("../keep.txt", at("data/tree/newlink")).unwrap();
    fs::remove_dir_all(at("data/tree/b")).unwrap();
    // Emptied and refilled: an opaque directory.
    fs::remove_dir_all(at("opt/old")).unwrap();
    fs::create_dir(at("opt/old")).unwrap();
    fs::write(at("opt/old/z"), "the only entry now\n").unwrap();
    // A file becomes a directory, a directory a file.
    fs::remove_file(at("srv/was-a-file")).unwrap();
    fs::create_dir(at("srv/was-a-file")).unwrap();
    fs::write(at("srv/was-a-file/inside"), "inside\n").unwrap();
    fs::remove_dir_all(at("srv/was-a-dir")).unwrap();
    fs::write(at("srv/was-a-dir"), "a file now\n").unwrap();
    // Metadata only.
    fs::set_permissions(at("usr/bin/tool"), fs::Permissions::from_mode(0o4750)).unwrap();
    std::os::unix::fs::chown(at("home/own.txt"), Some(2000), Some(3000)).unwrap();
    // New hardlinks, a long name, a fifo.
    fs::create_dir_all(at("new/deep")).unwrap();
    fs::write(at("new/first"), "linked\n").unwrap();
    fs::hard_link(at("new/first"), at("new/deep/second")).unwrap();
    // A new name for a file of the image.
    fs::hard_link(at("data/link-me"), at("new/second-name")).unwrap();
    let long = format!("new/{}", "d".repeat(120));
    fs::create_dir(at(&long)).unwrap();
    fs::write(at(&format!("{long}/{}", "f".repeat(100))), "long name\n").unwrap();
    let status = Command::new("mkfifo").arg(at("new/pipe")).status().unwrap();
    assert!(status.success());
    if xattrs {
        rustix::fs::lsetxattr(
            at("new/first"),
            "user.aurora.note",
            b"kept",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }
}

/// The base image copied into a new store.
fn world_with_base(world: &World) {
    require_tools(&["umoci"]);
    let layout = world.dir.path().join("layout");
    base_image().write(&layout, "base");
    world.ok(&[
        "--quiet",
        "copy",
        &format!("oci:{}:base", layout.display()),
        BASE,
    ]);
}

fn unpack(world: &World, flags: &[&str], reference: &str, bundle: &Path) -> PathBuf {
    let mut args = flags.to_vec();
    args.extend([
        "--format",
        "json",
        "unpack",
        reference,
        bundle.to_str().unwrap(),
    ]);
    let made = world.ok(&args).json();
    PathBuf::from(made["rootfs"].as_str().unwrap())
}

fn commit(world: &World, flags: &[&str], target: &str, reference: &str, extra: &[&str]) -> Value {
    let mut args = flags.to_vec();
    args.extend(["--format", "json", "commit", target, reference]);
    args.extend(extra);
    world.ok(&args).json()
}

fn manifest_of(world: &World, reference: &str) -> Value {
    world.ok(&["inspect", reference]).json()["manifest"].clone()
}

/// Entry names of a layer blob (any compression), in order.
fn layer_names(world: &World, digest: &str) -> Vec<String> {
    let blob = fs::File::open(blob_path(&world.root(), digest)).unwrap();
    let (_, reader) = aurora_layers::decoder(blob, aurora_layers::Compression::Detect).unwrap();
    let mut archive = tar::Archive::new(reader);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            String::from_utf8_lossy(&e.path_bytes()).into_owned()
        })
        .collect()
}

/// The whole story on one driver.
fn check_driver(world: &World, flags: &[&str], driver: &str) {
    world_with_base(world);
    let xattrs = driver != "zfs";
    let bundle = world.dir.path().join("container");
    let rootfs = unpack(world, flags, BASE, &bundle);
    change(&rootfs, xattrs);
    let expected = layer_tree(&rootfs);

    let made = commit(
        world,
        flags,
        bundle.to_str().unwrap(),
        NEW,
        &[
            "--message",
            "changed",
            "--change",
            "CMD [\"/bin/cat\", \"/data/new.txt\"]",
        ],
    );
    assert_eq!(made["driver"], driver, "{made}");
    assert_eq!(made["base"], "docker.io/test/base:1", "{made}");

    // The layer: exactly the changes, with the markers the image spec asks for.
    let manifest = manifest_of(world, NEW);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{manifest}");
    assert_eq!(layers[1]["digest"], made["layer"]);
    assert_eq!(
        layers[1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let names = layer_names(world, made["layer"].as_str().unwrap());
    for marker in [
        "data/.wh.gone.txt",
        "data/.wh.link",
        "data/.wh.fifo",
        "data/tree/.wh.b",
        "opt/old/.wh..wh..opq",
        "opt/old/z",
        "srv/was-a-file/inside",
        "srv/was-a-dir",
        "new/deep/second",
        "new/second-name",
        "home/own.txt",
        "usr/bin/tool",
    ] {
        assert!(
            names.iter().any(|n| n == marker),
            "{driver}: no {marker} in {names:?}"
        );
    }
    for unchanged in [
        "data/keep.txt",
        "bin/busybox",
        "opt/old/x",
        "srv/was-a-dir/inner",
    ] {
        assert!(
            !names.iter().any(|n| n == unchanged),
            "{driver}: {unchanged} is in the layer: {names:?}"
        );
    }
    let opaque = names
        .iter()
        .position(|n| n == "opt/old/.wh..wh..opq")
        .unwrap();
    let refilled = names.iter().position(|n| n == "opt/old/z").unwrap();
    assert!(
        opaque < refilled,
        "the opaque marker comes before the new entries"
    );

    // The config: one more diff ID and history entry, the change applied.
    let config = world.ok(&["inspect", NEW]).json()["config"].clone();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["rootfs"]["diff_ids"][1], made["diff_id"]);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/cat", "/data/new.txt"])
    );
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["comment"], "changed", "{config}");

    // Unpacked again by imageadm and by umoci: the changed tree, path by path.
    let again = unpack(world, flags, NEW, &world.dir.path().join("again"));
    if let Some(differences) = diff("changed", &expected, "committed", &layer_tree(&again)) {
        panic!("{driver}: the committed image unpacks differently:\n{differences}");
    }
    let umoci_bundle = world.dir.path().join("umoci");
    let out = umoci_unpack(&world.root(), &format!("docker.io/{NEW}"), &umoci_bundle);
    assert!(
        out.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut umoci_tree = layer_tree(&umoci_bundle.join("rootfs"));
    let mut expected_for_umoci = expected.clone();
    if !xattrs {
        // umoci's tree is on the host's filesystem, which has the xattrs zfs-fuse lacks.
        for node in umoci_tree
            .values_mut()
            .chain(expected_for_umoci.values_mut())
        {
            node.xattrs.clear();
        }
    }
    if let Some(differences) = diff("changed", &expected_for_umoci, "umoci", &umoci_tree) {
        panic!("{driver}: umoci unpacks the committed image differently:\n{differences}");
    }
    assert_eq!(
        fs::read_to_string(umoci_bundle.join("rootfs/opt/old/z")).unwrap(),
        "the only entry now\n"
    );
    assert!(!umoci_bundle.join("rootfs/opt/old/x").exists());
}

#[test]
fn dir_driver_commits_what_changed() {
    if !root_or_skip("dir_driver_commits_what_changed") {
        return;
    }
    let world = World::new();
    check_driver(&world, &["--storage", "dir"], "dir");
}

#[test]
fn overlay_driver_commits_what_changed() {
    if !root_or_skip("overlay_driver_commits_what_changed") {
        return;
    }
    let world = World::new();
    check_driver(&world, &["--storage", "overlay"], "overlay");
}

#[test]
fn btrfs_driver_commits_what_changed() {
    let Some(volume) = BtrfsVolume::create_or_skip("btrfs_driver_commits_what_changed") else {
        return;
    };
    let world = World::with_root(volume.path().join("store"));
    check_driver(&world, &[], "btrfs");
}

#[test]
fn zfs_driver_commits_what_changed() {
    let Some(pool) = ZfsPool::create_or_skip("zfs_driver_commits_what_changed") else {
        return;
    };
    let world = World::with_root(pool.mountpoint());
    check_driver(&world, &[], "zfs");
}

/// The blobs in the store, by name.
fn blobs(world: &World) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(world.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn reproducible_commits_of_the_same_changes_give_the_same_digests() {
    if !root_or_skip("reproducible_commits_of_the_same_changes_give_the_same_digests") {
        return;
    }
    let world = World::new();
    world_with_base(&world);
    let flags = ["--storage", "overlay"];
    let mut made = Vec::new();
    for (i, name) in ["one", "two"].iter().enumerate() {
        let bundle = world.dir.path().join(name);
        let rootfs = unpack(&world, &flags, BASE, &bundle);
        fs::write(rootfs.join("data/new.txt"), "the same change\n").unwrap();
        fs::remove_file(rootfs.join("data/gone.txt")).unwrap();
        // Made at different times: only the clamp makes them equal.
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(100 * i as u64);
        fs::File::options()
            .write(true)
            .open(rootfs.join("data/new.txt"))
            .unwrap()
            .set_modified(when)
            .unwrap();
        made.push(commit(
            &world,
            &flags,
            bundle.to_str().unwrap(),
            &format!("test/repro:{name}"),
            &["--reproducible"],
        ));
    }
    assert_eq!(made[0]["layer"], made[1]["layer"], "{made:?}");
    assert_eq!(made[0]["manifest"], made[1]["manifest"], "{made:?}");
    let config = world.ok(&["inspect", "test/repro:one"]).json()["config"].clone();
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");

    // SOURCE_DATE_EPOCH sets the clamp and the time recorded.
    let out = world
        .imageadm()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["--storage", "overlay", "--format", "json", "commit"])
        .arg(world.dir.path().join("one"))
        .args(["test/repro:epoch", "--reproducible"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let epoch: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(epoch["manifest"], made[0]["manifest"]);
    let config = world.ok(&["inspect", "test/repro:epoch"]).json()["config"].clone();
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        config["history"].as_array().unwrap().last().unwrap()["created"],
        "2023-11-14T22:13:20Z"
    );
}

#[test]
fn commits_stack_in_every_compression_and_by_container_name() {
    if !root_or_skip("commits_stack_in_every_compression_and_by_container_name") {
        return;
    }
    let world = World::new();
    world_with_base(&world);
    let flags = ["--storage", "dir"];
    let first = world.dir.path().join("first");
    let rootfs = unpack(&world, &flags, BASE, &first);
    fs::write(rootfs.join("data/first.txt"), "first commit\n").unwrap();
    commit(
        &world,
        &flags,
        first.to_str().unwrap(),
        "test/stack:1",
        &["--compression", "zstd"],
    );

    // The second generation, committed by the container's name.
    let second = world.dir.path().join("second");
    let rootfs = unpack(&world, &flags, "test/stack:1", &second);
    assert_eq!(
        fs::read_to_string(rootfs.join("data/first.txt")).unwrap(),
        "first commit\n"
    );
    fs::remove_file(rootfs.join("data/first.txt")).unwrap();
    fs::write(rootfs.join("data/second.txt"), "second commit\n").unwrap();
    let made = commit(
        &world,
        &flags,
        "second",
        "test/stack:2",
        &["--compression", "none"],
    );
    assert_eq!(made["container"], "second");
    assert_eq!(made["base"], "docker.io/test/stack:1");
    let expected = layer_tree(&rootfs);

    let manifest = manifest_of(&world, "test/stack:2");
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types[1..],
        [
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar"
        ]
    );
    let third = unpack(
        &world,
        &flags,
        "test/stack:2",
        &world.dir.path().join("third"),
    );
    if let Some(differences) = diff("changed", &expected, "committed", &layer_tree(&third)) {
        panic!("the second commit unpacks differently:\n{differences}");
    }
    assert!(!third.join("data/first.txt").exists());
    // The image pushes to and reads back from other tools as any other: skopeo reads it.
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:docker.io/test/stack:2",
            world.root().display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(raw["layers"], manifest["layers"]);
}

#[test]
fn bad_commits_are_refused_and_leave_the_store_as_it_was() {
    if !root_or_skip("bad_commits_are_refused_and_leave_the_store_as_it_was") {
        return;
    }
    let world = World::new();
    world_with_base(&world);
    let flags = ["--storage", "dir"];
    let nowhere = world.dir.path().join("nowhere");
    world
        .run(&["commit", nowhere.to_str().unwrap(), NEW])
        .assert_fails(1, &["nothing has been unpacked"]);

    let bundle = world.dir.path().join("container");
    let rootfs = unpack(&world, &flags, BASE, &bundle);
    fs::write(rootfs.join("data/new.txt"), "new\n").unwrap();
    let target = bundle.to_str().unwrap();
    let names = common::store_names(&world.root());
    let before = blobs(&world);
    // Byte for byte: index.json and every blob, the storage tree (the container's changed
    // root included) and the scratch directory.
    let state = StoreState::of(&world.root());
    let fails = |args: &[&str], code: i32, words: &[&str]| {
        let mut all = flags.to_vec();
        all.extend(args);
        world.run(&all).assert_fails(code, words);
        assert_eq!(
            common::store_names(&world.root()),
            names,
            "{args:?} named something"
        );
        assert_eq!(blobs(&world), before, "{args:?} left blobs");
        state.assert_unchanged(&world.root(), &format!("{args:?}"));
    };
    fails(
        &["commit", target, NEW, "--change", "RUN rm -rf /"],
        1,
        &["cannot be changed by a commit"],
    );
    fails(
        &["commit", target, NEW, "--change", "EXPOSE 99999"],
        1,
        &["give PORT"],
    );
    fails(
        &[
            "commit",
            target,
            "test/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        1,
        &["cannot carry a digest"],
    );
    fails(&["commit", target, "Bad/Name"], 1, &["Bad/Name"]);
    fails(
        &["commit", "no-such-container", NEW],
        1,
        &["no-such-container", "does not exist"],
    );
    let other = world.dir.path().join("other-bundle");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("config.json"), "{}").unwrap();
    fails(
        &["commit", other.to_str().unwrap(), NEW],
        1,
        &["not a bundle made by `imageadm unpack`"],
    );
    world
        .run(&["commit", target, NEW, "--compression", "lz4"])
        .assert_fails(2, &["lz4"]);
    state.assert_unchanged(&world.root(), "--compression lz4");

    // The image the container came from removed and collected: said plainly.
    world.ok(&["--quiet", "rm", BASE]);
    world.ok(&["--quiet", "gc"]);
    let mut all = flags.to_vec();
    all.extend(["commit", target, NEW]);
    world.run(&all).assert_fails(1, &["no longer in the store"]);
}

#[test]
fn what_a_container_run_by_runz_wrote_is_what_the_commit_holds() {
    if !root_or_skip("what_a_container_run_by_runz_wrote_is_what_the_commit_holds") {
        return;
    }
    let world = World::new();
    world_with_base(&world);
    let flags = ["--storage", "overlay"];
    let bundle = world.dir.path().join("ran");
    let script = "echo written inside > /data/inside.txt; rm /data/gone.txt; \
                  rm -r /opt/old; mkdir -p /opt/old/fresh; chmod 700 /home; \
                  ln /data/keep.txt /data/keep-again";
    let mut args = flags.to_vec();
    args.extend(["--quiet", "unpack", BASE, bundle.to_str().unwrap()]);
    args.extend(["--", "/bin/sh", "-c", script]);
    world.ok(&args);
    let runtime = aurora_testkit::OciRuntime::Runz;
    if let Some(why) = runtime.unavailable() {
        panic!("runz cannot run here: {why}");
    }
    let out = runtime.run_bundle(&bundle);
    assert!(
        out.status.success(),
        "runz: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = fs::read_link(bundle.join("rootfs")).unwrap();
    let expected = layer_tree(&rootfs);
    let made = commit(&world, &flags, bundle.to_str().unwrap(), NEW, &[]);
    let names = layer_names(&world, made["layer"].as_str().unwrap());
    for entry in [
        "data/inside.txt",
        "data/.wh.gone.txt",
        "opt/old/.wh..wh..opq",
        "opt/old/fresh/",
        "home/",
        "data/keep-again",
    ] {
        assert!(names.iter().any(|n| n == entry), "no {entry} in {names:?}");
    }
    let again = unpack(&world, &flags, NEW, &world.dir.path().join("again"));
    if let Some(differences) = diff("ran", &expected, "committed", &layer_tree(&again)) {
        panic!("the committed image differs from what the container left:\n{differences}");
    }
}
