//! The network definitions of a store: `ROOT/podadm/networks/NAME.json`, plus the built-in
//! default network. Creating one holds the definitions' lock, so two podadm processes never
//! pick the same subnet or bridge.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::definition::{
    check_name, first_host, host_local_ipam, new_id, Network, Subnet, BRIDGE_DRIVER,
    DEFAULT_NETWORK,
};
use crate::error::{io, NetworkError, Result};
use crate::files::{read_json, write_json_atomic, FileLock};
use crate::ipam::Ipam;
use crate::subnet::{check_gateway, free_subnet, host_routes, overlaps, parse_subnet};

/// What `podadm network create` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkCreate {
    pub name: String,
    /// `--subnet`, as given; a free /24 from 10.99.1.0/24 upward when `None`.
    pub subnet: Option<String>,
    /// `--gateway`, as given; the subnet's first address when `None`.
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// `--disable-dns` is `Some(false)`; user networks resolve names by default.
    pub dns: Option<bool>,
    /// `--driver`; only `bridge` exists.
    pub driver: Option<String>,
    /// `--interface-name`: the bridge; `podadmN` (the first N free) when `None`.
    pub interface_name: Option<String>,
    /// `--opt`, passed to netavark (`mtu`, …).
    pub options: BTreeMap<String, String>,
}

/// The network definitions under one store root, and the runtime directory netavark keeps
/// its state in.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
    runroot: PathBuf,
}

impl Networks {
    /// The definitions of the store at `root` (`ROOT/podadm/networks`, created if missing);
    /// `runroot` is where network namespaces and netavark's state live.
    pub fn open(root: &Path, runroot: &Path) -> Result<Networks> {
        let dir = root.join("podadm").join("networks");
        std::fs::create_dir_all(&dir).map_err(io(&dir, "create directory"))?;
        Ok(Networks {
            dir,
            runroot: runroot.to_path_buf(),
        })
    }

