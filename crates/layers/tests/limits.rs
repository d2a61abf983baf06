//! Decompression bombs: a small blob that expands to far more than it is (a gzip of zeros, a
//! tar of many empty files) is stopped by the unpack limits before it writes past them, with an
//! error naming the layer, the limit and its setting. Runs unprivileged.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::sync::Arc;

use aurora_layers::{
    apply_layer, ApplyOptions, Compression, ErrorKind, Limit, SharedBudget, ENTRY_COST,
};
use common::*;

const MIB: u64 = 1024 * 1024;

/// A gzip'd tar holding one file `zeros` of `size` zero bytes, streamed (never in memory).
fn gzip_of_zeros(size: u64) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    aurora_testkit::tar_of_zeros(encoder, "zeros", size)
        .finish()
        .unwrap()
}

fn limit(bytes: u64, setting: &str) -> Limit {
    Limit {
        bytes,
        setting: setting.to_string(),
    }
}

fn options(label: &str) -> ApplyOptions {
    ApplyOptions::unprivileged(label)
}

/// Bytes of every regular file under `root`, as allocated on disk.
fn allocated(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    walk(root)
        .iter()
        .map(|p| std::fs::symlink_metadata(p).map_or(0, |m| m.blocks() * 512))
        .sum()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn a_gzip_of_zeros_stops_at_the_layer_limit_naming_it() {
    let blob = gzip_of_zeros(64 * MIB);
    assert!((blob.len() as u64) < MIB, "a small blob: {}", blob.len());
    let s = Scratch::new();
    let mut opts = options("sha256:bomb");
    opts.max_bytes = Some(limit(16 * MIB, "max_layer_unpacked_size"));
    let err = apply_layer(&s.root, blob.as_slice(), Compression::Gzip, &opts).unwrap_err();
    assert_eq!(err.layer, "sha256:bomb");
    assert_eq!(err.entry.as_deref(), Some("zeros"));
    match &err.kind {
        ErrorKind::TooLarge {
            scope,
            limit,
            setting,
        } => {
            assert_eq!(*scope, "one layer");
            assert_eq!(*limit, 16 * MIB);
            assert_eq!(setting, "max_layer_unpacked_size");
        }
        other => panic!("not refused for its size: {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("sha256:bomb")
            && text.contains(&(16 * MIB).to_string())
            && text.contains("max_layer_unpacked_size"),
        "{text}"
    );
    // Refused before it was written: nothing of it is in the root.
    assert!(!s.root.join("zeros").exists());
    assert!(allocated(&s.root) < MIB, "{} bytes", allocated(&s.root));
    s.assert_canary_intact();
}

#[test]
fn many_empty_files_are_bounded_like_small_ones() {
    let entries: Vec<E> = (0..1000)
        .map(|i| E::file(&format!("f{i}"), b"", 0o644))
        .collect();
    let layer = gzip(&tar(&entries));
    let s = Scratch::new();
    let mut opts = options("sha256:many");
    // Room for 100 entries, not 1000.
    opts.max_bytes = Some(limit(100 * ENTRY_COST, "max_layer_unpacked_size"));
    let err = apply_layer(&s.root, layer.as_slice(), Compression::Detect, &opts).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::TooLarge { limit, .. } if limit == 100 * ENTRY_COST),
        "{err}"
    );
    assert_eq!(err.entry.as_deref(), Some("f100"), "{err}");
    assert_eq!(std::fs::read_dir(&s.root).unwrap().count(), 100);
}

#[test]
fn the_layers_of_an_image_share_one_budget() {
    let layer = gzip_of_zeros(10 * MIB);
    let s = Scratch::new();
    let budget = Arc::new(SharedBudget::new(limit(
        16 * MIB,
        "max_image_unpacked_size",
    )));
    let mut opts = options("sha256:first");
    opts.max_bytes = Some(limit(16 * MIB, "max_layer_unpacked_size"));
    opts.shared_budget = Some(budget.clone());
    // Under its limit a layer applies, charged what it declares.
    let report = apply_layer(&s.root, layer.as_slice(), Compression::Gzip, &opts).unwrap();
    assert_eq!(report.unpacked_bytes, 10 * MIB + ENTRY_COST);
    assert_eq!(
        std::fs::metadata(s.root.join("zeros")).unwrap().len(),
        10 * MIB
    );
    assert_eq!(budget.used(), 10 * MIB + ENTRY_COST);
    // Each layer is under its own limit; together they are over the image's.
    let second = s.fresh_root("second");
    opts.label = "sha256:second".into();
    let err = apply_layer(&second, layer.as_slice(), Compression::Gzip, &opts).unwrap_err();
    assert_eq!(err.layer, "sha256:second");
    assert!(
        matches!(&err.kind, ErrorKind::TooLarge { scope: "one image", setting, .. } if setting == "max_image_unpacked_size"),
        "{err}"
    );
    assert!(!second.join("zeros").exists());
    assert_eq!(
        budget.used(),
        10 * MIB + ENTRY_COST,
        "a refused layer used nothing"
    );

    // A layer that fails for another reason after writing (a wrong diff ID) is discarded by
    // its caller: what it drew is given back, so laying it down again is not charged twice.
    let small = gzip(&tar(&[E::file("small", vec![1u8; 1000], 0o644)]));
    let third = s.fresh_root("third");
    opts.label = "sha256:third".into();
    opts.expected_diff_id = Some(aurora_spec::sha256_digest(b"not this layer"));
    let err = apply_layer(&third, small.as_slice(), Compression::Gzip, &opts).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::DiffIdMismatch { .. }),
        "{err}"
    );
    assert_eq!(budget.used(), 10 * MIB + ENTRY_COST);
}
