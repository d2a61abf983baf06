//! What a user asked a container to be: podman's `create`/`run` flags, parsed once by the
//! command line into these types and kept, as JSON, in the state database. The runtime
//! spec is derived from them (and the image) each time a container is created.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aurora_network::PortMapping;
use serde::{Deserialize, Serialize};

/// A container's configuration as the user gave it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    /// The command (`podman run IMAGE CMD…`); the image's Cmd when empty.
    pub command: Vec<String>,
    /// `--entrypoint`: replaces the image's Entrypoint (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    /// `NAME=VALUE`, from `-e` and `--env-file`, in order (a later one wins).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]`, names or numbers, resolved in the container's root.
    pub user: Option<String>,
    /// `-t`.
    pub terminal: bool,
    /// `-i`: keep stdin open.
    pub interactive: bool,
    /// `--init`: podinit runs the process.
    pub init: bool,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub privileged: bool,
    /// Capability names as given (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub resources: Resources,
    /// `-v`, `--mount` and `--tmpfs`, in the order given.
    pub mounts: Vec<MountRequest>,
    /// `-p`.
    pub ports: Vec<PortMapping>,
    pub network: NetworkMode,
    /// What resolv.conf says beyond the network's and the host's (`--dns`, …; a CRI pod's
    /// DNS config).
    pub dns: DnsConfig,
    /// `--add-host`: lines of /etc/hosts before the container's own.
    pub extra_hosts: Vec<aurora_network::etc_files::HostEntry>,
    pub restart: RestartPolicy,
    /// `--stop-signal` (a name like `SIGTERM`/`TERM` or a number); the image's, else TERM.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds; 10 when not given.
    pub stop_timeout: Option<u32>,
    pub labels: BTreeMap<String, String>,
    /// `--rm`: removed when it exits.
    pub auto_remove: bool,
    /// The pod it belongs to (`--pod NAME`; the engine keeps the pod's id here).
    pub pod: Option<String>,
    /// The infra container of its pod: podinit's pause mode on an empty read-only root,
    /// made by the engine (no image).
    pub infra: bool,
    /// Annotations (`kube play` keeps a container's here; written into the runtime spec).
    pub annotations: BTreeMap<String, String>,
    /// Seccomp, no_new_privs, masked and read-only paths, groups, sysctls, namespaces.
    pub security: SecurityOptions,
    /// Where the monitor writes the CRI-format log (`--log-opt path=`; kubelet's path for
    /// the CRI server); the container's own directory when `None`.
    pub log_path: Option<PathBuf>,
}

/// What a security context asks of a container beyond its user and capabilities (the CRI's
/// `LinuxContainerSecurityContext`; podman's `--security-opt`, `--group-add`, `--sysctl`,
/// `--pid`, `--ipc`). The defaults are what podadm has always given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityOptions {
    /// `None`: no filter (runc's default and podadm's so far).
    pub seccomp: Option<Seccomp>,
    pub no_new_privileges: bool,
    /// Replaces the runtime's list when given (an empty list unmasks everything).
    pub masked_paths: Option<Vec<String>>,
    /// Replaces the runtime's list when given.
    pub readonly_paths: Option<Vec<String>>,
    /// Groups the process belongs to besides its user's.
    pub supplemental_groups: Vec<u32>,
    /// Written by the runtime in the container's namespaces (`net.*` in its network's).
    pub sysctls: BTreeMap<String, String>,
    /// The PID namespace: `None` is the pod's choice (shared or not) or a new one.
    pub pid: Option<NamespaceChoice>,
    /// The IPC namespace: `None` is the pod's choice or a new one.
    pub ipc: Option<NamespaceChoice>,
    /// `process.oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
}

/// A seccomp filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum Seccomp {
    /// Explicitly none.
    Unconfined,
    /// The engine's default profile (`spec::seccomp`).
    RuntimeDefault,
    /// A profile file in the OCI (or docker) JSON form, read when the spec is written.
    Profile(PathBuf),
}

