//! The files podman writes for every container and bind-mounts into it: `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname`. Pure: contents in, bytes out.

use std::net::IpAddr;

/// The loopback lines every hosts file starts with (podman's, from containers/common).
const LOOPBACK: &str =
    "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
                        ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n";

/// Name servers used when neither the networks nor the host give any (podman's fallback).
const FALLBACK_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// One more `/etc/hosts` line (`--add-host NAME:IP`, `host.containers.internal`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostEntry {
    pub names: Vec<String>,
    pub address: IpAddr,
}

impl HostEntry {
    /// podman's `--add-host NAME[;NAME…]:IP` (the address after the first colon, so that
    /// an IPv6 address keeps its own).
    pub fn parse(text: &str) -> Result<HostEntry, String> {
        let Some((names, address)) = text.split_once(':') else {
            return Err(format!("--add-host {text:?}: expected NAME:IP"));
        };
        let names: Vec<String> = names.split(';').map(str::to_string).collect();
        HostEntry::new(names, address).map_err(|e| format!("--add-host {text:?}: {}", e.message))
    }

    /// A line of `address` and `names`, each name one word of a hosts line.
    pub fn new(names: Vec<String>, address: &str) -> Result<HostEntry, HostEntryError> {
        let address = address.parse().map_err(|_| HostEntryError {
            in_names: false,
            message: format!("{address:?} is not an IP address"),
        })?;
        if names.is_empty() {
            return Err(HostEntryError {
                in_names: true,
                message: "no names".into(),
            });
        }
        if let Some(bad) = names.iter().find(|n| !is_one_word(n) || n.starts_with('#')) {
            return Err(HostEntryError {
                in_names: true,
                message: format!("{bad:?} is not a host name"),
            });
        }
        Ok(HostEntry { names, address })
    }
}

/// The line of `/etc/hosts` the entry is.
impl std::fmt::Display for HostEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}\t{}", self.address, self.names.join(" "))
    }
}

/// Whether `text` can stand as one word of a hosts or resolv.conf line: not empty, no
/// white space or control characters (which would split the line or start another).
pub fn is_one_word(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a hosts line was refused: its address or (`in_names`) one of its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntryError {
    pub in_names: bool,
    pub message: String,
}

/// `/etc/hosts` for a container on networks: loopback, `extra`, then each of its addresses
/// with its hostname and name. Without addresses (`--network none`), loopback only, with the
/// hostname and name on the loopback addresses so that they still resolve.
pub fn hosts(
    hostname: &str,
    container_name: &str,
    addresses: &[IpAddr],
    extra: &[HostEntry],
) -> Vec<u8> {
    let names = own_names(hostname, container_name);
    let mut out = String::from(LOOPBACK);
    for entry in extra {
        out.push_str(&entry.to_string());
    }
    if addresses.is_empty() {
        out.push_str(&format!("127.0.0.1\t{names}\n::1\t{names}\n"));
    }
    for address in addresses {
        out.push_str(&format!("{address}\t{names}\n"));
    }
    out.into_bytes()
}

/// `/etc/hosts` for `--network host`: the host's own file, then the container's names on
/// loopback (its hostname is the host's unless `--hostname` says otherwise).
pub fn hosts_for_host_network(
    host_hosts: &[u8],
    hostname: &str,
    container_name: &str,
    extra: &[HostEntry],
) -> Vec<u8> {
    let mut out: Vec<u8> = extra
        .iter()
        .flat_map(|entry| entry.to_string().into_bytes())
        .collect();
    out.extend_from_slice(host_hosts);
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(
        format!("127.0.1.1\t{}\n", own_names(hostname, container_name)).as_bytes(),
    );
    out
}

fn own_names(hostname: &str, container_name: &str) -> String {
    if hostname == container_name || container_name.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname} {container_name}")
    }
}

/// `/etc/resolv.conf`: `dns_servers` (aardvark-dns, `--dns`) when there are any, else the
/// host's name servers minus loopback ones (unreachable from the container's namespace),
/// else Google's; `search` and `options` given, else the host's.
pub fn resolv_conf(
    dns_servers: &[IpAddr],
    search: &[String],
    options: &[String],
    host_resolv_conf: &str,
) -> Vec<u8> {
    let host = HostResolv::parse(host_resolv_conf);
    let servers: Vec<String> = if !dns_servers.is_empty() {
        dns_servers.iter().map(IpAddr::to_string).collect()
    } else if !host.nameservers.is_empty() {
        host.nameservers
    } else {
        FALLBACK_DNS.iter().map(|s| s.to_string()).collect()
    };
    let search: Vec<String> = if search.is_empty() {
        host.search
    } else {
        search.to_vec()
    };
    let options: Vec<String> = if options.is_empty() {
        host.options
    } else {
        options.to_vec()
    };
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for server in servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out.into_bytes()
}

/// The host's resolv.conf as podman reads it: systemd-resolved's real list when
/// /etc/resolv.conf only names its 127.0.0.53 stub.
pub fn host_resolv_conf() -> std::io::Result<String> {
    let etc = std::fs::read_to_string("/etc/resolv.conf")?;
    if HostResolv::parse(&etc).nameservers.is_empty() {
        if let Ok(resolved) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            return Ok(resolved);
        }
    }
    Ok(etc)
}

/// `/etc/hostname`.
pub fn hostname(name: &str) -> Vec<u8> {
    format!("{name}\n").into_bytes()
}

/// What a resolv.conf says, loopback name servers left out.
struct HostResolv {
    nameservers: Vec<String>,
    search: Vec<String>,
    options: Vec<String>,
}

impl HostResolv {
    fn parse(text: &str) -> HostResolv {
        let mut parsed = HostResolv {
            nameservers: Vec::new(),
            search: Vec::new(),
            options: Vec::new(),
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // Kept as written (an IPv6 zone `%eth0` included), loopback left out.
                    let reachable = words.next().filter(|word| {
                        word.split('%')
                            .next()
                            .and_then(|ip| ip.parse::<IpAddr>().ok())
                            .is_some_and(|ip| !ip.is_loopback())
                    });
                    parsed.nameservers.extend(reachable.map(String::from));
                }
                // The last search or domain line wins, as in resolv.conf(5).
                Some("search") | Some("domain") => {
                    parsed.search = words.map(String::from).collect()
                }
                Some("options") => parsed.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        parsed
    }
}
