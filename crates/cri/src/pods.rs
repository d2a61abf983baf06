//! Pod sandboxes as podadm pods: RunPodSandbox creates a pod (its infra container holds the
//! namespaces, a cgroup parent holds its limits) and starts it; Stop, Remove, Status and List
//! map onto the engine's pod calls. The CRI metadata (name, uid, namespace, attempt) is kept
//! in the pod's annotations under [`META_PREFIX`], left out when annotations are reported.
//! Networking: the host's (`NODE` network namespace), else the CNI conf dir's default
//! network in a namespace of the pod's own (its infra container's), with the sandbox's port
//! mappings given to portmap and its DNS config written as its resolv.conf.

use std::collections::{BTreeMap, HashMap};

use aurora_engine::{
    CniMode, DnsConfig, Engine, EngineError, EngineOptions, NetworkMode, PodConfig, PodRecord,
};
use k8s_cri::v1::{
    PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, PodSandboxState,
    PodSandboxStatus,
};

use crate::error::{internal, ApiError};
use crate::ServerConfig;

/// Annotations holding the CRI metadata of a pod.
const META_PREFIX: &str = "io.aurora.cri.metadata.";

thread_local! {
    /// One engine per worker thread, opened on its first call. Opening one (the state
    /// database, the store's checks, the config file) costs more than the smallest calls
    /// themselves; everything it knows is on disk, so a kept engine sees what other threads
    /// and processes did since.
    static ENGINE: std::cell::RefCell<Option<std::rc::Rc<Engine>>> =
        const { std::cell::RefCell::new(None) };
}

/// The engine on the server's store and run root (this thread's, opened once; a server has
/// one configuration); containers' exits are recorded by podadm.
pub(crate) fn engine(config: &ServerConfig) -> Result<std::rc::Rc<Engine>, ApiError> {
    if let Some(engine) = ENGINE.with(|kept| kept.borrow().clone()) {
        return Ok(engine);
    }
    let engine = std::rc::Rc::new(open_engine(config)?);
    ENGINE.with(|kept| *kept.borrow_mut() = Some(engine.clone()));
    Ok(engine)
}

fn open_engine(config: &ServerConfig) -> Result<Engine, ApiError> {
    let root = &config.store_root;
    let runroot = &config.run_root;
    let exit_command = vec![
        config.podadm.display().to_string(),
        "--root".into(),
        root.display().to_string(),
        "--runroot".into(),
        runroot.display().to_string(),
        "container".into(),
        "cleanup".into(),
    ];
    let storage = aurora_cli::storage_choice(&config.config_file, None, None).map_err(internal)?;
    Engine::open(EngineOptions {
        root: root.clone(),
        runroot: runroot.clone(),
        storage,
        runtime: "runz".into(),
        unpack_limits: Default::default(),
        log_max_size: 0,
        exit_command,
        cni: config.cni.clone(),
    })
    .map_err(status)
}

/// An engine error as a call's: a missing pod is NOT_FOUND.
pub(crate) fn status(error: EngineError) -> ApiError {
    match error {
        EngineError::NoSuchPod(name) => ApiError::NotFound(format!("pod sandbox {name} not found")),
        EngineError::BadName(name) => {
            ApiError::InvalidArgument(format!("{name:?} is not a valid name"))
        }
        EngineError::NoSuchContainer(name) => {
            ApiError::NotFound(format!("container {name} not found"))
        }
        other => internal(other),
    }
}

/// The pod's name: kubelet's own form, unique per pod and attempt.
fn pod_name(meta: &PodSandboxMetadata) -> String {
    let name = format!(
        "k8s_{}_{}_{}_{}",
        meta.name, meta.namespace, meta.uid, meta.attempt
    );
    // podadm names are at most 253 bytes; the uid and attempt alone are unique too.
    if name.len() <= 253 {
        name
    } else {
        format!("k8s_{}_{}", meta.uid, meta.attempt)
    }
}

