//! The seam between the engine and a network plugin: attach a container's network
//! namespace to its networks, and detach it. netavark (podadm's networks) and CNI (the CRI
//! server's pod networks) on Linux; illumos gives a zone a VNIC instead (the `illumos`
//! module).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::port::PortMapping;

/// A container's place on its networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// 64 hex digits.
    pub container_id: String,
    /// Resolvable by the network's other containers (with the aliases).
    pub container_name: String,
    /// The namespace's path (`RUNROOT/netns/ID`).
    pub netns: PathBuf,
    /// The networks, in interface order (`eth0` first).
    pub networks: Vec<(String, PerNetwork)>,
    /// Published ports. Teardown must get the ports that setup returned (free host ports
    /// picked for 0), since netavark finds the rules to remove through them.
    pub ports: Vec<PortMapping>,
}

/// How a container sits on one network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PerNetwork {
    /// `eth0`, `eth1`, … inside the container.
    pub interface_name: String,
    /// `--network-alias`: more names for the container on this network.
    pub aliases: Vec<String>,
    /// `--ip`: addresses wanted; empty to have them allocated.
    pub static_ips: Vec<IpAddr>,
}

/// What setup made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SetupResult {
    /// One per network of the attachment, in its order.
    pub networks: Vec<NetworkStatus>,
    /// The attachment's ports with every host port 0 replaced by the port picked.
    pub ports: Vec<PortMapping>,
}

/// The container's interface on one network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkStatus {
    pub network: String,
    /// `eth0`, …
    pub interface: String,
    /// With prefixes: `10.99.0.5/24`.
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
    pub mac: String,
    /// aardvark-dns's addresses, when the network resolves names.
    pub dns_servers: Vec<String>,
    /// `dns.podman` with aardvark-dns.
    pub dns_search: Vec<String>,
    /// resolv.conf options a CNI result gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// Routes a CNI result gives: `DST` or `DST via GW`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
}

impl SetupResult {
    /// Every address the container got, without prefixes (for /etc/hosts).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.networks
            .iter()
            .flat_map(|n| &n.addresses)
            .filter_map(|a| a.split('/').next().and_then(|ip| ip.parse().ok()))
            .collect()
    }

    /// Every name server the networks offer, in order, without repeats (for resolv.conf).
    pub fn dns_servers(&self) -> Vec<IpAddr> {
        let mut servers = Vec::new();
        for server in self.networks.iter().flat_map(|n| &n.dns_servers) {
            if let Ok(ip) = server.parse() {
                if !servers.contains(&ip) {
                    servers.push(ip);
                }
            }
        }
        servers
    }

    /// Every search domain the networks offer, without repeats.
    pub fn dns_search(&self) -> Vec<String> {
        let mut search: Vec<String> = Vec::new();
        for domain in self.networks.iter().flat_map(|n| &n.dns_search) {
            if !search.contains(domain) {
                search.push(domain.clone());
            }
        }
        search
    }
}

/// A network plugin.
pub trait NetworkBackend {
    /// Attaches the namespace to its networks and publishes its ports. A failure leaves
    /// nothing behind: what was made is torn down and the addresses are given back.
    fn setup(&self, attachment: &Attachment) -> Result<SetupResult>;

    /// Detaches the namespace and gives its addresses back. Addresses are released even
    /// when the plugin fails (the namespace may be gone after a reboot).
    fn teardown(&self, attachment: &Attachment) -> Result<()>;
}
