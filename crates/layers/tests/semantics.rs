//! The rest of the behaviour: compressions and their detection, diff IDs, id maps, the image
//! spec's same-layer rules (checked against umoci), Overlay mode's own cases, and a large
//! layer streamed from a generator.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::process::Command;

use aurora_layers::{
    apply_layer, ApplyOptions, Compression, ErrorKind, IdMap, IdRange, Ownership, WhiteoutMode,
};
use aurora_testkit::skip::root_or_skip;
use aurora_testkit::{require_tools, write_image, Layer};
use common::*;

fn sample() -> Vec<u8> {
    tar(&[
        E::dir("etc", 0o755),
        E::file("etc/os-release", "ID=aurora\n", 0o644),
        E::symlink("etc/link", "os-release"),
    ])
}

#[test]
fn every_compression_is_read_and_detected() {
    if !root_or_skip("every_compression_is_read_and_detected") {
        return;
    }
    let plain = sample();
    let digest = sha256(&plain);
    let mut two_members = gzip(&plain[..1024]);
    two_members.extend(gzip(&plain[1024..]));
    let cases: Vec<(&str, Vec<u8>, Compression, Compression)> = vec![
        ("plain", plain.clone(), Compression::None, Compression::None),
        (
            "plain-detect",
            plain.clone(),
            Compression::Detect,
            Compression::None,
        ),
        ("gzip", gzip(&plain), Compression::Gzip, Compression::Gzip),
        (
            "gzip-detect",
            gzip(&plain),
            Compression::Detect,
            Compression::Gzip,
        ),
        (
            "gzip-members",
            two_members,
            Compression::Gzip,
            Compression::Gzip,
        ),
        ("zstd", zstd(&plain), Compression::Zstd, Compression::Zstd),
        (
            "zstd-detect",
            zstd(&plain),
            Compression::Detect,
            Compression::Zstd,
        ),
        (
            "media-type",
            zstd(&plain),
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd").unwrap(),
            Compression::Zstd,
        ),
    ];
    for (name, blob, compression, seen) in cases {
        let work = tempfile::tempdir().unwrap();
        let mut options = ApplyOptions::new(name);
        options.expected_diff_id = Some(digest.parse().unwrap());
        let report = apply_layer(work.path(), &blob[..], compression, &options)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.compression, seen, "{name}");
        assert_eq!(report.blob_bytes, blob.len() as u64, "{name}");
        assert_eq!(report.tar_bytes, plain.len() as u64, "{name}");
        assert_eq!(report.entries, 3, "{name}");
        assert_eq!(report.diff_id.unwrap().to_string(), digest, "{name}");
        assert_eq!(
            fs::read(work.path().join("etc/os-release")).unwrap(),
            b"ID=aurora\n",
            "{name}"
        );
    }
    // Unknown media types are refused, not guessed.
    assert!(matches!(
        Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+bzip2"),
        Err(ErrorKind::Unsupported(_))
    ));
}

#[test]
fn sha512_diff_ids_are_checked_too() {
    if !root_or_skip("sha512_diff_ids_are_checked_too") {
        return;
    }
    let plain = sample();
    let mut hasher =
        aurora_spec::Hasher::for_digest(&format!("sha512:{}", "0".repeat(128)).parse().unwrap())
            .unwrap();
    hasher.update(&plain);
    let digest = hasher.finish();
    let work = tempfile::tempdir().unwrap();
    let mut options = ApplyOptions::new("sha512");
    options.expected_diff_id = Some(digest.parse().unwrap());
    let report = apply_layer(work.path(), &plain[..], Compression::None, &options).unwrap();
    assert_eq!(report.diff_id.unwrap().to_string(), digest);
}

