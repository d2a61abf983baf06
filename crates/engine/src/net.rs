//! A container's network at start and stop: its namespace (new and empty, the host's,
//! another container's, or one the network plugin wires to networks), and the hosts,
//! resolv.conf and hostname files that go with it.

use std::path::PathBuf;

use aurora_network::etc_files::HostEntry;
use aurora_network::{
    etc_files, Attachment, Cni, CniDns, Netavark, Netns, NetworkBackend, PerNetwork, SetupResult,
};

use crate::config::{CniMode, DnsConfig, NetworkMode};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::ContainerRecord;

/// The network namespace the container's spec gets.
pub(crate) enum Namespace {
    /// A new one with only loopback (`--network none`).
    New,
    /// The host's.
    Host,
    /// An existing one: a network namespace file or another container's.
    Path(PathBuf),
}

/// What the network set-up made.
pub(crate) struct Plan {
    pub namespace: Namespace,
    /// What the plugin reported, kept in the record for inspect and port.
    pub status: Option<serde_json::Value>,
    pub hosts: Vec<u8>,
    pub resolv_conf: Vec<u8>,
    /// The plugin's work still to do (a bridge network): run while the runtime creates the
    /// container in the namespace, then [`Plan::wired`].
    pub wiring: Option<Wiring>,
    /// Held from the port check until the network is recorded (the end of the start): two
    /// starts publishing one host port are told apart one after the other.
    pub ports_lock: Option<crate::lock::ContainerLock>,
}

/// A namespace to wire to networks.
pub(crate) struct Wiring {
    backend: Box<dyn NetworkBackend + Send + Sync>,
    attachment: Attachment,
    hostname: String,
    /// The container's own DNS config, over what the networks answer.
    dns: DnsConfig,
    /// `--add-host` lines.
    extra_hosts: Vec<HostEntry>,
}

impl Wiring {
    /// Runs the plugin's setup (on a thread of its own).
    pub fn run(&self) -> aurora_network::Result<SetupResult> {
        self.backend.setup(&self.attachment)
    }
}

impl Plan {
    /// The files and status that follow from the plugin's answer.
    pub fn wired(&mut self, result: &SetupResult) {
        let Some(wiring) = &self.wiring else {
            return;
        };
        let addresses = result.addresses();
        self.hosts = etc_files::hosts(
            &wiring.hostname,
            &wiring.attachment.container_name,
            &addresses,
            &wiring.extra_hosts,
        );
        let dns = &wiring.dns;
        let or = |asked: &[String], answered: Vec<String>| {
            if asked.is_empty() {
                answered
            } else {
                asked.to_vec()
            }
        };
        let servers = if dns.servers.is_empty() {
            result.dns_servers()
        } else {
            dns.servers.clone()
        };
        let options: Vec<String> = result
            .networks
            .iter()
            .flat_map(|n| n.dns_options.iter().cloned())
            .collect();
        self.resolv_conf = etc_files::resolv_conf(
            &servers,
            &or(&dns.search, result.dns_search()),
            &or(&dns.options, options),
            &host_resolv_conf(),
        );
        self.status = serde_json::to_value(result).ok();
    }
}

pub use aurora_network::DEFAULT_NETWORK;

/// The lock file (under the run root's locks) that publishing host ports takes turns on.
const PORTS_LOCK: &str = "ports";

impl Engine {
    /// Sets up the network of `record` for a start.
    pub(crate) fn attach_network(&self, record: &ContainerRecord) -> Result<Plan> {
        let hostname = self.hostname_of(record);
        match &record.config.network {
            NetworkMode::None => Ok(Plan {
                namespace: Namespace::New,
                wiring: None,
                ports_lock: None,
                status: None,
                hosts: etc_files::hosts(&hostname, &record.name, &[], &record.config.extra_hosts),
                resolv_conf: own_resolv_conf(&record.config.dns),
            }),
            NetworkMode::Host => Ok(Plan {
                namespace: Namespace::Host,
                wiring: None,
                ports_lock: None,
                status: None,
                hosts: etc_files::hosts_for_host_network(
                    &std::fs::read("/etc/hosts").unwrap_or_default(),
                    &hostname,
                    &record.name,
                    &record.config.extra_hosts,
                ),
                resolv_conf: own_resolv_conf(&record.config.dns),
            }),
            NetworkMode::Container(other) => {
                let other = self.find(other)?;
                let pid = other
                    .pid
                    .filter(|_| other.state.is_active())
                    .ok_or_else(|| EngineError::Invalid {
                        name: record.name.clone(),
                        message: format!(
                            "--network container:{} needs that container running",
                            other.name
                        ),
                    })?;
                let userdata = self.paths.userdata(&other.id);
                Ok(Plan {
                    namespace: Namespace::Path(PathBuf::from(format!("/proc/{pid}/ns/net"))),
                    wiring: None,
                    ports_lock: None,
                    status: None,
                    hosts: std::fs::read(userdata.join("hosts")).unwrap_or_default(),
                    resolv_conf: std::fs::read(userdata.join("resolv.conf")).unwrap_or_default(),
                })
            }
            NetworkMode::Bridge(names) => self.attach_bridge(record, names, &hostname),
            NetworkMode::Cni(mode) => self.attach_cni(record, mode, &hostname),
        }
    }

