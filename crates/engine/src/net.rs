//! A container's network at start and stop: its namespace (new and empty, the host's,
//! another container's, or one the network plugin wires to networks), and the hosts,
//! resolv.conf and hostname files that go with it.

use std::path::PathBuf;

use aurora_network::{
    etc_files, Attachment, Netavark, Netns, NetworkBackend, PerNetwork, SetupResult,
};

use crate::config::NetworkMode;
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
    backend: Netavark,
    attachment: Attachment,
    hostname: String,
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
            &[],
        );
        self.resolv_conf = etc_files::resolv_conf(
            &result.dns_servers(),
            &result.dns_search(),
            &[],
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
                hosts: etc_files::hosts(&hostname, &record.name, &[], &[]),
                resolv_conf: etc_files::resolv_conf(&[], &[], &[], &host_resolv_conf()),
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
                ),
                resolv_conf: etc_files::resolv_conf(&[], &[], &[], &host_resolv_conf()),
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
        }
    }

    fn attach_bridge(
        &self,
        record: &ContainerRecord,
        names: &[String],
        hostname: &str,
    ) -> Result<Plan> {
        let ports_lock = if record.config.ports.is_empty() {
            None
        } else {
            Some(crate::lock::lock(&self.paths.locks(), PORTS_LOCK)?)
        };
        self.check_ports_free(record)?;
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
        Ok(Plan {
            namespace: Namespace::Path(netns.path.clone()),
            status: None,
            hosts: Vec::new(),
            resolv_conf: Vec::new(),
            wiring: Some(Wiring {
                backend,
                attachment: self.attachment(record, &names, netns.path.clone()),
                hostname: hostname.to_string(),
            }),
            ports_lock,
        })
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

/// The host's resolv.conf text (empty when unreadable: the fallback servers apply).
fn host_resolv_conf() -> String {
    etc_files::host_resolv_conf().unwrap_or_default()
}
