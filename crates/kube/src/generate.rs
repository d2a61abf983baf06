//! A pod (or one container) → a Pod document, as podman's `kube generate` shapes it: what
//! the user asked for (command, env, ports, limits, security, volumes), not the image's
//! defaults. Played back, it gives the same pod.

use std::collections::BTreeMap;

use aurora_engine::{
    ContainerConfig, ContainerRecord, DnsConfig, MountRequest, NetworkMode, PodRecord,
    RestartPolicy,
};
use aurora_network::etc_files::HostEntry;
use aurora_network::Protocol;
use serde::Serialize;

use crate::quantity::{bytes_text, cpus_text};

const HEADER: &str = "# Save the output of this file and use kubectl create -f to import\n\
# it into Kubernetes.\n#\n";

/// `pod`'s Pod document; `containers` are its containers (the infra container is left out).
pub fn generate(pod: &PodRecord, containers: &[ContainerRecord]) -> String {
    let members: Vec<&ContainerRecord> = containers
        .iter()
        .filter(|c| Some(&c.id) != pod.infra_id.as_ref())
        .collect();
    let mut volumes = Volumes::default();
    let mut spec_containers: Vec<Container> = members
        .iter()
        .map(|c| container(short_name(&pod.name, &c.name), &c.config, &mut volumes))
        .collect();
    // Ports are the pod's; podman lists them on its first container.
    if let Some(first) = spec_containers.first_mut() {
        first.ports = pod.config.ports.iter().map(port).collect();
    }
    let restart = members
        .first()
        .map_or(RestartPolicy::Always, |c| c.config.restart);
    let document = Document {
        api_version: "v1",
        kind: "Pod",
        metadata: Metadata {
            annotations: pod.config.annotations.clone(),
            creation_timestamp: Some(pod.created_at.clone()),
            labels: pod.config.labels.clone(),
            name: pod.name.clone(),
        },
        spec: Spec {
            automount_service_account_token: false,
            containers: spec_containers,
            enable_service_links: false,
            host_aliases: host_aliases(&pod.config.extra_hosts),
            dns_config: dns_config(&pod.config.dns),
            host_network: pod.config.network == NetworkMode::Host,
            hostname: pod.config.hostname.clone(),
            restart_policy: restart_policy(restart),
            volumes: volumes.list,
        },
        status: BTreeMap::new(),
    };
    render(&document)
}

/// One container outside a pod: a Pod named `NAME-pod` holding it, as podman does.
pub fn generate_container(record: &ContainerRecord) -> String {
    let mut volumes = Volumes::default();
    let mut spec_container = container(record.name.clone(), &record.config, &mut volumes);
    spec_container.ports = record.config.ports.iter().map(port).collect();
    let document = Document {
        api_version: "v1",
        kind: "Pod",
        metadata: Metadata {
            annotations: record.config.annotations.clone(),
            creation_timestamp: Some(record.created_at.clone()),
            labels: record.config.labels.clone(),
            name: format!("{}-pod", record.name),
        },
        spec: Spec {
            automount_service_account_token: false,
            containers: vec![spec_container],
            enable_service_links: false,
            host_aliases: host_aliases(&record.config.extra_hosts),
            dns_config: dns_config(&record.config.dns),
            host_network: record.config.network == NetworkMode::Host,
            hostname: record.config.hostname.clone(),
            restart_policy: restart_policy(record.config.restart),
            volumes: volumes.list,
        },
        status: BTreeMap::new(),
    };
    render(&document)
}

#[derive(Serialize)]
struct HostAlias {
    hostnames: Vec<String>,
    ip: String,
}

#[derive(Serialize)]
struct DnsConfigOut {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nameservers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<DnsOptionOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    searches: Vec<String>,
}

#[derive(Serialize)]
struct DnsOptionOut {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

fn host_aliases(entries: &[HostEntry]) -> Vec<HostAlias> {
    entries
        .iter()
        .map(|entry| HostAlias {
            hostnames: entry.names.clone(),
            ip: entry.address.to_string(),
        })
        .collect()
}

fn dns_config(dns: &DnsConfig) -> Option<DnsConfigOut> {
    (!dns.is_empty()).then(|| DnsConfigOut {
        nameservers: dns.servers.iter().map(ToString::to_string).collect(),
        options: dns
            .options
            .iter()
            .map(|option| match option.split_once(':') {
                Some((name, value)) => DnsOptionOut {
                    name: name.to_string(),
                    value: Some(value.to_string()),
                },
                None => DnsOptionOut {
                    name: option.clone(),
                    value: None,
                },
            })
            .collect(),
        searches: dns.search.clone(),
    })
}

fn render(document: &Document) -> String {
    let yaml = serde_norway::to_string(document).unwrap_or_else(|error| {
        // Only maps with string keys and plain values are serialized: this cannot fail.
        format!("# not representable: {error}\n")
    });
    format!(
        "{HEADER}# Created with podadm-{}\n{yaml}",
        env!("CARGO_PKG_VERSION")
    )
}

/// `web-main` in pod `web` → `main`, so that playing the document back names it `web-main`.
fn short_name(pod: &str, container: &str) -> String {
    container
        .strip_prefix(pod)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(container)
        .to_string()
}

fn restart_policy(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::Always | RestartPolicy::UnlessStopped => "Always",
        RestartPolicy::OnFailure(_) => "OnFailure",
        RestartPolicy::No => "Never",
    }
}

