//! SmartOS images, end to end, on the zfs driver (zfs-fuse on a file-backed pool): the real
//! `imageadm` exports an image of the store as imgadm's manifest and `zfs send` file, imports
//! it again under a new name, and the new image unpacks — as one clone, nothing laid down — to
//! the same tree, path by path, and runs. An incremental export imports on top of its
//! imported origin. Broken files (a damaged stream, a wrong sha1 or size, a missing origin, a
//! hostile manifest) fail with a clear message and leave no dataset and no image behind; the
//! other compressions SmartOS uses (bzip2, xz, none) import too.
//!
//! Needs root and zfs-fuse; skipped through `aurora_testkit::skip` otherwise (a failure when
//! the run requires every test).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_testkit::skip::skip;
use aurora_testkit::tree::{diff, snapshot, Snap, Tree};
use aurora_testkit::{ImageBuilder, LayerBuilder, OciRuntime, ZfsPool};
use common::smartos::{datasets, export, import, read_json, sha1_of, world_with, write_json};
use common::{store_names, World};
use serde_json::Value;

const RICH: &str = "docker.io/test/rich:1";
const BASE: &str = "docker.io/test/base:1";
const CHILD: &str = "docker.io/test/child:1";

/// Directories' mtimes left out (unpacking sets them as it goes), everything else compared.
const COMPARE: Snap = Snap {
    dir_mtimes: false,
    hide_overlay_xattrs: false,
};

/// Layers that change what is below them: whiteouts, an opaque directory, a replaced file,
/// a hardlink across layers, a device.
fn top_layer() -> LayerBuilder {
    LayerBuilder::new()
        .whiteout("data/gone.txt")
        .whiteout("data/sub")
        .dir("opt/old", 0o755)
        .opaque_whiteout("opt/old")
        .file("opt/old/y", "new in the top layer\n", 0o644)
        .file("data/keep.txt", "keep v2\n", 0o644)
        .hardlink("data/bb", "bin/busybox")
        .char_device("data/null", 1, 3, 0o666)
        .file("etc/motd", "from a SmartOS image\n", 0o644)
}

fn rich_image() -> ImageBuilder {
    ImageBuilder::new()
        .layer(common::rich_base_layer().build())
        .layer(top_layer().build())
        .cmd(&["/bin/sh"])
}

fn unpack(world: &World, reference: &str, bundle: &Path, args: &[&str]) -> Value {
    let bundle = bundle.to_str().unwrap();
    let mut all = vec!["--format", "json", "unpack", reference, bundle];
    if !args.is_empty() {
        all.push("--");
        all.extend(args);
    }
    world.ok(&all).json()
}

fn tree(made: &Value) -> Tree {
    snapshot(Path::new(made["rootfs"].as_str().unwrap()), COMPARE)
}

