//! A container as the state database keeps it.

use serde::{Deserialize, Serialize};

use crate::config::ContainerConfig;

/// Where a container is in its life. Transitions that take several steps (creating,
/// removing) are recorded with the process doing them, so that a podadm killed half-way is
/// noticed and its work finished or undone by the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Being made by `owner_pid`: storage, bundle and volumes may be half there.
    Creating,
    Created,
    Running,
    Paused,
    /// Stopped or exited on its own; `exit_code` says how.
    Exited,
    /// Being removed by `owner_pid`.
    Removing,
}

impl ContainerState {
    /// The word podman uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Creating => "creating",
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Exited => "exited",
            ContainerState::Removing => "removing",
        }
    }

    pub fn parse(text: &str) -> Option<ContainerState> {
        Some(match text {
            "creating" => ContainerState::Creating,
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "exited" => ContainerState::Exited,
            "removing" => ContainerState::Removing,
            _ => return None,
        })
    }

    /// Running or paused: a monitor and a process exist.
    pub fn is_active(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused)
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One container's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 lowercase hex digits; also its name in storage and in the OCI runtime.
    pub id: String,
    pub name: String,
    /// The image's name as resolved (`docker.io/library/busybox:latest`).
    pub image: String,
    /// The image's manifest digest.
    pub image_id: String,
    pub config: ContainerConfig,
    pub state: ContainerState,
    /// The container's init process on the host, while it runs.
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// How many times the monitor restarted it since it was last started.
    pub restarts: u32,
    /// The OCI runtime's path (fixed at create, as podman does).
    pub runtime: String,
    /// The podadm process in the middle of a multi-step transition (creating, removing).
    pub owner_pid: Option<i32>,
    /// The user stopped it (`unless-stopped` is not restarted at boot; the monitor stops
    /// restarting it).
    pub stopped_by_user: bool,
    /// Anonymous volumes made for it (removed by `rm -v`).
    pub anonymous_volumes: Vec<String>,
    /// What the network plugin reported at the last start (addresses, gateways, MACs).
    pub network_status: Option<serde_json::Value>,
}

impl ContainerRecord {
    /// A new record in state `creating`, owned by this process until its creation ends:
    /// `create`, a pod's infra and a pool's sandbox all begin with one.
    pub fn creating(
        id: String,
        name: String,
        image: (String, String),
        config: ContainerConfig,
        runtime: String,
    ) -> ContainerRecord {
        let (image, image_id) = image;
        ContainerRecord {
            id,
            name,
            image,
            image_id,
            config,
            state: ContainerState::Creating,
            pid: None,
            exit_code: None,
            created_at: crate::clock::now(),
            started_at: None,
            finished_at: None,
            restarts: 0,
            runtime,
            owner_pid: Some(std::process::id() as i32),
            stopped_by_user: false,
            anonymous_volumes: Vec::new(),
            network_status: None,
        }
    }

    /// Its container's name in storage: the id's first 32 digits (128 random bits; storage
    /// names are at most 63 characters).
    pub fn storage_name(&self) -> &str {
        &self.id[..32]
    }
}
