//! Writing files atomically and without following a symlink in the final component.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};

/// A file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {what}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Owner and mode of a file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttrs {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Writes `bytes` to `path` atomically: a new temporary file in the same directory (created
/// with `O_EXCL|O_NOFOLLOW`), chmod/chown on its descriptor, fsync, then rename over `path`.
/// A symlink at `path` is replaced, never followed. With `create_parents`, missing parent
/// directories are created with mode 0755 (symlinks among the parents are followed).
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    attrs: FileAttrs,
    create_parents: bool,
) -> Result<(), WriteError> {
    let err = |what: &'static str| {
        move |e: std::io::Error| WriteError {
            path: path.to_path_buf(),
            what,
            source: e,
        }
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))
        .map_err(err("no file name"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = open_dir(parent, create_parents).map_err(err("opening its directory"))?;
    let tmp_name = {
        let mut n = std::ffi::OsString::from(".");
        n.push(name);
        n.push(format!(".podinit-{}.tmp", std::process::id()));
        n
    };
    // A temporary left by a podinit that died with the same pid is ours to replace.
    let _ = rfs::unlinkat(&dir, &*tmp_name, AtFlags::empty());
    let fd = rfs::openat(
        &dir,
        &*tmp_name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| err("creating a temporary file")(e.into()))?;
    let result = (|| {
        let mut file = File::from(fd);
        file.write_all(bytes).map_err(err("writing"))?;
        if attrs.uid.is_some() || attrs.gid.is_some() {
            rfs::fchown(
                &file,
                attrs.uid.map(rfs::Uid::from_raw),
                attrs.gid.map(rfs::Gid::from_raw),
            )
            .map_err(|e| err("changing its owner")(e.into()))?;
        }
        rfs::fchmod(&file, Mode::from_raw_mode(attrs.mode as _))
            .map_err(|e| err("changing its mode")(e.into()))?;
        file.sync_all().map_err(err("syncing"))?;
        rfs::renameat(&dir, &*tmp_name, &dir, name)
            .map_err(|e| err("renaming it into place")(e.into()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rfs::unlinkat(&dir, &*tmp_name, AtFlags::empty());
    } else {
        let _ = rfs::fsync(&dir);
    }
    result
}

fn open_dir(path: &Path, create: bool) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !create {
        return Ok(rfs::open(path, flags, Mode::empty())?);
    }
    let start = if path.is_absolute() { "/" } else { "." };
    let mut dir: OwnedFd = rfs::open(start, flags, Mode::empty())?;
    for comp in path.components() {
        use std::path::Component;
        let name = match comp {
            Component::Normal(n) => n,
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "path climbs with `..`",
                ))
            }
        };
        match rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let next = rfs::openat(dir.as_fd(), name, flags, Mode::empty())?;
        dir = next;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ATTRS: FileAttrs = FileAttrs {
        mode: 0o640,
        uid: None,
        gid: None,
    };

    #[test]
    fn writes_with_mode_and_parents() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a/b/c.txt");
        write_atomic(&p, b"hello\n", ATTRS, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello\n");
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        let names: Vec<_> = std::fs::read_dir(t.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["c.txt"]);
    }

    #[test]
    fn replaces_a_symlink_instead_of_following_it() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomic(&link, b"new", ATTRS, false).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
    }

    #[test]
    fn refuses_a_directory_in_the_way() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        let err = write_atomic(&t.path().join("d"), b"x", ATTRS, false).unwrap_err();
        assert_eq!(err.what, "renaming it into place");
        assert!(err.to_string().starts_with(&format!(
            "cannot write {}: renaming it into place: ",
            t.path().join("d").display()
        )));
        let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary file left behind");
    }
}
