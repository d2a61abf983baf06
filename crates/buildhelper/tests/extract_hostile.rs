//! Hostile archives: each fails with an error naming the archive and the entry, and nothing
//! outside the destination changes (the canary beside it is compared whole).

mod common;

use aurora_buildhelper::extract::{ErrorKind, ExtractOptions, MAX_HEADER_BYTES};
use common::{compress, opts, Comp, Entry, Scene, Tar, Zip};
use tar::EntryType;

/// Extracts `bytes`, expects an error about `entry`, checks the canary; returns the message.
fn refused(scene: &Scene, bytes: &[u8], entry: &str) -> String {
    refused_with(scene, bytes, entry, &opts())
}

fn refused_with(scene: &Scene, bytes: &[u8], entry: &str, options: &ExtractOptions) -> String {
    let err = scene
        .extract("evil.tar", bytes, options)
        .expect_err("a hostile archive must fail");
    let text = err.to_string();
    assert!(text.contains("evil.tar ("), "names the archive: {text}");
    assert_eq!(err.entry.as_deref(), Some(entry), "{text}");
    assert!(text.contains(&format!("entry {entry:?}")), "{text}");
    scene.assert_canary();
    text
}

#[test]
fn dot_dot_entries() {
    let s = Scene::new();
    let bytes = Tar::default()
        .file("ok", b"fine", 0o644)
        .file("../canary/secret", b"pwned", 0o644)
        .bytes();
    let text = refused(&s, &bytes, "../canary/secret");
    assert!(
        text.ends_with("`..` in the name refused: entries may not climb out of the destination"),
        "{text}"
    );
    // Even a `..` that would stay inside is refused, and a directory's too.
    for name in ["a/../../canary/x", "a/../b", "sub/../../"] {
        let bytes = Tar::default().file(name, b"x", 0o644).bytes();
        refused(&s, &bytes, name);
    }
}

#[test]
fn absolute_entries() {
    let s = Scene::new();
    let name = s.canary_path("secret");
    let bytes = Tar::default().file(&name, b"pwned", 0o644).bytes();
    let text = refused(&s, &bytes, &name);
    assert!(text.contains("absolute name refused"), "{text}");
    assert!(!s.at(&name[1..]).exists());
}

#[test]
fn symlink_to_root_then_a_file_through_it() {
    let s = Scene::new();
    let through = format!("link{}", s.canary_path("secret"));
    let bytes = Tar::default()
        .symlink("link", "/")
        .file(&through, b"pwned", 0o644)
        .bytes();
    let text = refused(&s, &bytes, &through);
    assert!(
        text.ends_with(
            "goes through \"link\", a symlink this archive created: refusing to follow it"
        ),
        "{text}"
    );
    // A directory entry through it is refused the same way.
    let bytes = Tar::default()
        .symlink("up", "../canary")
        .dir("up/newdir", 0o755)
        .bytes();
    refused(&s, &bytes, "up/newdir");
}

#[test]
fn symlink_chain_then_a_file_through_it() {
    let s = Scene::new();
    let bytes = Tar::default()
        .symlink("a", "b")
        .symlink("b", "c")
        .symlink("c", "../../canary")
        .file("a/secret", b"pwned", 0o644)
        .bytes();
    let text = refused(&s, &bytes, "a/secret");
    assert!(text.contains("goes through \"a\""), "{text}");
}

#[test]
fn symlinks_already_in_the_destination_stay_inside_it() {
    let s = Scene::new();
    // A chain planted by an earlier step, leading out by `..` and by an absolute path.
    std::os::unix::fs::symlink("p2", s.at("p1")).unwrap();
    std::os::unix::fs::symlink("../canary", s.at("p2")).unwrap();
    std::os::unix::fs::symlink(&s.canary, s.at("abs")).unwrap();
    std::fs::create_dir_all(s.at("canary")).unwrap();
    let inside = s.at(&s.canary.display().to_string()[1..]);
    std::fs::create_dir_all(&inside).unwrap();
    let bytes = Tar::default()
        .file("p1/secret", b"inside", 0o644)
        .file("abs/secret", b"inside too", 0o644)
        .bytes();
    s.extract("ok.tar", &bytes, &opts()).unwrap();
    s.assert_canary();
    // `..` stopped at the destination; the absolute link was read as if it were `/`.
    assert_eq!(std::fs::read(s.at("canary/secret")).unwrap(), b"inside");
    assert_eq!(std::fs::read(inside.join("secret")).unwrap(), b"inside too");
}