#[test]
fn id_maps_shift_owners_and_refuse_unmapped_ids() {
    if !root_or_skip("id_maps_shift_owners_and_refuse_unmapped_ids") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let map = IdMap {
        uids: vec![IdRange {
            container: 0,
            host: 100_000,
            len: 65536,
        }],
        gids: vec![IdRange {
            container: 0,
            host: 200_000,
            len: 65536,
        }],
    };
    let mut options = ApplyOptions::new("mapped");
    options.ownership = Ownership::Map(map);
    let layer = tar(&[
        E::dir("home", 0o755),
        E::file("home/user", "u\n", 0o4750).owner(1000, 100),
        E::symlink("home/link", "user").owner(5, 6),
    ]);
    apply_layer(work.path(), &layer[..], Compression::None, &options).unwrap();
    let tree = snapshot(work.path(), GOLDEN);
    assert_eq!((tree["home"].uid, tree["home"].gid), (100_000, 200_000));
    assert_eq!(
        (tree["home/user"].uid, tree["home/user"].gid),
        (101_000, 200_100)
    );
    assert_eq!(tree["home/user"].mode, 0o4750);
    assert_eq!(
        (tree["home/link"].uid, tree["home/link"].gid),
        (100_005, 200_006)
    );

    let unmapped = tar(&[E::file("x", "x", 0o644).owner(70_000, 0)]);
    let err = apply_layer(work.path(), &unmapped[..], Compression::None, &options).unwrap_err();
    assert_eq!(err.entry.as_deref(), Some("x"));
    assert!(
        err.to_string().contains("uid 70000 is not in the id map"),
        "{err}"
    );
}

/// The image spec's rules for entries of one layer: a whiteout or opaque marker hides only
/// what lower layers have. Checked against umoci on the same image.
#[test]
fn same_layer_rules_match_umoci() {
    if !root_or_skip("same_layer_rules_match_umoci") {
        return;
    }
    require_tools(&["umoci"]);
    let layers = [
        tar(&[
            E::dir("a", 0o755),
            E::file("a/lower", "lower\n", 0o644),
            E::dir("b", 0o755),
            E::file("b/lower", "lower\n", 0o644),
            E::dir("b/sub", 0o755),
            E::file("b/sub/lower", "lower\n", 0o644),
            E::dir("c", 0o755),
            E::file("c/lower", "lower\n", 0o644),
        ]),
        tar(&[
            // A file of this layer, then a whiteout for it: the file stays.
            E::dir("a", 0o755),
            E::file("a/new", "new\n", 0o644),
            E::whiteout("a", "new"),
            E::whiteout("a", "lower"),
            // Entries, then the opaque marker: this layer's entries stay, the lower's go,
            // including those in subdirectories this layer also has.
            E::dir("b", 0o755),
            E::dir("b/sub", 0o755),
            E::file("b/sub/new", "new\n", 0o644),
            E::file("b/new", "new\n", 0o644),
            E::opaque("b"),
            // A whiteout, then the same name again: the new entry.
            E::dir("c", 0o755),
            E::whiteout("c", "lower"),
            E::file("c/lower", "again\n", 0o600),
        ]),
    ];
    let work = tempfile::tempdir().unwrap();
    let ours = work.path().join("ours");
    fs::create_dir(&ours).unwrap();
    for (i, t) in layers.iter().enumerate() {
        apply(&ours, t, &format!("L{i}")).unwrap();
    }
    let layout = work.path().join("layout");
    write_image(
        &layout,
        "same",
        layers
            .iter()
            .map(|t| Layer::from_tar(t.clone(), aurora_testkit::Compression::None))
            .collect(),
        "linux/amd64",
    );
    let bundle = work.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:same", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut theirs = snapshot(&bundle.join("rootfs"), GOLDEN);
    let mut mine = snapshot(&ours, GOLDEN);
    theirs.remove("");
    mine.remove("");
    if let Some(d) = diff("aurora", &mine, "umoci", &theirs) {
        panic!("{d}");
    }
    assert!(mine.contains_key("a/new"));
    assert!(!mine.contains_key("a/lower"));
    assert!(mine.contains_key("b/new") && mine.contains_key("b/sub/new"));
    assert!(!mine.contains_key("b/lower") && !mine.contains_key("b/sub/lower"));
    assert_eq!(mine["c/lower"].content.as_deref(), Some("again\n"));
}

