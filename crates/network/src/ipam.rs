//! Address allocation. netavark does no IPAM: podman picks every container's address and
//! hands it over as `static_ips`; so do we.
//!
//! One table per network, `ROOT/podadm/networks/ipam/NAME.json` (address → container ID, and
//! the last address given per subnet), read and replaced only while `NAME.lock` is held, so
//! any number of podadm processes and threads allocate without ever sharing an address. New
//! addresses go round the subnet from the last one given (as podman's allocator does), so an
//! address just released is not handed to the next container at once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::definition::Network;
use crate::error::{io, NetworkError, Result};
use crate::files::{read_json, write_json_atomic, FileLock};

/// The address tables of a store's networks.
#[derive(Debug, Clone)]
pub struct Ipam {
    dir: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Table {
    /// Address → the container holding it.
    #[serde(default)]
    allocations: BTreeMap<IpAddr, String>,
    /// Subnet → the last address handed out in it.
    #[serde(default)]
    last: BTreeMap<String, IpAddr>,
}

impl Ipam {
    pub(crate) fn new(dir: PathBuf) -> Ipam {
        Ipam { dir }
    }

    /// Addresses for `container_id` on `network`: `requested` ones (each checked to be in a
    /// subnet and free), else one per subnet. A container that already holds addresses there
    /// gets the same ones back.
    pub fn allocate(
        &self,
        network: &Network,
        container_id: &str,
        requested: &[IpAddr],
    ) -> Result<Vec<IpAddr>> {
        self.allocate_avoiding(network, container_id, requested, &BTreeSet::new())
    }

    /// [`Ipam::allocate`], where the addresses in `elsewhere` count as used too: they are
    /// held on the same bridge by containers of other stores (see the netavark plugin's
    /// bridge claims).
    pub fn allocate_avoiding(
        &self,
        network: &Network,
        container_id: &str,
        requested: &[IpAddr],
        elsewhere: &BTreeSet<IpAddr>,
    ) -> Result<Vec<IpAddr>> {
        self.with_table(&network.name, |table| {
            let held = holdings(table, container_id);
            if !held.is_empty() {
                return Ok((held, false));
            }
            let mut given = Vec::new();
            if requested.is_empty() {
                for subnet in &network.subnets {
                    let address = next_free(table, elsewhere, &subnet.subnet, subnet.gateway)
                        .ok_or_else(|| NetworkError::NoFreeAddress {
                            network: network.name.clone(),
                            container: container_id.to_string(),
                        })?;
                    table.last.insert(subnet.subnet.to_string(), address);
                    table.allocations.insert(address, container_id.to_string());
                    given.push(address);
                }
            } else {
                for &address in requested {
                    check_requested(table, elsewhere, network, container_id, address)?;
                    table.allocations.insert(address, container_id.to_string());
                    given.push(address);
                }
            }
            Ok((given, true))
        })
    }

    /// Gives back the addresses `container_id` holds on `network` (none is fine).
    pub fn release(&self, network: &str, container_id: &str) -> Result<Vec<IpAddr>> {
        self.with_table(network, |table| {
            let held = holdings(table, container_id);
            table.allocations.retain(|_, owner| owner != container_id);
            let changed = !held.is_empty();
            Ok((held, changed))
        })
    }

    /// The addresses `container_id` holds on `network`.
    pub fn addresses_of(&self, network: &str, container_id: &str) -> Result<Vec<IpAddr>> {
        self.with_table(network, |table| Ok((holdings(table, container_id), false)))
    }

    /// Removes a network's table (the network is being removed).
    pub(crate) fn forget_network(&self, network: &str) -> Result<()> {
        let _lock = FileLock::acquire(&self.lock_path(network))?;
        let path = self.table_path(network);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path, "remove")(e)),
            _ => Ok(()),
        }
    }

    /// Runs `change` on the network's table under its lock; writes the table back when
    /// `change` says it changed it.
    fn with_table<T>(
        &self,
        network: &str,
        change: impl FnOnce(&mut Table) -> Result<(T, bool)>,
    ) -> Result<T> {
        let _lock = FileLock::acquire(&self.lock_path(network))?;
        let path = self.table_path(network);
        let mut table: Table = read_json(&path, "address table")?.unwrap_or_default();
        let (value, changed) = change(&mut table)?;
        if changed {
            write_json_atomic(&path, &table)?;
        }
        Ok(value)
    }

    fn table_path(&self, network: &str) -> PathBuf {
        self.dir.join(format!("{network}.json"))
    }

    fn lock_path(&self, network: &str) -> PathBuf {
        self.dir.join(format!("{network}.lock"))
    }
}

fn holdings(table: &Table, container_id: &str) -> Vec<IpAddr> {
    table
        .allocations
        .iter()
        .filter(|(_, owner)| owner.as_str() == container_id)
        .map(|(address, _)| *address)
        .collect()
}