/// The layer digests of an image in the store, base first.
fn layer_digests(world: &World, reference: &str) -> Vec<aurora_spec::Digest> {
    let inspected = world.ok(&["inspect", reference]).json();
    inspected["manifest"]["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("inspect {reference}: {inspected}"))
        .iter()
        .map(|l| l["digest"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// SmartOS's docker-layer UUID, computed here on its own from the spec in ZONES.md.
fn smartos_uuid(digests: &[aurora_spec::Digest]) -> String {
    let joined: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
    let hex = aurora_spec::sha256_digest(joined.join(" ").as_bytes())
        .digest()
        .to_string();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[test]
fn export_then_import_unpacks_to_the_same_tree_as_one_clone_and_runs() {
    let Some(pool) = ZfsPool::create_or_skip(
        "export_then_import_unpacks_to_the_same_tree_as_one_clone_and_runs",
    ) else {
        return;
    };
    let world = world_with(&pool, &[(RICH, rich_image())]);
    let original = unpack(&world, RICH, &world.dir.path().join("original"), &[]);
    assert_eq!(original["layers_created"], 2, "{original}");
    let expected = tree(&original);
    assert_eq!(
        expected["data/keep.txt"].content.as_deref(),
        Some("keep v2\n")
    );
    assert!(!expected.contains_key("data/gone.txt"));

    let out = world.dir.path().join("out");
    let exported = export(&world, RICH, &out, &[]);
    let manifest_path = out.join("test-rich-1.json");
    let file = out.join("test-rich-1.zfs.gz");
    assert_eq!(
        PathBuf::from(exported["manifest_path"].as_str().unwrap()),
        manifest_path
    );
    assert_eq!(PathBuf::from(exported["file_path"].as_str().unwrap()), file);
    let manifest = read_json(&manifest_path);
    let uuid = smartos_uuid(&layer_digests(&world, RICH));
    assert_eq!(manifest["v"], 2);
    assert_eq!(manifest["uuid"], uuid.as_str());
    assert_eq!(manifest["name"], "test/rich");
    assert_eq!(manifest["version"], "1");
    assert_eq!(manifest["type"], "lx-dataset");
    assert_eq!(manifest["os"], "linux");
    assert!(
        manifest["published_at"].as_str().unwrap().ends_with('Z'),
        "{manifest}"
    );
    assert!(manifest.get("origin").is_none(), "{manifest}");
    assert_eq!(manifest["files"][0]["compression"], "gzip");
    assert_eq!(
        manifest["files"][0]["size"],
        fs::metadata(&file).unwrap().len()
    );
    assert_eq!(manifest["files"][0]["sha1"], sha1_of(&file).as_str());
    // Really a gzip'd zfs stream.
    let test = Command::new("gzip").arg("-t").arg(&file).status().unwrap();
    assert!(test.success());

    let imported = import(&world, &manifest_path, &file, &["--tag", "test/imported:1"]);
    assert_eq!(imported["image"], "docker.io/test/imported:1");
    assert_eq!(imported["uuid"], uuid.as_str());
    assert_eq!(imported["layer_created"], true);
    let dataset = imported["dataset"].as_str().unwrap().to_string();
    assert_eq!(
        pool.zfs(&[
            "get",
            "-H",
            "-o",
            "value",
            "org.smartos.image:uuid",
            &dataset
        ])
        .trim(),
        uuid
    );
    assert_eq!(
        pool.zfs(&["list", "-H", "-o", "name", "-t", "snapshot", "-r", &dataset])
            .trim(),
        format!("{dataset}@final")
    );
    let inspected = world.ok(&["inspect", "test/imported:1"]).json();
    assert_eq!(
        inspected["manifest"]["annotations"]["org.smartos.image.uuid"],
        uuid.as_str(),
        "{inspected}"
    );
    assert_eq!(
        inspected["config"]["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // One clone of the received dataset: nothing laid down.
    let again = unpack(
        &world,
        "test/imported:1",
        &world.dir.path().join("imported"),
        &["/bin/cat", "/etc/motd"],
    );
    assert_eq!(again["layers_created"], 0, "{again}");
    assert_eq!(again["layers_reused"], 1, "{again}");
    if let Some(differences) = diff("original", &expected, "imported", &tree(&again)) {
        panic!("the imported image's tree differs:\n{differences}");
    }
    if let Some(why) = OciRuntime::Runc.unavailable() {
        skip(
            "export_then_import_unpacks_to_the_same_tree_as_one_clone_and_runs",
            format_args!("the imported bundle is not run: {why}"),
        );
    } else {
        let out = OciRuntime::Runc.run_bundle(&world.dir.path().join("imported"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "from a SmartOS image\n"
        );
    }

    // The default name, from the manifest; the same layer, received once.
    let twice = import(&world, &manifest_path, &file, &[]);
    assert_eq!(twice["image"], "docker.io/smartos/test/rich:1");
    assert_eq!(twice["layer"], imported["layer"]);
    assert_eq!(twice["layer_created"], false);

    // The other compressions imgadm knows.
    let raw = world.dir.path().join("raw.zfs");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("gunzip -c {} > {}", file.display(), raw.display()))
        .status()
        .unwrap();
    assert!(status.success());
    for (compression, tool) in [("none", None), ("bzip2", Some("bzip2")), ("xz", Some("xz"))] {
        let path = match tool {
            None => raw.clone(),
            Some(tool) => {
                let path = world.dir.path().join(format!("stream.{tool}"));
                let status = Command::new("sh")
                    .arg("-c")
                    .arg(format!("{tool} -c {} > {}", raw.display(), path.display()))
                    .status()
                    .unwrap();
                assert!(status.success());
                path
            }
        };
        let mut other = manifest.clone();
        other["files"][0] = serde_json::json!({
            "sha1": sha1_of(&path),
            "size": fs::metadata(&path).unwrap().len(),
            "compression": compression,
        });
        let other_path = world.dir.path().join(format!("{compression}.json"));
        write_json(&other_path, &other);
        let tag = format!("test/{compression}:1");
        let made = import(&world, &other_path, &path, &["--tag", &tag]);
        assert_eq!(made["layer"], imported["layer"], "{compression}");
    }
}

#[test]
fn an_incremental_export_imports_on_top_of_its_imported_origin() {
    let Some(pool) =
        ZfsPool::create_or_skip("an_incremental_export_imports_on_top_of_its_imported_origin")
    else {
        return;
    };
    let base = || common::rich_base_layer().build();
    let world = world_with(
        &pool,
        &[
            (BASE, ImageBuilder::new().layer(base()).cmd(&["/bin/sh"])),
            (
                CHILD,
                ImageBuilder::new()
                    .layer(base())
                    .layer(top_layer().build())
                    .cmd(&["/bin/sh"]),
            ),
        ],
    );
    let out = world.dir.path().join("out");
    // Not unpacked before: export lays the layers down itself.
    let full = export(&world, BASE, &out, &[]);
    assert_eq!(full["layers_created"], 1, "{full}");
    let child = export(&world, CHILD, &out, &["--incremental"]);
    assert_eq!(child["layers_created"], 1, "{child}");
    let base_manifest = read_json(&out.join("test-base-1.json"));
    let child_manifest = read_json(&out.join("test-child-1.json"));
    let digests = layer_digests(&world, CHILD);
    assert_eq!(base_manifest["uuid"], smartos_uuid(&digests[..1]).as_str());
    assert_eq!(child_manifest["uuid"], smartos_uuid(&digests).as_str());
    assert_eq!(child_manifest["origin"], base_manifest["uuid"]);
    let base_size = base_manifest["files"][0]["size"].as_u64().unwrap();
    let child_size = child_manifest["files"][0]["size"].as_u64().unwrap();
    assert!(
        child_size < base_size,
        "incremental {child_size} vs full {base_size}"
    );

    // The origin is not imported yet (a layer of the store is not an imported image).
    let before = datasets(&pool);
    let run = world.run(&[
        "import-smartos",
        out.join("test-child-1.json").to_str().unwrap(),
        out.join("test-child-1.zfs.gz").to_str().unwrap(),
    ]);
    run.assert_fails(
        1,
        &[
            "origin image",
            base_manifest["uuid"].as_str().unwrap(),
            "first",
        ],
    );
    assert_eq!(datasets(&pool), before);

    let imported_base = import(
        &world,
        &out.join("test-base-1.json"),
        &out.join("test-base-1.zfs.gz"),
        &["--tag", "imp/base:1"],
    );
    let imported_child = import(
        &world,
        &out.join("test-child-1.json"),
        &out.join("test-child-1.zfs.gz"),
        &["--tag", "imp/child:1"],
    );
    assert_eq!(imported_child["origin"], base_manifest["uuid"]);
    // A clone of a layer's @final, as every zfs layer on a parent is.
    let origin = pool.zfs(&[
        "get",
        "-H",
        "-o",
        "value",
        "origin",
        imported_child["dataset"].as_str().unwrap(),
    ]);
    assert!(origin.trim().ends_with("@final"), "{origin}");
    assert!(origin.contains("/storage/layers/"), "{origin}");

    let original = unpack(&world, CHILD, &world.dir.path().join("child"), &[]);
    let again = unpack(
        &world,
        "imp/child:1",
        &world.dir.path().join("imp-child"),
        &["/bin/true"],
    );
    assert_eq!(again["layers_created"], 0, "{again}");
    let child_tree = tree(&original);
    if let Some(differences) = diff("child", &child_tree, "imported", &tree(&again)) {
        panic!("the incremental import's tree differs:\n{differences}");
    }
    let base_again = unpack(
        &world,
        "imp/base:1",
        &world.dir.path().join("imp-base"),
        &["/bin/true"],
    );
    let base_original = unpack(&world, BASE, &world.dir.path().join("base"), &[]);
    if let Some(differences) = diff(
        "base",
        &tree(&base_original),
        "imported",
        &tree(&base_again),
    ) {
        panic!("the origin's tree differs:\n{differences}");
    }
    assert_eq!(imported_base["layer_created"], true);

    // The images exported from gone, their layers collected: the imported chain stays whole
    // (the child's dataset is a clone, which keeps its origin).
    for bundle in ["child", "base", "imp-child", "imp-base"] {
        let path = world.dir.path().join(bundle);
        world.ok(&["--quiet", "rm-bundle", path.to_str().unwrap()]);
    }
    world.ok(&["--quiet", "rm", BASE, CHILD]);
    world.ok(&["--quiet", "gc"]);
    let after_gc = unpack(
        &world,
        "imp/child:1",
        &world.dir.path().join("after-gc"),
        &["/bin/true"],
    );
    assert_eq!(after_gc["layers_created"], 0, "{after_gc}");
    if let Some(differences) = diff("child", &child_tree, "after gc", &tree(&after_gc)) {
        panic!("the incremental import's tree differs after gc:\n{differences}");
    }
}

#[test]
fn broken_images_fail_clearly_and_leave_nothing_behind() {
    let Some(pool) = ZfsPool::create_or_skip("broken_images_fail_clearly_and_leave_nothing_behind")
    else {
        return;
    };
    let world = world_with(&pool, &[(RICH, rich_image())]);
    let out = world.dir.path().join("out");
    export(&world, RICH, &out, &[]);
    let manifest = read_json(&out.join("test-rich-1.json"));
    let file = out.join("test-rich-1.zfs.gz");
    let dir = world.dir.path();

    // The stream decompressed, damaged in its middle, compressed again: sha1 and size right.
    let raw = dir.join("raw.zfs");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("gunzip -c {} > {}", file.display(), raw.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let mut bytes = fs::read(&raw).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xff;
    }
    let damaged = dir.join("damaged.zfs");
    fs::write(&damaged, &bytes).unwrap();
    // Cut short: a gzip stream that ends half way.
    let gz = fs::read(&file).unwrap();
    let cut = dir.join("cut.zfs.gz");
    fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let garbage = dir.join("garbage");
    fs::write(&garbage, b"this is not a zfs stream at all\n".repeat(100)).unwrap();

    let describe = |path: &Path, compression: &str| {
        let mut m = manifest.clone();
        m["files"][0] = serde_json::json!({
            "sha1": sha1_of(path),
            "size": fs::metadata(path).unwrap().len(),
            "compression": compression,
        });
        m
    };
    let mut wrong_sha1 = manifest.clone();
    wrong_sha1["files"][0]["sha1"] = "0123456789abcdef0123456789abcdef01234567".into();
    let mut wrong_size = manifest.clone();
    wrong_size["files"][0]["size"] = (manifest["files"][0]["size"].as_u64().unwrap() + 1).into();
    let mut missing_origin = manifest.clone();
    missing_origin["origin"] = "01234567-89ab-cdef-0123-456789abcdef".into();
    let mut hostile = manifest.clone();
    hostile["name"] = "../../etc/cron.d/x".into();
    let not_gzip = describe(&garbage, "gzip");

    let cases: Vec<(&str, Value, &Path, Vec<&str>)> = vec![
        (
            "damaged",
            describe(&damaged, "none"),
            &damaged,
            vec!["damaged", "zfs receive"],
        ),
        (
            "cut",
            describe(&cut, "gzip"),
            &cut,
            vec!["gzip stream is damaged"],
        ),
        (
            "garbage",
            describe(&garbage, "none"),
            &garbage,
            vec!["not a zfs stream", "magic"],
        ),
        (
            "not-gzip",
            not_gzip,
            &garbage,
            vec!["gzip stream is damaged"],
        ),
        (
            "wrong-sha1",
            wrong_sha1,
            &file,
            vec!["sha1", "0123456789abcdef"],
        ),
        (
            "wrong-size",
            wrong_size,
            &file,
            vec!["bytes, but the manifest says"],
        ),
        (
            "missing-origin",
            missing_origin,
            &file,
            vec!["01234567-89ab-cdef-0123-456789abcdef", "not imported"],
        ),
        ("hostile", hostile, &file, vec!["name", "'..'"]),
    ];
    let datasets_before = datasets(&pool);
    let names_before = store_names(&world.root());
    for (label, manifest, path, words) in cases {
        let manifest_path = dir.join(format!("{label}.json"));
        write_json(&manifest_path, &manifest);
        let run = world.run(&[
            "import-smartos",
            manifest_path.to_str().unwrap(),
            path.to_str().unwrap(),
            "--tag",
            &format!("broken/{label}:1"),
        ]);
        eprintln!("{label}: {}", run.stderr.trim());
        run.assert_fails(1, &words);
        assert_eq!(
            datasets(&pool),
            datasets_before,
            "{label}: datasets left behind"
        );
        assert_eq!(
            store_names(&world.root()),
            names_before,
            "{label}: an image was named"
        );
    }

    // Oversize and non-JSON manifests.
    let big = dir.join("big.json");
    fs::write(&big, vec![b' '; 2 << 20]).unwrap();
    world
        .run(&[
            "import-smartos",
            big.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .assert_fails(1, &["not a usable SmartOS image manifest", "at most"]);
    // A store on another driver is refused, naming it.
    let other = World::new();
    other
        .run(&[
            "--storage",
            "dir",
            "import-smartos",
            out.join("test-rich-1.json").to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .assert_fails(1, &["dir driver", "zfs"]);
    assert_eq!(datasets(&pool), datasets_before);
}
