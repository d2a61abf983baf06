//! The warm pool: sandboxes of an image kept ready (clone made, bundle written, network
//! namespace wired, cgroup made, the container created and waiting for its process), so
//! that `run` claims one and only sets what differs. Refilled by a detached refiller, never
//! on the caller's path; state in the same database (`pools`, `sandboxes`).

use serde::{Deserialize, Serialize};

use crate::config::NetworkMode;

/// `podadm pool set IMAGE --size N [--network …]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// The image as resolved (`docker.io/library/busybox:latest`).
    pub image: String,
    /// How many ready sandboxes to keep.
    pub size: u32,
    pub network: NetworkMode,
}
