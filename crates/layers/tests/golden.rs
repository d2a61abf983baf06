//! Golden tests: three layers exercising the image spec's changeset semantics, applied in
//! sequence with `WhiteoutMode::Delete` and compared, entry by entry, with what `umoci unpack`
//! makes of the same image; then applied each into its own upper directory with
//! `WhiteoutMode::Overlay`, checked for overlayfs' markers, and mounted with overlayfs to show
//! the same tree.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aurora_layers::{apply_layer, ApplyOptions, Compression, WhiteoutMode};
use aurora_testkit::skip::root_or_skip;
use aurora_testkit::{require_tools, write_image, Layer};
use common::*;

const LONG_DIR: &str = "var/very-long-directory-name-that-goes-on-and-on-and-on-for-quite-a-while";

fn long_gnu_name() -> String {
    format!("{LONG_DIR}/and-a-file-name-long-enough-to-need-a-gnu-long-name-record.txt")
}

fn long_pax_name() -> String {
    format!("data/{}/{}", "d".repeat(120), "f".repeat(130))
}

/// The base: every entry type, owners, special mode bits, xattrs, long names.
fn layer1() -> Vec<E> {
    vec![
        E::dir("bin", 0o755),
        E::dir("dev", 0o755),
        E::dir("etc", 0o755).xattr("user.dir", b"etc"),
        E::dir("tmp", 0o1777),
        E::dir("usr", 0o755),
        E::dir("usr/lib", 0o755),
        E::dir("usr/share", 0o755),
        E::dir("usr/share/doc", 0o755),
        E::dir(LONG_DIR, 0o755),
        E::dir("var", 0o755),
        E::dir("var/cache", 0o755),
        E::dir("var/cache/app", 0o700).owner(1000, 1000),
        E::dir("opt", 0o755),
        E::dir("opt/app", 0o755),
        E::dir("opt/olddir", 0o755),
        E::dir(&format!("data/{}", "d".repeat(120)), 0o755),
        E::dir("data", 0o755),
        E::dir("data/shared", 0o2775).owner(1000, 100),
        E::file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
        E::file("etc/shadow", "root:*:19000::::::\n", 0o640)
            .owner(0, 42)
            .xattr("trusted.aurora", b"secret"),
        E::file("etc/motd", "hello\n", 0o644).mtime(1_234_567_890),
        E::file("etc/precise", "nanoseconds\n", 0o644).pax("mtime", b"1600000000.123456789"),
        E::file(
            "bin/tool",
            vec![0x7fu8, b'E', b'L', b'F', 0, 1, 2, 3],
            0o4755,
        ),
        E::hardlink("bin/tool-link", "bin/tool"),
        E::symlink("bin/sh", "tool"),
        E::file("bin/sgid", "sgid\n", 0o2755)
            .owner(0, 50)
            .xattr("trusted.aurora", b"kept"),
        E::file("usr/lib/libfoo.so", vec![1u8; 10_000], 0o755)
            .xattr("user.comment", b"hello")
            .xattr("user.empty", b""),
        E::symlink("usr/lib/libfoo.so.1", "libfoo.so"),
        E::symlink("usr/lib/abs", "/etc/passwd"),
        E::symlink("usr/lib/dangling", "/nowhere/at/all"),
        E::file("usr/share/doc/readme", "read me\n", 0o644),
        E::file(&long_gnu_name(), "gnu long name\n", 0o644).gnu_long(),
        E::file(&long_pax_name(), "pax long name\n", 0o600).owner(7, 8),
        E::symlink("usr/share/longlink", &format!("/{}", long_pax_name())),
        E::file("var/cache/app/state", "state\n", 0o600).owner(1000, 1000),
        E::fifo("var/fifo", 0o620).owner(0, 5),
        E::chardev("dev/null", 1, 3, 0o666),
        E::chardev("dev/zero", 1, 5, 0o666),
        E::blockdev("dev/loop0", 7, 0, 0o660).owner(0, 6),
        E::file("opt/app/config", "key=value\n", 0o644).owner(1000, 1000),
        E::file("opt/olddir/inner", "inner\n", 0o644),
        E::file("data/shared/notes", "notes\n", 0o664).owner(1000, 100),
        E::file("data/sparse", vec![0u8; 3 * 1024 * 1024], 0o644),
        E::file("data/empty", "", 0o644),
        E::dir("data/olddir", 0o755),
        E::file("data/olddir/inner", "inner\n", 0o644),
        E::file("data/cfg", "cfg\n", 0o644),
    ]
}

