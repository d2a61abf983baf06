//! What `kube play` makes, as data: per pod its `PodConfig`, its init containers and
//! containers (`ContainerConfig`s named as podman names them), the named volumes, the host
//! paths to check and the files to render. The caller does the I/O.

use std::path::PathBuf;

use aurora_engine::{ContainerConfig, PodConfig};

use crate::error::Warning;
use crate::model::HostPathType;

/// Everything `kube play` makes for one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub pods: Vec<PodPlan>,
    /// Fields read and not used, by path (the caller prints them).
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PodPlan {
    pub name: String,
    pub config: PodConfig,
    /// Run one at a time, in order, each to a successful exit, before the containers.
    pub init_containers: Vec<ContainerPlan>,
    pub containers: Vec<ContainerPlan>,
    /// Named volumes to create when missing.
    pub volumes: Vec<NamedVolume>,
    /// hostPath volumes whose `type` asks for a check (or a creation) first.
    pub host_paths: Vec<HostPathCheck>,
    /// This pod's rendered configMap and secret volumes live under this directory (removed
    /// with the pod).
    pub files_dir: PathBuf,
    /// One directory per configMap or secret volume (made even when it has no file).
    pub directories: Vec<PathBuf>,
    pub files: Vec<RenderedFile>,
}

/// A container as podman names it in a pod: `POD-CONTAINER`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    pub name: String,
    pub config: ContainerConfig,
    /// Variables whose value is the pod's id (`fieldRef: metadata.uid`), known once the pod
    /// is created.
    pub pod_id_env: Vec<String>,
}

impl ContainerPlan {
    /// The configuration to create the container with, in the pod of id `pod_id`.
    pub fn config_in_pod(&self, pod_id: &str) -> ContainerConfig {
        let mut config = self.config.clone();
        config.env.extend(
            self.pod_id_env
                .iter()
                .map(|name| format!("{name}={pod_id}")),
        );
        config
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedVolume {
    pub name: String,
    /// An emptyDir: the pod's scratch space, removed with the pod (a claim's volume stays).
    pub scratch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathCheck {
    pub path: PathBuf,
    pub kind: HostPathType,
}

/// A configMap or secret key as a file, bind-mounted read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub content: Vec<u8>,
    pub mode: u32,
}
