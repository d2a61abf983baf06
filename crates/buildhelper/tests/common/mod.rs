//! Test support: tar archives written header by header (so names and sizes no well-behaved
//! tool writes are possible), compressed in each format; zip archives; a destination beside
//! a canary directory whose snapshot proves that nothing outside changed.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use aurora_buildhelper::extract::{extract, ExtractError, ExtractOptions, Report};
use aurora_testkit::tree::{snapshot, Tree, EXACT};
use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

/// A tar stream built entry by entry.
#[derive(Default)]
pub struct Tar {
    out: Vec<u8>,
}

/// One entry's header fields.
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: Option<&'a [u8]>,
    pub data: &'a [u8],
    /// The size the header declares, when not the data's.
    pub declared: Option<u64>,
    pub dev: (u32, u32),
}

impl<'a> Entry<'a> {
    pub fn new(name: &'a str, kind: EntryType) -> Self {
        Entry {
            name: name.as_bytes(),
            kind,
            mode: if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            gid: 0,
            link: None,
            data: b"",
            declared: None,
            dev: (0, 0),
        }
    }
}

impl Tar {
    pub fn entry(mut self, e: Entry<'_>) -> Self {
        let mut h = Header::new_gnu();
        let old = h.as_old_mut();
        assert!(e.name.len() <= old.name.len(), "use long() for long names");
        old.name[..e.name.len()].copy_from_slice(e.name);
        if let Some(link) = e.link {
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(MTIME);
        h.set_size(e.declared.unwrap_or(e.data.len() as u64));
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(e.data);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let rem = self.out.len() % 512;
        if rem != 0 {
            self.out.resize(self.out.len() + 512 - rem, 0);
        }
    }

    pub fn file(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.entry(Entry {
            data,
            mode,
            ..Entry::new(name, EntryType::Regular)
        })
    }

    pub fn dir(self, name: &str, mode: u32) -> Self {
        self.entry(Entry {
            mode,
            ..Entry::new(name, EntryType::Directory)
        })
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(Entry {
            link: Some(target.as_bytes()),
            mode: 0o777,
            ..Entry::new(name, EntryType::Symlink)
        })
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(Entry {
            link: Some(target.as_bytes()),
            ..Entry::new(name, EntryType::Link)
        })
    }

    /// A GNU long-name record (`L`) of `declared` bytes, `data` of which follow.
    pub fn long_name_record(mut self, data: &[u8], declared: u64) -> Self {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(EntryType::GNULongName);
        h.set_size(declared);
        h.set_mode(0o644);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        self.pad();
        self
    }

    /// The stream with its end-of-archive blocks.
    pub fn bytes(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }

    /// The stream as it is, without an end (an archive cut short).
    pub fn cut(self) -> Vec<u8> {
        self.out
    }
}

/// The compressions a tar can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

pub const ALL: [Comp; 5] = [Comp::None, Comp::Gzip, Comp::Xz, Comp::Bzip2, Comp::Zstd];

pub fn compress(bytes: &[u8], comp: Comp) -> Vec<u8> {
    match comp {
        Comp::None => bytes.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        Comp::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        Comp::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(bytes, 1).unwrap(),
    }
}

/// A zip archive built entry by entry.
pub struct Zip {
    w: zip::ZipWriter<Cursor<Vec<u8>>>,
}

pub fn zip_options(mode: u32, deflate: bool) -> zip::write::SimpleFileOptions {
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .unix_permissions(mode)
}

impl Zip {
    pub fn new() -> Self {
        Zip {
            w: zip::ZipWriter::new(Cursor::new(Vec::new())),
        }
    }

    pub fn file(mut self, name: &str, data: &[u8], mode: u32, deflate: bool) -> Self {
        self.w.start_file(name, zip_options(mode, deflate)).unwrap();
        self.w.write_all(data).unwrap();
        self
    }

    pub fn dir(mut self, name: &str, mode: u32) -> Self {
        self.w
            .add_directory(name, zip_options(mode, false))
            .unwrap();
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        self.w
            .add_symlink(name, target, zip_options(0o777, false))
            .unwrap();
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        self.w.finish().unwrap().into_inner()
    }
}

/// A scratch directory with `dest/` (where archives go), `canary/` beside it (which must
/// never change) and the archive file.
pub struct Scene {
    pub tmp: tempfile::TempDir,
    pub dest: PathBuf,
    pub canary: PathBuf,
    canary_before: Tree,
}

impl Scene {
    pub fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let canary = tmp.path().join("canary");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(canary.join("sub")).unwrap();
        std::fs::write(canary.join("secret"), "do not touch").unwrap();
        std::fs::write(canary.join("sub/file"), "nor this").unwrap();
        let canary_before = snapshot(&canary, EXACT);
        Scene {
            tmp,
            dest,
            canary,
            canary_before,
        }
    }

    /// Writes `bytes` as the archive `name` and extracts it into `dest`.
    pub fn extract(
        &self,
        name: &str,
        bytes: &[u8],
        options: &ExtractOptions,
    ) -> Result<Report, ExtractError> {
        let archive = self.tmp.path().join(name);
        std::fs::write(&archive, bytes).unwrap();
        extract(&archive, &self.dest, options)
    }

    /// The canary is as it was, and nothing new appeared beside `dest` and the archives.
    pub fn assert_canary(&self) {
        assert_eq!(
            snapshot(&self.canary, EXACT),
            self.canary_before,
            "the canary changed"
        );
    }

    /// An absolute path inside the canary, as bytes for an archive entry.
    pub fn canary_path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.canary.display())
    }

    pub fn at(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
}

/// Options for tests: no owners (so tests pass unprivileged), the default cap.
pub fn opts() -> ExtractOptions {
    ExtractOptions {
        same_owner: false,
        ..ExtractOptions::default()
    }
}

/// The mode bits of `path` (not followed).
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}
