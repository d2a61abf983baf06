//! A plugin's result (CNI 0.3.0 to 1.0.0: the same shape, 1.0.0 without `ips[].version`)
//! read into the backend's [`NetworkStatus`].

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use crate::backend::NetworkStatus;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResult {
    #[serde(default)]
    cni_version: String,
    #[serde(default)]
    interfaces: Vec<WireInterface>,
    #[serde(default)]
    ips: Vec<WireIp>,
    #[serde(default)]
    routes: Vec<WireRoute>,
    #[serde(default)]
    dns: WireDns,
}

#[derive(Debug, Default, Deserialize)]
struct WireInterface {
    #[serde(default)]
    name: String,
    #[serde(default)]
    mac: String,
    /// The namespace's path for an interface inside it; empty for the host's.
    #[serde(default)]
    sandbox: String,
}

#[derive(Debug, Deserialize)]
struct WireIp {
    /// With its prefix: `10.85.0.5/16`.
    address: ipnet::IpNet,
    #[serde(default)]
    gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default)]
    interface: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct WireRoute {
    dst: ipnet::IpNet,
    #[serde(default)]
    gw: Option<IpAddr>,
}

#[derive(Debug, Default, Deserialize)]
struct WireDns {
    #[serde(default)]
    nameservers: Vec<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    search: Vec<String>,
    #[serde(default)]
    options: Vec<String>,
}

/// Checks that `bytes` is a result object (what ADD must print); the value, for the next
/// plugin's `prevResult` and the cache.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(bytes);
    let value: Value = serde_json::from_str(text.trim()).map_err(|e| {
        let head: String = text.trim().chars().take(200).collect();
        format!("its output is not a CNI result ({e}): {head:?}")
    })?;
    if !value.is_object() {
        return Err("its output is not a JSON object".into());
    }
    serde_json::from_value::<WireResult>(value.clone())
        .map_err(|e| format!("its result cannot be read: {e}"))?;
    Ok(value)
}

/// The status of interface `ifname` on `network` from the chain's last result.
pub(crate) fn status(network: &str, ifname: &str, result: &Value) -> NetworkStatus {
    let wire: WireResult = serde_json::from_value(result.clone()).unwrap_or_default();
    tracing::debug!(network, version = %wire.cni_version, "CNI result");
    // The container's interface: the one named so inside a namespace (plugins also list
    // the bridge and the host's veth end).
    let index = wire
        .interfaces
        .iter()
        .position(|i| i.name == ifname && !i.sandbox.is_empty());
    let ours = |ip: &&WireIp| match (ip.interface, index) {
        (Some(i), Some(index)) => i == index,
        // No index to go by: every address is the container's.
        _ => true,
    };
    let ips: Vec<&WireIp> = wire.ips.iter().filter(ours).collect();
    let mut search = wire.dns.search.clone();
    if let Some(domain) = wire.dns.domain.filter(|d| !search.contains(d)) {
        search.insert(0, domain);
    }
    NetworkStatus {
        network: network.to_string(),
        interface: ifname.to_string(),
        addresses: ips.iter().map(|ip| ip.address.to_string()).collect(),
        gateway: ips.iter().find_map(|ip| ip.gateway).map(|g| g.to_string()),
        mac: index
            .map(|i| wire.interfaces[i].mac.clone())
            .unwrap_or_default(),
        dns_servers: wire.dns.nameservers,
        dns_search: search,
        dns_options: wire.dns.options,
        routes: wire
            .routes
            .iter()
            .map(|r| match r.gw {
                Some(gw) => format!("{} via {gw}", r.dst),
                None => r.dst.to_string(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bridge plugin's answer (1.1.1, cniVersion 1.0.0), as portmap passes it on.
    const BRIDGE_1_0: &str = r#"{"cniVersion":"1.0.0",
        "interfaces":[{"name":"cni-aurora0","mac":"aa:bb:cc:00:00:01"},
                      {"name":"veth1234","mac":"aa:bb:cc:00:00:02"},
                      {"name":"eth0","mac":"aa:bb:cc:00:00:03","sandbox":"/run/netns/x"}],
        "ips":[{"interface":2,"address":"10.85.0.7/16","gateway":"10.85.0.1"}],
        "routes":[{"dst":"0.0.0.0/0"}],
        "dns":{"nameservers":["10.96.0.10"],"domain":"cluster.local","search":["svc.cluster.local"],
               "options":["ndots:5"]}}"#;

    /// A 0.3.1 answer: `version` on each address, two families.
    const BRIDGE_0_3: &str = r#"{"cniVersion":"0.3.1",
        "interfaces":[{"name":"eth0","mac":"02:00:00:00:00:09","sandbox":"/proc/1/ns/net"}],
        "ips":[{"version":"4","interface":0,"address":"10.123.0.9/24","gateway":"10.123.0.1"},
               {"version":"6","interface":0,"address":"fd00::9/64"}],
        "routes":[{"dst":"0.0.0.0/0","gw":"10.123.0.1"}],"dns":{}}"#;

    #[test]
    fn results_of_each_version_become_a_status() {
        let status_1 = status("k8s", "eth0", &parse(BRIDGE_1_0.as_bytes()).unwrap());
        assert_eq!(status_1.addresses, ["10.85.0.7/16"]);
        assert_eq!(status_1.gateway.as_deref(), Some("10.85.0.1"));
        assert_eq!(status_1.mac, "aa:bb:cc:00:00:03");
        assert_eq!(status_1.dns_servers, ["10.96.0.10"]);
        assert_eq!(status_1.dns_search, ["cluster.local", "svc.cluster.local"]);
        assert_eq!(status_1.dns_options, ["ndots:5"]);
        assert_eq!(status_1.routes, ["0.0.0.0/0"]);

        let status_0 = status("t", "eth0", &parse(BRIDGE_0_3.as_bytes()).unwrap());
        assert_eq!(status_0.addresses, ["10.123.0.9/24", "fd00::9/64"]);
        assert_eq!(status_0.gateway.as_deref(), Some("10.123.0.1"));
        assert_eq!(status_0.routes, ["0.0.0.0/0 via 10.123.0.1"]);
        assert!(status_0.dns_servers.is_empty());
    }

    #[test]
    fn what_is_not_a_result_is_refused() {
        assert!(parse(b"hello").unwrap_err().contains("not a CNI result"));
        assert!(parse(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse(br#"{"ips":[{"address":"nonsense"}]}"#)
            .unwrap_err()
            .contains("cannot be read"));
        assert!(parse(b"{}").is_ok());
    }
}
