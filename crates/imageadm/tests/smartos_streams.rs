//! SmartOS images whose zfs stream is not what an image's stream must be, made with zfs-fuse
//! itself: a dataset mounted on an empty host directory, with canmount, sharenfs and a user
//! property set, a child dataset and two snapshots, sent with `zfs send -p`, `-R` and `-I`.
//! `import-smartos` must refuse each — naming the file, the image and why — before anything
//! is received: no dataset left, nothing mounted, the host directory still empty, no image
//! named. A plain stream is received only as what the manifest says (full, or incremental
//! from its origin), and an imported layer has no property of its own but those the driver set.
//!
//! Needs root and zfs-fuse; skipped through `aurora_testkit::skip` otherwise (a failure when
//! the run requires every test).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_testkit::{ImageBuilder, ZfsPool};
use common::smartos::{datasets, export, import, read_json, sh, sha1_of, world_with, write_json};
use common::{store_names, World};
use serde_json::Value;

const BASE: &str = "docker.io/test/base:1";

/// The names of what is in `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The mount points in this process's mount table at or below `dir`.
fn mounts_at(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| *point == dir || point.starts_with(&format!("{dir}/")))
        .map(str::to_string)
        .collect()
}

/// `zfs set PROPERTY=VALUE DATASET`, whatever its status: zfs-fuse sets `sharenfs=on` but then
/// fails to run `exportfs`. The property must have been set all the same.
fn set_anyway(pool: &ZfsPool, dataset: &str, property: &str, value: &str) {
    let _ = Command::new("zfs")
        .args(["set", &format!("{property}={value}"), dataset])
        .output()
        .unwrap();
    let got = pool.zfs(&["get", "-H", "-o", "value", property, dataset]);
    assert_eq!(got.trim(), value, "{dataset} {property}");
}

/// Hostile streams of one dataset that wants to be mounted (and shared) at `target`, which
/// is left empty and unmounted again: (label, file).
fn hostile_streams(pool: &ZfsPool, target: &Path, dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let src = format!("{}/hostile", pool.name());
    fs::create_dir_all(target).unwrap();
    pool.zfs(&["create", &src]);
    pool.zfs(&["set", &format!("mountpoint={}", target.display()), &src]);
    // The child first: created under a shared parent, zfs-fuse fails to share it too.
    pool.zfs(&["create", &format!("{src}/child")]);
    set_anyway(pool, &src, "canmount", "on");
    set_anyway(pool, &src, "sharenfs", "on");
    pool.zfs(&["set", "org.example:planted=yes", &src]);
    fs::create_dir(target.join("root")).unwrap();
    fs::write(target.join("root/planted"), "attacker content\n").unwrap();
    fs::write(target.join("child/planted"), "attacker child\n").unwrap();
    pool.zfs(&["snapshot", "-r", &format!("{src}@one")]);
    let send = |label: &'static str, args: &str| {
        let file = dir.join(format!("{label}.zfs"));
        sh(&format!("zfs send {args} > {}", file.display()));
        (label, file)
    };
    let mut streams = vec![
        // One dataset, one snapshot, its properties.
        send("props", &format!("-p {src}@one")),
        // The same and its child.
        send("replicated", &format!("-R {src}@one")),
    ];
    fs::write(target.join("root/second"), "two\n").unwrap();
    pool.zfs(&["snapshot", "-r", &format!("{src}@two")]);
    // Two snapshots of the dataset and its child.
    streams.push(send("replicated-two", &format!("-R {src}@two")));
    // Every snapshot from @one to @two.
    streams.push(send("intermediate", &format!("-I {src}@one {src}@two")));
    destroy(pool, &src);
    assert_eq!(
        entries(target),
        Vec::<String>::new(),
        "target after destroy"
    );
    assert_eq!(mounts_at(target), Vec::<String>::new());
    streams
}