    /// A new namespace for the CNI plugins to wire (eth0, eth1, … per network; `lo` is up
    /// already), the pod's ports given to portmap.
    fn attach_cni(&self, record: &ContainerRecord, mode: &CniMode, hostname: &str) -> Result<Plan> {
        let ports_lock = self.lock_ports(record)?;
        // "" asks the backend for the conf dir's default network.
        let names: Vec<String> = if mode.networks.is_empty() {
            vec![String::new()]
        } else {
            mode.networks.clone()
        };
        let mut args = mode.args.clone();
        if args.iter().any(|(k, _)| k == "K8S_POD_NAME") {
            args.push(("K8S_POD_INFRA_CONTAINER_ID".into(), record.id.clone()));
        }
        let dns = &record.config.dns;
        let backend = self.cni_backend().with_args(args).with_dns(Some(CniDns {
            servers: dns.servers.iter().map(|s| s.to_string()).collect(),
            searches: dns.search.clone(),
            options: dns.options.clone(),
        }));
        let netns = Netns::create(&self.paths.runroot, &record.id)?;
        let mut attachment = self.attachment(record, &names, netns.path.clone());
        for (_, per) in &mut attachment.networks {
            per.aliases.clear();
        }
        Ok(wiring_plan(
            record,
            Box::new(backend),
            attachment,
            hostname,
            ports_lock,
        ))
    }

    /// The CNI backend on the engine's conf and bin dirs, its cache under the store root
    /// (kept across reboots as libcni's /var/lib/cni: host-local's allocations are too).
    pub(crate) fn cni_backend(&self) -> Cni {
        let options = &self.options.cni;
        Cni::new(
            &options.conf_dir,
            &options.bin_dirs,
            &self.paths.podadm().join("cni"),
        )
    }

    fn attach_bridge(
        &self,
        record: &ContainerRecord,
        names: &[String],
        hostname: &str,
    ) -> Result<Plan> {
        let ports_lock = self.lock_ports(record)?;
        let networks = self.networks()?;
        let names: Vec<String> = if names.is_empty() {
            vec![DEFAULT_NETWORK.to_string()]
        } else {
            names.to_vec()
        };
        let netns = Netns::create(&self.paths.runroot, &record.id)?;
        let backend = match Netavark::find(networks) {
            Ok(backend) => backend,
            Err(e) => {
                let _ = Netns::remove(&netns.path);
                return Err(e.into());
            }
        };
        let attachment = self.attachment(record, &names, netns.path.clone());
        Ok(wiring_plan(
            record,
            Box::new(backend),
            attachment,
            hostname,
            ports_lock,
        ))
    }

    /// The ports lock, held when the container publishes ports, once they are found free.
    fn lock_ports(&self, record: &ContainerRecord) -> Result<Option<crate::lock::ContainerLock>> {
        let ports_lock = if record.config.ports.is_empty() {
            None
        } else {
            Some(crate::lock::lock(&self.paths.locks(), PORTS_LOCK)?)
        };
        self.check_ports_free(record)?;
        Ok(ports_lock)
    }

