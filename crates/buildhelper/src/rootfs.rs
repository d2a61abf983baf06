//! The image root the `add` commands write into, and the one way they write: atomically.
//!
//! Inside a build container the root is `/` and nothing could escape it; with `--root DIR`
//! (tests, or buildhelper run on a host against an unpacked image) the image's own symlinks
//! could point anywhere. So every path is resolved inside the root by the kernel (`pathrs`,
//! `openat2(RESOLVE_IN_ROOT)`): an image's `/etc -> /host/etc` leads to `ROOT/host/etc`, never
//! out. The final component is never followed when writing: the new content goes to a fresh
//! temporary file beside it (`O_CREAT|O_EXCL|O_NOFOLLOW`) that is renamed over the name, so
//! a symlink there is replaced, not written through.

use std::fs::{File, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use pathrs::flags::OpenFlags;
use pathrs::Root;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The largest file buildhelper reads back from an image before replacing it (its own JSON
/// files are a few KiB; anything this large is not one of them).
pub const MAX_READ: u64 = 16 << 20;

/// A file in the image root that cannot be read, written or removed.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("cannot open the image root {root}: {source}")]
    Open { root: PathBuf, source: io::Error },
    #[error("{path:?} is not an absolute path with a file name")]
    BadPath { path: String },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is over {limit} bytes: not a file buildhelper wrote")]
    TooLarge { path: String, limit: u64 },
    #[error("cannot write {path}: {what}: {source}")]
    Write {
        path: String,
        what: &'static str,
        source: io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove { path: String, source: io::Error },
}

/// The root of the image being built.
pub struct ImageRoot {
    root: Root,
    dir: PathBuf,
}

/// Temporary names differ within one process too (tests write from several threads).
static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

impl ImageRoot {
    /// Opens `dir` (`/` inside a build container) as the image root.
    pub fn open(dir: &Path) -> Result<Self, RootError> {
        let root = Root::open(dir).map_err(|e| RootError::Open {
            root: dir.to_path_buf(),
            source: pathrs_io(e),
        })?;
        Ok(ImageRoot {
            root,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory the root was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `path` (absolute inside the image) as people should read it in messages: as is when
    /// the root is `/`, else prefixed with the root.
    pub fn shown(&self, path: &str) -> String {
        if self.dir == Path::new("/") {
            path.to_string()
        } else {
            format!("{}{path}", self.dir.display())
        }
    }

    /// The contents of the regular file at `path`, or `None` when there is none.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, RootError> {
        let err = |source| RootError::Read {
            path: self.shown(path),
            source,
        };
        let handle = match self.root.resolve(path) {
            Ok(handle) => handle,
            Err(e) => {
                let e = pathrs_io(e);
                return match e.kind() {
                    io::ErrorKind::NotFound => Ok(None),
                    _ => Err(err(e)),
                };
            }
        };
        // Reopened only once known to be a regular file: a FIFO planted there must not block.
        let st = rfs::fstat(&handle).map_err(|e| err(e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(RootError::NotAFile {
                path: self.shown(path),
            });
        }
        let file = handle
            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC)
            .map_err(|e| err(pathrs_io(e)))?;
        let mut bytes = Vec::new();
        file.take(MAX_READ + 1)
            .read_to_end(&mut bytes)
            .map_err(err)?;
        if bytes.len() as u64 > MAX_READ {
            return Err(RootError::TooLarge {
                path: self.shown(path),
                limit: MAX_READ,
            });
        }
        Ok(Some(bytes))
    }

    /// Replaces (or creates) the file at `path` with `bytes` and `mode`, atomically: readers
    /// see the old file or the new one, never a part. Missing parents are created (0755).
    pub fn write_atomic(&self, path: &str, bytes: &[u8], mode: u32) -> Result<(), RootError> {
        let (parent, name) = split(path)?;
        let fail = |what, source| RootError::Write {
            path: self.shown(path),
            what,
            source,
        };
        let dir = self
            .root
            .mkdir_all(parent, &Permissions::from_mode(0o755))
            .map_err(|e| fail("creating its directory", pathrs_io(e)))?;
        let dir = OwnedFd::from(dir);
        let temp = format!(
            ".{name}.buildhelper-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let fd = rfs::openat(
            &dir,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| fail("creating a temporary file", e.into()))?;
        let mut file = File::from(fd);
        let written = (|| -> Result<(), RootError> {
            file.write_all(bytes)
                .map_err(|e| fail("writing a temporary file", e))?;
            // Set explicitly: the umask of a build step must not decide the image's modes.
            rfs::fchmod(&file, Mode::from_raw_mode(mode))
                .map_err(|e| fail("setting the mode", e.into()))?;
            file.sync_all()
                .map_err(|e| fail("syncing a temporary file", e))?;
            rfs::renameat(&dir, temp.as_str(), &dir, name)
                .map_err(|e| fail("renaming the temporary file", e.into()))
        })();
        if written.is_err() {
            let _ = rfs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
            return written;
        }
        // The rename is durable once the directory is: an O_PATH descriptor cannot be synced.
        let synced = rfs::openat(
            &dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .and_then(|d| rfs::fsync(d.as_fd()));
        synced.map_err(|e| fail("syncing its directory", e.into()))
    }

    /// Removes the file at `path` (never following its last component); `false` when there
    /// was none.
    pub fn remove_file(&self, path: &str) -> Result<bool, RootError> {
        let (parent, name) = split(path)?;
        let err = |source| RootError::Remove {
            path: self.shown(path),
            source,
        };
        let dir = match self.root.resolve(parent) {
            Ok(dir) => dir,
            Err(e) => {
                let e = pathrs_io(e);
                return match e.kind() {
                    io::ErrorKind::NotFound => Ok(false),
                    _ => Err(err(e)),
                };
            }
        };
        match rfs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(err(e.into())),
        }
    }
}

/// A document as the files buildhelper writes hold it: pretty JSON and a final newline
/// (podinit's own test files have that form, so a diff between them reads well).
pub fn json_bytes<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// `/a/b/c` → (`/a/b`, `c`); refuses relative paths and paths without a plain file name.
fn split(path: &str) -> Result<(&str, &str), RootError> {
    let bad = || RootError::BadPath {
        path: path.to_string(),
    };
    let (parent, name) = path.rsplit_once('/').ok_or_else(bad)?;
    if !path.starts_with('/') || name.is_empty() || name == "." || name == ".." {
        return Err(bad());
    }
    Ok((if parent.is_empty() { "/" } else { parent }, name))
}

/// pathrs keeps the errno in a source that most displays drop: this gives an `io::Error` of
/// the errno's kind whose message has the whole chain.
pub(crate) fn pathrs_io(e: pathrs::error::Error) -> io::Error {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(errno)) => {
            io::Error::new(io::Error::from_raw_os_error(errno).kind(), text)
        }
        _ => io::Error::other(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        assert_eq!(root.read("/etc/aurora/x.json").unwrap(), None);
        root.write_atomic("/etc/aurora/x.json", b"one", 0o644)
            .unwrap();
        root.write_atomic("/etc/aurora/x.json", b"two", 0o640)
            .unwrap();
        let path = dir.path().join("etc/aurora/x.json");
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
        // Only the file: no temporary left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("etc/aurora"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.json"]);
        assert_eq!(root.read("/etc/aurora/x.json").unwrap().unwrap(), b"two");
        assert!(root.remove_file("/etc/aurora/x.json").unwrap());
        assert!(!root.remove_file("/etc/aurora/x.json").unwrap());
    }

    #[test]
    fn symlinks_in_the_image_stay_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // An image whose /etc points at an absolute path outside, and whose file is a
        // symlink out: neither is followed out of the root.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("etc")).unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        // Inside the root the link dangles, and nothing is created through a dangling link.
        let err = root.write_atomic("/etc/aurora/a.json", b"{}", 0o644);
        assert!(matches!(err, Err(RootError::Write { .. })), "{err:?}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // Once its target exists inside the root, that is where the file goes.
        let inside = dir.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        root.write_atomic("/etc/aurora/a.json", b"{}", 0o644)
            .unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(std::fs::read(inside.join("aurora/a.json")).unwrap(), b"{}");

        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "keep").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("x/f.json")).unwrap();
        root.write_atomic("/x/f.json", b"new", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(dir.path().join("x/f.json"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn refuses_what_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/aurora/d.json")).unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        assert!(matches!(
            root.read("/etc/aurora/d.json"),
            Err(RootError::NotAFile { .. })
        ));
        assert!(matches!(
            root.write_atomic("rel", b"", 0o644),
            Err(RootError::BadPath { .. })
        ));
        assert!(matches!(
            root.write_atomic("/etc/", b"", 0o644),
            Err(RootError::BadPath { .. })
        ));
    }
}
