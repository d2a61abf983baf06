//! A container's network namespace, kept as a bind mount of its nsfs file at
//! `RUNROOT/netns/ID`, made before the container exists (netavark configures it first, the
//! runtime joins it by path), as podman does under /run/netns.

use std::path::{Path, PathBuf};

use rustix::mount::{mount_bind, mount_change, unmount, MountPropagationFlags, UnmountFlags};

use crate::error::{NetworkError, Result};

/// A network namespace bound to a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    pub path: PathBuf,
}

impl Netns {
    /// Makes a new network namespace with its loopback interface up, bound at
    /// `RUNROOT/netns/ID`.
    pub fn create(runroot: &Path, id: &str) -> Result<Netns> {
        let path = runroot.join("netns").join(id);
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(NetworkError::Netns {
                path,
                action: format!("{id:?} cannot name a namespace file"),
                source: std::io::ErrorKind::InvalidInput.into(),
            });
        }
        Netns::create_at(&path, &[])
    }

    /// Makes a new network namespace bound at `path` (whose directory is made a shared
    /// mount point), with a stand-in link of each name in `stand_in_links`.
    pub(crate) fn create_at(path: &Path, stand_in_links: &[String]) -> Result<Netns> {
        if let Some(dir) = path.parent() {
            share_directory(dir)?;
        }
        let path = path.to_path_buf();
        let err = |action: &str| {
            let path = path.clone();
            let action = action.to_string();
            move |source| NetworkError::Netns {
                path,
                action,
                source,
            }
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(err("create the mount point"))?;
        // A fresh thread, so that the process's other threads stay in the host's namespace;
        // the namespace lives on through the bind mount when the thread ends.
        let target = path.clone();
        let stand_in_links = stand_in_links.to_vec();
        let made = std::thread::spawn(move || -> Result<(), (&'static str, std::io::Error)> {
            // SAFETY: CLONE_NEWNET moves only this thread, which shares nothing that the
            // namespace change could invalidate (no sockets are open in it yet).
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .map_err(|e| ("unshare", e.into()))?;
            mount_bind("/proc/thread-self/ns/net", &target)
                .map_err(|e| ("bind-mount", e.into()))?;
            loopback_up().map_err(|e| ("bring loopback up", e))?;
            // A child spawned from this thread starts in the thread's namespace.
            // A veth pair, not a `dummy` link: every kernel that runs netavark has veth.
            for (i, link) in stand_in_links.iter().enumerate() {
                let peer = format!("standin{i}");
                let args = [
                    "link",
                    "add",
                    link.as_str(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &peer,
                ];
                aurora_command::run("ip", args)
                    .map_err(|e| ("add a stand-in link", std::io::Error::other(e)))?;
            }
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(("create", std::io::Error::other("the thread panicked"))));
        if let Err((action, source)) = made {
            let _ = Netns::remove(&path);
            return Err(err(action)(source));
        }
        Ok(Netns { path })
    }

    /// Unmounts and removes a namespace's file; one already gone is fine.
    pub fn remove(path: &Path) -> Result<()> {
        let err = |action: &'static str| {
            move |source: std::io::Error| NetworkError::Netns {
                path: path.to_path_buf(),
                action: action.to_string(),
                source,
            }
        };
        match unmount(path, UnmountFlags::DETACH) {
            // EINVAL: not a mount point (a half-made namespace); ENOENT: gone already.
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(err("unmount")(e.into())),
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err("remove")(e)),
            _ => Ok(()),
        }
    }
}

/// Makes `dir` a shared mount point (a bind mount of itself, as podman does with
/// /run/netns), so that namespaces bound under it later appear in the mount namespaces of
/// containers made meanwhile, and their unmount reaches those copies too.
fn share_directory(dir: &Path) -> Result<()> {
    let err = |action: &str| {
        let action = action.to_string();
        move |source: std::io::Error| NetworkError::Netns {
            path: dir.to_path_buf(),
            action,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(err("create directory"))?;
    let shared = |d: &Path| {
        mount_change(
            d,
            MountPropagationFlags::SHARED | MountPropagationFlags::REC,
        )
    };
    if is_mount_point(dir) {
        return shared(dir).map_err(|e| err("make shared")(e.into()));
    }
    mount_bind(dir, dir).map_err(|e| err("bind-mount onto itself")(e.into()))?;
    shared(dir).map_err(|e| err("make shared")(e.into()))
}

/// Whether `/proc/self/mountinfo` lists `dir` as a mount point.
fn is_mount_point(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    let Some(dir) = dir.to_str() else {
        return false;
    };
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        // Field 5 is the mount point, with spaces and such escaped as octal.
        info.lines()
            .filter_map(|line| line.split(' ').nth(4))
            .any(|point| point == escape_mountinfo(dir))
    })
}

fn escape_mountinfo(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// `ip link set lo up`, through the SIOCSIFFLAGS ioctl on a socket of this thread's
/// namespace.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a plain socket(2); the descriptor is owned and closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `ifreq` is plain data; the name is NUL-terminated within IFNAMSIZ.
    let result = unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request);
        if r == 0 {
            request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &request);
        }
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    // SAFETY: `fd` is ours and used no more.
    unsafe { libc::close(fd) };
    result
}