/// Changes: whiteouts, an opaque directory, type changes both ways, hardlinks across layers,
/// metadata-only updates of a directory.
fn layer2() -> Vec<E> {
    vec![
        E::dir("etc", 0o750).owner(0, 10).xattr("user.dir", b"etc2"),
        E::whiteout("etc", "shadow"),
        E::file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o600),
        E::symlink("etc/motd", "/usr/share/motd"),
        E::file("etc/newfile", "new in layer 2\n", 0o644),
        E::dir("var", 0o755),
        E::whiteout("var", "cache"),
        E::dir("usr", 0o755),
        E::dir("usr/share", 0o775).owner(0, 100),
        E::opaque("usr/share"),
        E::file("usr/share/motd", "motd from layer 2\n", 0o644),
        E::dir("usr/lib", 0o755),
        E::file("usr/lib/libfoo.so.1", "now a file\n", 0o644),
        E::dir("opt", 0o755),
        E::dir("opt/app", 0o755),
        E::dir("opt/app/config", 0o755),
        E::file("opt/app/config/main.conf", "a=b\n", 0o644),
        E::file("opt/olddir", "was a directory\n", 0o644),
        E::dir("bin", 0o755),
        E::file("bin/sh", "#!/bin/tool\n", 0o755),
        E::hardlink("bin/tool2", "bin/tool"),
        E::hardlink("bin/passwd-link", "/etc/passwd"),
        E::dir("dev", 0o755),
        E::file("dev/zero", "not a device any more\n", 0o644),
        E::dir("tmp", 0o1777),
        E::file("tmp/.keep", "", 0o644),
        E::dir("data", 0o755),
        E::file("data/olddir", "was a directory\n", 0o644),
        E::dir("data/cfg", 0o700),
        E::file("data/cfg/inner", "now a directory\n", 0o644),
    ]
}

/// More: a whiteout of a symlink, an opaque directory replaced wholesale, a file over a
/// hardlinked name, a fifo over a symlink.
fn layer3() -> Vec<E> {
    vec![
        E::dir("usr", 0o755),
        E::dir("usr/lib", 0o755),
        E::whiteout("usr/lib", "abs"),
        E::dir("opt", 0o711),
        E::opaque("opt"),
        E::dir("opt/new", 0o755),
        E::file("opt/new/only", "only this\n", 0o644),
        E::dir("bin", 0o755),
        E::file("bin/tool-link", "replaced, link broken\n", 0o755),
        E::dir("etc", 0o750).owner(0, 10).xattr("user.dir", b"etc2"),
        E::whiteout("etc", "newfile"),
        E::dir("data", 0o755),
        E::fifo("data/sparse", 0o644),
        E::dir("data/shared", 0o2770).owner(1000, 100),
    ]
}

fn layers() -> Vec<Vec<u8>> {
    vec![tar(&layer1()), tar(&layer2()), tar(&layer3())]
}

/// Runs `umoci unpack` on an OCI layout holding `tars` (gzip) and returns the bundle.
fn umoci_unpack(work: &Path, tars: &[Vec<u8>]) -> PathBuf {
    require_tools(&["umoci"]);
    let layout = work.join("layout");
    let layers = tars
        .iter()
        .map(|t| Layer::from_tar(t.clone(), aurora_testkit::Compression::Gzip))
        .collect();
    write_image(&layout, "golden", layers, "linux/amd64");
    let bundle = work.join("bundle");
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:golden", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle.join("rootfs")
}

