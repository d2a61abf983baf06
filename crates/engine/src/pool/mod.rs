//! The warm pool: sandboxes of an image kept ready (clone made, bundle written, network
//! namespace wired, cgroup made, the container created and started by the runtime under
//! its monitor, its process podinit in sandbox mode waiting for the real process), so that
//! `run` claims one and only sets what differs: no runtime call on the claim path.
//! Refilled by a detached refiller (`podadm pool refill`), never on the caller's path;
//! state in the same database (`pools`, `sandboxes`).
//!
//! - `fill`: one sandbox made (recorded as `filling` first);
//! - `claim`: a ready sandbox turned into the user's container, its process sent;
//! - `pods`: the pool of pods' infra sandboxes, which `pod create` claims (the process, the
//!   pod's pause, is sent when the pod starts);
//! - `reclaim`: the refiller's loop, and the destruction of what a crash, a claim with
//!   `--rm` or `pool rm` leaves.

mod claim;
mod fill;
mod pods;
mod reclaim;

use serde::{Deserialize, Serialize};

use crate::config::{ContainerConfig, NetworkMode, Resources, RestartPolicy};
use crate::pod::PodConfig;

/// The key of the pool of pods' infra sandboxes (`pool set --pod`), where an image pool's
/// is the image's resolved name, which never looks like this.
pub const POD_INFRA_POOL: &str = "(pod infra)";

/// `podadm pool set IMAGE --size N [--network …]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// The image as resolved (`docker.io/library/busybox:latest`).
    pub image: String,
    /// How many ready sandboxes to keep.
    pub size: u32,
    pub network: NetworkMode,
}

impl PoolConfig {
    /// A pool of pods' infra sandboxes rather than of an image's containers.
    pub fn holds_pods(&self) -> bool {
        self.image == POD_INFRA_POOL
    }
}

/// Where a sandbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxState {
    /// Being made by its owner (the refiller).
    Filling,
    /// Waiting for a claim.
    Ready,
    /// To destroy: a claimed `--rm` container that exited, a sandbox of a removed pool, or
    /// one whose monitor died.
    Discard,
}

impl SandboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxState::Filling => "filling",
            SandboxState::Ready => "ready",
            SandboxState::Discard => "discard",
        }
    }

    pub fn parse(text: &str) -> Option<SandboxState> {
        match text {
            "filling" => Some(SandboxState::Filling),
            "ready" => Some(SandboxState::Ready),
            "discard" => Some(SandboxState::Discard),
            _ => None,
        }
    }
}

/// A pool as `pool ls` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    #[serde(flatten)]
    pub config: PoolConfig,
    pub ready: u32,
    pub filling: u32,
}

/// Inside the container: the channel directory (in `/dev`, a tmpfs, so the image's tree
/// is untouched) holding podinit and the FIFO the process arrives on.
pub const CHANNEL_IN_CONTAINER: &str = "/dev/.aurora-sandbox";

/// The networks a mode names, the default network spelled out (so `--network bridge` and
/// no flag match a pool of `podadm`).
pub fn normalized_network(mode: &NetworkMode) -> NetworkMode {
    match mode {
        NetworkMode::Bridge(names) if names.is_empty() => {
            NetworkMode::Bridge(vec![aurora_network::DEFAULT_NETWORK.to_string()])
        }
        other => other.clone(),
    }
}

/// A pool can hold sandboxes of this network mode (another container's namespace is only
/// known when a container is run).
pub fn network_poolable(mode: &NetworkMode) -> bool {
    // A CNI network's setup takes the pod's own arguments (its name, namespace, ports).
    !matches!(mode, NetworkMode::Container(_) | NetworkMode::Cni(_))
}

/// Whether a container of `config` can be a claimed sandbox of `pool` (the image is
/// compared by the caller, resolved): only what the sandbox's process carries may differ
/// (command, entrypoint, env, user, working directory, name, labels, annotations, stop
/// signal and timeout, `--rm`). Everything fixed when the sandbox was created — mounts,
/// ports, the terminal and stdin, privileges and capabilities, limits, a read-only root,
/// `--init`, the hostname, the restart policy, a pod — must be the defaults.
pub fn poolable(config: &ContainerConfig, pool: &PoolConfig) -> bool {
    normalized_network(&config.network) == normalized_network(&pool.network)
        && config.mounts.is_empty()
        && config.ports.is_empty()
        && !config.terminal
        && !config.interactive
        && !config.privileged
        && config.cap_add.is_empty()
        && config.cap_drop.is_empty()
        && config.resources == Resources::default()
        && !config.read_only
        && !config.init
        && config.hostname.is_none()
        && config.dns.is_empty()
        && config.extra_hosts.is_empty()
        && config.restart == RestartPolicy::No
        && config.pod.is_none()
        && config.security == crate::config::SecurityOptions::default()
}

