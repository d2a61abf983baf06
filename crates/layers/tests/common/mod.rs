//! Test support: tar layers built entry by entry (including names no well-behaved tool writes),
//! tree snapshots to compare roots, a canary directory to prove nothing outside changed.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aurora_layers::{apply_layer, ApplyOptions, ApplyReport, Compression, Error};
use tar::{EntryType, Header};

/// One tar entry, with every header field under the test's control.
#[derive(Clone, Debug)]
pub struct E {
    pub path: Vec<u8>,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<Vec<u8>>,
    pub data: Vec<u8>,
    pub dev: (u32, u32),
    /// Extra PAX records (xattrs as `SCHILY.xattr.NAME`, `mtime`, `path`, …).
    pub pax: Vec<(String, Vec<u8>)>,
    /// Write a long name as a GNU `L` record instead of PAX `path`.
    pub gnu_long_name: bool,
}

pub const MTIME: u64 = 1_600_000_000;

impl E {
    fn new(path: &str, kind: EntryType, mode: u32) -> E {
        E {
            path: path.as_bytes().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: MTIME,
            link: None,
            data: Vec::new(),
            dev: (0, 0),
            pax: Vec::new(),
            gnu_long_name: false,
        }
    }
    pub fn file(path: &str, data: impl AsRef<[u8]>, mode: u32) -> E {
        E {
            data: data.as_ref().to_vec(),
            ..E::new(path, EntryType::Regular, mode)
        }
    }
    pub fn dir(path: &str, mode: u32) -> E {
        E::new(path, EntryType::Directory, mode)
    }
    pub fn symlink(path: &str, target: &str) -> E {
        E {
            link: Some(target.as_bytes().to_vec()),
            ..E::new(path, EntryType::Symlink, 0o777)
        }
    }
    pub fn hardlink(path: &str, target: &str) -> E {
        E {
            link: Some(target.as_bytes().to_vec()),
            ..E::new(path, EntryType::Link, 0o644)
        }
    }
    pub fn fifo(path: &str, mode: u32) -> E {
        E::new(path, EntryType::Fifo, mode)
    }
    pub fn chardev(path: &str, major: u32, minor: u32, mode: u32) -> E {
        E {
            dev: (major, minor),
            ..E::new(path, EntryType::Char, mode)
        }
    }
    pub fn blockdev(path: &str, major: u32, minor: u32, mode: u32) -> E {
        E {
            dev: (major, minor),
            ..E::new(path, EntryType::Block, mode)
        }
    }
    pub fn whiteout(dir: &str, name: &str) -> E {
        let path = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        E::file(&path, b"", 0o644)
    }
    pub fn opaque(dir: &str) -> E {
        let path = if dir.is_empty() {
            ".wh..wh..opq".to_string()
        } else {
            format!("{dir}/.wh..wh..opq")
        };
        E::file(&path, b"", 0o644)
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> E {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> E {
        self.mtime = mtime;
        self
    }
    pub fn xattr(mut self, name: &str, value: &[u8]) -> E {
        self.pax
            .push((format!("SCHILY.xattr.{name}"), value.to_vec()));
        self
    }
    pub fn pax(mut self, key: &str, value: &[u8]) -> E {
        self.pax.push((key.to_string(), value.to_vec()));
        self
    }
    pub fn gnu_long(mut self) -> E {
        self.gnu_long_name = true;
        self
    }
    pub fn raw_path(mut self, path: &[u8]) -> E {
        self.path = path.to_vec();
        self
    }
}

/// Builds an uncompressed tar from entries, writing names byte for byte (so `../x` and
/// `/abs` survive), with GNU long-name or PAX records for long names.
pub fn tar(entries: &[E]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for e in entries {
        append(&mut out, e);
    }
    out.into_inner().unwrap()
}

fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (key, value) in records {
        // "LEN key=value\n", where LEN counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + 1;
        while len.to_string().len() + rest != len {
            len += 1;
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    data
}

fn raw_header(kind: EntryType, name: &[u8], size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    h
}

fn append(out: &mut tar::Builder<Vec<u8>>, e: &E) {
    let mut pax = e.pax.clone();
    let long = e.path.len() > 100;
    if long && e.gnu_long_name {
        let mut data = e.path.clone();
        data.push(0);
        let mut h = raw_header(EntryType::GNULongName, b"././@LongLink", data.len() as u64);
        h.set_cksum();
        out.append(&h, &data[..]).unwrap();
    } else if long {
        pax.push(("path".into(), e.path.clone()));
    }
    if let Some(link) = &e.link {
        if link.len() > 100 {
            pax.push(("linkpath".into(), link.clone()));
        }
    }
    if !pax.is_empty() {
        let data = pax_records(&pax);
        let mut h = raw_header(EntryType::XHeader, b"PaxHeaders/entry", data.len() as u64);
        h.set_cksum();
        out.append(&h, &data[..]).unwrap();
    }
    let mut h = raw_header(e.kind, &e.path, e.data.len() as u64);
    h.set_mode(e.mode);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_mtime(e.mtime);
    if let Some(link) = &e.link {
        let n = link.len().min(100);
        h.as_old_mut().linkname[..n].copy_from_slice(&link[..n]);
    }
    if matches!(e.kind, EntryType::Char | EntryType::Block) {
        h.set_device_major(e.dev.0).unwrap();
        h.set_device_minor(e.dev.1).unwrap();
    }
    h.set_cksum();
    out.append(&h, &e.data[..]).unwrap();
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    aurora_spec::sha256_digest(data).to_string()
}

/// Applies an uncompressed tar with default (root) options and the given label.
pub fn apply(root: &Path, tar: &[u8], label: &str) -> Result<ApplyReport, Error> {
    apply_layer(root, tar, Compression::Detect, &ApplyOptions::new(label))
}

#[allow(unused_imports)] // each test file uses a different part
pub use aurora_testkit::tree::*;

/// A scratch area: `root/` to apply into and `canary/` beside it, whose full tree (contents,
/// modes, times) must never change.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub canary: PathBuf,
    canary_before: Tree,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let canary = dir.path().join("canary");
        fs::create_dir(&root).unwrap();
        fs::create_dir_all(canary.join("sub")).unwrap();
        fs::write(canary.join("passwd"), b"canary:x:0:0\n").unwrap();
        fs::write(canary.join("file"), b"canary file\n").unwrap();
        fs::write(canary.join("sub/inner"), b"inner\n").unwrap();
        std::os::unix::fs::symlink("passwd", canary.join("link")).unwrap();
        // Fixed times, so any touch shows.
        let t = filetime(1_500_000_000);
        for p in ["passwd", "file", "sub/inner", "sub", ""] {
            rustix::fs::utimensat(
                rustix::fs::CWD,
                canary.join(p),
                &t,
                rustix::fs::AtFlags::empty(),
            )
            .unwrap();
        }
        let canary_before = snapshot(&canary, EXACT);
        Scratch {
            dir,
            root,
            canary,
            canary_before,
        }
    }

    /// Asserts that the canary, and the scratch directory's own listing, are unchanged.
    pub fn assert_canary_intact(&self) {
        let now = snapshot(&self.canary, EXACT);
        if let Some(d) = diff("before", &self.canary_before, "after", &now) {
            panic!("the canary beside the root changed:\n{d}");
        }
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(
            names
                .iter()
                .all(|n| n == "root" || n == "canary" || n.starts_with("fresh")),
            "something appeared beside the root: {names:?}"
        );
    }

    /// A fresh root beside the others, for "the next layer still applies".
    pub fn fresh_root(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(format!("fresh-{name}"));
        fs::create_dir(&p).unwrap();
        p
    }
}

pub fn filetime(secs: i64) -> rustix::fs::Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// A small good layer, to show a root (or a fresh one) still takes layers after a failure.
pub fn good_layer() -> Vec<u8> {
    tar(&[
        E::dir("etc", 0o755),
        E::file("etc/hostname", b"good\n", 0o644),
    ])
}
