//! Unpacking, end to end, on every storage driver: the real `imageadm` binary pulls from a
//! real docker-registry and unpacks onto a directory tree, overlayfs, btrfs on a loop device
//! and ZFS (zfs-fuse) on a file-backed pool. Every rootfs is compared, path by path (type,
//! mode, owner, contents, links, devices, xattrs, times, hardlink groups), with what
//! `umoci unpack` makes of the same image, and run with the real `runc` (and `crun`).
//!
//! Needs root (overlay mounts, devices, owners, loop devices), btrfs-progs and zfs-fuse;
//! skipped through `aurora_testkit::skip` otherwise (a failure when the run requires every
//! test, as `test.sh` as root and CI do).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aurora_testkit::skip::root_or_skip;
use aurora_testkit::tree::{diff, snapshot, Snap, Tree};
use aurora_testkit::{
    require_tools, BtrfsVolume, ImageBuilder, Layer, LayerBuilder, OciRuntime, PushOpts, Registry,
    ZfsPool,
};
use common::{push, umoci_unpack, World};
use serde_json::Value;

/// The busybox root filesystem layer, built once for the whole file.
fn busybox() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| LayerBuilder::busybox_rootfs().build())
        .clone()
}

/// Three layers with everything a layer can hold and everything a later layer can do to an
/// earlier one: replaced files, hardlinks within and across layers, whiteouts of files and
/// directories, an opaque directory, a fifo, a device, owners, setuid, xattrs.
fn rich_image() -> ImageBuilder {
    let base = common::rich_base_layer().build();
    let middle = LayerBuilder::new()
        .whiteout("data/gone.txt")
        .dir("opt/old", 0o755)
        .opaque_whiteout("opt/old")
        .file("opt/old/y", "new in layer 2\n", 0o644)
        .file("data/keep.txt", "keep v2\n", 0o644)
        .hardlink("data/bb", "bin/busybox")
        .build();
    let top = LayerBuilder::new()
        .whiteout("data/sub")
        .char_device("data/null", 1, 3, 0o666)
        .file("etc/motd", "unpacked by aurora\n", 0o644)
        .build();
    ImageBuilder::new()
        .layer(base)
        .layer(middle)
        .layer(top)
        .cmd(&["/bin/sh"])
}

/// What the rich image's container prints for [`RICH_CHECK`].
const RICH_CHECK: &str = "cat /data/keep.txt /data/hl /data/link /opt/old/y /etc/motd; \
                          ls /data; ls /opt/old; test -e /data/sub || echo no-sub; \
                          echo written > /data/new.txt";
const RICH_OUTPUT: &str = "keep v2\nkeep v1\nkeep v2\nnew in layer 2\nunpacked by aurora\n\
                           bb\nfifo\nhl\nkeep.txt\nlink\nnull\ny\nno-sub\n";

/// A snapshot for comparing with umoci: directory mtimes left out (both tools set them, but
/// overlayfs reports the upper directory's for a merged one), overlay xattrs hidden.
const COMPARE: Snap = Snap {
    dir_mtimes: false,
    hide_overlay_xattrs: true,
};

fn tree_of(rootfs: &Path) -> Tree {
    let mut tree = snapshot(rootfs, COMPARE);
    // The rootfs directory itself: umoci makes it 0755 root; the drivers keep the base
    // layer's. What the image says of "/" is not in this image, so neither is compared.
    tree.remove("");
    tree
}

/// The registry, the image pushed once for the file's tests.
fn registry_with(images: &[(&str, ImageBuilder)]) -> Registry {
    require_tools(&["docker-registry", "skopeo", "umoci"]);
    let registry = Registry::open();
    for (repo_tag, image) in images {
        push(&registry, image, repo_tag, &PushOpts::default());
    }
    registry
}