/// Whether a pod of `config` can take an infra sandbox of `pool`: the network must be the
/// pool's, no port published and no resolver asked for (all wired when the sandbox is
/// made); the hostname and the limits are set when it is claimed, and what is shared
/// concerns only the members.
pub fn pod_poolable(config: &PodConfig, pool: &PoolConfig) -> bool {
    pool.holds_pods()
        && normalized_network(&config.network) == normalized_network(&pool.network)
        && config.ports.is_empty()
        && config.dns.is_empty()
        && config.extra_hosts.is_empty()
        && config.host_namespaces.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MountRequest;

    fn pool() -> PoolConfig {
        PoolConfig {
            image: "docker.io/library/busybox:latest".into(),
            size: 2,
            network: NetworkMode::Bridge(Vec::new()),
        }
    }

    fn plain() -> ContainerConfig {
        ContainerConfig {
            image: "busybox".into(),
            command: vec!["echo".into(), "hi".into()],
            ..Default::default()
        }
    }

    #[test]
    fn what_the_process_carries_may_differ() {
        let mut config = plain();
        config.env = vec!["A=1".into()];
        config.user = Some("1000:1000".into());
        config.workdir = Some("/tmp".into());
        config.entrypoint = Some(vec!["sh".into()]);
        config.auto_remove = true;
        config.labels.insert("a".into(), "b".into());
        config.stop_signal = Some("KILL".into());
        assert!(poolable(&config, &pool()));
    }

    #[test]
    fn the_default_network_matches_however_it_is_named() {
        let mut config = plain();
        config.network = NetworkMode::Bridge(vec!["podadm".into()]);
        assert!(poolable(&config, &pool()));
        config.network = NetworkMode::Bridge(vec!["other".into()]);
        assert!(!poolable(&config, &pool()));
        config.network = NetworkMode::None;
        assert!(!poolable(&config, &pool()));
        let none = PoolConfig {
            network: NetworkMode::None,
            ..pool()
        };
        assert!(poolable(&config, &none));
    }

    #[test]
    fn what_is_fixed_at_creation_must_be_the_default() {
        let changes: Vec<fn(&mut ContainerConfig)> = vec![
            |c| {
                c.mounts.push(MountRequest::Tmpfs {
                    destination: "/x".into(),
                    options: Vec::new(),
                })
            },
            |c| {
                c.ports
                    .push(aurora_network::PortMapping::parse("8080:80").unwrap()[0].clone())
            },
            |c| c.terminal = true,
            |c| c.interactive = true,
            |c| c.privileged = true,
            |c| c.cap_add.push("NET_ADMIN".into()),
            |c| c.cap_drop.push("CHOWN".into()),
            |c| c.resources.memory = Some(1 << 20),
            |c| c.resources.cpus = Some(0.5),
            |c| c.resources.pids_limit = Some(10),
            |c| c.read_only = true,
            |c| c.init = true,
            |c| c.hostname = Some("h".into()),
            |c| c.restart = RestartPolicy::Always,
            |c| c.restart = RestartPolicy::OnFailure(Some(2)),
            |c| c.pod = Some("p".into()),
            |c| c.dns.servers.push([192, 0, 2, 1].into()),
            |c| c.dns.search.push("example.com".into()),
            |c| c.dns.options.push("ndots:2".into()),
            |c| {
                c.extra_hosts
                    .push(aurora_network::etc_files::HostEntry::parse("db:192.0.2.5").unwrap())
            },
        ];
        for (i, change) in changes.into_iter().enumerate() {
            let mut config = plain();
            change(&mut config);
            assert!(!poolable(&config, &pool()), "change {i} was accepted");
        }
    }

    #[test]
    fn a_pod_takes_an_infra_sandbox_of_its_network_without_ports() {
        let pods = PoolConfig {
            image: POD_INFRA_POOL.into(),
            size: 1,
            network: NetworkMode::Bridge(Vec::new()),
        };
        assert!(pods.holds_pods() && !pool().holds_pods());
        let mut config = PodConfig {
            hostname: Some("h".into()),
            ..Default::default()
        };
        config.resources.memory = Some(64 << 20);
        config.labels.insert("a".into(), "b".into());
        assert!(pod_poolable(&config, &pods));
        assert!(!pod_poolable(&config, &pool()), "an image's pool");
        config.network = NetworkMode::None;
        assert!(!pod_poolable(&config, &pods));
        config.network = NetworkMode::Bridge(vec!["podadm".into()]);
        assert!(pod_poolable(&config, &pods));
        config.dns.search.push("example.com".into());
        assert!(!pod_poolable(&config, &pods), "a resolver of its own");
        config.dns = Default::default();
        config.ports = aurora_network::PortMapping::parse("8080:80").unwrap();
        assert!(!pod_poolable(&config, &pods));
    }

    #[test]
    fn states_read_back() {
        for state in [
            SandboxState::Filling,
            SandboxState::Ready,
            SandboxState::Discard,
        ] {
            assert_eq!(SandboxState::parse(state.as_str()), Some(state));
        }
        assert_eq!(SandboxState::parse("claimed"), None);
        assert!(!network_poolable(&NetworkMode::Container("x".into())));
    }
}