/// `zfs destroy -r DATASET` after unmounting it and its child: zfs-fuse calls a mounted
/// dataset busy, and one just unmounted too for a moment (see `aurora_storage::zfs`).
fn destroy(pool: &ZfsPool, dataset: &str) {
    pool.zfs(&["umount", &format!("{dataset}/child")]);
    pool.zfs(&["umount", dataset]);
    for attempt in 0.. {
        let out = Command::new("zfs")
            .args(["destroy", "-r", dataset])
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            // zfs-fuse's "busy" passes in well under a second; the bound is a hang guard.
            stderr.contains("busy") && attempt < 600,
            "zfs destroy -r {dataset}: {stderr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `template` describing `file` (uncompressed) as image `uuid`.
fn describing(template: &Value, file: &Path, uuid: &str) -> Value {
    let mut manifest = template.clone();
    manifest["uuid"] = uuid.into();
    manifest["files"][0] = serde_json::json!({
        "sha1": sha1_of(file),
        "size": fs::metadata(file).unwrap().len(),
        "compression": "none",
    });
    manifest
}

#[test]
fn streams_with_their_own_properties_children_or_snapshots_are_refused() {
    let Some(pool) = ZfsPool::create_or_skip(
        "streams_with_their_own_properties_children_or_snapshots_are_refused",
    ) else {
        return;
    };
    let base = ImageBuilder::new()
        .layer(common::rich_base_layer().build())
        .cmd(&["/bin/sh"]);
    let world = world_with(&pool, &[(BASE, base)]);
    let dir = world.dir.path().to_path_buf();
    let out = dir.join("out");
    export(&world, BASE, &out, &[]);
    let template = read_json(&out.join("test-base-1.json"));
    let good_file = out.join("test-base-1.zfs.gz");
    let target = dir.join("empty-host-dir");
    let streams = hostile_streams(&pool, &target, &dir);

    let datasets_before = datasets(&pool);
    let names_before = store_names(&world.root());
    let refuse = |world: &World, label: &str, manifest: &Value, file: &Path, words: &[&str]| {
        let manifest_path = dir.join(format!("{label}.json"));
        write_json(&manifest_path, manifest);
        let run = world.run(&[
            "import-smartos",
            manifest_path.to_str().unwrap(),
            file.to_str().unwrap(),
            "--tag",
            &format!("hostile/{label}:1"),
        ]);
        eprintln!("{label}: {}", run.stderr.trim());
        let uuid = manifest["uuid"].as_str().unwrap();
        let mut all = vec![file.to_str().unwrap(), uuid, "refused"];
        all.extend(words);
        run.assert_fails(1, &all);
    };
    for (n, (label, file)) in streams.iter().enumerate() {
        let uuid = format!("0bad0000-0000-4000-8000-00000000000{n}");
        refuse(
            &world,
            label,
            &describing(&template, file, &uuid),
            file,
            &["compound", "mountpoint"],
        );
        assert_eq!(datasets(&pool), datasets_before, "{label}: datasets left");
        assert_eq!(entries(&target), Vec::<String>::new(), "{label}: planted");
        assert_eq!(mounts_at(&target), Vec::<String>::new(), "{label}: mounted");
        assert_eq!(store_names(&world.root()), names_before, "{label}: named");
    }

    // A good image: its layer has only the properties the driver set, and is mounted below
    // the driver's parent dataset.
    let imported = import(
        &world,
        &out.join("test-base-1.json"),
        &good_file,
        &["--tag", "imp/base:1"],
    );
    let dataset = imported["dataset"].as_str().unwrap();
    let uuid = template["uuid"].as_str().unwrap();
    assert_eq!(
        pool.own_properties(dataset),
        [
            format!("{dataset} canmount noauto"),
            format!("{dataset} org.smartos.image:uuid {uuid}"),
            format!("{dataset} sharenfs off"),
            format!("{dataset} sharesmb off"),
        ]
    );
    let mountpoint = pool.zfs(&["get", "-H", "-o", "value", "mountpoint", dataset]);
    assert!(
        Path::new(mountpoint.trim()).starts_with(pool.mountpoint()),
        "{mountpoint}"
    );

    // A full stream where the manifest says incremental from that image: refused, although
    // zfs would receive it.
    let raw = dir.join("full.zfs");
    sh(&format!(
        "gunzip -c {} > {}",
        good_file.display(),
        raw.display()
    ));
    let mut not_incremental = describing(&template, &raw, "0bad0000-0000-4000-8000-0000000000aa");
    not_incremental["origin"] = uuid.into();
    let datasets_before = datasets(&pool);
    let names_before = store_names(&world.root());
    refuse(
        &world,
        "not-incremental",
        &not_incremental,
        &raw,
        &["full", "incremental"],
    );
    assert_eq!(
        datasets(&pool),
        datasets_before,
        "not-incremental: datasets left"
    );
    assert_eq!(store_names(&world.root()), names_before);
}
