//! Hostile and broken layers. For every case: nothing outside the root changes (a canary
//! directory beside the root keeps its whole tree, contents and times), an error names the
//! layer and the entry, and a fresh root still takes a good layer afterwards. Where the safe
//! behaviour is "resolve inside the root" rather than an error, the test says so and checks
//! exactly where the entry landed.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use aurora_layers::{apply_layer, ApplyOptions, Compression, Error, ErrorKind};
use aurora_testkit::skip::root_or_skip;
use common::*;

/// Applies `layers` in order, labelled L1, L2, …; returns the first error.
fn apply_seq(root: &Path, layers: &[Vec<E>]) -> Result<(), Error> {
    for (i, entries) in layers.iter().enumerate() {
        apply(root, &tar(entries), &format!("L{}", i + 1))?;
    }
    Ok(())
}

/// The error's message names the layer and the entry.
fn assert_names(err: &Error, layer: &str, entry: &str) {
    let text = err.to_string();
    assert_eq!(err.layer, layer, "{text}");
    assert_eq!(err.entry.as_deref(), Some(entry), "{text}");
    assert!(text.contains(layer) && text.contains(entry), "{text}");
}

/// After a failure: the canary is intact and a good layer applies to a fresh root.
fn still_usable(s: &Scratch, name: &str) {
    s.assert_canary_intact();
    let fresh = s.fresh_root(name);
    apply(&fresh, &good_layer(), "good").unwrap();
    assert_eq!(fs::read(fresh.join("etc/hostname")).unwrap(), b"good\n");
}

fn kind(path: &Path) -> char {
    let ft = fs::symlink_metadata(path).unwrap().file_type();
    if ft.is_symlink() {
        'l'
    } else if ft.is_dir() {
        'd'
    } else if ft.is_file() {
        'f'
    } else {
        '?'
    }
}

#[test]
fn names_climbing_out_with_dotdot_are_rejected() {
    if !root_or_skip("names_climbing_out_with_dotdot_are_rejected") {
        return;
    }
    let s = Scratch::new();
    for (i, name) in [
        "../escape",
        "a/../../escape",
        "./../canary/passwd",
        "x/y/../../../canary/file",
    ]
    .iter()
    .enumerate()
    {
        let root = s.fresh_root(&format!("dotdot{i}"));
        let err = apply_seq(
            &root,
            &[vec![
                E::file("ok", "ok", 0o644),
                E::file(name, "evil", 0o644),
            ]],
        )
        .unwrap_err();
        assert_names(&err, "L1", name);
        assert!(matches!(err.kind, ErrorKind::OutsideRoot), "{err}");
    }
    // A device node or a symlink named that way fares no better.
    let root = s.fresh_root("dotdot-dev");
    let err = apply_seq(&root, &[vec![E::chardev("../null", 1, 3, 0o666)]]).unwrap_err();
    assert_names(&err, "L1", "../null");
    let err = apply_seq(&root, &[vec![E::symlink("../link", "/etc")]]).unwrap_err();
    assert_names(&err, "L1", "../link");
    still_usable(&s, "after");
}

#[test]
fn absolute_names_resolve_inside_the_root() {
    if !root_or_skip("absolute_names_resolve_inside_the_root") {
        return;
    }
    let s = Scratch::new();
    let canary_file = format!("{}/passwd", s.canary.display());
    apply_seq(
        &s.root,
        &[vec![
            E::file("/abs-file", "abs", 0o644),
            E::file(&canary_file, "mine", 0o644),
        ]],
    )
    .unwrap();
    assert_eq!(fs::read(s.root.join("abs-file")).unwrap(), b"abs");
    // The canary's absolute path, recreated below the root.
    let inside = s.root.join(canary_file.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"mine");
    still_usable(&s, "after");
}