fn container(name: String, config: &ContainerConfig, volumes: &mut Volumes) -> Container {
    let env = config
        .env
        .iter()
        .map(|entry| {
            let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
            EnvVar {
                name: name.to_string(),
                value: value.to_string(),
            }
        })
        .collect();
    let mut limits = BTreeMap::new();
    if let Some(cpus) = config.resources.cpus {
        limits.insert("cpu", cpus_text(cpus));
    }
    if let Some(memory) = config.resources.memory {
        limits.insert("memory", bytes_text(memory));
    }
    let volume_mounts = config
        .mounts
        .iter()
        .filter_map(|mount| volumes.mount(mount))
        .collect();
    Container {
        args: config.command.clone(),
        command: config.entrypoint.clone(),
        env,
        image: config.image.clone(),
        name,
        ports: Vec::new(),
        resources: (!limits.is_empty()).then_some(ResourceRequirements { limits }),
        security_context: security_context(config),
        stdin: config.interactive,
        tty: config.terminal,
        volume_mounts,
        working_dir: config.workdir.clone(),
    }
}

fn security_context(config: &ContainerConfig) -> Option<SecurityContext> {
    // Only numeric users can be written: names are resolved in the image.
    let (uid, gid) = match config
        .user
        .as_deref()
        .map(|u| u.split_once(':').unwrap_or((u, "")))
    {
        Some((uid, gid)) => (uid.parse().ok(), gid.parse().ok()),
        None => (None, None),
    };
    let capabilities =
        (!config.cap_add.is_empty() || !config.cap_drop.is_empty()).then(|| Capabilities {
            add: config.cap_add.clone(),
            drop: config.cap_drop.clone(),
        });
    let context = SecurityContext {
        capabilities,
        privileged: config.privileged.then_some(true),
        read_only_root_filesystem: config.read_only.then_some(true),
        run_as_group: gid,
        run_as_user: uid,
    };
    let empty = context.capabilities.is_none()
        && context.privileged.is_none()
        && context.read_only_root_filesystem.is_none()
        && uid.is_none();
    (!empty).then_some(context)
}

fn port(mapping: &aurora_network::PortMapping) -> ContainerPort {
    ContainerPort {
        container_port: mapping.container_port,
        host_ip: mapping.host_ip.map(|ip| ip.to_string()),
        host_port: mapping.host_port,
        protocol: (mapping.protocol == Protocol::Udp).then_some("UDP"),
    }
}

/// The pod's volumes, one per source, named as podman names them.
#[derive(Default)]
struct Volumes {
    list: Vec<Volume>,
}

impl Volumes {
    fn mount(&mut self, mount: &MountRequest) -> Option<VolumeMount> {
        let (source, mount_path, read_only) = match mount {
            MountRequest::Volume {
                name: Some(name),
                destination,
                read_only,
            } => (Source::Claim(name.clone()), destination, *read_only),
            MountRequest::Volume {
                name: None,
                destination,
                read_only,
            } => (Source::Empty, destination, *read_only),
            MountRequest::Bind {
                source,
                destination,
                read_only,
                ..
            } => (
                Source::Host(source.display().to_string()),
                destination,
                *read_only,
            ),
            // A tmpfs is the container's own, not a pod volume (podman leaves it out too).
            MountRequest::Tmpfs { .. } => return None,
        };
        let name = self.add(source, mount_path);
        Some(VolumeMount {
            mount_path: mount_path.clone(),
            name,
            read_only: read_only.then_some(true),
        })
    }

    /// The volume's name, added when new.
    fn add(&mut self, source: Source, mount_path: &str) -> String {
        // Every anonymous volume is a volume of its own.
        if source != Source::Empty {
            if let Some(existing) = self
                .list
                .iter()
                .find(|v| v.source.as_ref() == Some(&source))
            {
                return existing.name.clone();
            }
        }
        let base = match &source {
            Source::Claim(name) => format!("{}-pvc", dns_name(name)),
            Source::Host(path) => format!("{}-host", dns_name(path)),
            Source::Empty => format!("{}-empty", dns_name(mount_path)),
        };
        let mut name = base.clone();
        let mut n = 1;
        while self.list.iter().any(|v| v.name == name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        let mut volume = Volume {
            name: name.clone(),
            source: Some(source.clone()),
            ..Volume::default()
        };
        match source {
            Source::Claim(claim_name) => {
                volume.persistent_volume_claim = Some(Claim { claim_name })
            }
            Source::Host(path) => volume.host_path = Some(HostPath { path }),
            Source::Empty => volume.empty_dir = Some(BTreeMap::new()),
        }
        self.list.push(volume);
        name
    }
}

/// `/srv/My Data` → `srv-my-data`: a volume name Kubernetes accepts.
fn dns_name(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let parts: Vec<&str> = mapped.split('-').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        "root".into()
    } else {
        parts.join("-")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Claim(String),
    Host(String),
    Empty,
}

// The document, with fields in the order podman writes them (alphabetical).

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: Spec,
    status: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_timestamp: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    automount_service_account_token: bool,
    containers: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_config: Option<DnsConfigOut>,
    enable_service_links: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    host_aliases: Vec<HostAlias>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    host_network: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    restart_policy: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<Volume>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar>,
    image: String,
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<ContainerPort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_context: Option<SecurityContext>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stdin: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tty: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
}

#[derive(Serialize)]
struct EnvVar {
    name: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    container_port: u16,
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    host_ip: Option<String>,
    host_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
}

#[derive(Serialize)]
struct ResourceRequirements {
    limits: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<Capabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only_root_filesystem: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_group: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_user: Option<u32>,
}

#[derive(Serialize)]
struct Capabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    drop: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    mount_path: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<bool>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    empty_dir: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_path: Option<HostPath>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    persistent_volume_claim: Option<Claim>,
    /// What it was made from, to give one source one volume.
    #[serde(skip)]
    source: Option<Source>,
}

#[derive(Serialize)]
struct HostPath {
    path: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    claim_name: String,
}
