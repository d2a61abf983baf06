//! Well-made archives: every compression and zip, byte-for-byte contents, modes, times,
//! symlinks, hardlinks, --strip-components, owners (as root), standard input.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use aurora_buildhelper::extract::ExtractOptions;
use aurora_testkit::skip::root_or_skip;
use common::{compress, mode, opts, Comp, Entry, Scene, Tar, Zip, ALL, MTIME};
use tar::EntryType;

/// Data that no compression shrinks to nothing and that checks every byte value.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn sample(prefix: &str) -> Vec<u8> {
    let p = |rel: &str| format!("{prefix}{rel}");
    Tar::default()
        .dir(&p("pkg/"), 0o755)
        .dir(&p("pkg/bin/"), 0o750)
        .file(&p("pkg/bin/tool"), &payload(300_000), 0o755)
        .hardlink(&p("pkg/bin/tool2"), &p("pkg/bin/tool"))
        .file(&p("pkg/bin/su"), b"#!/bin/sh\n", 0o4755)
        .file(&p("pkg/etc/app.conf"), b"key = value\n", 0o640)
        .file(&p("pkg/lib/libx.so.1"), b"\x7fELF", 0o644)
        .symlink(&p("pkg/lib/libx.so"), "libx.so.1")
        .symlink(&p("pkg/lib/abs"), "/usr/lib/x")
        .dir(&p("pkg/ro/"), 0o555)
        .file(
            &p("pkg/ro/inside"),
            b"filled before the dir is made read-only",
            0o444,
        )
        .entry(Entry {
            mode: 0o600,
            ..Entry::new(&p("pkg/fifo"), EntryType::Fifo)
        })
        .file(&p("pkg/empty"), b"", 0o600)
        .bytes()
}