fn apply_all_delete(root: &Path, tars: &[Vec<u8>]) {
    for (i, t) in tars.iter().enumerate() {
        let blob = if i % 2 == 0 { gzip(t) } else { zstd(t) };
        let mut options = ApplyOptions::new(format!("layer{}", i + 1));
        options.expected_diff_id = Some(sha256(t).parse().unwrap());
        let report = apply_layer(root, &blob[..], Compression::Detect, &options)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.tar_bytes, t.len() as u64);
        assert_eq!(report.diff_id.unwrap().to_string(), sha256(t));
    }
}

#[test]
fn delete_mode_matches_umoci_unpack() {
    if !root_or_skip("delete_mode_matches_umoci_unpack") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let tars = layers();
    let ours = work.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    apply_all_delete(&ours, &tars);
    let theirs = umoci_unpack(work.path(), &tars);

    let mut ours_tree = snapshot(&ours, GOLDEN);
    let mut theirs_tree = snapshot(&theirs, GOLDEN);
    // The root directory itself is the caller's (umoci makes it for the bundle).
    ours_tree.remove("");
    theirs_tree.remove("");
    if let Some(d) = diff("aurora", &ours_tree, "umoci", &theirs_tree) {
        panic!("aurora-layers and umoci disagree:\n{d}");
    }

    // And the spec's points, spelled out.
    let t = &ours_tree;
    assert!(!t.contains_key("etc/shadow"), "whiteout");
    assert!(!t.contains_key("var/cache"), "whiteout of a directory");
    assert!(!t.contains_key("usr/share/doc"), "opaque directory");
    assert!(
        t.contains_key("usr/share/motd"),
        "opaque keeps this layer's entries"
    );
    assert_eq!(t["data/olddir"].kind, 'f', "directory replaced by a file");
    assert!(!t.contains_key("data/olddir/inner"));
    assert_eq!(t["data/cfg"].kind, 'd', "file replaced by a directory");
    assert_eq!(t["data/cfg"].mode, 0o700);
    assert_eq!(t["bin/sh"].kind, 'f', "symlink replaced by a file");
    assert_eq!(t["etc/motd"].kind, 'l', "file replaced by a symlink");
    assert_eq!(t["dev/zero"].kind, 'f', "device replaced by a file");
    assert!(!t.contains_key("opt/app"), "layer 3's opaque opt");
    assert!(!t.contains_key("opt/olddir"), "layer 3's opaque opt");
    assert!(!t.contains_key("usr/lib/abs"), "whiteout of a symlink");
    assert!(!t.contains_key("etc/newfile"), "whiteout in a later layer");
    assert_eq!(t["opt/new/only"].kind, 'f');
    assert_eq!(t["bin/tool"].mode, 0o4755, "setuid survives chown");
    assert_eq!(t["bin/sgid"].mode, 0o2755);
    assert_eq!(t["tmp"].mode, 0o1777);
    assert_eq!(t["data/shared"].mode, 0o2770);
    assert_eq!(t["etc"].mode, 0o750, "directory metadata updated");
    assert_eq!(t["etc"].gid, 10);
    assert_eq!(t["etc"].xattrs["user.dir"], b"etc2");
    assert_eq!(t["bin/tool"].hardlinks, vec!["bin/tool2".to_string()]);
    assert_eq!(
        t["bin/passwd-link"].hardlinks,
        vec!["etc/passwd".to_string()]
    );
    assert_eq!(t["etc/precise"].mtime, Some((1_600_000_000, 123_456_789)));
    assert_eq!(t["usr/lib/libfoo.so"].xattrs["user.comment"], b"hello");
    assert_eq!(t["dev/null"].rdev, Some((1, 3)));
    assert_eq!(t["dev/loop0"].kind, 'b');
    assert_eq!(t["data/sparse"].kind, 'p');
    assert!(t.contains_key(&long_gnu_name()));
    assert!(t.contains_key(&long_pax_name()));
    assert_eq!(t[&long_pax_name()].uid, 7);
    assert_eq!(
        t["bin/tool-link"].hardlinks,
        Vec::<String>::new(),
        "replaced, link broken"
    );
}

