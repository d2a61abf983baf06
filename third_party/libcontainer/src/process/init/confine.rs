//! Aurora patch: masked and read-only paths applied through file descriptors.
//!
//! Upstream 0.7 mounted `linux.maskedPaths` and `linux.readonlyPaths` by path: it checked
//! what a path was (`exists`, `is_dir`), then mounted on the path, and for a read-only path
//! bound it and remounted it read-only in a second call, each call resolving the path again
//! and following symbolic links (youki advisory GHSA-3q8j-pf29-vwv8, the counterpart of runc's
//! CVE-2025-31133). A process racing with the setup (another container sharing the root
//! filesystem) could swap the path for a link between the calls, so the mask or the
//! read-only remount landed elsewhere and the named path stayed readable or writable; a link
//! planted in the image had the same effect without any race.
//!
//! Here each path is resolved once, inside the container's root (pathrs: openat2 with
//! `RESOLVE_IN_ROOT`, no magic links), without following its last component, into an
//! `O_PATH` descriptor; a path whose last component is a symbolic link is refused (masking or
//! protecting what it points to would act on a path the configuration does not name). What
//! the descriptor is (fstat) decides how it is masked, and every mount is attached to the
//! descriptor itself with the new mount API (`move_mount` with `MOVE_MOUNT_T_EMPTY_PATH`), so
//! nothing resolves the path a second time. A read-only path is a clone of its own tree
//! (`open_tree`) made read-only (`mount_setattr`, recursively) before it is attached, so it is
//! never visible writable, and its flags are checked (`fstatvfs`) after. The mask source is
//! the container's `/dev/null`, opened without following links and checked to be the
//! character device 1:3 on the very descriptor that is mounted.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::stat::{SFlag, fstat};
use nix::sys::statvfs::{FsFlags, fstatvfs};
use pathrs::Root;

use crate::rootfs::device::{DeviceError, verify_dev_null};
use crate::syscall::linux::MountAttr;
use crate::syscall::{Syscall, SyscallError};

