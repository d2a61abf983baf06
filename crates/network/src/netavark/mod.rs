//! The netavark plugin, driven as podman 4 drives netavark 1.x:
//! `netavark --config RUNROOT/netavark --rootless=false --aardvark-binary=PATH setup NETNS`
//! with the network options JSON on stdin, its status JSON on stdout; `teardown` the same.
//! Addresses come from our [`Ipam`](crate::Ipam); netavark makes the bridge, the veth pair,
//! the firewall rules (DNAT for published ports, 127.0.0.1 included through route_localnet)
//! and starts aardvark-dns for networks that resolve names.

mod claims;
mod host_ports;
mod wire;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::backend::{Attachment, NetworkBackend, NetworkStatus, SetupResult};
use crate::definition::Network;
use crate::error::{NetworkError, Result};
use crate::files::FileLock;
use crate::netns::Netns;
use crate::networks::Networks;
use claims::BridgeClaims;
use wire::{ErrorReply, NetworkOptions, PerNetworkOptions, StatusBlock, WirePort};

/// Where Debian, Fedora and the upstream install put netavark, before `PATH`.
const NETAVARK_DIRS: &[&str] = &[
    "/usr/lib/podman",
    "/usr/libexec/podman",
    "/usr/local/libexec/podman",
];

/// The lock every podadm takes around netavark, whatever its run root: iptables chains
/// and bridges are the host's.
const HOST_LOCK: &str = "/run/lock/aurora-netavark.lock";

/// How many times a setup that lost a firewall race to a netavark outside our lock (podman's,
/// say) is torn down and tried again.
const SETUP_ATTEMPTS: usize = 3;

/// The netavark plugin.
#[derive(Debug, Clone)]
pub struct Netavark {
    pub binary: PathBuf,
    pub aardvark_binary: PathBuf,
    /// `RUNROOT/netavark`: aardvark-dns's configuration and pid file.
    pub config_dir: PathBuf,
    networks: Networks,
    claims: BridgeClaims,
}

impl Netavark {
    /// netavark and aardvark-dns found in podman's helper directories or on `PATH`, for the
    /// networks `networks` defines.
    pub fn find(networks: &Networks) -> Result<Netavark> {
        Ok(Netavark::with_binaries(
            networks,
            find_helper("netavark")?,
            find_helper("aardvark-dns")?,
        ))
    }

    /// netavark and aardvark-dns at the given paths.
    pub fn with_binaries(
        networks: &Networks,
        binary: PathBuf,
        aardvark_binary: PathBuf,
    ) -> Netavark {
        Netavark {
            binary,
            aardvark_binary,
            config_dir: networks.runroot().join("netavark"),
            networks: networks.clone(),
            claims: BridgeClaims::default(),
        }
    }

    /// Runs `netavark … VERB NETNS` with `options` on stdin; its stdout.
    fn run(&self, verb: &'static str, netns: &Path, options: &NetworkOptions) -> Result<String> {
        let input = serde_json::to_vec(options).expect("network options serialize");
        let args = [
            "--config".into(),
            self.config_dir.clone().into_os_string(),
            "--rootless=false".into(),
            format!("--aardvark-binary={}", self.aardvark_binary.display()).into(),
            verb.into(),
            netns.as_os_str().to_owned(),
        ];
        // One netavark at a time on the host, as podman does under its network lock: two
        // setups would otherwise race to make the same firewall chains, which belong to the
        // host whatever store or run root each podadm uses. (Taking the config directory's
        // lock also makes that directory, which netavark needs to exist.)
        let _host_turn = FileLock::acquire(Path::new(HOST_LOCK))?;
        let _turn = FileLock::acquire(&self.config_dir.join("netavark.lock"))?;
        let program = self.binary.to_string_lossy();
        aurora_command::run_with_input(&program, &args, &input).map_err(|failure| {
            // netavark reports its errors as `{"error": "…"}` on stdout.
            let message = serde_json::from_str::<ErrorReply>(failure.stdout.trim())
                .map(|reply| reply.error)
                .unwrap_or_else(|_| failure.to_string());
            NetworkError::Netavark {
                verb,
                container: options.container_id.clone(),
                message,
                source: Some(Box::new(failure)),
            }
        })
    }

    /// The options document for `attachment`, with the addresses each network gave.
    fn options(
        &self,
        attachment: &Attachment,
        joined: &[(Network, Vec<IpAddr>)],
        ports: &[crate::PortMapping],
    ) -> NetworkOptions {
        let short_id: String = attachment.container_id.chars().take(12).collect();
        let mut networks = BTreeMap::new();
        let mut network_info = BTreeMap::new();
        for ((name, per), (network, addresses)) in attachment.networks.iter().zip(joined) {
            let mut aliases = per.aliases.clone();
            // podman makes the short ID a name too, so `ping SHORT_ID` works as with docker.
            if !aliases.contains(&short_id) {
                aliases.push(short_id.clone());
            }
            networks.insert(
                name.clone(),
                PerNetworkOptions {
                    static_ips: addresses.clone(),
                    aliases,
                    interface_name: per.interface_name.clone(),
                },
            );
            network_info.insert(name.clone(), network.clone());
        }
        NetworkOptions {
            container_id: attachment.container_id.clone(),
            container_name: attachment.container_name.clone(),
            port_mappings: ports.iter().map(WirePort::from).collect(),
            networks,
            network_info,
            dns_servers: None,
        }
    }