/// The podadm pod a sandbox config asks for.
pub(crate) fn pod_config(sandbox: &PodSandboxConfig) -> Result<(PodConfig, String), ApiError> {
    let meta = sandbox
        .metadata
        .clone()
        .ok_or_else(|| ApiError::InvalidArgument("the sandbox config has no metadata".into()))?;
    if meta.name.is_empty() || meta.namespace.is_empty() || meta.uid.is_empty() {
        return Err(ApiError::InvalidArgument(
            "the sandbox metadata needs a name, a namespace and a uid".into(),
        ));
    }
    let host_network = sandbox
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
        .is_some_and(|n| n.network == k8s_cri::v1::NamespaceMode::Node as i32);
    let mut annotations: BTreeMap<String, String> = sandbox
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in [
        ("name", meta.name.clone()),
        ("uid", meta.uid.clone()),
        ("namespace", meta.namespace.clone()),
        ("attempt", meta.attempt.to_string()),
    ] {
        annotations.insert(format!("{META_PREFIX}{key}"), value);
    }
    let (share, host_namespaces) = crate::security::pod_namespaces(sandbox);
    let config = PodConfig {
        share,
        host_namespaces,
        // kubelet always names the host; otherwise the pod's own name, within the kernel's
        // 64 bytes (the podadm pod's name, `k8s_…`, is longer than a hostname may be).
        hostname: Some(if sandbox.hostname.is_empty() {
            meta.name.chars().take(63).collect()
        } else {
            sandbox.hostname.clone()
        }),
        network: if host_network {
            NetworkMode::Host
        } else {
            NetworkMode::Cni(CniMode {
                networks: Vec::new(),
                // What kubelet's runtimes pass to CNI (K8S_POD_INFRA_CONTAINER_ID is added
                // by the engine: the infra container's id).
                args: vec![
                    ("K8S_POD_NAMESPACE".into(), meta.namespace.clone()),
                    ("K8S_POD_NAME".into(), meta.name.clone()),
                    ("K8S_POD_UID".into(), meta.uid.clone()),
                ],
            })
        },
        // A host-network pod's mappings only document its containers' ports.
        ports: if host_network {
            Vec::new()
        } else {
            port_mappings(&sandbox.port_mappings)?
        },
        dns: dns_config(sandbox.dns_config.as_ref())?,
        labels: sandbox
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        annotations,
        ..Default::default()
    };
    Ok((config, pod_name(&meta)))
}

/// The sandbox's port mappings as the pod's published ports (a host port of 0 publishes
/// nothing: kubelet lists container ports that way).
fn port_mappings(
    mappings: &[k8s_cri::v1::PortMapping],
) -> Result<Vec<aurora_engine::PortMapping>, ApiError> {
    use aurora_engine::Protocol;
    let port = |value: i32, what: &str| {
        u16::try_from(value)
            .map_err(|_| ApiError::InvalidArgument(format!("{what} {value} is not a port")))
    };
    mappings
        .iter()
        .map(|m| {
            let protocol = match k8s_cri::v1::Protocol::try_from(m.protocol) {
                Ok(k8s_cri::v1::Protocol::Tcp) => Protocol::Tcp,
                Ok(k8s_cri::v1::Protocol::Udp) => Protocol::Udp,
                _ => {
                    return Err(ApiError::InvalidArgument(format!(
                        "port mapping protocol {} is not supported (TCP or UDP)",
                        m.protocol
                    )))
                }
            };
            let host_ip = match m.host_ip.as_str() {
                "" => None,
                ip => Some(ip.parse().map_err(|_| {
                    ApiError::InvalidArgument(format!("host_ip {ip:?} is not an IP address"))
                })?),
            };
            Ok(aurora_engine::PortMapping {
                host_ip,
                host_port: port(m.host_port, "host_port")?,
                container_port: port(m.container_port, "container_port")?,
                protocol,
                range: 1,
            })
        })
        .collect()
}

/// The sandbox's DNS config (kubelet's cluster DNS, or the node's for dnsPolicy Default).
fn dns_config(dns: Option<&k8s_cri::v1::DnsConfig>) -> Result<DnsConfig, ApiError> {
    let Some(dns) = dns else {
        return Ok(DnsConfig::default());
    };
    Ok(DnsConfig {
        servers: dns
            .servers
            .iter()
            .map(|s| {
                s.parse().map_err(|_| {
                    ApiError::InvalidArgument(format!("DNS server {s:?} is not an IP address"))
                })
            })
            .collect::<Result<_, _>>()?,
        search: dns.searches.clone(),
        options: dns.options.clone(),
    })
}