#[test]
fn a_symlink_to_an_absolute_directory_is_followed_inside_the_root() {
    if !root_or_skip("a_symlink_to_an_absolute_directory_is_followed_inside_the_root") {
        return;
    }
    let s = Scratch::new();
    // `a -> /etc`, then `a/passwd`: writes ROOT/etc/passwd, as the container would see it.
    apply_seq(
        &s.root,
        &[vec![
            E::dir("etc", 0o755),
            E::symlink("a", "/etc"),
            E::file("a/passwd", "root inside\n", 0o644),
        ]],
    )
    .unwrap();
    assert_eq!(kind(&s.root.join("a")), 'l');
    assert_eq!(
        fs::read(s.root.join("etc/passwd")).unwrap(),
        b"root inside\n"
    );
    // The host's /etc was not touched (the name is fresh, so its absence proves it).
    let probe = format!("aurora-layers-probe-{}", std::process::id());
    let root2 = s.fresh_root("etc-probe");
    apply_seq(
        &root2,
        &[vec![
            E::dir("etc", 0o755),
            E::symlink("a", "/etc"),
            E::file(&format!("a/{probe}"), "x", 0o644),
        ]],
    )
    .unwrap();
    assert!(root2.join("etc").join(&probe).exists());
    assert!(
        !Path::new("/etc").join(&probe).exists(),
        "wrote into the host's /etc"
    );
    still_usable(&s, "after");
}

#[test]
fn symlinks_whose_target_is_missing_in_the_root_are_not_written_through() {
    if !root_or_skip("symlinks_whose_target_is_missing_in_the_root_are_not_written_through") {
        return;
    }
    let s = Scratch::new();
    let canary = s.canary.display().to_string();
    // The link's target exists outside the root but not inside: writing through it is an
    // error (the target directory is never created), not a write to the canary.
    for (i, target) in [
        canary.as_str(),
        "../canary",
        "../../../../../../canary",
        "/etc",
    ]
    .iter()
    .enumerate()
    {
        let root = s.fresh_root(&format!("dangling{i}"));
        let err = apply_seq(
            &root,
            &[vec![
                E::symlink("c", target),
                E::file("c/passwd", "evil", 0o644),
            ]],
        )
        .unwrap_err();
        assert_names(&err, "L1", "c/passwd");
        assert_eq!(kind(&root.join("c")), 'l');
    }
    still_usable(&s, "after");
}

#[test]
fn relative_symlinks_clamp_at_the_root() {
    if !root_or_skip("relative_symlinks_clamp_at_the_root") {
        return;
    }
    let s = Scratch::new();
    // `b -> ../../..` then `b/x`: RESOLVE_IN_ROOT clamps `..` at the root, so ROOT/x.
    apply_seq(
        &s.root,
        &[vec![
            E::symlink("b", "../../.."),
            E::file("b/x", "clamped\n", 0o644),
            E::dir("canary", 0o755),
            E::symlink("d", "../canary"),
            E::file("d/passwd", "inside\n", 0o644),
        ]],
    )
    .unwrap();
    assert_eq!(fs::read(s.root.join("x")).unwrap(), b"clamped\n");
    assert_eq!(fs::read(s.root.join("canary/passwd")).unwrap(), b"inside\n");
    still_usable(&s, "after");
}

#[test]
fn symlink_chains_planted_by_earlier_layers_stay_inside() {
    if !root_or_skip("symlink_chains_planted_by_earlier_layers_stay_inside") {
        return;
    }
    let s = Scratch::new();
    let canary = s.canary.display().to_string();
    apply_seq(
        &s.root,
        &[
            // Layer 1 plants a chain: l2 -> l1/x, l1 -> ../../.. ; up -> ..
            vec![
                E::dir("x", 0o755),
                E::symlink("l1", "../../.."),
                E::symlink("l2", "/l1/x"),
                E::symlink("up", ".."),
                E::symlink("abs", &canary),
            ],
            // Layer 2 writes through them.
            vec![
                E::file("l2/pwned", "chain\n", 0o644),
                E::file("up/up/up/canary/file", "up\n", 0o644),
                E::file("l1/l1/escaped", "l1\n", 0o644),
            ],
        ],
    )
    .unwrap();
    assert_eq!(fs::read(s.root.join("x/pwned")).unwrap(), b"chain\n");
    assert_eq!(fs::read(s.root.join("canary/file")).unwrap(), b"up\n");
    assert_eq!(fs::read(s.root.join("escaped")).unwrap(), b"l1\n");
    // And an absolute one to the canary's real path, whose target is not in the root.
    let err = apply_seq(&s.root, &[vec![E::file("abs/passwd", "evil", 0o644)]]).unwrap_err();
    assert_names(&err, "L1", "abs/passwd");
    still_usable(&s, "after");
}

