//! podman as a peer in tests: a store and run root of its own under /var/tmp, cgroupfs (no
//! systemd here), file events, vfs storage: nothing of the host's podman is touched, and
//! everything is removed when the value is dropped.

use std::process::{Command, Stdio};

/// One test's podman.
pub struct Podman {
    root: tempfile::TempDir,
}

impl Podman {
    /// A podman with a new, empty store.
    pub fn new() -> Self {
        Podman {
            root: tempfile::Builder::new()
                .prefix("podman-")
                .tempdir_in("/var/tmp")
                .expect("a directory for podman's store"),
        }
    }

    /// Where podman keeps images, containers and volumes (`--root`).
    pub fn storage(&self) -> std::path::PathBuf {
        self.root.path().join("storage")
    }

    /// `podman ARGS` on this store, under a 120 s timeout, stdin empty.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg("120")
            .arg("podman")
            .arg("--root")
            .arg(self.storage())
            .arg("--runroot")
            .arg(self.root.path().join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "vfs"])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command(&["rm", "--all", "--force"]).output();
        let _ = self.command(&["volume", "prune", "--force"]).output();
        let _ = self.command(&["system", "reset", "--force"]).output();
    }
}
