//! Support for the SmartOS tests: a store on a zfs-fuse pool, `export-smartos` and
//! `import-smartos` run as the user runs them, manifests read and written, the pool listed.

use std::fs;
use std::path::Path;
use std::process::Command;

use aurora_testkit::{ImageBuilder, ZfsPool};
use serde_json::Value;

use super::World;

/// A store on the pool (the driver takes POOL/storage, detected) holding `images`.
pub fn world_with(pool: &ZfsPool, images: &[(&str, ImageBuilder)]) -> World {
    let world = World::with_root(pool.mountpoint());
    for (tag, image) in images {
        let layout = world
            .dir
            .path()
            .join(format!("layout-{}", tag.replace([':', '/'], "-")));
        image.write(&layout, "t");
        world.ok(&[
            "--quiet",
            "copy",
            &format!("oci:{}:t", layout.display()),
            tag,
        ]);
    }
    world
}

/// `imageadm export-smartos REFERENCE OUT EXTRA…`, its JSON report.
pub fn export(world: &World, reference: &str, out: &Path, extra: &[&str]) -> Value {
    let mut all = vec![
        "--format",
        "json",
        "export-smartos",
        reference,
        out.to_str().unwrap(),
    ];
    all.extend(extra);
    world.ok(&all).json()
}

/// `imageadm import-smartos MANIFEST FILE EXTRA…`, its JSON report.
pub fn import(world: &World, manifest: &Path, file: &Path, extra: &[&str]) -> Value {
    let mut all = vec![
        "--format",
        "json",
        "import-smartos",
        manifest.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    all.extend(extra);
    world.ok(&all).json()
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

pub fn write_json(path: &Path, value: &Value) {
    fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

pub fn sha1_of(path: &Path) -> String {
    let out = Command::new("sha1sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Every dataset and snapshot in the pool.
pub fn datasets(pool: &ZfsPool) -> Vec<String> {
    let mut names: Vec<String> = pool
        .zfs(&["list", "-H", "-o", "name", "-r", "-t", "all", pool.name()])
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Runs a shell command line (pipes, redirections), panicking unless it succeeds.
pub fn sh(line: &str) {
    let status = Command::new("sh").arg("-c").arg(line).status().unwrap();
    assert!(status.success(), "{line}: {status}");
}
