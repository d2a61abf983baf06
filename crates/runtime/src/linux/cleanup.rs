//! `delete --force` when libcontainer cannot delete the container: its state file or the
//! configuration libcontainer recorded cannot be read (cut short by a crash or a full disk),
//! or its delete failed part way. The container must go all the same: its init (when known)
//! and every process in its cgroup are killed, the cgroup and the state directory removed.

use std::fs;
use std::path::{Path, PathBuf};

use libcgroups::common::{CgroupConfig, CgroupManager, FreezerState};
use libcontainer::config::YoukiConfig;
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Removes what is left of container `id` whose state directory is `dir` and whose init is
/// `init`, if known. The state directory is removed even when the cgroup cannot be (that
/// error is returned then).
pub(super) fn force_remove(id: &str, dir: &Path, init: Option<i32>) -> Result<()> {
    if let Some(pid) = init.filter(|&pid| pid > 0) {
        // The init of a PID namespace takes every process of the namespace with it.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let cgroup = remove_cgroup(id, dir);
    let state = match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            what: "cannot remove the state directory",
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    };
    cgroup.and(state)
}

/// The container's cgroup: the one libcontainer recorded, else the one runz gives a
/// container whose config.json names none.
fn cgroup_path(id: &str, dir: &Path) -> PathBuf {
    match YoukiConfig::load(dir) {
        Ok(config) => config.cgroup_path,
        Err(e) => {
            tracing::warn!(id, error = %e, "no recorded cgroup; trying runz's default");
            PathBuf::from(format!("/runz/{id}"))
        }
    }
}

fn remove_cgroup(id: &str, dir: &Path) -> Result<()> {
    let path = cgroup_path(id, dir);
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Backend {
        id: id.to_string(),
        action: "cannot remove the cgroup of",
        source: Box::new(CgroupError {
            path: path.clone(),
            source,
        }),
    };
    let manager = libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: path.clone(),
        systemd_cgroup: false,
        container_name: id.to_string(),
    })
    .map_err(|e| failed(Box::new(e)))?;
    // A paused container's processes cannot die until thawed (cgroup v1's freezer).
    let _ = manager.freeze(FreezerState::Thawed);
    // remove() kills what is in the cgroup, then removes it (retrying while they die).
    manager.remove().map_err(|e| failed(Box::new(e)))
}

/// Keeps the cgroup's path in the message.
#[derive(Debug, thiserror::Error)]
#[error("cgroup {}", path.display())]
struct CgroupError {
    path: PathBuf,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}