#[test]
fn overlay_mode_same_layer_cases() {
    if !root_or_skip("overlay_mode_same_layer_cases") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut options = ApplyOptions::new("overlay");
    options.whiteouts = WhiteoutMode::Overlay;
    let layer = tar(&[
        // The layer's own file, then a whiteout of it: the file stays, no device.
        E::dir("a", 0o755),
        E::file("a/mine", "mine\n", 0o644),
        E::whiteout("a", "mine"),
        // A whiteout, then a directory of the same name: the directory is opaque.
        E::whiteout("", "d"),
        E::dir("d", 0o755),
        E::file("d/new", "new\n", 0o644),
        // The layer's own directory, then a whiteout of it: made opaque.
        E::dir("e", 0o755),
        E::whiteout("", "e"),
        // An opaque marker at the top.
        E::opaque(""),
        // Overlay xattrs in a layer are not taken.
        E::file("forged", "f\n", 0o644).xattr("trusted.overlay.redirect", b"/etc"),
    ]);
    let report = apply_layer(work.path(), &layer[..], Compression::None, &options).unwrap();
    let tree = snapshot(work.path(), GOLDEN);
    assert_eq!(tree["a/mine"].kind, 'f');
    assert_eq!(tree["d"].kind, 'd');
    assert_eq!(tree["d"].xattrs["trusted.overlay.opaque"], b"y");
    assert_eq!(tree["e"].xattrs["trusted.overlay.opaque"], b"y");
    assert_eq!(tree[""].xattrs["trusted.overlay.opaque"], b"y");
    assert!(tree["forged"].xattrs.is_empty());
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("trusted.overlay.redirect")));

    // A hardlink to a file no layer has is an error naming it.
    let err = apply_layer(
        work.path(),
        &tar(&[E::hardlink("h", "missing")])[..],
        Compression::None,
        &options,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::HardlinkTarget { .. }),
        "{err}"
    );
}

#[test]
fn the_root_entry_sets_the_roots_metadata() {
    if !root_or_skip("the_root_entry_sets_the_roots_metadata") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layer = tar(&[
        E::dir("./", 0o750).owner(1, 2).mtime(1_000_000),
        E::file("f", "f", 0o644),
    ]);
    let report = apply(work.path(), &layer, "root-entry").unwrap();
    assert!(report.root_entry);
    let tree = snapshot(work.path(), EXACT);
    assert_eq!((tree[""].mode, tree[""].uid, tree[""].gid), (0o750, 1, 2));
    assert_eq!(tree[""].mtime, Some((1_000_000, 0)));
    let without = apply(work.path(), &tar(&[E::file("g", "g", 0o644)]), "no-root").unwrap();
    assert!(!without.root_entry);
    // Anything else standing for the root is refused.
    let err = apply(work.path(), &tar(&[E::symlink(".", "/etc")]), "bad-root").unwrap_err();
    assert_eq!(err.entry.as_deref(), Some("."));
    assert!(err.to_string().contains("only a directory"), "{err}");
}

/// A generated tar stream: one directory and `files` files of `size` bytes of non-zero
/// pseudo-random data, produced on the fly (never held in memory).
struct Generated {
    headers: Vec<Vec<u8>>,
    size: u64,
    index: usize,
    pos: u64,
    state: u32,
    trailer: usize,
}

