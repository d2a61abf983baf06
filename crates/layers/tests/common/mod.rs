//! Test support: tar layers built entry by entry (including names no well-behaved tool writes),
//! tree snapshots to compare roots, a canary directory to prove nothing outside changed, and
//! the root check for tests that need privileges.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aurora_layers::{apply_layer, ApplyOptions, ApplyReport, Compression, Error};
use tar::{EntryType, Header};

/// True when running as root; otherwise prints why the calling test is skipped.
pub fn is_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        true
    } else {
        eprintln!("skipping {test}: needs root");
        false
    }
}

/// Skips the rest of the test unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root(module_path!()) {
            return;
        }
    };
}

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

/// What a tree looks like, path by path (relative, "" for the root).
pub type Tree = BTreeMap<String, Node>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// The text if short UTF-8, else its digest.
    pub content: Option<String>,
    pub link: Option<String>,
    pub rdev: Option<(u32, u32)>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// (seconds, nanoseconds); `None` where the snapshot leaves mtimes out.
    pub mtime: Option<(i64, i64)>,
    /// The other paths sharing this inode, sorted.
    pub hardlinks: Vec<String>,
}

#[derive(Clone, Copy)]
pub struct Snap {
    /// Keep directories' mtimes too (canaries); the golden comparison leaves them out.
    pub dir_mtimes: bool,
    /// Leave `trusted.overlay.*` xattrs out.
    pub hide_overlay_xattrs: bool,
}

pub const GOLDEN: Snap = Snap {
    dir_mtimes: false,
    hide_overlay_xattrs: false,
};
pub const EXACT: Snap = Snap {
    dir_mtimes: true,
    hide_overlay_xattrs: false,
};

pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 65536];
    let mut out = BTreeMap::new();
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return out,
    };
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(path, name, &mut value[..]) {
            value.truncate(len);
            out.insert(String::from_utf8_lossy(name).into_owned(), value);
        }
    }
    out
}

pub fn snapshot(root: &Path, snap: Snap) -> Tree {
    let mut tree = Tree::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    walk(root, root, snap, &mut tree, &mut inodes);
    for paths in inodes.values() {
        if paths.len() > 1 {
            for p in paths {
                let others = paths.iter().filter(|o| *o != p).cloned().collect();
                tree.get_mut(p).unwrap().hardlinks = others;
            }
        }
    }
    tree
}

fn walk(
    root: &Path,
    path: &Path,
    snap: Snap,
    tree: &mut Tree,
    inodes: &mut BTreeMap<(u64, u64), Vec<String>>,
) {
    let meta = fs::symlink_metadata(path).unwrap();
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_file() {
        'f'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else {
        's'
    };
    let mut xattrs = xattrs(path);
    if snap.hide_overlay_xattrs {
        xattrs.retain(|k, _| !k.starts_with("trusted.overlay."));
    }
    let node = Node {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: if kind == 'f' { meta.size() } else { 0 },
        content: (kind == 'f').then(|| {
            let bytes = fs::read(path).unwrap();
            match String::from_utf8(bytes) {
                Ok(text) if text.len() <= 80 => text,
                Ok(text) => sha256(text.as_bytes()),
                Err(e) => sha256(e.as_bytes()),
            }
        }),
        link: (kind == 'l').then(|| fs::read_link(path).unwrap().to_string_lossy().into_owned()),
        rdev: matches!(kind, 'c' | 'b').then(|| {
            let d = meta.rdev();
            (rustix::fs::major(d), rustix::fs::minor(d))
        }),
        xattrs,
        mtime: (kind != 'd' || snap.dir_mtimes).then(|| (meta.mtime(), meta.mtime_nsec())),
        hardlinks: Vec::new(),
    };
    if kind != 'd' {
        inodes
            .entry((meta.dev(), meta.ino()))
            .or_default()
            .push(rel.clone());
    }
    tree.insert(rel, node);
    if kind == 'd' {
        let mut children: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for child in children {
            walk(root, &child, snap, tree, inodes);
        }
    }
}

/// Describes the differences between two trees, or returns `None` if they are equal.
pub fn diff(left_name: &str, left: &Tree, right_name: &str, right: &Tree) -> Option<String> {
    let mut out = String::new();
    for (path, node) in left {
        match right.get(path) {
            None => out.push_str(&format!("only in {left_name}: {path:?} {node:?}\n")),
            Some(other) if other != node => out.push_str(&format!(
                "differs: {path:?}\n  {left_name}: {node:?}\n  {right_name}: {other:?}\n"
            )),
            Some(_) => {}
        }
    }
    for (path, node) in right {
        if !left.contains_key(path) {
            out.push_str(&format!("only in {right_name}: {path:?} {node:?}\n"));
        }
    }
    (!out.is_empty()).then_some(out)
}

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
