//! Subnets: the text a user gives checked, overlaps with other networks and with the host's
//! routes found, and a free /24 chosen when none is given (as podman picks from its
//! `default_subnet_pools`).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::error::{NetworkError, Result};

/// Where new networks' subnets come from: 10.99.1.0/24, 10.99.2.0/24, … (10.99.0.0/24 is the
/// default network's).
const POOL: &str = "10.99.0.0/16";
const POOL_PREFIX: u8 = 24;

/// `text` as a subnet: an address with a prefix, no host bits set, room for a gateway and a
/// container.
pub(crate) fn parse_subnet(text: &str) -> Result<IpNet> {
    let bad = |reason: String| NetworkError::BadSubnet {
        text: text.to_string(),
        reason,
    };
    let net: IpNet = text
        .parse()
        .map_err(|_| bad("expected an address and a prefix length, like 10.99.5.0/24".into()))?;
    if net.network() != net.addr() {
        return Err(bad(format!(
            "host bits are set; the subnet is {}",
            net.trunc()
        )));
    }
    let too_small = match net {
        IpNet::V4(n) => n.prefix_len() > 30,
        IpNet::V6(n) => n.prefix_len() > 126,
    };
    if too_small {
        return Err(bad(
            "too small: a gateway and a container need a /30 or larger".into(),
        ));
    }
    Ok(net)
}

/// Checks that `gateway` is a usable address of `subnet`.
pub(crate) fn check_gateway(subnet: &IpNet, gateway: IpAddr) -> Result<()> {
    let usable = subnet.contains(&gateway)
        && gateway != subnet.network()
        && !(matches!(subnet, IpNet::V4(_)) && gateway == subnet.broadcast());
    if usable {
        Ok(())
    } else {
        Err(NetworkError::BadGateway {
            text: gateway.to_string(),
            reason: format!("not a usable address of subnet {subnet}"),
        })
    }
}

/// Whether two subnets share an address.
pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first /24 of the pool that overlaps nothing in `taken`.
pub(crate) fn free_subnet(taken: &[IpNet]) -> Result<IpNet> {
    let pool: Ipv4Net = POOL.parse().expect("the pool parses");
    let candidates = pool
        .subnets(POOL_PREFIX)
        .expect("the pool is larger than its subnets")
        .skip(1);
    for candidate in candidates {
        let candidate = IpNet::V4(candidate);
        if !taken.iter().any(|t| overlaps(t, &candidate)) {
            return Ok(candidate);
        }
    }
    Err(NetworkError::NoFreeSubnet(POOL.to_string()))
}

/// The IPv4 destinations the host routes to (`/proc/net/route`), default routes left out:
/// a subnet there is already reachable some other way, and a bridge on it would steal it.
pub(crate) fn host_routes() -> Vec<(String, IpNet)> {
    std::fs::read_to_string("/proc/net/route")
        .map(|text| parse_routes(&text))
        .unwrap_or_default()
}

/// Parses `/proc/net/route`: `Iface Destination Gateway Flags … Mask …`, addresses as
/// little-endian hex.
pub(crate) fn parse_routes(text: &str) -> Vec<(String, IpNet)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let iface = fields.first()?;
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            let prefix = mask.count_ones() as u8;
            if prefix == 0 {
                return None;
            }
            let address = Ipv4Addr::from(destination.swap_bytes());
            let net = Ipv4Net::new(address, prefix).ok()?;
            Some((iface.to_string(), IpNet::V4(net)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_checked() {
        assert_eq!(
            parse_subnet("10.99.5.0/24").unwrap().to_string(),
            "10.99.5.0/24"
        );
        for (text, why) in [
            ("10.99.300.0/24", "expected an address"),
            ("10.99.5.0", "expected an address"),
            (
                "10.99.5.7/24",
                "host bits are set; the subnet is 10.99.5.0/24",
            ),
            ("10.99.5.4/31", "too small"),
        ] {
            let err = parse_subnet(text).unwrap_err().to_string();
            assert!(err.contains(text) && err.contains(why), "{err}");
        }
    }

    #[test]
    fn gateways_must_be_usable_addresses() {
        let net = parse_subnet("10.99.5.0/24").unwrap();
        check_gateway(&net, "10.99.5.1".parse().unwrap()).unwrap();
        for gw in ["10.99.5.0", "10.99.5.255", "10.99.6.1"] {
            assert!(check_gateway(&net, gw.parse().unwrap()).is_err(), "{gw}");
        }
    }

    #[test]
    fn the_free_subnet_skips_what_is_taken() {
        let taken: Vec<IpNet> = ["10.99.0.0/24", "10.99.1.0/24", "10.99.2.128/25"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(free_subnet(&taken).unwrap().to_string(), "10.99.3.0/24");
        let all: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(matches!(
            free_subnet(&all),
            Err(NetworkError::NoFreeSubnet(_))
        ));
    }

    #[test]
    fn routes_are_read_from_proc_net_route() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    podadm0\t0000630A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let routes = parse_routes(text);
        let shown: Vec<String> = routes.iter().map(|(i, n)| format!("{i} {n}")).collect();
        assert_eq!(shown, ["eth0 192.0.2.0/24", "podadm0 10.99.0.0/16"]);
    }
}