fn check_requested(
    table: &Table,
    elsewhere: &BTreeSet<IpAddr>,
    network: &Network,
    container_id: &str,
    address: IpAddr,
) -> Result<()> {
    let bad = |reason: String| NetworkError::BadAddress {
        network: network.name.clone(),
        container: container_id.to_string(),
        address: address.to_string(),
        reason,
    };
    let subnet = network
        .subnets
        .iter()
        .find(|s| s.subnet.contains(&address))
        .ok_or_else(|| bad("not in any subnet of the network".into()))?;
    if Some(address) == subnet.gateway
        || !usable_range(&subnet.subnet).contains(&as_number(address))
    {
        return Err(bad(
            "reserved (network, gateway or broadcast address)".into()
        ));
    }
    if let Some(owner) = table.allocations.get(&address) {
        return Err(bad(format!("already used by container {owner}")));
    }
    if elsewhere.contains(&address) {
        return Err(bad(
            "already used on the same bridge by another store's container".into(),
        ));
    }
    Ok(())
}

/// The first free address after the last one given in `subnet`, going round.
fn next_free(
    table: &Table,
    elsewhere: &BTreeSet<IpAddr>,
    subnet: &IpNet,
    gateway: Option<IpAddr>,
) -> Option<IpAddr> {
    let range = usable_range(subnet);
    let size = range.end().checked_sub(*range.start())?.checked_add(1)?;
    let start = table
        .last
        .get(&subnet.to_string())
        .map(|a| as_number(*a))
        .filter(|n| range.contains(n))
        .map_or(*range.start(), |n| {
            if n == *range.end() {
                *range.start()
            } else {
                n + 1
            }
        });
    // At most every address is looked at once; in practice the first free one is a few
    // steps away, so a /64 is no slower than a /24.
    (0..size)
        .map(|step| {
            let offset = (start - range.start() + step) % size;
            from_number(subnet, range.start() + offset)
        })
        .find(|a| {
            Some(*a) != gateway && !table.allocations.contains_key(a) && !elsewhere.contains(a)
        })
}

/// The addresses of a subnet a container may get: not the network address, not IPv4's
/// broadcast address.
fn usable_range(subnet: &IpNet) -> std::ops::RangeInclusive<u128> {
    let first = as_number(subnet.network()) + 1;
    let last = match subnet {
        IpNet::V4(_) => as_number(subnet.broadcast()).saturating_sub(1),
        IpNet::V6(_) => as_number(subnet.broadcast()),
    };
    first..=last
}

fn as_number(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_number(subnet: &IpNet, n: u128) -> IpAddr {
    match subnet {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::Subnet;

    fn network(subnet: &str) -> Network {
        let mut n = Network::default_network();
        n.name = "t".into();
        let subnet: IpNet = subnet.parse().unwrap();
        n.subnets = vec![Subnet {
            gateway: subnet.hosts().next(),
            subnet,
        }];
        n
    }

    #[test]
    fn addresses_go_round_the_subnet_and_skip_the_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path().to_path_buf());
        let net = network("10.99.7.0/29"); // hosts .1-.6, .1 the gateway
        let mut got = Vec::new();
        for id in ["a", "b", "c", "d", "e"] {
            got.push(ipam.allocate(&net, id, &[]).unwrap()[0].to_string());
        }
        assert_eq!(
            got,
            [
                "10.99.7.2",
                "10.99.7.3",
                "10.99.7.4",
                "10.99.7.5",
                "10.99.7.6"
            ]
        );
        let full = ipam.allocate(&net, "f", &[]).unwrap_err().to_string();
        assert!(
            full.contains("no free address") && full.contains(" f"),
            "{full}"
        );
        assert_eq!(
            ipam.allocate(&net, "c", &[]).unwrap()[0].to_string(),
            "10.99.7.4"
        );
        ipam.release("t", "b").unwrap();
        assert_eq!(
            ipam.allocate(&net, "f", &[]).unwrap()[0].to_string(),
            "10.99.7.3"
        );
        assert!(ipam.addresses_of("t", "b").unwrap().is_empty());
    }

    #[test]
    fn requested_addresses_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path().to_path_buf());
        let net = network("10.99.7.0/24");
        let ask = |id: &str, a: &str| ipam.allocate(&net, id, &[a.parse().unwrap()]);
        assert_eq!(ask("a", "10.99.7.50").unwrap()[0].to_string(), "10.99.7.50");
        for (address, why) in [
            ("10.99.7.50", "already used by container a"),
            ("10.99.8.5", "not in any subnet"),
            ("10.99.7.1", "reserved"),
            ("10.99.7.255", "reserved"),
        ] {
            let err = ask("b", address).unwrap_err().to_string();
            assert!(err.contains(address) && err.contains(why), "{err}");
        }
    }
}