fn check_sample(s: &Scene, root: &str) {
    let at = |rel: &str| s.at(&format!("{root}{rel}"));
    assert_eq!(std::fs::read(at("bin/tool")).unwrap(), payload(300_000));
    assert_eq!(mode(&at("bin/tool")), 0o755);
    assert_eq!(mode(&at("bin")), 0o750);
    assert_eq!(mode(&at("bin/su")), 0o4755);
    assert_eq!(mode(&at("etc/app.conf")), 0o640);
    // A parent no entry named is made 0755.
    assert_eq!(mode(&at("etc")), 0o755);
    let tool = std::fs::metadata(at("bin/tool")).unwrap();
    let tool2 = std::fs::metadata(at("bin/tool2")).unwrap();
    assert_eq!((tool.dev(), tool.ino()), (tool2.dev(), tool2.ino()));
    assert_eq!(
        std::fs::read_link(at("lib/libx.so")).unwrap().to_str(),
        Some("libx.so.1")
    );
    assert_eq!(
        std::fs::read_link(at("lib/abs")).unwrap().to_str(),
        Some("/usr/lib/x")
    );
    assert_eq!(std::fs::read(at("lib/libx.so")).unwrap(), b"\x7fELF");
    assert_eq!(mode(&at("ro")), 0o555);
    assert_eq!(mode(&at("ro/inside")), 0o444);
    assert!(std::fs::symlink_metadata(at("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(mode(&at("fifo")), 0o600);
    assert_eq!(std::fs::read(at("empty")).unwrap(), b"");
    for rel in ["bin/tool", "ro", "bin", "lib/libx.so", "fifo"] {
        let meta = std::fs::symlink_metadata(at(rel)).unwrap();
        assert_eq!(meta.mtime(), MTIME as i64, "{rel}");
    }
}

#[test]
fn every_compression() {
    for comp in ALL {
        let s = Scene::new();
        let bytes = compress(&sample(""), comp);
        let report = s.extract("pkg.archive", &bytes, &opts()).unwrap();
        let want = match comp {
            Comp::None => "tar",
            Comp::Gzip => "tar+gzip",
            Comp::Xz => "tar+xz",
            Comp::Bzip2 => "tar+bzip2",
            Comp::Zstd => "tar+zstd",
        };
        assert_eq!(report.format, want);
        assert_eq!(
            (
                report.files,
                report.directories,
                report.symlinks,
                report.hardlinks,
                report.specials
            ),
            (6, 3, 2, 1, 1),
            "{comp:?}"
        );
        assert_eq!(report.bytes, 300_000 + 10 + 12 + 4 + 39);
        check_sample(&s, "pkg/");
        s.assert_canary();
    }
}

#[test]
fn strip_components() {
    let s = Scene::new();
    let options = ExtractOptions {
        strip_components: 1,
        ..opts()
    };
    let report = s
        .extract("pkg.tgz", &compress(&sample(""), Comp::Gzip), &options)
        .unwrap();
    check_sample(&s, "");
    // `pkg/` itself was left with nothing.
    assert_eq!(report.skipped, 1);
    assert!(!s.at("pkg").exists());

    // `./` counts as a component, as in GNU tar.
    let s = Scene::new();
    let options = ExtractOptions {
        strip_components: 2,
        ..opts()
    };
    s.extract("pkg.tar", &sample("./"), &options).unwrap();
    check_sample(&s, "");
}

#[test]
fn extracting_again_replaces_what_is_there() {
    let s = Scene::new();
    let first = Tar::default()
        .dir("d/", 0o755)
        .file("d/f", b"one", 0o644)
        .symlink("d/l", "f")
        .hardlink("d/h", "d/f")
        .bytes();
    let second = Tar::default()
        .dir("d/", 0o700)
        .file("d/f", b"two!", 0o600)
        .symlink("d/l", "g")
        .hardlink("d/h", "d/f")
        .bytes();
    s.extract("first.tar", &first, &opts()).unwrap();
    s.extract("second.tar", &second, &opts()).unwrap();
    assert_eq!(std::fs::read(s.at("d/f")).unwrap(), b"two!");
    assert_eq!(mode(&s.at("d/f")), 0o600);
    assert_eq!(std::fs::read_link(s.at("d/l")).unwrap().to_str(), Some("g"));
    let f = std::fs::metadata(s.at("d/f")).unwrap();
    let h = std::fs::metadata(s.at("d/h")).unwrap();
    assert_eq!((f.dev(), f.ino()), (h.dev(), h.ino()));
    // The directory was there: it keeps its mode.
    assert_eq!(mode(&s.at("d")), 0o755);
}

#[test]
fn existing_directories_and_their_symlinks_are_kept() {
    let s = Scene::new();
    // A merged-/usr image: /lib is a symlink to usr/lib; /opt is private.
    std::fs::create_dir_all(s.at("usr/lib")).unwrap();
    std::os::unix::fs::symlink("usr/lib", s.at("lib")).unwrap();
    std::fs::create_dir(s.at("opt")).unwrap();
    std::fs::set_permissions(
        s.at("opt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let bytes = Tar::default()
        .dir("./", 0o700)
        .dir("lib/", 0o755)
        .file("lib/libz.so", b"z", 0o644)
        .dir("opt/", 0o777)
        .file("opt/x", b"x", 0o644)
        .bytes();
    let before = mode(&s.dest);
    let report = s.extract("root.tar", &bytes, &opts()).unwrap();
    assert!(std::fs::symlink_metadata(s.at("lib"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(s.at("usr/lib/libz.so")).unwrap(), b"z");
    assert_eq!(mode(&s.at("opt")), 0o700);
    // The destination itself (`./`) is not changed.
    assert_eq!(mode(&s.dest), before);
    assert_eq!(report.skipped, 1);
}

#[test]
fn a_directory_replaces_a_symlink_the_archive_made() {
    let s = Scene::new();
    let bytes = Tar::default()
        .symlink("d", "../canary")
        .dir("d/", 0o755)
        .file("d/file", b"inside", 0o644)
        .bytes();
    s.extract("ok.tar", &bytes, &opts()).unwrap();
    assert!(
        s.at("d").is_dir()
            && !std::fs::symlink_metadata(s.at("d"))
                .unwrap()
                .file_type()
                .is_symlink()
    );
    assert_eq!(std::fs::read(s.at("d/file")).unwrap(), b"inside");
    s.assert_canary();
}

#[test]
fn zip_archives() {
    for deflate in [true, false] {
        let s = Scene::new();
        let bytes = Zip::new()
            .dir("app/", 0o755)
            .dir("app/bin/", 0o750)
            .file("app/bin/run", &payload(70_000), 0o755, deflate)
            .file("app/README", b"hello\n", 0o600, deflate)
            .symlink("app/bin/start", "run")
            .file("app/deep/er/file", b"parents made", 0o644, deflate)
            .bytes();
        let report = s.extract("app.zip", &bytes, &opts()).unwrap();
        assert_eq!(report.format, "zip");
        assert_eq!(
            (report.files, report.directories, report.symlinks),
            (3, 2, 1)
        );
        assert_eq!(std::fs::read(s.at("app/bin/run")).unwrap(), payload(70_000));
        assert_eq!(mode(&s.at("app/bin/run")), 0o755);
        assert_eq!(mode(&s.at("app/README")), 0o600);
        assert_eq!(mode(&s.at("app/bin")), 0o750);
        assert_eq!(
            std::fs::read_link(s.at("app/bin/start")).unwrap().to_str(),
            Some("run")
        );
        assert_eq!(
            std::fs::read(s.at("app/deep/er/file")).unwrap(),
            b"parents made"
        );
        s.assert_canary();

        let s = Scene::new();
        let options = ExtractOptions {
            strip_components: 1,
            ..opts()
        };
        s.extract("app.zip", &bytes, &options).unwrap();
        assert_eq!(std::fs::read(s.at("bin/run")).unwrap(), payload(70_000));
        assert_eq!(
            std::fs::read_link(s.at("bin/start")).unwrap().to_str(),
            Some("run")
        );
    }
}

#[test]
fn destination_is_created() {
    let s = Scene::new();
    let bytes = Tar::default().file("x", b"x", 0o644).bytes();
    let archive = s.tmp.path().join("x.tar");
    std::fs::write(&archive, &bytes).unwrap();
    let dest = s.tmp.path().join("new/deeper");
    aurora_buildhelper::extract::extract(&archive, &dest, &opts()).unwrap();
    assert_eq!(std::fs::read(dest.join("x")).unwrap(), b"x");
}

#[test]
fn owners_kept_as_root() {
    if !root_or_skip("owners_kept_as_root") {
        return;
    }
    let owned = |name: &'static str, kind| Entry {
        uid: 1234,
        gid: 5678,
        mode: 0o4750,
        data: if kind == EntryType::Regular {
            b"data"
        } else {
            b""
        },
        link: (kind == EntryType::Symlink).then_some(b"target".as_slice()),
        ..Entry::new(name, kind)
    };
    let bytes = Tar::default()
        .entry(owned("d/", EntryType::Directory))
        .entry(owned("d/f", EntryType::Regular))
        .entry(owned("d/l", EntryType::Symlink))
        .entry(Entry {
            dev: (1, 3),
            mode: 0o666,
            uid: 1234,
            gid: 5678,
            ..Entry::new("d/null", EntryType::Char)
        })
        .bytes();
    let s = Scene::new();
    let options = ExtractOptions {
        same_owner: true,
        ..ExtractOptions::default()
    };
    s.extract("own.tar", &bytes, &options).unwrap();
    for rel in ["d", "d/f", "d/l", "d/null"] {
        let meta = std::fs::symlink_metadata(s.at(rel)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678), "{rel}");
    }
    // setuid survives the chown (the mode is set after it).
    assert_eq!(mode(&s.at("d/f")), 0o4750);
    assert_eq!(mode(&s.at("d")), 0o4750);
    let null = std::fs::symlink_metadata(s.at("d/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));

    // --no-same-owner: the extracting user's.
    let s = Scene::new();
    let options = ExtractOptions {
        same_owner: false,
        ..ExtractOptions::default()
    };
    s.extract("own.tar", &bytes, &options).unwrap();
    let meta = std::fs::metadata(s.at("d/f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
}