#[test]
fn hardlinks_never_reach_outside() {
    if !root_or_skip("hardlinks_never_reach_outside") {
        return;
    }
    let s = Scratch::new();
    let canary = s.canary.display().to_string();
    let host_passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    let canary_links = fs::metadata(s.canary.join("passwd")).unwrap().nlink();

    // Targets that exist outside but not in the root: errors naming the entry.
    let cases = [
        ("h1", "/etc/passwd".to_string()),
        ("h2", format!("{canary}/passwd")),
        ("h4", "link-to-canary/passwd".to_string()),
    ];
    for (name, target) in &cases {
        let root = s.fresh_root(name);
        let err = apply_seq(
            &root,
            &[vec![
                E::dir("etc", 0o755),
                E::symlink("link-to-canary", &canary),
                E::hardlink(name, target),
            ]],
        )
        .unwrap_err();
        assert_names(&err, "L1", name);
        assert!(
            matches!(err.kind, ErrorKind::HardlinkTarget { .. }),
            "{err}"
        );
    }
    // `..` in a hardlink target is refused like `..` in a name.
    let root = s.fresh_root("h3");
    let err = apply_seq(&root, &[vec![E::hardlink("h3", "../canary/passwd")]]).unwrap_err();
    assert_names(&err, "L1", "h3");

    // With the image's own /etc/passwd, `/etc/passwd` means that one.
    apply_seq(
        &s.root,
        &[
            vec![
                E::dir("etc", 0o755),
                E::file("etc/passwd", "image\n", 0o644),
            ],
            vec![E::hardlink("h5", "/etc/passwd")],
        ],
    )
    .unwrap();
    let inside = fs::metadata(s.root.join("etc/passwd")).unwrap();
    assert_eq!(inside.ino(), fs::metadata(s.root.join("h5")).unwrap().ino());
    assert_eq!(inside.nlink(), 2);

    assert_eq!(
        fs::metadata("/etc/passwd").unwrap().nlink(),
        host_passwd_links
    );
    assert_eq!(
        fs::metadata(s.canary.join("passwd")).unwrap().nlink(),
        canary_links
    );
    still_usable(&s, "after");
}

#[test]
fn a_hardlink_to_a_symlink_links_the_symlink_not_its_target() {
    if !root_or_skip("a_hardlink_to_a_symlink_links_the_symlink_not_its_target") {
        return;
    }
    let s = Scratch::new();
    let target = format!("{}/passwd", s.canary.display());
    apply_seq(
        &s.root,
        &[
            vec![E::symlink("s", &target)],
            vec![E::hardlink("h", "s"), E::hardlink("h2", "/s")],
        ],
    )
    .unwrap();
    for name in ["h", "h2"] {
        let p = s.root.join(name);
        assert_eq!(kind(&p), 'l');
        assert_eq!(fs::read_link(&p).unwrap().to_str().unwrap(), target);
        assert_eq!(
            fs::symlink_metadata(&p).unwrap().ino(),
            fs::symlink_metadata(s.root.join("s")).unwrap().ino()
        );
    }
    assert_eq!(fs::metadata(s.canary.join("passwd")).unwrap().nlink(), 1);
    still_usable(&s, "after");
}