#[test]
fn a_file_replaces_a_symlink_out_never_writes_through_it() {
    let s = Scene::new();
    std::os::unix::fs::symlink(s.canary.join("secret"), s.at("victim")).unwrap();
    let bytes = Tar::default().file("victim", b"new", 0o644).bytes();
    s.extract("ok.tar", &bytes, &opts()).unwrap();
    s.assert_canary();
    assert_eq!(std::fs::read(s.at("victim")).unwrap(), b"new");
    assert!(!std::fs::symlink_metadata(s.at("victim"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn hardlinks_to_outside() {
    let s = Scene::new();
    let bytes = Tar::default().hardlink("hl", "../canary/secret").bytes();
    let text = refused(&s, &bytes, "hl");
    assert!(
        text.contains("hardlink target \"../canary/secret\" refused: `..`"),
        "{text}"
    );

    let abs = s.canary_path("secret");
    let bytes = Tar::default().hardlink("hl", &abs).bytes();
    let text = refused(&s, &bytes, "hl");
    assert!(text.contains("refused: absolute name refused"), "{text}");

    // Through a symlink the archive made.
    let bytes = Tar::default()
        .symlink("out", "../canary")
        .hardlink("hl", "out/secret")
        .bytes();
    let text = refused(&s, &bytes, "hl");
    assert!(text.contains("goes through \"out\""), "{text}");

    // Through a symlink already there: resolved inside the destination, where there is
    // no such file.
    std::os::unix::fs::symlink(&s.canary, s.at("planted")).unwrap();
    let bytes = Tar::default().hardlink("hl", "planted/secret").bytes();
    let text = refused(&s, &bytes, "hl");
    assert!(text.contains("does not exist in the destination"), "{text}");
    assert!(!s.at("hl").exists());
}

#[test]
fn a_hardlink_to_a_symlink_links_the_symlink() {
    let s = Scene::new();
    let bytes = Tar::default()
        .symlink("l", "/etc/passwd")
        .hardlink("h", "l")
        .file("h/x", b"", 0o644)
        .bytes();
    // `h` is the symlink itself now, and is not gone through either.
    let text = refused(&s, &bytes, "h/x");
    assert!(text.contains("goes through \"h\""), "{text}");
    let meta = std::fs::symlink_metadata(s.at("h")).unwrap();
    assert!(meta.file_type().is_symlink());
}

#[test]
fn huge_declared_sizes() {
    let s = Scene::new();
    // A plain tar declaring 1 TiB with a few bytes after it: refused before writing.
    let big = Entry {
        data: b"just a few bytes",
        declared: Some(1 << 40),
        ..Entry::new("big", EntryType::Regular)
    };
    let bytes = Tar::default().entry(big).cut();
    let text = refused(&s, &bytes, "big");
    assert!(
        text.contains("declares 1099511627776 bytes of data but only"),
        "{text}"
    );
    assert!(!s.at("big").exists());

    // Compressed, the stream's length is unknown: --max-bytes refuses it first.
    let big = Entry {
        data: b"just a few bytes",
        declared: Some(1 << 40),
        ..Entry::new("big", EntryType::Regular)
    };
    let bytes = compress(&Tar::default().entry(big).cut(), Comp::Gzip);
    let text = refused(&s, &bytes, "big");
    assert!(
        text.contains("exceeds the limit of 17179869184 bytes (--max-bytes)"),
        "{text}"
    );

    // Under the cap but longer than the stream: the data ends early, the part is removed.
    let short = Entry {
        data: b"0123456789",
        declared: Some(100_000),
        ..Entry::new("short", EntryType::Regular)
    };
    let bytes = compress(&Tar::default().entry(short).cut(), Comp::Zstd);
    let text = refused(&s, &bytes, "short");
    // (The padding after the data counts: the header says it is all data.)
    assert!(
        text.ends_with("data ends after 512 of its 100000 bytes"),
        "{text}"
    );
    assert!(!s.at("short").exists());
}

#[test]
fn max_bytes_caps_the_total() {
    let s = Scene::new();
    let data = vec![7u8; 600];
    let bytes = Tar::default()
        .file("one", &data, 0o644)
        .file("two", &data, 0o644)
        .bytes();
    let options = ExtractOptions {
        max_bytes: 1000,
        ..opts()
    };
    let text = refused_with(&s, &bytes, "two", &options);
    assert!(text.ends_with("declares 600 bytes: with 600 bytes already extracted that exceeds the limit of 1000 bytes (--max-bytes)"), "{text}");
    assert!(s.at("one").exists() && !s.at("two").exists());
}

#[test]
fn huge_headers() {
    let s = Scene::new();
    let bytes = Tar::default()
        .file("first", b"1", 0o644)
        .long_name_record(&vec![b'a'; 2 << 20], 2 << 20)
        .file("x", b"", 0o644)
        .bytes();
    let err = s.extract("evil.tar", &bytes, &opts()).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::HeadersTooLarge { limit } if limit == MAX_HEADER_BYTES),
        "{err}"
    );
    s.assert_canary();
}

#[test]
fn garbage_is_not_a_tar() {
    let s = Scene::new();
    let err = s.extract("junk.bin", &[b'x'; 2048], &opts()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}/junk.bin (tar): does not hold a tar archive",
            s.tmp.path().display()
        )),
        "{text}"
    );
    let err = s
        .extract("junk.gz", b"\x1f\x8b\x08garbage", &opts())
        .unwrap_err();
    assert!(err.to_string().contains("junk.gz (tar+gzip): "), "{err}");
    s.assert_canary();
}

