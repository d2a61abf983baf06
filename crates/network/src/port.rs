//! Published ports: `-p [IP:][HOST:]CTR[/tcp|udp]`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::NetworkError;

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

impl Protocol {
    /// The name as netavark and podman write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl PortMapping {
    /// Parses podman's `-p` text: `[IP:][HOST_PORT:]CTR_PORT[/PROTO]`. Ports may be ranges of
    /// equal length (`8000-8001:80-81`), an IPv6 address is bracketed (`[::1]:8080:80`), an
    /// empty or missing host port is 0 (a free one is picked when the container starts),
    /// and `PROTO` is `tcp` (the default), `udp` or both (`tcp,udp`, one mapping each).
    pub fn parse(text: &str) -> Result<Vec<PortMapping>, NetworkError> {
        let bad = |reason: &str| NetworkError::BadPort {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let (address_and_ports, protocols) = match text.rsplit_once('/') {
            Some((spec, protocols)) => (spec, parse_protocols(protocols).map_err(|r| bad(&r))?),
            None => (text, vec![Protocol::Tcp]),
        };
        let (host_ip, ports) = split_host_ip(address_and_ports).map_err(|r| bad(&r))?;
        let (host, container) = match ports.split_once(':') {
            Some((host, container)) => (Some(host), container),
            None => (None, ports),
        };
        if container.contains(':') {
            return Err(bad(
                "too many ':' (an IPv6 host address must be in brackets: [::1]:8080:80)",
            ));
        }
        let (container_port, range) =
            parse_range(container).map_err(|r| bad(&format!("container port: {r}")))?;
        let host_port = match host.filter(|h| !h.is_empty()) {
            None => 0,
            Some(host) => {
                let (port, host_range) =
                    parse_range(host).map_err(|r| bad(&format!("host port: {r}")))?;
                if host_range != range {
                    return Err(bad(
                        "the host and container port ranges must be of the same length",
                    ));
                }
                port
            }
        };
        Ok(protocols
            .into_iter()
            .map(|protocol| PortMapping {
                host_ip,
                host_port,
                container_port,
                protocol,
                range,
            })
            .collect())
    }

    /// The host ports this mapping publishes (empty while the host port is still 0).
    pub fn host_ports(&self) -> std::ops::Range<u32> {
        if self.host_port == 0 {
            return 0..0;
        }
        let first = u32::from(self.host_port);
        first..first + u32::from(self.range.max(1))
    }
}

impl std::fmt::Display for PortMapping {
    /// As `podman port` and `podman ps` show it: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let span = |first: u16| {
            if self.range > 1 {
                format!("{first}-{}", u32::from(first) + u32::from(self.range) - 1)
            } else {
                first.to_string()
            }
        };
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => f.write_str("0.0.0.0:")?,
        }
        write!(
            f,
            "{}->{}/{}",
            span(self.host_port),
            span(self.container_port),
            self.protocol.as_str()
        )
    }
}

fn parse_protocols(text: &str) -> Result<Vec<Protocol>, String> {
    let mut protocols = Vec::new();
    for name in text.split(',') {
        let protocol = match name.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "" => return Err("the protocol after '/' is empty".into()),
            other => return Err(format!("unknown protocol {other:?} (tcp or udp)")),
        };
        if !protocols.contains(&protocol) {
            protocols.push(protocol);
        }
    }
    Ok(protocols)
}

/// Splits `[IP]:rest` or `IP:HOST:CTR` into the address and the ports part.
fn split_host_ip(text: &str) -> Result<(Option<IpAddr>, &str), String> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (ip, rest) = bracketed
            .split_once(']')
            .ok_or("an opening '[' without its ']'")?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or("a ':' must follow the bracketed address")?;
        return Ok((Some(ip), rest));
    }
    if text.matches(':').count() < 2 {
        return Ok((None, text));
    }
    let (ip, rest) = text.split_once(':').expect("two ':' were counted");
    if ip.is_empty() {
        return Ok((None, rest));
    }
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address"))?;
    Ok((Some(ip), rest))
}

/// `N` or `N-M`: the first port and how many.
fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let port = |t: &str| match t.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{t:?} is not a port number (1-65535)")),
        Ok(p) => Ok(p),
    };
    match text.split_once('-') {
        None => Ok((port(text)?, 1)),
        Some((first, last)) => {
            let (first, last) = (port(first)?, port(last)?);
            if last < first {
                return Err(format!("the range {text:?} ends before it starts"));
            }
            Ok((first, last - first + 1))
        }
    }
}
