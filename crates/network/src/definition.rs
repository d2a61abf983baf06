//! A network definition: netavark's network JSON, as podman stores it in
//! `/etc/containers/networks/NAME.json` and sends it to netavark in `network_info`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

/// The network every container joins unless told otherwise (`--network bridge` or nothing).
pub const DEFAULT_NETWORK: &str = "podadm";
/// The default network's bridge.
pub const DEFAULT_BRIDGE: &str = "podadm0";
/// The default network's subnet. A /24, not the /16 podman gives its default, so that the
/// user networks chosen from 10.99.1.0/24 upward never overlap it.
pub const DEFAULT_SUBNET: &str = "10.99.0.0/24";
/// The default network's ID: sha256("podadm"), fixed as podman's default network's ID is.
const DEFAULT_ID: &str = "c8214157b50013540b57a56749adbc6449383c33b5431ded5eeb929c7ce8aea1";

/// The only driver there is for now.
pub const BRIDGE_DRIVER: &str = "bridge";

/// A network, field for field netavark's `Network` (netavark 1.x, `network/types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    pub driver: String,
    /// The bridge's name on the host.
    pub network_interface: String,
    /// RFC 3339; podman omits it for its built-in default network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub subnets: Vec<Subnet>,
    pub ipv6_enabled: bool,
    /// No route out and no port forwarding: the containers reach only each other.
    pub internal: bool,
    /// aardvark-dns answers the names of the network's containers.
    pub dns_enabled: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Driver options (`mtu`, `vlan`, …), passed through to netavark.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_options: Option<BTreeMap<String, String>>,
}

/// One subnet of a network and its gateway (the bridge's address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub subnet: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

impl Network {
    /// The built-in default network (never written to disk, as podman's `podman` network).
    pub fn default_network() -> Network {
        let subnet: IpNet = DEFAULT_SUBNET.parse().expect("the default subnet parses");
        Network {
            name: DEFAULT_NETWORK.to_string(),
            id: DEFAULT_ID.to_string(),
            driver: BRIDGE_DRIVER.to_string(),
            network_interface: DEFAULT_BRIDGE.to_string(),
            created: None,
            subnets: vec![Subnet {
                gateway: first_host(&subnet),
                subnet,
            }],
            ipv6_enabled: false,
            internal: false,
            dns_enabled: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            ipam_options: Some(host_local_ipam()),
        }
    }

    /// The addresses the network's subnets hold, as `IpNet`s.
    pub fn subnet_nets(&self) -> impl Iterator<Item = &IpNet> {
        self.subnets.iter().map(|s| &s.subnet)
    }
}

/// `ipam_options` as podman writes them: podman allocates (netavark does no IPAM).
pub(crate) fn host_local_ipam() -> BTreeMap<String, String> {
    BTreeMap::from([("driver".to_string(), "host-local".to_string())])
}

/// The first usable address of a subnet, the conventional gateway.
pub(crate) fn first_host(subnet: &IpNet) -> Option<IpAddr> {
    subnet.hosts().next()
}

/// Names as podman accepts them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and not a `--network` mode.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(NetworkError::BadName {
            name: name.to_string(),
            reason,
        })
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return bad("it is empty"),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return bad("it must start with a letter or a digit")
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    if matches!(name, "none" | "host" | "bridge" | "private" | "slirp4netns") {
        return bad("it is a --network mode");
    }
    Ok(())
}

/// A new network ID: 64 random hex digits, as podman makes them.
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("getrandom failed: {e}"),
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