    /// The definitions of the attachment's networks, in its order.
    fn definitions(&self, attachment: &Attachment) -> Result<Vec<Network>> {
        attachment
            .networks
            .iter()
            .map(|(name, _)| self.networks.inspect(name))
            .collect()
    }

    /// One `netavark setup`, its answer parsed.
    fn setup_once(
        &self,
        attachment: &Attachment,
        options: &NetworkOptions,
    ) -> Result<BTreeMap<String, StatusBlock>> {
        let reply = self.run("setup", &attachment.netns, options)?;
        serde_json::from_str(&reply).map_err(|e| NetworkError::Netavark {
            verb: "setup",
            container: attachment.container_id.clone(),
            message: format!("unreadable answer {reply:?}: {e}"),
            source: None,
        })
    }

    /// Gives back the addresses the attachment holds on `networks`: in the store's tables
    /// and the bridges' claims.
    fn release_all(&self, attachment: &Attachment, networks: &[Network]) -> Result<()> {
        let ipam = self.networks.ipam();
        let mut first_error = None;
        for network in networks {
            let id = &attachment.container_id;
            let released = ipam.release(&network.name, id).map(drop);
            let unclaimed = self.claims.release(&network.network_interface, id);
            if let Err(e) = released.and(unclaimed) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl NetworkBackend for Netavark {
    fn setup(&self, attachment: &Attachment) -> Result<SetupResult> {
        let definitions = self.definitions(attachment)?;
        if let Some(internal) = definitions.iter().find(|n| n.internal) {
            if !attachment.ports.is_empty() {
                return Err(NetworkError::Refused {
                    network: internal.name.clone(),
                    reason: "ports cannot be published from an internal network".into(),
                });
            }
        }
        let ports = host_ports::resolve(&attachment.ports)?;
        let ipam = self.networks.ipam();
        let id = &attachment.container_id;
        let mut joined = Vec::with_capacity(definitions.len());
        for (network, (_, per)) in definitions.iter().zip(&attachment.networks) {
            let bridge = &network.network_interface;
            let allocated = self
                .claims
                .claim(bridge, id, &attachment.netns, |elsewhere| {
                    ipam.allocate_avoiding(network, id, &per.static_ips, elsewhere)
                });
            match allocated {
                Ok(addresses) => joined.push((network.clone(), addresses)),
                Err(e) => {
                    let _ = self.release_all(attachment, &definitions);
                    return Err(e);
                }
            }
        }
        let options = self.options(attachment, &joined, &ports);
        let mut attempt = 1;
        let statuses = loop {
            match self.setup_once(attachment, &options) {
                Ok(statuses) => break statuses,
                Err(e) => {
                    // netavark may have made the bridge, a veth or rules before it failed.
                    let _ = self.run("teardown", &attachment.netns, &options);
                    if attempt < SETUP_ATTEMPTS && lost_a_firewall_race(&e) {
                        attempt += 1;
                        continue;
                    }
                    let _ = self.release_all(attachment, &definitions);
                    return Err(e);
                }
            }
        };
        let networks = attachment
            .networks
            .iter()
            .map(|(name, per)| status_of(name, &per.interface_name, statuses.get(name)))
            .collect();
        Ok(SetupResult { networks, ports })
    }

    fn teardown(&self, attachment: &Attachment) -> Result<()> {
        let ipam = self.networks.ipam();
        let mut joined = Vec::new();
        for (name, per) in &attachment.networks {
            let network = self.networks.inspect(name)?;
            let held = ipam.addresses_of(name, &attachment.container_id)?;
            let addresses = if held.is_empty() {
                per.static_ips.clone()
            } else {
                held
            };
            joined.push((network, addresses));
        }
        let options = self.options(attachment, &joined, &attachment.ports);
        // Without its namespace (podadm died after removing it, or a reboot wiped RUNROOT)
        // netavark refuses to start, yet the firewall rules and aardvark-dns's entries are
        // still the host's. The veth went with the namespace, and netavark 1.4 stops at the
        // first link it cannot delete, before the firewall: so it gets a stand-in namespace
        // with a stand-in link of each interface name to delete.
        let stand_in = if attachment.netns.exists() {
            None
        } else {
            let links: Vec<String> = attachment
                .networks
                .iter()
                .map(|(_, per)| per.interface_name.clone())
                .collect();
            Some(Netns::create_at(&attachment.netns, &links)?)
        };
        let torn = self.run("teardown", &attachment.netns, &options).map(drop);
        if let Some(stand_in) = stand_in {
            Netns::remove(&stand_in.path)?;
        }
        let networks: Vec<Network> = joined.into_iter().map(|(network, _)| network).collect();
        let released = self.release_all(attachment, &networks);
        torn.and(released)
    }
}

/// One network's part of netavark's answer.
/// Whether a failed setup met a chain or rule another netavark made between its check and its
/// create. netavark says so only in its message (iptables' "Chain already exists."), so the
/// message is all there is to decide from; anything else fails at once.
fn lost_a_firewall_race(error: &NetworkError) -> bool {
    matches!(error, NetworkError::Netavark { verb: "setup", message, .. }
        if message.contains("already exists"))
}

fn status_of(name: &str, interface: &str, block: Option<&StatusBlock>) -> NetworkStatus {
    let block = block.cloned().unwrap_or_default();
    let nic = block
        .interfaces
        .as_ref()
        .and_then(|interfaces| interfaces.get(interface))
        .cloned()
        .unwrap_or_default();
    let subnets = nic.subnets.unwrap_or_default();
    NetworkStatus {
        network: name.to_string(),
        interface: interface.to_string(),
        addresses: subnets.iter().map(|s| s.ipnet.to_string()).collect(),
        gateway: subnets
            .iter()
            .find_map(|s| s.gateway)
            .map(|g| g.to_string()),
        mac: nic.mac_address,
        dns_servers: block
            .dns_server_ips
            .unwrap_or_default()
            .iter()
            .map(IpAddr::to_string)
            .collect(),
        dns_search: block.dns_search_domains.unwrap_or_default(),
        ..Default::default()
    }
}

/// A podman helper binary: its helper directories first, then `PATH`.
fn find_helper(name: &'static str) -> Result<PathBuf> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let dirs: Vec<PathBuf> = NETAVARK_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(path_dirs)
        .collect();
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| NetworkError::ToolMissing {
            what: name,
            looked: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::PerNetwork;

    /// JSON without its layout (no value in these documents holds whitespace).
    fn compact(text: &str) -> String {
        text.split_whitespace().collect()
    }

    #[test]
    fn only_a_lost_chain_race_is_tried_again() {
        let failure = |verb, message: &str| NetworkError::Netavark {
            verb,
            container: "c1".into(),
            message: message.into(),
            source: None,
        };
        assert!(lost_a_firewall_race(&failure(
            "setup",
            "code: 1, msg: iptables: Chain already exists.\n"
        )));
        assert!(!lost_a_firewall_race(&failure(
            "setup",
            "IO error: No such file or directory"
        )));
        assert!(!lost_a_firewall_race(&failure(
            "teardown",
            "iptables: Chain already exists."
        )));
    }

    /// The document podman 4.3 sent netavark 1.4 for `podman run --network nvcaptest
    /// --network-alias web --name capweb -p 127.0.0.1:18080:80` (captured by wrapping
    /// netavark), and the answer it got.
    #[test]
    fn setup_input_and_answer_are_podmans() {
        let golden = include_str!("../../tests/golden/netavark-setup.json");
        let captured: NetworkOptions = serde_json::from_str(golden).unwrap();
        let network = captured.network_info["nvcaptest"].clone();
        let dir = tempfile::tempdir().unwrap();
        let networks = Networks::open(dir.path(), dir.path()).unwrap();
        let backend = Netavark::with_binaries(&networks, "netavark".into(), "aardvark-dns".into());
        let attachment = Attachment {
            container_id: captured.container_id.clone(),
            container_name: "capweb".into(),
            netns: "/run/netns/x".into(),
            networks: vec![(
                "nvcaptest".into(),
                PerNetwork {
                    interface_name: "eth0".into(),
                    aliases: vec!["web".into()],
                    static_ips: Vec::new(),
                },
            )],
            ports: crate::PortMapping::parse("127.0.0.1:18080:80").unwrap(),
        };
        let joined = [(network, vec!["10.99.250.2".parse().unwrap()])];
        let ours = backend.options(&attachment, &joined, &attachment.ports);
        assert_eq!(serde_json::to_string(&ours).unwrap(), compact(golden));

        let reply = include_str!("../../tests/golden/netavark-setup-reply.json");
        let blocks: BTreeMap<String, StatusBlock> = serde_json::from_str(reply).unwrap();
        let status = status_of("nvcaptest", "eth0", blocks.get("nvcaptest"));
        assert_eq!(
            status,
            NetworkStatus {
                network: "nvcaptest".into(),
                interface: "eth0".into(),
                addresses: vec!["10.99.250.2/24".into()],
                gateway: Some("10.99.250.1".into()),
                mac: "3e:38:b3:5d:58:f6".into(),
                dns_servers: vec!["10.99.250.1".into()],
                dns_search: vec!["dns.podman".into()],
                ..Default::default()
            }
        );
    }
}