#[test]
fn whiteouts_never_reach_outside() {
    if !root_or_skip("whiteouts_never_reach_outside") {
        return;
    }
    let s = Scratch::new();
    let canary = s.canary.display().to_string();

    let err = apply_seq(
        &s.fresh_root("w1"),
        &[vec![E::file("../.wh.canary", "", 0o644)]],
    )
    .unwrap_err();
    assert_names(&err, "L1", "../.wh.canary");
    assert!(matches!(err.kind, ErrorKind::OutsideRoot));
    for name in ["a/.wh..", "a/.wh...", "a/.wh."] {
        let err = apply_seq(&s.fresh_root("w2"), &[vec![E::file(name, "", 0o644)]]).unwrap_err();
        assert_names(&err, "L1", name);
        fs::remove_dir_all(s.dir.path().join("fresh-w2")).unwrap();
    }

    // Under symlinked directories: resolved inside the root.
    apply_seq(
        &s.root,
        &[
            vec![
                E::dir("victim", 0o755),
                E::file("victim/file", "v\n", 0o644),
                E::file("victim/keep", "k\n", 0o644),
                E::symlink("v", "/victim"),
                E::symlink("c", &canary),
                E::symlink("r", "../canary"),
                E::symlink("up", "../../.."),
            ],
            vec![
                E::whiteout("v", "file"),
                E::whiteout("c", "passwd"),
                E::whiteout("r", "file"),
                E::whiteout("up", "canary"),
                E::whiteout(&format!("{}/sub", canary.trim_start_matches('/')), "inner"),
            ],
        ],
    )
    .unwrap();
    assert!(
        !s.root.join("victim/file").exists(),
        "resolved inside the root"
    );
    assert!(s.root.join("victim/keep").exists());
    assert_eq!(kind(&s.root.join("v")), 'l');
    // A whiteout of the symlink itself removes the link, not its target.
    apply_seq(&s.root, &[vec![E::whiteout("", "v")]]).unwrap();
    assert!(fs::symlink_metadata(s.root.join("v")).is_err());
    assert!(s.root.join("victim/keep").exists());
    still_usable(&s, "after");
}

#[test]
fn opaque_markers_under_symlinked_directories_stay_inside() {
    if !root_or_skip("opaque_markers_under_symlinked_directories_stay_inside") {
        return;
    }
    let s = Scratch::new();
    let canary = s.canary.display().to_string();
    apply_seq(
        &s.root,
        &[
            vec![
                E::dir("victim", 0o755),
                E::file("victim/a", "a\n", 0o644),
                E::symlink("o", "/victim"),
                E::symlink("c", &canary),
                E::symlink("r", "../../canary"),
            ],
            vec![
                E::opaque("o"),
                E::opaque("c"),
                E::opaque("r"),
                E::opaque("r/sub"),
            ],
        ],
    )
    .unwrap();
    assert!(s.root.join("victim").is_dir());
    assert_eq!(fs::read_dir(s.root.join("victim")).unwrap().count(), 0);
    assert_eq!(kind(&s.root.join("o")), 'l');
    still_usable(&s, "after");
}

#[test]
fn entries_replace_symlinks_instead_of_writing_through_them() {
    if !root_or_skip("entries_replace_symlinks_instead_of_writing_through_them") {
        return;
    }
    let s = Scratch::new();
    let canary = s.canary.display().to_string();
    let passwd = format!("{canary}/passwd");
    apply_seq(
        &s.root,
        &[
            vec![
                E::dir("etc", 0o755),
                E::file("etc/real", "real\n", 0o644),
                E::symlink("file", &passwd),
                E::symlink("dir", &canary),
                E::symlink("fifo", &passwd),
                E::symlink("hard", &passwd),
                E::symlink("sym", &passwd),
                E::symlink("dev", &passwd),
                E::symlink("rel", "../canary/passwd"),
            ],
            vec![
                E::file("file", "mine\n", 0o600),
                E::dir("dir", 0o700),
                E::file("dir/passwd", "mine\n", 0o644),
                E::fifo("fifo", 0o600),
                E::hardlink("hard", "etc/real"),
                E::symlink("sym", "etc/real"),
                E::chardev("dev", 1, 3, 0o666),
                E::file("rel", "mine\n", 0o644),
            ],
        ],
    )
    .unwrap();
    assert_eq!(kind(&s.root.join("file")), 'f');
    assert_eq!(fs::read(s.root.join("file")).unwrap(), b"mine\n");
    assert_eq!(kind(&s.root.join("dir")), 'd');
    assert_eq!(fs::read(s.root.join("dir/passwd")).unwrap(), b"mine\n");
    assert_eq!(kind(&s.root.join("hard")), 'f');
    assert_eq!(
        fs::read_link(s.root.join("sym")).unwrap().to_str(),
        Some("etc/real")
    );
    assert_eq!(kind(&s.root.join("rel")), 'f');
    still_usable(&s, "after");
}