// From <linux/mount.h>; not all of them are in the libc crate.
const OPEN_TREE_CLONE: u32 = 1;
const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const FSOPEN_CLOEXEC: u32 = 1;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSMOUNT_CLOEXEC: u32 = 1;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// A masked or read-only path that could not be applied, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum ConfinePathError {
    #[error("{path} is a symbolic link: refusing to {action} what it points to")]
    Symlink { path: PathBuf, action: &'static str },
    #[error("cannot resolve {path} inside the container's root")]
    Resolve {
        path: PathBuf,
        #[source]
        source: pathrs::error::Error,
    },
    #[error("cannot inspect {path}")]
    Stat {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot {action} {path}: {step} failed")]
    Mount {
        path: PathBuf,
        action: &'static str,
        step: &'static str,
        #[source]
        source: SyscallError,
    },
    #[error("{path} is still writable after being made read-only")]
    StillWritable { path: PathBuf },
    #[error("the container's /dev/null cannot be used to mask paths")]
    DevNull(#[source] DeviceError),
}

type Result<T> = std::result::Result<T, ConfinePathError>;

/// The container's root: `/` after pivot_root (or chroot), where these paths are applied.
fn container_root() -> Result<Root> {
    Root::open("/").map_err(|source| ConfinePathError::Resolve {
        path: PathBuf::from("/"),
        source,
    })
}

/// `path` inside `root` as an O_PATH descriptor of its last component (not followed) and
/// its file type; None when it does not exist, or (with `under_file_is_absent`, as upstream
/// treated masked paths) when a parent is not a directory.
fn open_target(
    root: &Root,
    path: &Path,
    action: &'static str,
    under_file_is_absent: bool,
) -> Result<Option<(OwnedFd, SFlag)>> {
    let handle = match root.resolve_nofollow(path) {
        Ok(handle) => handle,
        Err(err) => match err.kind() {
            pathrs::error::ErrorKind::OsError(Some(libc::ENOENT)) => return Ok(None),
            pathrs::error::ErrorKind::OsError(Some(libc::ENOTDIR)) if under_file_is_absent => {
                return Ok(None);
            }
            _ => {
                return Err(ConfinePathError::Resolve {
                    path: path.to_path_buf(),
                    source: err,
                });
            }
        },
    };
    let fd = OwnedFd::from(handle);
    let stat = fstat(fd.as_raw_fd()).map_err(|source| ConfinePathError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = SFlag::from_bits_truncate(stat.st_mode & libc::S_IFMT);
    if kind == SFlag::S_IFLNK {
        return Err(ConfinePathError::Symlink {
            path: path.to_path_buf(),
            action,
        });
    }
    Ok(Some((fd, kind)))
}

fn mount_error<'a>(
    path: &'a Path,
    action: &'static str,
    step: &'static str,
) -> impl FnOnce(SyscallError) -> ConfinePathError + 'a {
    move |source| ConfinePathError::Mount {
        path: path.to_path_buf(),
        action,
        step,
        source,
    }
}

/// Attaches the detached mount `tree` on the inode `target` refers to.
fn attach(
    syscall: &dyn Syscall,
    tree: &OwnedFd,
    target: &OwnedFd,
) -> std::result::Result<(), SyscallError> {
    syscall.move_mount(
        tree.as_fd(),
        None,
        target.as_fd(),
        None,
        MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// Makes each path read-only (with nosuid, nodev, noexec as upstream did).
pub fn readonly_paths(paths: &[String], syscall: &dyn Syscall) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = container_root()?;
    for path in paths.iter().map(Path::new) {
        let action = "make read-only";
        let Some((target, _)) = open_target(&root, path, action, false)? else {
            continue;
        };
        let tree = syscall
            .open_tree(
                target.as_raw_fd(),
                None,
                OPEN_TREE_CLONE
                    | OPEN_TREE_CLOEXEC
                    | libc::AT_EMPTY_PATH as u32
                    | libc::AT_RECURSIVE as u32,
            )
            .map_err(mount_error(path, action, "open_tree"))?;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        syscall
            .mount_setattr(
                tree.as_fd(),
                Path::new(""),
                libc::AT_EMPTY_PATH as u32 | libc::AT_RECURSIVE as u32,
                &attr,
                std::mem::size_of::<MountAttr>(),
            )
            .map_err(mount_error(path, action, "mount_setattr"))?;
        attach(syscall, &tree, &target).map_err(mount_error(path, action, "move_mount"))?;
        // The descriptor of the attached mount's root says what the container now sees there.
        let flags = fstatvfs(&tree).map_err(|source| ConfinePathError::Stat {
            path: path.to_path_buf(),
            source,
        })?;
        if !flags.flags().contains(FsFlags::ST_RDONLY) {
            return Err(ConfinePathError::StillWritable {
                path: path.to_path_buf(),
            });
        }
        tracing::debug!(?path, "readonly path mounted");
    }
    Ok(())
}

/// Masks each path: a directory under an empty read-only tmpfs, anything else under the
/// container's /dev/null.
pub fn masked_paths(
    paths: &[String],
    mount_label: &Option<String>,
    syscall: &dyn Syscall,
) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = container_root()?;
    let dev_null = open_dev_null(&root)?;
    for path in paths.iter().map(Path::new) {
        let action = "mask";
        let Some((target, kind)) = open_target(&root, path, action, true)? else {
            continue;
        };
        let tree = if kind == SFlag::S_IFDIR {
            empty_readonly_tmpfs(syscall, mount_label)
                .map_err(mount_error(path, action, "tmpfs"))?
        } else {
            syscall
                .open_tree(
                    dev_null.as_raw_fd(),
                    None,
                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32,
                )
                .map_err(mount_error(path, action, "open_tree of /dev/null"))?
        };
        attach(syscall, &tree, &target).map_err(mount_error(path, action, "move_mount"))?;
        tracing::debug!(?path, "masked path mounted");
    }
    Ok(())
}

/// The container's /dev/null, not followed if it is a link, and checked to be 1:3 on the
/// descriptor that will be mounted.
fn open_dev_null(root: &Root) -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    let handle = root
        .resolve_nofollow(path)
        .map_err(|source| ConfinePathError::Resolve {
            path: path.to_path_buf(),
            source,
        })?;
    let fd = OwnedFd::from(handle);
    let stat = fstat(fd.as_raw_fd()).map_err(|source| ConfinePathError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    if stat.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(ConfinePathError::Symlink {
            path: path.to_path_buf(),
            action: "mask paths with",
        });
    }
    verify_dev_null(&stat).map_err(ConfinePathError::DevNull)?;
    Ok(fd)
}

/// A new, empty, read-only tmpfs, not attached anywhere yet.
fn empty_readonly_tmpfs(
    syscall: &dyn Syscall,
    mount_label: &Option<String>,
) -> std::result::Result<OwnedFd, SyscallError> {
    let fs = syscall.fsopen(Some("tmpfs"), FSOPEN_CLOEXEC)?;
    if let Some(label) = mount_label {
        syscall.fsconfig(
            fs.as_fd(),
            FSCONFIG_SET_STRING,
            Some("context"),
            Some(label),
            0,
        )?;
    }
    syscall.fsconfig(fs.as_fd(), FSCONFIG_CMD_CREATE, None, None, 0)?;
    syscall.fsmount(fs.as_fd(), FSMOUNT_CLOEXEC, Some(MOUNT_ATTR_RDONLY))
}
