//! Small wrappers over `*at` calls, stat results, times and pathrs errors, and the copy
//! loop: what every part of the Linux target uses.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::sys::{Ctx, Meta, Time};
use crate::ErrorKind;

pub(super) const OVERLAY_OPAQUE: &[u8] = b"trusted.overlay.opaque";

pub(super) fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

pub(super) fn path(bytes: &[u8]) -> &Path {
    Path::new(os(bytes))
}

pub(super) fn is_errno(e: &pathrs::error::Error, any_of: &[Errno]) -> bool {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(n)) => any_of.iter().any(|x| x.raw_os_error() == n),
        _ => false,
    }
}

/// pathrs' error as an `io::Error` whose message carries the whole chain (pathrs puts the
/// errno in a source, which most displays drop).
pub(super) fn pathrs_io(e: pathrs::error::Error) -> io::Error {
    let kind = match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(n)) => io::Error::from_raw_os_error(n).kind(),
        _ => io::ErrorKind::Other,
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    io::Error::new(kind, message)
}

pub(super) fn is(st: &Stat, ty: FileType) -> bool {
    FileType::from_raw_mode(st.st_mode) == ty
}

pub(super) fn is_overlay_whiteout(st: &Stat) -> bool {
    is(st, FileType::CharacterDevice) && st.st_rdev == 0
}

pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn proc_fd(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub(super) fn timespec(t: Time) -> Timespec {
    Timespec {
        tv_sec: t.secs,
        tv_nsec: t.nanos.into(),
    }
}

pub(super) fn timestamps(meta_atime: Time, meta_mtime: Time) -> Timestamps {
    Timestamps {
        last_access: timespec(meta_atime),
        last_modification: timespec(meta_mtime),
    }
}

/// Sets xattrs, through `set`; unsupported ones (filesystem, namespace, inode type,
/// privilege) are skipped with a warning.
pub(super) fn set_xattrs(
    ctx: &mut Ctx<'_, '_>,
    meta: &Meta,
    mut set: impl FnMut(&[u8], &[u8]) -> rustix::io::Result<()>,
) -> Result<(), ErrorKind> {
    for (name, value) in &meta.xattrs {
        match set(name, value) {
            Ok(()) => {}
            Err(
                e @ (Errno::OPNOTSUPP
                | Errno::PERM
                | Errno::ACCESS
                | Errno::RANGE
                | Errno::TOOBIG
                | Errno::INVAL),
            ) => ctx.warn(format!(
                "xattr {} not set: {e}",
                String::from_utf8_lossy(name)
            )),
            Err(e) => return Err(ErrorKind::fs("setting an xattr", e)),
        }
    }
    Ok(())
}
/// Names in a directory, without `.` and `..`.
pub(super) fn list_dir(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, ErrorKind> {
    let mut names = Vec::new();
    let entries = rfs::Dir::read_from(dir).map_err(|e| ErrorKind::fs("listing a directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ErrorKind::fs("listing a directory", e))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

/// Copies exactly `size` bytes; runs of zeros become holes.
pub(super) fn write_contents(
    data: &mut dyn Read,
    file: &mut File,
    size: u64,
    buf: &mut [u8],
) -> Result<u64, ErrorKind> {
    let mut written = 0u64;
    let mut ends_in_hole = false;
    while written < size {
        let want = buf
            .len()
            .min((size - written).try_into().unwrap_or(usize::MAX));
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => return Err(ErrorKind::Truncated { written, size }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ErrorKind::Tar(e)),
        };
        let chunk = &buf[..n];
        if n >= 4096 && chunk.iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(n as i64))
                .map_err(|e| ErrorKind::fs("seeking over zeros", e))?;
            ends_in_hole = true;
        } else {
            file.write_all(chunk)
                .map_err(|e| ErrorKind::fs("writing the file", e))?;
            ends_in_hole = false;
        }
        written += n as u64;
    }
    if ends_in_hole {
        file.set_len(size)
            .map_err(|e| ErrorKind::fs("extending the file", e))?;
    }
    Ok(written)
}