#[test]
fn duplicate_entries_take_the_last_one() {
    if !root_or_skip("duplicate_entries_take_the_last_one") {
        return;
    }
    let s = Scratch::new();
    apply_seq(
        &s.root,
        &[vec![
            E::file("f", "first\n", 0o644),
            E::file("f", "second\n", 0o600).owner(3, 4),
            E::file("x", "file\n", 0o644),
            E::dir("x", 0o755),
            E::file("x/in", "in\n", 0o644),
            E::dir("x", 0o710).owner(5, 6),
            E::dir("y", 0o755),
            E::file("y/in", "in\n", 0o644),
            E::file("y", "now a file\n", 0o644),
        ]],
    )
    .unwrap();
    let t = snapshot(&s.root, EXACT);
    assert_eq!(t["f"].content.as_deref(), Some("second\n"));
    assert_eq!((t["f"].mode, t["f"].uid, t["f"].gid), (0o600, 3, 4));
    assert_eq!((t["x"].kind, t["x"].mode, t["x"].uid), ('d', 0o710, 5));
    assert!(
        t.contains_key("x/in"),
        "a directory over a directory keeps its contents"
    );
    assert_eq!(t["y"].kind, 'f');
    assert!(!t.contains_key("y/in"));
    still_usable(&s, "after");
}

#[test]
fn huge_headers_are_refused_by_size_naming_the_entry_before_them() {
    if !root_or_skip("huge_headers_are_refused_by_size_naming_the_entry_before_them") {
        return;
    }
    let s = Scratch::new();
    // A 10 MB GNU long name, and a PAX record of 2 MiB.
    let ten_mb = "n".repeat(10 * 1024 * 1024);
    let big_pax = E::file("big-pax", "x", 0o644).xattr("user.big", &vec![b'v'; 2 * 1024 * 1024]);
    for (i, entries) in [
        vec![
            E::file("before", "b", 0o644),
            E::file(&ten_mb, "x", 0o644).gnu_long(),
        ],
        vec![E::file("before", "b", 0o644), E::file(&ten_mb, "x", 0o644)],
        vec![E::file("before", "b", 0o644), big_pax],
    ]
    .into_iter()
    .enumerate()
    {
        let root = s.fresh_root(&format!("huge{i}"));
        let err = apply_seq(&root, &[entries]).unwrap_err();
        assert!(
            matches!(&err.kind, ErrorKind::HeadersTooLarge { after: Some(a), .. } if a == "before"),
            "{err}"
        );
        assert!(err.to_string().contains("L1"), "{err}");
    }
    // A long name under the limit is handled by the filesystem, which refuses it; the error
    // quotes a shortened name.
    let long_component = "c".repeat(300);
    let err = apply_seq(
        &s.fresh_root("long"),
        &[vec![E::file(&long_component, "x", 0o644)]],
    )
    .unwrap_err();
    assert_eq!(err.layer, "L1");
    assert!(err.entry.as_deref().unwrap().starts_with("ccc"), "{err}");
    still_usable(&s, "after");
}

fn expect_broken(
    s: &Scratch,
    root_name: &str,
    blob: Vec<u8>,
    compression: Compression,
    expected: Option<String>,
) -> Error {
    let root = s.fresh_root(root_name);
    let mut options = ApplyOptions::new("sha256:feed");
    options.expected_diff_id = expected.map(|d| d.parse().unwrap());
    let err = apply_layer(&root, &blob[..], compression, &options).unwrap_err();
    assert_eq!(err.layer, "sha256:feed");
    assert!(err.to_string().starts_with("layer sha256:feed"), "{err}");
    err
}

