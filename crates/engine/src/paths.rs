//! Where the engine keeps things: persistent state under the store root (`ROOT/podadm`),
//! runtime state that a reboot wipes under the run root (`RUNROOT`, a tmpfs: /run/aurora).

use std::path::{Path, PathBuf};

/// The engine's directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The image store's root.
    pub root: PathBuf,
    /// Runtime state: monitors, OCI runtime state, network namespaces.
    pub runroot: PathBuf,
}

impl Paths {
    pub fn podadm(&self) -> PathBuf {
        self.root.join("podadm")
    }

    pub fn state_db(&self) -> PathBuf {
        self.podadm().join("state.db")
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.podadm().join("containers").join(id)
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("bundle")
    }

    /// Files made for the container and bind-mounted into it (hosts, resolv.conf, hostname).
    pub fn userdata(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("userdata")
    }

    /// The container's log, in the CRI format.
    pub fn log(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("ctr.log")
    }

    /// The monitor's directory (pid, status, exit, attach socket).
    pub fn monitor_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("podadm").join(id)
    }

    pub fn locks(&self) -> PathBuf {
        self.runroot.join("podadm").join("locks")
    }

    /// The `--root` of the OCI runtime called `name`.
    pub fn runtime_root(&self, name: &str) -> PathBuf {
        self.runroot.join("runtime").join(name)
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.runroot.join("netns")
    }
}

/// `path` made absolute against the working directory (the monitor and the runtime run
/// elsewhere).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
