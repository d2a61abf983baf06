//! runz's state directory (`--root`): one directory per container, libcontainer's state.json
//! and runz's note in it; and what every operation needs to load a container and to say
//! why it refuses.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::container::{Container, ContainerStatus};

use crate::error::{Error, Result};
use crate::id;
use crate::linux::sealed::RunzExecutor;
use crate::state::Status;

/// The Linux backend over one state directory (`runz --root`).
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    /// Opens (creating, mode 0700) the state directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|source| Error::Io {
                what: "cannot create the state directory",
                path: root.clone(),
                source,
            })?;
        Ok(Runtime { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub(super) fn load(&self, id: &str) -> Result<Container> {
        id::validate(id)?;
        let dir = self.container_dir(id);
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Container::load(dir).map_err(|e| Error::backend(id, "cannot load the state of", e))
    }
}

/// The container's init, unless it has stopped (its PID may name another process by now).
pub(super) fn pid_of(container: &Container) -> Option<i32> {
    match container.status() {
        ContainerStatus::Stopped => None,
        _ => container.pid().map(|p| p.as_raw()),
    }
}

pub(super) fn runz_executor(id: &str) -> Result<RunzExecutor> {
    RunzExecutor::new()
        .map_err(|e| Error::backend(id, "cannot prepare the sealed exec helper for", e))
}

pub(super) fn status_of(status: ContainerStatus) -> Status {
    match status {
        ContainerStatus::Creating => Status::Creating,
        ContainerStatus::Created => Status::Created,
        ContainerStatus::Running => Status::Running,
        ContainerStatus::Paused => Status::Paused,
        ContainerStatus::Stopped => Status::Stopped,
    }
}

pub(super) fn wrong_status(
    id: &str,
    status: ContainerStatus,
    action: &'static str,
    hint: &'static str,
) -> Error {
    Error::WrongStatus {
        id: id.to_string(),
        status: status_of(status).to_string(),
        action,
        hint,
    }
}