#[test]
fn broken_streams_fail_with_the_layer_named() {
    if !root_or_skip("broken_streams_fail_with_the_layer_named") {
        return;
    }
    let s = Scratch::new();
    let big: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let good = tar(&[
        E::dir("d", 0o755),
        E::file("d/big", &big, 0o644),
        E::file("d/after", "a", 0o644),
    ]);

    // Truncated gzip.
    let gz = gzip(&good);
    let err = expect_broken(
        &s,
        "gz",
        gz[..gz.len() / 2].to_vec(),
        Compression::Gzip,
        None,
    );
    assert!(matches!(err.kind, ErrorKind::Decompress { .. }), "{err}");
    // Corrupt zstd, detected from the magic bytes: a broken frame header is a decompression
    // error; bytes flipped in the middle of a frame without a checksum decompress to other
    // bytes, which the diff ID catches.
    let mut zs = zstd(&good);
    zs[4] ^= 0xff;
    zs[5] ^= 0xff;
    let err = expect_broken(&s, "zstd", zs, Compression::Detect, None);
    assert!(matches!(err.kind, ErrorKind::Decompress { .. }), "{err}");
    let mut zs = zstd(&good);
    let mid = zs.len() / 2;
    zs[mid] ^= 0xff;
    zs[mid + 1] ^= 0x55;
    let err = expect_broken(&s, "zstd2", zs, Compression::Detect, Some(sha256(&good)));
    assert!(
        matches!(
            err.kind,
            ErrorKind::Decompress { .. } | ErrorKind::DiffIdMismatch { .. }
        ),
        "{err}"
    );
    // Garbage that claims to be gzip.
    let err = expect_broken(&s, "notgz", good.clone(), Compression::Gzip, None);
    assert!(matches!(err.kind, ErrorKind::Decompress { .. }), "{err}");
    // A plain tar cut in the middle of a file: the entry is named.
    let err = expect_broken(
        &s,
        "cut",
        good[..1_000_000].to_vec(),
        Compression::None,
        None,
    );
    assert_eq!(err.entry.as_deref(), Some("d/big"), "{err}");
    assert!(
        matches!(
            err.kind,
            ErrorKind::Truncated {
                size: 2_000_000,
                ..
            }
        ),
        "{err}"
    );
    // The same, gzip-compressed.
    let err = expect_broken(
        &s,
        "cutgz",
        gzip(&good[..1_000_000]),
        Compression::Gzip,
        None,
    );
    assert_eq!(err.entry.as_deref(), Some("d/big"), "{err}");
    // A diff ID that does not match.
    let wrong = sha256(b"something else");
    let err = expect_broken(
        &s,
        "diffid",
        gzip(&good),
        Compression::Detect,
        Some(wrong.clone()),
    );
    match &err.kind {
        ErrorKind::DiffIdMismatch { expected, actual } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha256(&good));
        }
        other => panic!("{other:?}"),
    }
    // A corrupt header checksum.
    let mut bad = good.clone();
    bad[512 + 100] ^= 1; // the mode field of d/big's header (d/ is the first block)
    let root = s.fresh_root("cksum");
    let err = apply(&root, &bad, "sha256:feed").unwrap_err();
    assert_eq!(err.layer, "sha256:feed");
    assert!(
        matches!(&err.kind, ErrorKind::Header { after: Some(a), .. } if a == "d"),
        "{err}"
    );
    assert!(err.to_string().contains("checksum"), "{err}");
    still_usable(&s, "after");
}

#[test]
fn hardlinked_whiteouts_are_ignored() {
    if !root_or_skip("hardlinked_whiteouts_are_ignored") {
        return;
    }
    let s = Scratch::new();
    apply_seq(
        &s.root,
        &[
            vec![
                E::dir("a", 0o755),
                E::file("a/x", "x\n", 0o644),
                E::file("a/y", "y\n", 0o644),
            ],
            vec![
                E::dir("a", 0o755),
                E::whiteout("a", "x"),
                // A hardlink to a whiteout: skipped with a warning.
                E::hardlink("a/z", "a/.wh.x"),
                // A whiteout written as a hardlink: still a whiteout.
                E::hardlink("a/.wh.y", "a/x"),
            ],
        ],
    )
    .unwrap();
    assert!(!s.root.join("a/x").exists());
    assert!(!s.root.join("a/y").exists());
    assert!(!s.root.join("a/z").exists());
    still_usable(&s, "after");
}