impl Generated {
    fn new(files: usize, size: u64) -> Self {
        let headers = (0..files)
            .map(|i| {
                let mut h = tar::Header::new_gnu();
                h.set_path(format!("big/file{i}")).unwrap();
                h.set_size(size);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mtime(MTIME);
                h.set_cksum();
                h.as_bytes().to_vec()
            })
            .collect();
        Generated {
            headers,
            size,
            index: 0,
            pos: 0,
            state: 1,
            trailer: 1024,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let padded = self.size.div_ceil(512) * 512;
        if self.index == self.headers.len() {
            let n = buf.len().min(self.trailer);
            buf[..n].fill(0);
            self.trailer -= n;
            return Ok(n);
        }
        if self.pos < 512 {
            let header = &self.headers[self.index];
            let n = buf.len().min(512 - self.pos as usize);
            buf[..n].copy_from_slice(&header[self.pos as usize..self.pos as usize + n]);
            self.pos += n as u64;
            return Ok(n);
        }
        let offset = self.pos - 512;
        let n = buf.len().min((padded - offset) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            if offset + (i as u64) < self.size {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 17;
                self.state ^= self.state << 5;
                *b = (self.state as u8) | 1;
            } else {
                *b = 0;
            }
        }
        self.pos += n as u64;
        if self.pos == 512 + padded {
            self.index += 1;
            self.pos = 0;
        }
        Ok(n)
    }
}

/// Set (to `ROOT:REPORT`) by `a_large_layer_streams_through_in_bounded_memory` for the child
/// process it starts: the child applies the generated layer under ROOT and writes its own
/// peak resident set size to REPORT. A child of its own, because peak RSS is per process and
/// the harness runs other tests in this one.
const STREAM_CHILD_ENV: &str = "AURORA_LAYERS_STREAM_CHILD";
const STREAM_FILES: usize = 3;
const STREAM_FILE_BYTES: u64 = 64 * 1024 * 1024 + 123;

/// The child's part of the test below; started only by it (a role, not a test of its own).
#[test]
fn child_applies_a_generated_layer() {
    let Ok(spec) = std::env::var(STREAM_CHILD_ENV) else {
        return;
    };
    let (root, report_file) = spec.split_once(':').expect("ROOT:REPORT");
    let report = apply_layer(
        Path::new(root),
        Generated::new(STREAM_FILES, STREAM_FILE_BYTES),
        Compression::None,
        &ApplyOptions::new("generated"),
    )
    .unwrap();
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let peak_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .expect("VmHWM in /proc/self/status")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .to_string();
    fs::write(
        report_file,
        format!("{} {} {peak_kib}\n", report.files, report.file_bytes),
    )
    .unwrap();
}

/// A layer of 192 MiB of file data is applied by a process whose peak resident set stays
/// far below that: the bytes stream from the reader to the files, never held whole.
#[test]
fn a_large_layer_streams_through_in_bounded_memory() {
    if !root_or_skip("a_large_layer_streams_through_in_bounded_memory") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fs::create_dir(&root).unwrap();
    let report_file = work.path().join("report");
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_applies_a_generated_layer", "--nocapture"])
        .env(
            STREAM_CHILD_ENV,
            format!("{}:{}", root.display(), report_file.display()),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = fs::read_to_string(&report_file).expect("the child's report");
    let fields: Vec<u64> = report
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let [files, file_bytes, peak_kib] = fields[..] else {
        panic!("report {report:?}");
    };
    assert_eq!(files, STREAM_FILES as u64);
    assert_eq!(file_bytes, STREAM_FILES as u64 * STREAM_FILE_BYTES);
    for i in 0..STREAM_FILES {
        let p = root.join(format!("big/file{i}"));
        assert_eq!(fs::metadata(&p).unwrap().len(), STREAM_FILE_BYTES);
    }
    // A quarter of one file: the test binary itself needs a few MiB.
    let bound_kib = STREAM_FILE_BYTES / 4 / 1024;
    assert!(
        peak_kib < bound_kib,
        "peak RSS {peak_kib} KiB applying {} MiB (bound {bound_kib} KiB)",
        file_bytes >> 20
    );
}

/// Overlay mode: a parent directory a layer needs but does not carry takes the attributes
/// the lower layers give it (the upper directory's are what the merged tree shows); without
/// lowers it is made 0755 and counted, so that the caller knows the tree may differ.
#[test]
fn overlay_mode_takes_implied_parents_from_the_lowers() {
    if !root_or_skip("overlay_mode_takes_implied_parents_from_the_lowers") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let lower = work.path().join("lower");
    let upper = work.path().join("upper");
    let bare = work.path().join("bare");
    for dir in [&lower, &upper, &bare] {
        fs::create_dir(dir).unwrap();
    }
    let mut options = ApplyOptions::new("lower");
    options.whiteouts = WhiteoutMode::Overlay;
    let base = tar(&[
        E::dir("srv", 0o751).owner(3, 4).mtime(1_000),
        E::dir("srv/deep", 0o700).mtime(2_000),
        E::file("srv/deep/old", "old\n", 0o644),
    ]);
    apply_layer(&lower, &base[..], Compression::None, &options).unwrap();
    let above = tar(&[
        E::file("srv/deep/new", "new\n", 0o644),
        E::whiteout("srv/deep", "old"),
        E::file("fresh/x", "x\n", 0o644),
    ]);

    options.overlay_lowers = vec![lower.clone()];
    let report = apply_layer(&upper, &above[..], Compression::None, &options).unwrap();
    assert_eq!(report.implied_dirs, 1, "only fresh/ is new");
    let tree = snapshot(&upper, EXACT);
    assert_eq!(
        (tree["srv"].mode, tree["srv"].uid, tree["srv"].gid),
        (0o751, 3, 4)
    );
    assert_eq!(tree["srv"].mtime, Some((1_000, 0)));
    assert_eq!(
        (tree["srv/deep"].mode, tree["srv/deep"].mtime),
        (0o700, Some((2_000, 0)))
    );
    assert_eq!(tree["fresh"].mode, 0o755);

    options.overlay_lowers.clear();
    let report = apply_layer(&bare, &above[..], Compression::None, &options).unwrap();
    assert_eq!(
        report.implied_dirs, 3,
        "srv, srv/deep and fresh made without knowing"
    );
    assert_eq!(snapshot(&bare, EXACT)["srv"].mode, 0o755);
}