    /// A host port another running container publishes is refused (netavark forwards with
    /// firewall rules and holds no socket, so the host would not notice).
    fn check_ports_free(&self, record: &ContainerRecord) -> Result<()> {
        if record.config.ports.is_empty() {
            return Ok(());
        }
        for other in self.db.list()? {
            // Running, or attached by a start still in progress (it holds the lock we hold
            // now only once it has recorded its network).
            let holds_ports = other.state.is_active() || other.network_status.is_some();
            if other.id == record.id || !holds_ports {
                continue;
            }
            for theirs in &other.config.ports {
                for ours in &record.config.ports {
                    let same_ip = ours.host_ip.is_none()
                        || theirs.host_ip.is_none()
                        || ours.host_ip == theirs.host_ip;
                    let overlap = ours.host_port != 0
                        && ours.host_ports().start < theirs.host_ports().end
                        && theirs.host_ports().start < ours.host_ports().end;
                    if same_ip && overlap && ours.protocol == theirs.protocol {
                        return Err(EngineError::Invalid {
                            name: record.name.clone(),
                            message: format!(
                                "port {ours} is already published by container {}",
                                other.name
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn attachment(&self, record: &ContainerRecord, names: &[String], netns: PathBuf) -> Attachment {
        Attachment {
            container_id: record.id.clone(),
            container_name: record.name.clone(),
            netns,
            networks: names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    (
                        name.clone(),
                        PerNetwork {
                            interface_name: format!("eth{i}"),
                            aliases: vec![record.name.clone()],
                            static_ips: Vec::new(),
                        },
                    )
                })
                .collect(),
            ports: record.config.ports.clone(),
        }
    }

    /// Tears down what `attach_network` made (recorded in `network_status`, which is then
    /// cleared: a second call does nothing); what is already gone is fine.
    pub(crate) fn detach_network(&self, record: &mut ContainerRecord) {
        if let NetworkMode::Cni(_) = &record.config.network {
            return self.detach_cni(record);
        }
        let NetworkMode::Bridge(names) = &record.config.network else {
            return;
        };
        let path = self.paths.netns_dir().join(&record.id);
        let Some(status) = record.network_status.take() else {
            let _ = Netns::remove(&path);
            return;
        };
        let names: Vec<String> = if names.is_empty() {
            vec![DEFAULT_NETWORK.to_string()]
        } else {
            names.clone()
        };
        if let Ok(networks) = self.networks() {
            let mut attachment = self.attachment(record, &names, path.clone());
            // netavark finds a container's rules by its ports: the ones it was given.
            if let Ok(status) = serde_json::from_value::<SetupResult>(status) {
                attachment.ports = status.ports;
            }
            if let Ok(backend) = Netavark::find(networks) {
                if let Err(e) = backend.teardown(&attachment) {
                    tracing::debug!(container = %record.name, "network teardown: {e}");
                }
            }
        }
        let _ = Netns::remove(&path);
    }
}

impl Engine {
    /// CNI DEL of whatever the cache holds for the container (the cache, not the status,
    /// says what was set up: a start that died before recording its status left entries),
    /// then its namespace.
    fn detach_cni(&self, record: &mut ContainerRecord) {
        let path = self.paths.netns_dir().join(&record.id);
        record.network_status = None;
        let attachment = Attachment {
            container_id: record.id.clone(),
            container_name: record.name.clone(),
            netns: path.clone(),
            networks: Vec::new(),
            ports: Vec::new(),
        };
        if let Err(e) = self.cni_backend().teardown(&attachment) {
            tracing::warn!(container = %record.name, "CNI teardown: {e}");
        }
        let _ = Netns::remove(&path);
    }
}

/// resolv.conf from the container's DNS config, the host's filling what it leaves out.
fn own_resolv_conf(dns: &DnsConfig) -> Vec<u8> {
    etc_files::resolv_conf(&dns.servers, &dns.search, &dns.options, &host_resolv_conf())
}

/// The host's resolv.conf text (empty when unreadable: the fallback servers apply).
fn host_resolv_conf() -> String {
    etc_files::host_resolv_conf().unwrap_or_default()
}

/// A plan whose namespace (the attachment's) the plugin wires while the runtime creates the
/// container.
fn wiring_plan(
    record: &ContainerRecord,
    backend: Box<dyn NetworkBackend + Send + Sync>,
    attachment: Attachment,
    hostname: &str,
    ports_lock: Option<crate::lock::ContainerLock>,
) -> Plan {
    Plan {
        namespace: Namespace::Path(attachment.netns.clone()),
        status: None,
        hosts: Vec::new(),
        resolv_conf: Vec::new(),
        wiring: Some(Wiring {
            backend,
            attachment,
            hostname: hostname.to_string(),
            dns: record.config.dns.clone(),
            extra_hosts: record.config.extra_hosts.clone(),
        }),
        ports_lock,
    }
}