/// umoci's rootfs of `reference` from `world`'s store (pulled already).
fn umoci_tree(world: &World, reference: &str) -> Tree {
    let bundle = world.dir.path().join("umoci-bundle");
    let out = umoci_unpack(&world.root(), reference, &bundle);
    assert!(
        out.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = tree_of(&bundle.join("rootfs"));
    fs::remove_dir_all(&bundle).unwrap();
    tree
}

/// Runs `script` with `/bin/sh -c` in a bundle made by `imageadm unpack … -- /bin/sh -c …`.
fn run(runtime: OciRuntime, bundle: &Path) -> String {
    if let Some(why) = runtime.unavailable() {
        panic!("{} cannot run here: {why}", runtime.name());
    }
    let out = runtime.run_bundle(bundle);
    assert!(
        out.status.success(),
        "{} run failed: {}\n{}",
        runtime.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unpack(world: &World, flags: &[&str], reference: &str, bundle: &Path, args: &[&str]) -> Value {
    let bundle = bundle.to_str().unwrap();
    let mut all: Vec<&str> = flags.to_vec();
    all.extend(["--format", "json", "unpack", reference, bundle]);
    if !args.is_empty() {
        all.push("--");
        all.extend(args);
    }
    world.ok(&all).json()
}

fn df(world: &World, flags: &[&str]) -> Vec<Value> {
    let mut all: Vec<&str> = flags.to_vec();
    all.extend(["--format", "json", "df"]);
    match world.ok(&all).json() {
        Value::Array(rows) => rows,
        other => panic!("df printed {other}"),
    }
}

/// Nothing left in the storage's pending directory but lock files.
fn assert_no_pending_layers(world: &World, driver: &str) {
    let left: Vec<_> = fs::read_dir(world.root().join("storage/pending"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{driver}: pending layers left: {left:?}");
}

fn count_kind(rows: &[Value], kind: &str) -> usize {
    rows.iter().filter(|r| r["kind"] == kind).count()
}

/// The whole story on one driver: unpack matches umoci and runs; a second container is a
/// clone that lays nothing down and does not see the first one's writes; rm-bundle, rm and
/// gc take everything away again.
fn check_driver(world: &World, flags: &[&str], driver: &str) {
    let registry = registry_with(&[("team/rich:1", rich_image())]);
    let reference = registry.image_ref("team/rich:1");
    world.ok(&["--quiet", "pull", &reference]);
    let mut expected = umoci_tree(world, &reference);
    assert_eq!(
        expected["usr/bin/tagged"].xattrs["user.aurora.test"], b"one",
        "umoci keeps xattrs"
    );
    if driver == "zfs" {
        // zfs-fuse has no extended attributes (ENOTSUP): the applier warns and goes on.
        for node in expected.values_mut() {
            node.xattrs.clear();
        }
    }

    let first = world.dir.path().join("first");
    let made = unpack(
        world,
        flags,
        &reference,
        &first,
        &["/bin/sh", "-c", RICH_CHECK],
    );
    assert_eq!(made["driver"], driver);
    assert_eq!(made["layers_created"], 3);
    assert_eq!(made["layers_reused"], 0);
    let rootfs = PathBuf::from(made["rootfs"].as_str().unwrap());
    assert!(rootfs.is_absolute(), "{made}");
    assert_eq!(fs::read_link(first.join("rootfs")).unwrap(), rootfs);
    let config: Value =
        serde_json::from_slice(&fs::read(first.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["root"]["path"], made["rootfs"]);

    if let Some(differences) = diff("umoci", &expected, driver, &tree_of(&rootfs)) {
        panic!("the {driver} rootfs differs from umoci's:\n{differences}");
    }

    // The second container is only a clone: nothing laid down, the first one's writes unseen.
    assert_eq!(run(OciRuntime::Runc, &first), RICH_OUTPUT);
    assert_eq!(fs::read(rootfs.join("data/new.txt")).unwrap(), b"written\n");
    let second = world.dir.path().join("second");
    let made2 = unpack(
        world,
        flags,
        &reference,
        &second,
        &["/bin/cat", "/etc/motd"],
    );
    assert_eq!(made2["layers_created"], 0);
    assert_eq!(made2["layers_reused"], 3);
    let rootfs2 = PathBuf::from(made2["rootfs"].as_str().unwrap());
    assert!(!rootfs2.join("data/new.txt").exists());
    if let Some(differences) = diff("umoci", &expected, driver, &tree_of(&rootfs2)) {
        panic!("the second {driver} rootfs differs from umoci's:\n{differences}");
    }
    assert_eq!(run(OciRuntime::Runc, &second), "unpacked by aurora\n");

    let rows = df(world, flags);
    assert_eq!(count_kind(&rows, "layer"), 3, "{rows:?}");
    assert_eq!(count_kind(&rows, "container"), 2, "{rows:?}");
    for row in rows.iter().filter(|r| r["kind"] == "layer") {
        assert_eq!(row["images"], serde_json::json!([reference]), "{row}");
    }

    // While the image is named, gc keeps its layers; rm-bundle removes a container.
    let gc = world.ok(&["--format", "json", "gc"]).json();
    assert_eq!(gc["layers_removed"], serde_json::json!([]));
    for bundle in [&first, &second] {
        world.ok(&["--quiet", "rm-bundle", bundle.to_str().unwrap()]);
        assert!(!bundle.exists(), "{} is left", bundle.display());
    }
    assert!(!rootfs.exists() || fs::read_dir(&rootfs).unwrap().next().is_none());
    assert_eq!(count_kind(&df(world, flags), "container"), 0);

    // The image gone, gc takes its layers, top first.
    world.ok(&["--quiet", "rm", &reference]);
    let gc = world.ok(&["--format", "json", "gc"]).json();
    assert_eq!(gc["layers_removed"].as_array().unwrap().len(), 3, "{gc}");
    assert!(df(world, flags).is_empty());
}

#[test]
fn dir_driver_unpacks_like_umoci_and_runs() {
    if !root_or_skip("dir_driver_unpacks_like_umoci_and_runs") {
        return;
    }
    let world = World::new();
    check_driver(&world, &["--storage", "dir"], "dir");
}

#[test]
fn overlay_driver_unpacks_like_umoci_and_runs() {
    if !root_or_skip("overlay_driver_unpacks_like_umoci_and_runs") {
        return;
    }
    let world = World::new();
    check_driver(&world, &["--storage", "overlay"], "overlay");
}

#[test]
fn btrfs_driver_unpacks_like_umoci_and_runs() {
    let Some(volume) = BtrfsVolume::create_or_skip("btrfs_driver_unpacks_like_umoci_and_runs")
    else {
        return;
    };
    // Detected from the filesystem under the store: no --storage.
    let world = World::with_root(volume.path().join("store"));
    check_driver(&world, &[], "btrfs");
}

#[test]
fn zfs_driver_unpacks_like_umoci_and_runs() {
    let Some(pool) = ZfsPool::create_or_skip("zfs_driver_unpacks_like_umoci_and_runs") else {
        return;
    };
    // The store at the pool's root dataset: the driver takes POOL/storage, detected.
    let world = World::with_root(pool.mountpoint());
    check_driver(&world, &[], "zfs");
    let datasets = pool.zfs(&["list", "-H", "-o", "name", "-r", pool.name()]);
    assert!(
        datasets
            .lines()
            .any(|d| d == format!("{}/storage/layers", pool.name())),
        "{datasets}"
    );
}

#[test]
fn crun_runs_an_unpacked_bundle() {
    if !root_or_skip("crun_runs_an_unpacked_bundle") {
        return;
    }
    let registry = registry_with(&[("team/rich:1", rich_image())]);
    let reference = registry.image_ref("team/rich:1");
    let world = World::new();
    world.ok(&["--quiet", "pull", &reference]);
    let bundle = world.dir.path().join("crun");
    unpack(
        &world,
        &["--storage", "overlay"],
        &reference,
        &bundle,
        &["/bin/sh", "-c", RICH_CHECK],
    );
    assert_eq!(run(OciRuntime::Crun, &bundle), RICH_OUTPUT);
    world.ok(&["--quiet", "rm-bundle", bundle.to_str().unwrap()]);
}

/// runz runs the same bundle from each of the four drivers: overlay and dir by flag, btrfs
/// and zfs detected from the filesystem under the store.
#[test]
fn runz_runs_an_unpacked_bundle_on_every_driver() {
    const TEST: &str = "runz_runs_an_unpacked_bundle_on_every_driver";
    if !root_or_skip(TEST) {
        return;
    }
    let registry = registry_with(&[("team/rich:1", rich_image())]);
    let reference = registry.image_ref("team/rich:1");
    let runs_rich_check = |world: &World, flags: &[&str], driver: &str| {
        world.ok(&["--quiet", "pull", &reference]);
        let bundle = world.dir.path().join(format!("runz-{driver}"));
        let report = unpack(
            world,
            flags,
            &reference,
            &bundle,
            &["/bin/sh", "-c", RICH_CHECK],
        );
        assert_eq!(report["driver"], driver, "{report}");
        assert_eq!(run(OciRuntime::Runz, &bundle), RICH_OUTPUT, "{driver}");
        world.ok(&["--quiet", "rm-bundle", bundle.to_str().unwrap()]);
    };
    for driver in ["overlay", "dir"] {
        runs_rich_check(&World::new(), &["--storage", driver], driver);
    }
    if let Some(volume) = BtrfsVolume::create_or_skip(TEST) {
        runs_rich_check(&World::with_root(volume.path().join("store")), &[], "btrfs");
    }
    if let Some(pool) = ZfsPool::create_or_skip(TEST) {
        runs_rich_check(&World::with_root(pool.mountpoint()), &[], "zfs");
    }
}

#[test]
fn images_that_share_base_layers_share_them_in_storage() {
    if !root_or_skip("images_that_share_base_layers_share_them_in_storage") {
        return;
    }
    let one = ImageBuilder::new()
        .layer(busybox())
        .layer(LayerBuilder::new().file("app/one", "1\n", 0o644).build())
        .cmd(&["/bin/sh"]);
    let two = ImageBuilder::new()
        .layer(busybox())
        .layer(LayerBuilder::new().file("app/two", "2\n", 0o644).build())
        .cmd(&["/bin/sh"]);
    let registry = registry_with(&[("team/one:1", one), ("team/two:1", two)]);
    let world = World::new();
    let flags = ["--storage", "overlay"];
    let mut counts = Vec::new();
    for name in ["team/one:1", "team/two:1"] {
        let reference = registry.image_ref(name);
        world.ok(&["--quiet", "pull", &reference]);
        let bundle = world.dir.path().join(name.replace([':', '/'], "-"));
        let made = unpack(&world, &flags, &reference, &bundle, &[]);
        counts.push((
            made["layers_created"].clone(),
            made["layers_reused"].clone(),
        ));
    }
    assert_eq!(counts, [(2.into(), 0.into()), (1.into(), 1.into())]);
    let rows = df(&world, &flags);
    assert_eq!(count_kind(&rows, "layer"), 3, "{rows:?}");
    let base = rows
        .iter()
        .find(|r| r["kind"] == "layer" && r["parent"].is_null())
        .expect("a base layer");
    assert_eq!(
        base["images"],
        serde_json::json!([
            registry.image_ref("team/one:1"),
            registry.image_ref("team/two:1")
        ])
    );
}

#[test]
fn parallel_unpacks_of_one_image_both_succeed_with_one_set_of_layers() {
    if !root_or_skip("parallel_unpacks_of_one_image_both_succeed_with_one_set_of_layers") {
        return;
    }
    let registry = registry_with(&[("team/rich:1", rich_image())]);
    let reference = registry.image_ref("team/rich:1");
    let world = World::new();
    world.ok(&["--quiet", "pull", &reference]);
    let expected = umoci_tree(&world, &reference);
    for driver in ["dir", "overlay"] {
        let world = World::new();
        world.ok(&["--quiet", "pull", &reference]);
        let children: Vec<_> = (0..3)
            .map(|n| {
                let bundle = world.dir.path().join(format!("b{n}"));
                world
                    .imageadm()
                    .args([
                        "--storage",
                        driver,
                        "--format",
                        "json",
                        "unpack",
                        &reference,
                    ])
                    .arg(&bundle)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{driver}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let made: Value = serde_json::from_slice(&out.stdout).unwrap();
            let rootfs = PathBuf::from(made["rootfs"].as_str().unwrap());
            if let Some(differences) = diff("umoci", &expected, driver, &tree_of(&rootfs)) {
                panic!("{driver}: a parallel unpack differs from umoci:\n{differences}");
            }
        }
        let rows = df(&world, &["--storage", driver]);
        assert_eq!(count_kind(&rows, "layer"), 3, "{driver}: {rows:?}");
        assert_eq!(count_kind(&rows, "container"), 3, "{driver}: {rows:?}");
        assert_no_pending_layers(&world, driver);
    }
}

#[test]
fn a_hostile_layer_fails_the_unpack_and_leaves_storage_usable() {
    if !root_or_skip("a_hostile_layer_fails_the_unpack_and_leaves_storage_usable") {
        return;
    }
    let hostile_layer = LayerBuilder::new()
        .file("ok.txt", "fine\n", 0o644)
        .file_with_raw_name("../../../../escaped.txt", "out\n")
        .build();
    let hostile_digest = hostile_layer.digest().to_string();
    let hostile = ImageBuilder::new()
        .layer(busybox())
        .layer(hostile_layer)
        .cmd(&["/bin/sh"]);
    let good = ImageBuilder::new()
        .layer(busybox())
        .layer(
            LayerBuilder::new()
                .file("good.txt", "good\n", 0o644)
                .build(),
        )
        .cmd(&["/bin/sh"]);
    let registry = registry_with(&[("team/hostile:1", hostile), ("team/good:1", good)]);
    for driver in ["dir", "overlay"] {
        let world = World::new();
        let flags = ["--storage", driver];
        let bad_ref = registry.image_ref("team/hostile:1");
        let good_ref = registry.image_ref("team/good:1");
        for reference in [&bad_ref, &good_ref] {
            world.ok(&["--quiet", "pull", reference]);
        }
        let bundle = world.dir.path().join("bad");
        let failed = world.run(&[
            "--storage",
            driver,
            "unpack",
            &bad_ref,
            bundle.to_str().unwrap(),
        ]);
        failed.assert_fails(1, &[&hostile_digest, "escaped.txt"]);
        assert!(!bundle.exists(), "{driver}: the failed bundle is left");
        for dir in [world.dir.path(), Path::new("/")] {
            assert!(!dir.join("escaped.txt").exists());
        }
        // The base layer was committed; the hostile one was not, nor left pending.
        let rows = df(&world, &flags);
        assert_eq!(count_kind(&rows, "layer"), 1, "{driver}: {rows:?}");
        assert_eq!(count_kind(&rows, "container"), 0, "{driver}: {rows:?}");
        assert_no_pending_layers(&world, driver);

        let good_bundle = world.dir.path().join("good");
        let made = unpack(&world, &flags, &good_ref, &good_bundle, &[]);
        assert_eq!(
            (
                made["layers_created"].clone(),
                made["layers_reused"].clone()
            ),
            (1.into(), 1.into())
        );
        let rootfs = PathBuf::from(made["rootfs"].as_str().unwrap());
        assert_eq!(fs::read(rootfs.join("good.txt")).unwrap(), b"good\n");
    }
}

#[test]
fn a_store_keeps_the_driver_it_started_with() {
    if !root_or_skip("a_store_keeps_the_driver_it_started_with") {
        return;
    }
    let registry = registry_with(&[(
        "team/small:1",
        ImageBuilder::new().layer(busybox()).cmd(&["/bin/sh"]),
    )]);
    let reference = registry.image_ref("team/small:1");
    let world = World::new();
    world.ok(&["--quiet", "pull", &reference]);
    let first = world.dir.path().join("one");
    unpack(&world, &["--storage", "overlay"], &reference, &first, &[]);
    let other = world.dir.path().join("two");
    world
        .run(&[
            "--storage",
            "dir",
            "unpack",
            &reference,
            other.to_str().unwrap(),
        ])
        .assert_fails(1, &["overlay driver", "not the dir driver"]);
    assert!(!other.exists());
    // Without --storage, the recorded driver is used.
    let made = unpack(&world, &[], &reference, &other, &[]);
    assert_eq!(made["driver"], "overlay");
    // A bundle directory that is not empty is refused, and left as it was.
    world
        .run(&["unpack", &reference, first.to_str().unwrap()])
        .assert_fails(1, &["not empty"]);
    assert!(first.join("config.json").exists());
}

/// `imageadm [flags] --format json unpack EXTRA… REFERENCE BUNDLE`, for unpack's own options.
fn unpack_with(
    world: &World,
    flags: &[&str],
    extra: &[&str],
    reference: &str,
    bundle: &Path,
) -> Value {
    let mut all: Vec<&str> = flags.to_vec();
    all.extend(["--format", "json", "unpack"]);
    all.extend(extra);
    all.extend([reference, bundle.to_str().unwrap()]);
    world.ok(&all).json()
}

#[test]
fn an_id_map_shifts_owners_and_the_bundle_runs_in_a_user_namespace() {
    if !root_or_skip("an_id_map_shifts_owners_and_the_bundle_runs_in_a_user_namespace") {
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let registry = registry_with(&[("team/rich:1", rich_image())]);
    let reference = registry.image_ref("team/rich:1");
    let world = World::new();
    // The container's root (host uid 100000) must be able to reach its rootfs.
    fs::set_permissions(world.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    world.ok(&["--quiet", "pull", &reference]);
    let flags = ["--storage", "dir"];
    let bundle = world.dir.path().join("mapped");
    let made = unpack_with(
        &world,
        &flags,
        &["--uidmap", "0:100000:65536"],
        &reference,
        &bundle,
    );
    assert_eq!(made["layers_created"], 3);
    let rootfs = PathBuf::from(made["rootfs"].as_str().unwrap());
    let owner = |path: &str| {
        let meta = fs::symlink_metadata(rootfs.join(path)).unwrap();
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner("bin/busybox"), (100_000, 100_000));
    assert_eq!(owner("home/user/own.txt"), (101_000, 101_000));
    assert_eq!(owner("data/link"), (100_000, 100_000));
    let config: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let expected = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    assert_eq!(config["linux"]["uidMappings"], expected);
    assert_eq!(config["linux"]["gidMappings"], expected);

    // Inside, the image's owners again.
    fs::remove_dir_all(&bundle).unwrap_or(());
    let run_bundle = world.dir.path().join("mapped-run");
    world.ok(&[
        "--storage",
        "dir",
        "unpack",
        "--uidmap",
        "0:100000:65536",
        &reference,
        run_bundle.to_str().unwrap(),
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "busybox stat -c %u:%g /home/user/own.txt /bin/busybox; busybox id -u",
    ]);
    assert_eq!(run(OciRuntime::Runc, &run_bundle), "1000:1000\n0:0\n0\n");

    // Mapped layers are their own: the same image unmapped lays its layers down again.
    let plain = unpack(
        &world,
        &flags,
        &reference,
        &world.dir.path().join("plain"),
        &[],
    );
    assert_eq!(plain["layers_created"], 3);
    assert_eq!(count_kind(&df(&world, &flags), "layer"), 6);
    world
        .run(&["unpack", "--gidmap", "0:1:1", &reference, "/nonexistent/x"])
        .assert_fails(1, &["--uidmap"]);
    world
        .run(&["unpack", "--uidmap", "0:1", &reference, "/nonexistent/x"])
        .assert_fails(2, &["CONTAINER_ID:HOST_ID:AMOUNT"]);
}

#[test]
fn an_unprivileged_user_unpacks_with_the_dir_driver() {
    if !root_or_skip("an_unprivileged_user_unpacks_with_the_dir_driver") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    let registry = registry_with(&[("team/rich:1", rich_image())]);
    let reference = registry.image_ref("team/rich:1");
    let world = World::new();
    world.ok(&["--quiet", "pull", &reference]);
    let chown = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(world.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());

    let bundle = world.dir.path().join("mine");
    let out = world
        .imageadm()
        .args(["--storage", "dir", "--format", "json", "unpack", &reference])
        .arg(&bundle)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rootfs = PathBuf::from(made["rootfs"].as_str().unwrap());
    assert_eq!(
        fs::read(rootfs.join("data/keep.txt")).unwrap(),
        b"keep v2\n"
    );
    assert_eq!(fs::read(rootfs.join("data/hl")).unwrap(), b"keep v1\n");
    // Owners are the user's own; the device node could not be made.
    let own = fs::metadata(rootfs.join("home/user/own.txt")).unwrap();
    assert_eq!((own.uid(), own.gid()), (NOBODY, NOBODY));
    assert!(!rootfs.join("data/null").exists());
    assert!(
        stderr.contains("data/null") && stderr.contains("skipped"),
        "the skipped device is reported: {stderr}"
    );
    assert!(rootfs.join("data/fifo").exists());
    assert!(!rootfs.join("data/sub").exists());
}

/// Four layers with no hardlink into a lower layer: the overlay driver applies them side by
/// side, and lays the last one down again on its committed parent (it writes into `srv`
/// without carrying `srv` itself, whose attributes only the layers below know). The result
/// must still be what umoci makes, as it is on the dir driver.
#[test]
fn layers_applied_side_by_side_match_umoci() {
    if !root_or_skip("layers_applied_side_by_side_match_umoci") {
        return;
    }
    let image = ImageBuilder::new()
        .layer(busybox())
        .layer(
            LayerBuilder::new()
                .dir("srv", 0o751)
                .file("srv/a", "a\n", 0o600)
                .file("srv/b", "b\n", 0o644)
                .hardlink("srv/a2", "srv/a")
                .dir("etc", 0o755)
                .whiteout("etc/group")
                .build(),
        )
        .layer(
            LayerBuilder::new()
                .dir("srv", 0o751)
                .opaque_whiteout("srv")
                .file("srv/c", "c\n", 0o644)
                .symlink("srv/to-c", "c")
                .build(),
        )
        .layer(
            LayerBuilder::new()
                .file_owned("srv/d", "d\n", 0o640, 7, 8)
                .fifo("srv/pipe", 0o600)
                .build(),
        )
        .cmd(&["/bin/sh"]);
    let registry = registry_with(&[("team/four:1", image)]);
    let reference = registry.image_ref("team/four:1");
    for driver in ["overlay", "dir"] {
        let world = World::new();
        world.ok(&["--quiet", "pull", &reference]);
        let expected = umoci_tree(&world, &reference);
        let bundle = world.dir.path().join("b");
        let made = unpack(
            &world,
            &["--storage", driver],
            &reference,
            &bundle,
            &[
                "/bin/sh",
                "-c",
                "ls /srv; cat /srv/c; test -e /etc/group || echo no-group",
            ],
        );
        assert_eq!(made["layers_created"], 4);
        let rootfs = PathBuf::from(made["rootfs"].as_str().unwrap());
        if let Some(differences) = diff("umoci", &expected, driver, &tree_of(&rootfs)) {
            panic!("{driver}: differs from umoci:\n{differences}");
        }
        let root = snapshot(&rootfs, COMPARE)[""].clone();
        assert_eq!((root.mode, root.uid, root.gid), (0o755, 0, 0), "{driver}");
        assert_eq!(
            run(OciRuntime::Runc, &bundle),
            "c\nd\npipe\nto-c\nc\nno-group\n"
        );
        assert_no_pending_layers(&world, driver);
    }
}