#[test]
fn a_directory_in_the_way_is_not_removed() {
    let s = Scene::new();
    std::fs::create_dir_all(s.at("d/keep")).unwrap();
    let bytes = Tar::default().file("d", b"x", 0o644).bytes();
    let text = refused(&s, &bytes, "d");
    assert!(
        text.ends_with("a directory that is not empty is in the way"),
        "{text}"
    );
    assert!(s.at("d/keep").is_dir());
}

fn zip_refused(s: &Scene, bytes: &[u8], entry: &str) -> String {
    let err = s.extract("evil.zip", bytes, &opts()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("evil.zip (zip): "), "{text}");
    assert_eq!(err.entry.as_deref(), Some(entry), "{text}");
    s.assert_canary();
    text
}

#[test]
fn hostile_zips() {
    let s = Scene::new();
    let bytes = Zip::new()
        .file("../canary/secret", b"pwned", 0o644, true)
        .bytes();
    assert!(zip_refused(&s, &bytes, "../canary/secret").contains("`..`"));

    let abs = s.canary_path("secret");
    let bytes = Zip::new().file(&abs, b"pwned", 0o644, false).bytes();
    assert!(zip_refused(&s, &bytes, &abs).contains("absolute name refused"));

    let bytes = Zip::new()
        .symlink("link", "/")
        .file(&format!("link{abs}"), b"pwned", 0o644, true)
        .bytes();
    let text = zip_refused(&s, &bytes, &format!("link{abs}"));
    assert!(text.contains("goes through \"link\""), "{text}");

    let bytes = Zip::new()
        .file("..\\canary\\secret", b"pwned", 0o644, true)
        .bytes();
    assert!(zip_refused(&s, &bytes, "..\\canary\\secret").contains("backslash"));

    let bytes = Zip::new()
        .file("big", &vec![0u8; 4096], 0o644, true)
        .bytes();
    let options = ExtractOptions {
        max_bytes: 1000,
        ..opts()
    };
    let err = s.extract("evil.zip", &bytes, &options).unwrap_err();
    assert!(
        err.to_string().contains("exceeds the limit of 1000 bytes"),
        "{err}"
    );
    s.assert_canary();
}

/// A zip whose central directory declares a smaller size than its data inflates to: the
/// extra data is refused, not written.
#[test]
fn zip_entry_longer_than_declared() {
    let s = Scene::new();
    let data = vec![b'z'; 10_000];
    let mut bytes = Zip::new().file("bomb", &data, 0o644, true).bytes();
    // Patch the uncompressed size (10000 = 0x2710) in the local and central headers to 100.
    let needle = 10_000u32.to_le_bytes();
    let mut patched = 0;
    for i in 0..bytes.len() - 4 {
        if bytes[i..i + 4] == needle {
            bytes[i..i + 4].copy_from_slice(&100u32.to_le_bytes());
            patched += 1;
        }
    }
    assert!(patched >= 2, "size fields found: {patched}");
    let err = s.extract("evil.zip", &bytes, &opts()).unwrap_err();
    assert_eq!(err.entry.as_deref(), Some("bomb"), "{err}");
    // The zip reader notices first ("larger than its declared uncompressed size"); had it
    // not, the writer's own check would ("holds more data than the 100 bytes it declares").
    assert!(err.to_string().contains("declare"), "{err}");
    assert!(!s.at("bomb").exists(), "{err}");
    s.assert_canary();
}