/// The pod's addresses: what the CNI plugins gave its infra container (none while it is
/// stopped, or on the host's network).
fn pod_ips(engine: &Engine, pod: &PodRecord) -> Vec<String> {
    let Some(infra) = pod.infra_id.as_deref().and_then(|id| engine.find(id).ok()) else {
        return Vec::new();
    };
    infra
        .network_status
        .and_then(|status| serde_json::from_value::<aurora_engine::SetupResult>(status).ok())
        .map(|setup| setup.addresses().iter().map(|ip| ip.to_string()).collect())
        .unwrap_or_default()
}

/// The CRI metadata kept in a pod's annotations.
fn metadata(pod: &PodRecord) -> PodSandboxMetadata {
    let get = |key: &str| {
        pod.config
            .annotations
            .get(&format!("{META_PREFIX}{key}"))
            .cloned()
            .unwrap_or_default()
    };
    PodSandboxMetadata {
        name: get("name"),
        uid: get("uid"),
        namespace: get("namespace"),
        attempt: get("attempt").parse().unwrap_or(0),
    }
}

/// The pod's annotations as the request gave them.
fn user_annotations(pod: &PodRecord) -> HashMap<String, String> {
    pod.config
        .annotations
        .iter()
        .filter(|(k, _)| !k.starts_with(META_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn labels(pod: &PodRecord) -> HashMap<String, String> {
    pod.config
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Nanoseconds since the epoch of an RFC 3339 time (0 if it is not one).
fn nanos(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

/// READY while the pod's infra container runs.
pub(crate) fn state(engine: &Engine, pod: &PodRecord) -> PodSandboxState {
    match engine.pod_state(pod) {
        Ok(aurora_engine::PodState::Running) => PodSandboxState::SandboxReady,
        _ => PodSandboxState::SandboxNotready,
    }
}

pub(crate) fn sandbox_status(engine: &Engine, pod: &PodRecord) -> PodSandboxStatus {
    PodSandboxStatus {
        id: pod.id.clone(),
        metadata: Some(metadata(pod)),
        state: state(engine, pod) as i32,
        created_at: nanos(&pod.created_at),
        network: Some(network_status(engine, pod)),
        labels: labels(pod),
        annotations: user_annotations(pod),
        ..Default::default()
    }
}

/// The pod's first address and the others (a host-network pod reports none: kubelet uses
/// the node's).
fn network_status(engine: &Engine, pod: &PodRecord) -> k8s_cri::v1::PodSandboxNetworkStatus {
    let mut ips = pod_ips(engine, pod).into_iter();
    k8s_cri::v1::PodSandboxNetworkStatus {
        ip: ips.next().unwrap_or_default(),
        additional_ips: ips.map(|ip| k8s_cri::v1::PodIp { ip }).collect(),
    }
}

/// Who a pod's statistics are about.
pub(crate) fn attributes(pod: &PodRecord) -> k8s_cri::v1::PodSandboxAttributes {
    k8s_cri::v1::PodSandboxAttributes {
        id: pod.id.clone(),
        metadata: Some(metadata(pod)),
        labels: labels(pod),
        annotations: user_annotations(pod),
    }
}

/// A pod as ListPodSandbox lists it: its status's fields.
pub(crate) fn sandbox(engine: &Engine, pod: &PodRecord) -> PodSandbox {
    let status = sandbox_status(engine, pod);
    PodSandbox {
        id: status.id,
        metadata: status.metadata,
        state: status.state,
        created_at: status.created_at,
        labels: status.labels,
        annotations: status.annotations,
        ..Default::default()
    }
}

/// Whether `pod` passes `filter` (id prefix, state, labels).
pub(crate) fn matches(engine: &Engine, pod: &PodRecord, filter: &PodSandboxFilter) -> bool {
    if !filter.id.is_empty() && !pod.id.starts_with(&filter.id) {
        return false;
    }
    if let Some(wanted) = &filter.state {
        if state(engine, pod) as i32 != wanted.state {
            return false;
        }
    }
    filter
        .label_selector
        .iter()
        .all(|(k, v)| pod.config.labels.get(k) == Some(v))
}

/// Only the pods this server made (they carry CRI metadata), not podadm's own.
pub(crate) fn is_cri_pod(pod: &PodRecord) -> bool {
    pod.config
        .annotations
        .contains_key(&format!("{META_PREFIX}uid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_configs_become_pods() {
        let sandbox = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 2,
            }),
            hostname: "web-0".into(),
            labels: HashMap::from([("app".into(), "web".into())]),
            annotations: HashMap::from([("note".into(), "kept".into())]),
            ..Default::default()
        };
        let (config, name) = pod_config(&sandbox).unwrap();
        assert_eq!(name, "k8s_web_default_u1_2");
        assert_eq!(config.hostname.as_deref(), Some("web-0"));
        assert_eq!(
            config.network,
            NetworkMode::Cni(CniMode {
                networks: Vec::new(),
                args: vec![
                    ("K8S_POD_NAMESPACE".into(), "default".into()),
                    ("K8S_POD_NAME".into(), "web".into()),
                    ("K8S_POD_UID".into(), "u1".into()),
                ],
            })
        );
        assert_eq!(config.labels["app"], "web");
        let pod = PodRecord {
            id: "a".repeat(64),
            name,
            config,
            infra_id: None,
            created_at: "2026-12-03T10:00:00Z".into(),
            cgroup_parent: String::new(),
        };
        assert!(is_cri_pod(&pod));
        let meta = metadata(&pod);
        assert_eq!((meta.name.as_str(), meta.attempt), ("web", 2));
        assert_eq!(
            user_annotations(&pod),
            HashMap::from([("note".into(), "kept".into())])
        );
        assert_eq!(nanos(&pod.created_at), 1_796_292_000_000_000_000);
        assert!(pod_config(&PodSandboxConfig::default()).is_err());
    }

    #[test]
    fn port_mappings_and_dns_config_go_to_the_pod_and_host_network_has_no_ports() {
        use k8s_cri::v1::{DnsConfig as CriDns, NamespaceMode, PortMapping as CriPort};
        let mut sandbox = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            port_mappings: vec![
                CriPort {
                    protocol: k8s_cri::v1::Protocol::Tcp as i32,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: "127.0.0.1".into(),
                },
                CriPort {
                    protocol: k8s_cri::v1::Protocol::Udp as i32,
                    container_port: 53,
                    host_port: 0,
                    host_ip: String::new(),
                },
            ],
            dns_config: Some(CriDns {
                servers: vec!["10.96.0.10".into()],
                searches: vec!["default.svc.cluster.local".into()],
                options: vec!["ndots:5".into()],
            }),
            ..Default::default()
        };
        let (config, _) = pod_config(&sandbox).unwrap();
        let shown: Vec<String> = config.ports.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1:8080->80/tcp", "0.0.0.0:0->53/udp"]);
        assert_eq!(
            config.dns.servers,
            ["10.96.0.10".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(config.dns.search, ["default.svc.cluster.local"]);
        assert_eq!(config.dns.options, ["ndots:5"]);

        sandbox.linux = Some(k8s_cri::v1::LinuxPodSandboxConfig {
            security_context: Some(k8s_cri::v1::LinuxSandboxSecurityContext {
                namespace_options: Some(k8s_cri::v1::NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        let (host, _) = pod_config(&sandbox).unwrap();
        assert_eq!(host.network, NetworkMode::Host);
        assert!(host.ports.is_empty());

        sandbox.linux = None;
        sandbox.port_mappings[0].protocol = k8s_cri::v1::Protocol::Sctp as i32;
        assert!(pod_config(&sandbox).is_err());
        sandbox.port_mappings[0].protocol = 0;
        sandbox.port_mappings[0].host_ip = "not-an-ip".into();
        assert!(pod_config(&sandbox).is_err());
    }
}