/// Where a container's PID or IPC namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "kebab-case")]
pub enum NamespaceChoice {
    /// A new one of its own, even in a pod that shares it.
    Private,
    /// Its pod's (its infra container's).
    Pod,
    /// The host's.
    Host,
    /// Another container's (by name or id; it must run).
    Container(String),
}

/// Limits (`--memory`, `--cpus`, `--pids-limit`); `update` changes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<u64>,
    /// CPUs as a fraction (1.5 = one and a half CPUs: quota 150000 per 100000 period).
    pub cpus: Option<f64>,
    /// Max processes; -1 for unlimited.
    pub pids_limit: Option<i64>,
}

/// One of `-v`, `--mount` or `--tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountRequest {
    /// A named volume (created when missing) or, with `name: None`, an anonymous one.
    Volume {
        name: Option<String>,
        destination: String,
        read_only: bool,
    },
    /// A host path.
    Bind {
        source: PathBuf,
        destination: String,
        /// Options as given besides ro/rw: `z`, `Z`, `rbind`, `nosuid`, propagation, ...
        options: Vec<String>,
        read_only: bool,
    },
    /// A tmpfs; options as for mount(8) (`size=64m,mode=1777`).
    Tmpfs {
        destination: String,
        options: Vec<String>,
    },
}

/// `--network`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "value", rename_all = "lowercase")]
pub enum NetworkMode {
    /// Only a loopback interface.
    None,
    /// The host's network namespace.
    Host,
    /// Networks by name (the default network when `--network bridge` or nothing is given).
    Bridge(Vec<String>),
    /// Another container's network namespace.
    Container(String),
    /// CNI networks (the CRI server's pods): the plugins of the engine's CNI conf dir.
    Cni(CniMode),
}

/// Which CNI networks, and what the plugins are told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CniMode {
    /// Network names, in interface order; empty: the conf dir's default network.
    pub networks: Vec<String>,
    /// `CNI_ARGS` (kubelet's `K8S_POD_NAMESPACE`, `K8S_POD_NAME`, `K8S_POD_UID`); the
    /// engine adds `K8S_POD_INFRA_CONTAINER_ID` when `K8S_POD_NAME` is there.
    pub args: Vec<(String, String)>,
}

/// resolv.conf's contents asked for: each part, when given, replaces what the network or
/// the host would give.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsConfig {
    pub servers: Vec<std::net::IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl DnsConfig {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.search.is_empty() && self.options.is_empty()
    }
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Bridge(Vec::new())
    }
}

/// `--restart`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", content = "max_retries", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restarted when it exits non-zero, at most N times (`None`: no limit).
    OnFailure(Option<u32>),
    Always,
    /// As `always`, but not after the user stopped it.
    UnlessStopped,
}

/// The monitor's form of the policy (its `--restart` text is that type's `Display`).
impl From<RestartPolicy> for aurora_monitor::RestartPolicyArg {
    fn from(policy: RestartPolicy) -> Self {
        use aurora_monitor::RestartPolicyArg as Arg;
        match policy {
            RestartPolicy::No => Arg::No,
            RestartPolicy::OnFailure(count) => Arg::OnFailure(count),
            RestartPolicy::Always => Arg::Always,
            RestartPolicy::UnlessStopped => Arg::UnlessStopped,
        }
    }
}

impl From<aurora_monitor::RestartPolicyArg> for RestartPolicy {
    fn from(policy: aurora_monitor::RestartPolicyArg) -> Self {
        use aurora_monitor::RestartPolicyArg as Arg;
        match policy {
            Arg::No => RestartPolicy::No,
            Arg::OnFailure(count) => RestartPolicy::OnFailure(count),
            Arg::Always => RestartPolicy::Always,
            Arg::UnlessStopped => RestartPolicy::UnlessStopped,
        }
    }
}