#[test]
fn directory_mtimes_are_set_after_their_contents() {
    if !root_or_skip("directory_mtimes_are_set_after_their_contents") {
        return;
    }
    let s = Scratch::new();
    let tars = layers();
    apply_all_delete(&s.root, &tars);
    let tree = snapshot(&s.root, EXACT);
    assert_eq!(tree["etc"].mtime, Some((MTIME as i64, 0)));
    assert_eq!(tree["usr/share"].mtime, Some((MTIME as i64, 0)));
    assert_eq!(tree["opt/new"].mtime, Some((MTIME as i64, 0)));
    s.assert_canary_intact();
}

/// Unmounts when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn is_whiteout_device(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::symlink_metadata(path).unwrap();
    meta.file_type().is_char_device() && meta.rdev() == 0 && meta.uid() == 0 && meta.gid() == 0
}

#[test]
fn overlay_mode_marks_whiteouts_and_mounts_to_the_same_tree() {
    if !root_or_skip("overlay_mode_marks_whiteouts_and_mounts_to_the_same_tree") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let tars = layers();
    let deleted = work.path().join("delete");
    std::fs::create_dir(&deleted).unwrap();
    apply_all_delete(&deleted, &tars);

    let mut uppers: Vec<PathBuf> = Vec::new();
    for (i, t) in tars.iter().enumerate() {
        let upper = work.path().join(format!("upper{}", i + 1));
        std::fs::create_dir(&upper).unwrap();
        let mut options = ApplyOptions::new(format!("layer{}", i + 1));
        options.whiteouts = WhiteoutMode::Overlay;
        options.overlay_lowers = uppers.iter().rev().cloned().collect();
        apply_layer(&upper, &t[..], Compression::None, &options).unwrap_or_else(|e| panic!("{e}"));
        uppers.push(upper);
    }

    // The markers overlayfs reads.
    let (up1, up2, up3) = (&uppers[0], &uppers[1], &uppers[2]);
    assert!(is_whiteout_device(&up2.join("etc/shadow")));
    assert!(is_whiteout_device(&up2.join("var/cache")));
    assert!(is_whiteout_device(&up3.join("usr/lib/abs")));
    assert!(is_whiteout_device(&up3.join("etc/newfile")));
    assert_eq!(
        xattrs(&up2.join("usr/share"))["trusted.overlay.opaque"],
        b"y"
    );
    assert_eq!(xattrs(&up3.join("opt"))["trusted.overlay.opaque"], b"y");
    assert!(!xattrs(&up2.join("etc")).contains_key("trusted.overlay.opaque"));
    assert!(!up1.join("etc/.wh.shadow").exists() && !up2.join("etc/.wh.shadow").exists());
    // The cross-layer hardlink copied its target up into layer 2.
    let tree2 = snapshot(up2, GOLDEN);
    assert_eq!(tree2["bin/tool"].hardlinks, vec!["bin/tool2".to_string()]);
    assert_eq!(tree2["bin/tool"].mode, 0o4755);

    // Mounted as lowers, they show what Delete mode made.
    let merged = work.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let lowerdir = uppers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("lowerdir={lowerdir}"))
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success(), "mount -t overlay failed");
    let _mounted = Mounted(merged.clone());
    let snap = Snap {
        dir_mtimes: false,
        hide_overlay_xattrs: true,
    };
    let mut overlay_tree = snapshot(&merged, snap);
    let mut delete_tree = snapshot(&deleted, snap);
    overlay_tree.remove("");
    delete_tree.remove("");
    if let Some(d) = diff("overlay", &overlay_tree, "delete", &delete_tree) {
        panic!("the overlay mount and Delete mode disagree:\n{d}");
    }
}
