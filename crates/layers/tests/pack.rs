//! Packing: trees written as layers and applied back (every compression), the same tree giving
//! the same bytes, two trees compared into exactly the changes, overlayfs upper directories
//! read as overlayfs means them, and hostile trees (symlinks out, overlay features whose
//! upper entries do not hold the change) packed safely or refused.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use aurora_layers::{
    apply_layer, pack_layer, ApplyOptions, ChangeSource, Compression, ErrorKind, PackOptions,
    PackReport,
};
use aurora_testkit::skip::root_or_skip;
use aurora_testkit::tree::{diff, layer_tree};

fn pack(source: &ChangeSource, options: &PackOptions) -> (PackReport, Vec<u8>) {
    pack_layer(source, Vec::new(), options).expect("pack")
}

fn plain() -> PackOptions {
    PackOptions {
        compression: Compression::None,
        ..PackOptions::default()
    }
}

/// (name, type) of every entry of an uncompressed layer, in order.
fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                e.header().entry_type(),
            )
        })
        .collect()
}

fn names(tar_bytes: &[u8]) -> Vec<String> {
    entries(tar_bytes).into_iter().map(|(n, _)| n).collect()
}

fn set_mtime(path: &Path, when: std::time::SystemTime) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(when).unwrap();
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Something of every kind a layer holds.
fn rich_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/deep/er")).unwrap();
    fs::write(root.join("etc/os-release"), "ID=aurora\n").unwrap();
    fs::set_permissions(root.join("etc/deep"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(root.join("etc/deep/er/suid"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(
        root.join("etc/deep/er/suid"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    fs::hard_link(root.join("etc/os-release"), root.join("etc/deep/again")).unwrap();
    symlink("../os-release", root.join("etc/deep/link")).unwrap();
    symlink("/etc/passwd", root.join("etc/absolute")).unwrap();
    mkfifo(&root.join("etc/fifo"));
    let long = "x".repeat(150);
    fs::create_dir(root.join(&long)).unwrap();
    fs::write(root.join(&long).join("y".repeat(120)), "long\n").unwrap();
    fs::write(root.join("empty"), "").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("big.bin"), &big).unwrap();
    std::os::unix::fs::chown(root.join("empty"), Some(1234), Some(5678)).unwrap();
    rustix::fs::lsetxattr(
        root.join("etc/os-release"),
        "user.aurora",
        b"tagged",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

#[test]
fn a_tree_packs_and_applies_back_identically_in_every_compression() {
    if !root_or_skip("a_tree_packs_and_applies_back_identically_in_every_compression") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    rich_tree(&tree);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let options = PackOptions {
            compression,
            ..PackOptions::default()
        };
        let (report, bytes) = pack(&ChangeSource::Tree(tree.clone()), &options);
        assert_eq!(report.size, bytes.len() as u64);
        assert_eq!(report.digest.to_string(), common::sha256(&bytes));
        assert_eq!(report.whiteouts, 0);
        assert_eq!(report.file_bytes, 3_000_000 + 10 + 10 + 5);
        let out = dir.path().join(format!("applied-{compression}"));
        fs::create_dir(&out).unwrap();
        let mut apply = ApplyOptions::new("packed");
        apply.expected_diff_id = Some(report.diff_id.clone());
        apply_layer(&out, &bytes[..], compression, &apply).expect("apply");
        if let Some(differences) = diff("packed", &layer_tree(&tree), "applied", &layer_tree(&out))
        {
            panic!("{compression}: the applied layer differs:\n{differences}");
        }
    }
    let (_, bytes) = pack(&ChangeSource::Tree(tree.clone()), &plain());
    let all = entries(&bytes);
    let hardlink = all.iter().find(|(n, _)| n == "etc/os-release").unwrap();
    let second = all.iter().find(|(n, _)| n == "etc/deep/again").unwrap();
    // Sorted: etc/deep/again comes first and is the file; os-release links to it.
    assert_eq!(second.1, tar::EntryType::Regular);
    assert_eq!(hardlink.1, tar::EntryType::Link);
    let order = names(&bytes);
    assert!(
        order.iter().position(|n| n == "etc/").unwrap()
            < order.iter().position(|n| n == "etc/deep/").unwrap()
    );
}

#[test]
fn the_same_tree_gives_the_same_bytes_and_clamped_mtimes_hide_when_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    for root in [&one, &two] {
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/file"), "same\n").unwrap();
        symlink("b/file", root.join("a/link")).unwrap();
    }
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(500);
    set_mtime(&one.join("a/b/file"), old);
    let clamped = PackOptions {
        clamp_mtime: Some(1000),
        ..PackOptions::default()
    };
    let (first, bytes_one) = pack(&ChangeSource::Tree(one.clone()), &clamped);
    let (again, bytes_again) = pack(&ChangeSource::Tree(one.clone()), &clamped);
    assert_eq!(bytes_one, bytes_again, "the same tree, the same bytes");
    assert_eq!(first, again);
    // The other tree's file is newer than the clamp, this one's older: not the same tree.
    let (other, _) = pack(&ChangeSource::Tree(two.clone()), &clamped);
    assert_ne!(first.diff_id, other.diff_id);
    set_mtime(&two.join("a/b/file"), old);
    let (same, bytes_two) = pack(&ChangeSource::Tree(two.clone()), &clamped);
    assert_eq!(same.digest, first.digest, "now the trees are equal");
    // Every mtime is at most the clamp, and the gzip header carries no time or name.
    let (_, uncompressed) = pack(
        &ChangeSource::Tree(two.clone()),
        &PackOptions {
            compression: Compression::None,
            clamp_mtime: Some(1000),
            level: None,
        },
    );
    let mut archive = tar::Archive::new(&uncompressed[..]);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        assert!(entry.header().mtime().unwrap() <= 1000);
    }
    assert_eq!(&bytes_two[4..8], &[0, 0, 0, 0], "gzip mtime 0");
    assert_eq!(bytes_two[3] & 0x08, 0, "no file name in the gzip header");
}

#[test]
fn two_trees_compare_into_exactly_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (base, changed) = (dir.path().join("base"), dir.path().join("changed"));
    for (path, text) in [
        ("keep/same", "same\n"),
        ("keep/edited", "before\n"),
        ("keep/gone", "gone\n"),
        ("emptied/one", "1\n"),
        ("emptied/two", "2\n"),
        ("tree/sub/deep", "deep\n"),
        ("tree/stay", "stays\n"),
        ("file-then-dir", "file\n"),
    ] {
        let path = base.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    symlink("same", base.join("keep/link")).unwrap();
    assert!(Command::new("cp")
        .args(["-a"])
        .arg(&base)
        .arg(&changed)
        .status()
        .unwrap()
        .success());
    fs::write(changed.join("keep/edited"), "after\n").unwrap();
    fs::remove_file(changed.join("keep/gone")).unwrap();
    fs::remove_file(changed.join("keep/link")).unwrap();
    symlink("edited", changed.join("keep/link")).unwrap();
    fs::remove_file(changed.join("emptied/one")).unwrap();
    fs::remove_file(changed.join("emptied/two")).unwrap();
    fs::write(changed.join("emptied/three"), "3\n").unwrap();
    fs::remove_dir_all(changed.join("tree/sub")).unwrap();
    fs::remove_file(changed.join("file-then-dir")).unwrap();
    fs::create_dir(changed.join("file-then-dir")).unwrap();
    fs::write(changed.join("file-then-dir/inside"), "in\n").unwrap();
    fs::set_permissions(changed.join("keep/same"), fs::Permissions::from_mode(0o600)).unwrap();

    let source = ChangeSource::Trees {
        base: base.clone(),
        changed: changed.clone(),
        inodes_kept: false,
    };
    let (report, bytes) = pack(&source, &plain());
    assert_eq!(
        names(&bytes),
        [
            "emptied/",
            "emptied/.wh..wh..opq",
            "emptied/three",
            "file-then-dir/",
            "file-then-dir/inside",
            "keep/",
            "keep/edited",
            "keep/.wh.gone",
            "keep/link",
            "keep/same",
            "tree/",
            "tree/.wh.sub",
        ]
    );
    assert_eq!(report.whiteouts, 3);

    // Applied to a copy of the base, the layer makes the changed tree.
    let applied = dir.path().join("applied");
    assert!(Command::new("cp")
        .args(["-a"])
        .arg(&base)
        .arg(&applied)
        .status()
        .unwrap()
        .success());
    apply_layer(
        &applied,
        &bytes[..],
        Compression::None,
        &ApplyOptions::unprivileged("diff"),
    )
    .unwrap();
    if let Some(differences) = diff(
        "changed",
        &layer_tree(&changed),
        "applied",
        &layer_tree(&applied),
    ) {
        panic!("the diff applied to the base is not the changed tree:\n{differences}");
    }

    // Nothing changed: an empty layer.
    let (empty, bytes) = pack(
        &ChangeSource::Trees {
            base: base.clone(),
            changed: base.clone(),
            inodes_kept: false,
        },
        &plain(),
    );
    assert_eq!(empty.entries, 0);
    assert!(names(&bytes).is_empty());
}

#[test]
fn symlinks_in_a_hostile_tree_are_packed_as_links_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (base, changed) = (dir.path().join("base"), dir.path().join("changed"));
    let outside = dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "not for the layer\n").unwrap();
    fs::create_dir_all(base.join("data")).unwrap();
    fs::write(base.join("data/file"), "inside\n").unwrap();
    fs::create_dir_all(&changed).unwrap();
    // A directory replaced by a symlink out of the tree, and a new absolute one.
    symlink(&outside, changed.join("data")).unwrap();
    symlink("/", changed.join("root")).unwrap();
    let source = ChangeSource::Trees {
        base,
        changed: changed.clone(),
        inodes_kept: false,
    };
    let (_, bytes) = pack(&source, &plain());
    let all = entries(&bytes);
    assert_eq!(
        all,
        [
            ("data".to_string(), tar::EntryType::Symlink),
            ("root".to_string(), tar::EntryType::Symlink),
        ]
    );
    assert!(!String::from_utf8_lossy(&bytes).contains("not for the layer"));
    // A whole tree whose root holds only links: the same.
    let (_, bytes) = pack(&ChangeSource::Tree(changed), &plain());
    assert_eq!(names(&bytes), ["data", "root"]);
}

#[test]
fn an_overlay_upper_directory_is_read_as_overlayfs_means_it() {
    if !root_or_skip("an_overlay_upper_directory_is_read_as_overlayfs_means_it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    fs::create_dir_all(upper.join("opaque")).unwrap();
    fs::create_dir_all(upper.join("plain")).unwrap();
    fs::write(upper.join("opaque/new"), "new\n").unwrap();
    fs::write(upper.join("plain/copied-up"), "changed\n").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join("plain/deleted"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0),
        0,
    )
    .unwrap();
    let set = |path: &Path, name: &str, value: &[u8]| {
        rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).unwrap();
    };
    set(&upper.join("opaque"), "trusted.overlay.opaque", b"y");
    set(
        &upper.join("plain/copied-up"),
        "trusted.overlay.origin",
        b"\x00\xfb",
    );
    set(&upper.join("plain/copied-up"), "user.kept", b"yes");

    let source = ChangeSource::OverlayUpper(upper.clone());
    let (report, bytes) = pack(&source, &plain());
    assert_eq!(
        names(&bytes),
        [
            "opaque/",
            "opaque/.wh..wh..opq",
            "opaque/new",
            "plain/",
            "plain/copied-up",
            "plain/.wh.deleted",
        ]
    );
    assert_eq!(report.whiteouts, 2);
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let keys: Vec<String> = entry
            .pax_extensions()
            .unwrap()
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().key().unwrap().to_string())
            .collect();
        assert!(
            !keys.iter().any(|k| k.contains("overlay")),
            "overlay xattrs never reach a layer: {keys:?}"
        );
        if entry.path().unwrap().ends_with("copied-up") {
            assert_eq!(keys, ["SCHILY.xattr.user.kept"]);
        }
    }

    // A renamed directory (redirect_dir) holds only part of its change: refused.
    fs::create_dir(upper.join("renamed")).unwrap();
    set(&upper.join("renamed"), "trusted.overlay.redirect", b"/old");
    let error = pack_layer(&source, Vec::new(), &plain()).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::Pack(_)), "{error}");
    assert!(error.to_string().contains("redirect"), "{error}");
}
