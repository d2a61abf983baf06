//! Pods: containers that share namespaces, a network, a hostname and a cgroup parent.
//!
//! On Linux a pod has an infra container (podinit in its pause mode, on an empty read-only
//! root, no image needed) that holds the shared namespaces and the pod's network (ports are
//! published at the pod); every container of the pod joins the infra container's shared
//! namespaces, and every container's cgroup (and the infra's) sits under the pod's cgroup
//! parent, which carries the pod's limits. A pod's state is derived from its containers'
//! states, as podman derives it. Stopping a pod stops its containers in reverse order of
//! creation, the infra last; removing it removes them.
//!
//! The pod model is the one the CRI server will expose (a sandbox is a pod).

pub(crate) mod cgroup;
mod create;
mod lifecycle;
mod member;
mod volumes;
mod zone;

pub(crate) use create::{infra_spec, pod_hostname};
pub use zone::{zone_description, ZoneMember, ZoneSite};

use std::collections::BTreeMap;

use aurora_network::PortMapping;
use serde::{Deserialize, Serialize};

use crate::config::NetworkMode;

/// A namespace the containers of a pod share (`--share`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharedNamespace {
    Net,
    Ipc,
    Uts,
    Pid,
}

impl SharedNamespace {
    /// podman's default `--share`: net, ipc and uts.
    pub const DEFAULT: [SharedNamespace; 3] = [
        SharedNamespace::Net,
        SharedNamespace::Ipc,
        SharedNamespace::Uts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SharedNamespace::Net => "net",
            SharedNamespace::Ipc => "ipc",
            SharedNamespace::Uts => "uts",
            SharedNamespace::Pid => "pid",
        }
    }

    /// `net`, `ipc`, `uts` or `pid`.
    pub fn parse(text: &str) -> Option<SharedNamespace> {
        Some(match text {
            "net" => SharedNamespace::Net,
            "ipc" => SharedNamespace::Ipc,
            "uts" => SharedNamespace::Uts,
            "pid" => SharedNamespace::Pid,
            _ => return None,
        })
    }
}

/// The pod's limits (`--cpus`, `--memory`): on its cgroup parent, shared by its containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodResources {
    /// Bytes.
    pub memory: Option<u64>,
    /// CPUs as a fraction.
    pub cpus: Option<f64>,
}

/// What a user asked a pod to be (`pod create` flags; `kube play` builds one per Pod).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodConfig {
    /// The hostname of the pod's UTS namespace (default: the pod's name).
    pub hostname: Option<String>,
    /// `-p`: published at the pod (its infra container's network).
    pub ports: Vec<PortMapping>,
    /// `--network`: none, host or bridge networks (not `container:`).
    pub network: NetworkMode,
    /// The pod's resolv.conf (a CRI pod's DNS config), written by its infra container.
    pub dns: crate::config::DnsConfig,
    /// `--add-host`: lines of the pod's /etc/hosts, written by its infra container.
    pub extra_hosts: Vec<aurora_network::etc_files::HostEntry>,
    /// `--share`; [`SharedNamespace::DEFAULT`] when not given.
    pub share: Vec<SharedNamespace>,
    pub labels: BTreeMap<String, String>,
    pub resources: PodResources,
    /// Kept for `kube generate` and inspect (kube play records the Pod's annotations).
    pub annotations: BTreeMap<String, String>,
    /// Namespaces the infra container (and so every member sharing them) takes from the
    /// host: the CRI's NODE mode for ipc and pid (net is `network: Host`).
    pub host_namespaces: Vec<SharedNamespace>,
}

impl Default for PodConfig {
    fn default() -> Self {
        PodConfig {
            hostname: None,
            ports: Vec::new(),
            network: NetworkMode::default(),
            dns: Default::default(),
            extra_hosts: Vec::new(),
            share: SharedNamespace::DEFAULT.to_vec(),
            labels: BTreeMap::new(),
            resources: PodResources::default(),
            annotations: BTreeMap::new(),
            host_namespaces: Vec::new(),
        }
    }
}

/// A pod as the state database keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRecord {
    /// 64 lowercase hex digits.
    pub id: String,
    pub name: String,
    pub config: PodConfig,
    /// The infra container's id (a container record like any other, named
    /// `ID[..12]-infra` as podman names it).
    pub infra_id: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The cgroup parent its containers' cgroups sit under.
    pub cgroup_parent: String,
}

/// The annotation (podman's) that makes a pod member an init container: `pod start` runs it
/// to its end, in creation order, before the others; `once` removes it when it succeeded.
pub const INIT_CONTAINER_ANNOTATION: &str = "io.podman.annotations.init.container.type";

/// A pod's state, derived from its containers' (podman's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodState {
    /// No container has run yet.
    Created,
    /// Every container runs.
    Running,
    /// Some run, some do not.
    Degraded,
    /// Every container has stopped.
    Exited,
    /// None runs, some have stopped and others have not run (or are paused).
    Stopped,
    Paused,
    /// A container is in a state of its own (being created or removed).
    Error,
}

impl PodState {
    /// The word podman prints (`pod ps`, `pod inspect`).
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Created => "Created",
            PodState::Running => "Running",
            PodState::Degraded => "Degraded",
            PodState::Exited => "Exited",
            PodState::Stopped => "Stopped",
            PodState::Paused => "Paused",
            PodState::Error => "Error",
        }
    }

    /// The state of a pod whose containers are in `states`, in podman's order of rules:
    /// running when all run, degraded when only some do, paused when all are, exited when
    /// all have stopped, stopped when some have, error when one is in another state (being
    /// created or removed), created otherwise.
    pub fn of(states: &[crate::state::ContainerState]) -> PodState {
        use crate::state::ContainerState as C;
        let count = |wanted: &[C]| states.iter().filter(|s| wanted.contains(s)).count();
        let running = count(&[C::Running]);
        let stopped = count(&[C::Exited]);
        let other = states.len() - count(&[C::Running, C::Exited, C::Paused, C::Created]);
        match () {
            _ if states.is_empty() => PodState::Created,
            _ if running == states.len() => PodState::Running,
            _ if running > 0 => PodState::Degraded,
            _ if count(&[C::Paused]) == states.len() => PodState::Paused,
            _ if stopped == states.len() => PodState::Exited,
            _ if stopped > 0 => PodState::Stopped,
            _ if other > 0 => PodState::Error,
            _ => PodState::Created,
        }
    }
}

impl std::fmt::Display for PodState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ContainerState as C;

    #[test]
    fn a_pods_state_follows_its_containers_as_podmans_does() {
        assert_eq!(PodState::of(&[]), PodState::Created);
        assert_eq!(PodState::of(&[C::Created, C::Created]), PodState::Created);
        assert_eq!(PodState::of(&[C::Running, C::Running]), PodState::Running);
        assert_eq!(PodState::of(&[C::Running, C::Exited]), PodState::Degraded);
        assert_eq!(PodState::of(&[C::Running, C::Created]), PodState::Degraded);
        assert_eq!(PodState::of(&[C::Exited, C::Exited]), PodState::Exited);
        assert_eq!(PodState::of(&[C::Exited, C::Created]), PodState::Stopped);
        assert_eq!(PodState::of(&[C::Exited, C::Paused]), PodState::Stopped);
        assert_eq!(PodState::of(&[C::Paused, C::Paused]), PodState::Paused);
        assert_eq!(PodState::of(&[C::Paused, C::Created]), PodState::Created);
        assert_eq!(PodState::of(&[C::Created, C::Removing]), PodState::Error);
        assert_eq!(PodState::of(&[C::Exited, C::Creating]), PodState::Stopped);
    }
}
