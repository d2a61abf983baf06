//! netavark's stdin and stdout (netavark 1.x `network/types.rs`), as podman 4 sends and
//! reads them. Captured from `podman run --network NET -p 127.0.0.1:18080:80` (netavark 1.4):
//! `tests/golden/netavark-setup.json` is the shape, field for field.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::definition::Network;
use crate::port::PortMapping;

/// The document on netavark's stdin for `setup` and `teardown`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetworkOptions {
    pub container_id: String,
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<WirePort>,
    /// Network name → how the container joins it.
    pub networks: BTreeMap<String, PerNetworkOptions>,
    /// Network name → its definition.
    pub network_info: BTreeMap<String, Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<IpAddr>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PerNetworkOptions {
    pub static_ips: Vec<IpAddr>,
    pub aliases: Vec<String>,
    pub interface_name: String,
}

/// A port mapping as netavark reads it: the host address is a string, empty for all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WirePort {
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub range: u16,
    pub protocol: String,
}

impl From<&PortMapping> for WirePort {
    fn from(p: &PortMapping) -> WirePort {
        WirePort {
            host_ip: p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            container_port: p.container_port,
            host_port: p.host_port,
            range: p.range.max(1),
            protocol: p.protocol.as_str().to_string(),
        }
    }
}

/// netavark's answer to `setup`, per network.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StatusBlock {
    #[serde(default)]
    pub dns_search_domains: Option<Vec<String>>,
    #[serde(default)]
    pub dns_server_ips: Option<Vec<IpAddr>>,
    #[serde(default)]
    pub interfaces: Option<BTreeMap<String, NetInterface>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct NetInterface {
    pub mac_address: String,
    #[serde(default)]
    pub subnets: Option<Vec<NetAddress>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NetAddress {
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    pub ipnet: ipnet::IpNet,
}

/// What netavark prints on stdout when it fails.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorReply {
    pub error: String,
}