    /// `ROOT/podadm/networks`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The runtime state directory (`RUNROOT`).
    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    /// Every network, the default one first, then by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir, "list"))? {
            let entry = entry.map_err(io(&self.dir, "list"))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if check_name(name).is_ok() {
                names.push(name.to_string());
            }
        }
        names.sort();
        let mut networks = vec![Network::default_network()];
        for name in names {
            // A definition removed between the listing and the read is simply gone.
            if let Some(network) = read_json(&self.definition_path(&name), "network definition")? {
                networks.push(network);
            }
        }
        Ok(networks)
    }

    /// The network called `name`.
    pub fn inspect(&self, name: &str) -> Result<Network> {
        if name == DEFAULT_NETWORK {
            return Ok(Network::default_network());
        }
        check_name(name).map_err(|_| NetworkError::NotFound(name.to_string()))?;
        read_json(&self.definition_path(name), "network definition")?
            .ok_or_else(|| NetworkError::NotFound(name.to_string()))
    }

    /// Creates a network and writes its definition.
    pub fn create(&self, request: &NetworkCreate) -> Result<Network> {
        let name = request.name.as_str();
        check_name(name)?;
        if let Some(driver) = request.driver.as_deref().filter(|d| *d != BRIDGE_DRIVER) {
            return Err(NetworkError::Refused {
                network: name.to_string(),
                reason: format!("driver {driver:?} is not supported (only \"bridge\")"),
            });
        }
        let _lock = FileLock::acquire(&self.dir.join(".lock"))?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == name) {
            return Err(NetworkError::Exists(name.to_string()));
        }
        let subnet = self.choose_subnet(request, &existing)?;
        let gateway = match request.gateway.as_deref() {
            None => first_host(&subnet),
            Some(text) => {
                let gateway: IpAddr = text.parse().map_err(|_| NetworkError::BadGateway {
                    text: text.to_string(),
                    reason: "not an IP address".into(),
                })?;
                check_gateway(&subnet, gateway)?;
                Some(gateway)
            }
        };
        let network = Network {
            name: name.to_string(),
            id: new_id(),
            driver: BRIDGE_DRIVER.to_string(),
            network_interface: self.choose_bridge(request, &existing)?,
            created: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            ipv6_enabled: subnet.addr().is_ipv6(),
            subnets: vec![Subnet { subnet, gateway }],
            internal: request.internal,
            dns_enabled: request.dns.unwrap_or(true),
            labels: request.labels.clone(),
            options: request.options.clone(),
            ipam_options: Some(host_local_ipam()),
        };
        write_json_atomic(&self.definition_path(name), &network)?;
        Ok(network)
    }

    /// Removes the definition of `name` and its address table. The caller has checked that
    /// no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == DEFAULT_NETWORK {
            return Err(NetworkError::Refused {
                network: name.to_string(),
                reason: "the default network cannot be removed".into(),
            });
        }
        self.inspect(name)?;
        let _lock = FileLock::acquire(&self.dir.join(".lock"))?;
        let path = self.definition_path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NetworkError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io(&path, "remove")(e)),
        }
        self.ipam().forget_network(name)
    }

    /// The address allocator of these networks.
    pub fn ipam(&self) -> Ipam {
        Ipam::new(self.dir.join("ipam"))
    }

    fn definition_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The requested subnet, checked against the other networks and the host's routes, or
    /// the first free one.
    fn choose_subnet(&self, request: &NetworkCreate, existing: &[Network]) -> Result<IpNet> {
        let routes = host_routes();
        // A route through a network's own bridge is that network, already in `existing`.
        let bridges: Vec<&str> = existing
            .iter()
            .map(|n| n.network_interface.as_str())
            .collect();
        let foreign_routes = routes
            .iter()
            .filter(|(iface, _)| !bridges.contains(&iface.as_str()));
        match request.subnet.as_deref() {
            Some(text) => {
                let subnet = parse_subnet(text)?;
                for network in existing {
                    if let Some(used) = network.subnet_nets().find(|n| overlaps(n, &subnet)) {
                        return Err(NetworkError::SubnetInUse {
                            subnet: subnet.to_string(),
                            what: format!("{used} of network {:?}", network.name),
                        });
                    }
                }
                if let Some((iface, route)) = foreign_routes
                    .into_iter()
                    .find(|(_, route)| overlaps(route, &subnet))
                {
                    return Err(NetworkError::SubnetInUse {
                        subnet: subnet.to_string(),
                        what: format!("the host's route to {route} on {iface}"),
                    });
                }
                Ok(subnet)
            }
            None => {
                let mut taken: Vec<IpNet> = existing
                    .iter()
                    .flat_map(|n| n.subnet_nets().copied())
                    .collect();
                taken.extend(foreign_routes.map(|(_, route)| *route));
                free_subnet(&taken)
            }
        }
    }

    /// The requested bridge name, or `podadmN` with the first N no definition and no host
    /// interface uses.
    fn choose_bridge(&self, request: &NetworkCreate, existing: &[Network]) -> Result<String> {
        let used = |name: &str| {
            existing.iter().any(|n| n.network_interface == name)
                || Path::new("/sys/class/net").join(name).exists()
        };
        if let Some(name) = &request.interface_name {
            let valid = !name.is_empty()
                && name.len() < libc::IFNAMSIZ
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return Err(NetworkError::Refused {
                    network: request.name.clone(),
                    reason: format!("interface name {name:?} is not a valid Linux interface name"),
                });
            }
            if existing.iter().any(|n| &n.network_interface == name) {
                return Err(NetworkError::Refused {
                    network: request.name.clone(),
                    reason: format!("interface {name:?} is used by another network"),
                });
            }
            return Ok(name.clone());
        }
        (1..10_000)
            .map(|n| format!("podadm{n}"))
            .find(|name| !used(name))
            .ok_or_else(|| NetworkError::Refused {
                network: request.name.clone(),
                reason: "no free bridge name podadmN".into(),
            })
    }
}
