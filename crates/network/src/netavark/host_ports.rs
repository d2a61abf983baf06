//! Host ports: netavark only writes firewall rules, so, as podman does before calling it,
//! we check that a requested port is free and pick free ones for host port 0.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use crate::error::{NetworkError, Result};
use crate::port::{PortMapping, Protocol};

/// `ports` with every host port 0 replaced by a free one (a free run for a range); each
/// given host port checked to be free.
pub(crate) fn resolve(ports: &[PortMapping]) -> Result<Vec<PortMapping>> {
    let mut resolved = Vec::with_capacity(ports.len());
    for mapping in ports {
        let mut mapping = mapping.clone();
        if mapping.host_port == 0 {
            mapping.host_port = free_run(&mapping)?;
        } else {
            for port in mapping.host_ports() {
                let port = u16::try_from(port).map_err(|_| out_of_range(&mapping))?;
                if !is_free(&mapping, port) {
                    return Err(NetworkError::PortInUse {
                        address: address_of(&mapping).to_string(),
                        port,
                        protocol: mapping.protocol.as_str(),
                    });
                }
            }
        }
        resolved.push(mapping);
    }
    Ok(resolved)
}

fn out_of_range(mapping: &PortMapping) -> NetworkError {
    NetworkError::BadPort {
        text: mapping.to_string(),
        reason: "the host port range goes past 65535".into(),
    }
}

fn address_of(mapping: &PortMapping) -> IpAddr {
    mapping.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Whether the port can be bound now (the test socket is closed at once; netavark's DNAT
/// rules then take the port, as with podman).
fn is_free(mapping: &PortMapping, port: u16) -> bool {
    let address = SocketAddr::new(address_of(mapping), port);
    match mapping.protocol {
        Protocol::Tcp => TcpListener::bind(address).is_ok(),
        Protocol::Udp => UdpSocket::bind(address).is_ok(),
    }
}

/// A first port whose run of `range` ports is free, asked of the kernel's ephemeral ports.
fn free_run(mapping: &PortMapping) -> Result<u16> {
    let range = mapping.range.max(1);
    for _ in 0..32 {
        let address = SocketAddr::new(address_of(mapping), 0);
        let first = match mapping.protocol {
            Protocol::Tcp => TcpListener::bind(address).and_then(|l| l.local_addr()),
            Protocol::Udp => UdpSocket::bind(address).and_then(|s| s.local_addr()),
        }
        .map_err(|_| NetworkError::PortInUse {
            address: address_of(mapping).to_string(),
            port: 0,
            protocol: mapping.protocol.as_str(),
        })?
        .port();
        let fits = u32::from(first) + u32::from(range) - 1 <= u32::from(u16::MAX);
        if fits && (1..range).all(|i| is_free(mapping, first + i)) {
            return Ok(first);
        }
    }
    Err(NetworkError::BadPort {
        text: mapping.to_string(),
        reason: format!("no run of {range} free host ports found"),
    })
}
