//! Published ports: `-p [IP:][HOST:]CTR[/tcp|udp]`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A transport protocol a port is published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One published port (a range is `range` consecutive ports from both starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address to listen on; `None` for every address.
    pub host_ip: Option<IpAddr>,
    /// The host port; 0 picks a free one when the container starts.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// How many consecutive ports, at least 1.
    pub range: u16,
}
