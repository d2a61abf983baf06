//! The hosts, resolv.conf and hostname files, byte for byte.

use std::net::IpAddr;

use aurora_network::etc_files::{hostname, hosts, hosts_for_host_network, resolv_conf, HostEntry};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const LOOPBACK: &str =
    "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
                        ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n";

#[test]
fn hosts_on_networks_name_every_address() {
    let extra = [HostEntry {
        names: vec!["host.containers.internal".into()],
        address: ip("10.99.0.1"),
    }];
    let got = hosts("web1", "web", &[ip("10.99.0.5"), ip("10.99.3.2")], &extra);
    let want = format!(
        "{LOOPBACK}10.99.0.1\thost.containers.internal\n10.99.0.5\tweb1 web\n10.99.3.2\tweb1 web\n"
    );
    assert_eq!(String::from_utf8(got).unwrap(), want);
    // The hostname defaults to the name: written once.
    let got = hosts("web", "web", &[ip("10.99.0.5")], &[]);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("{LOOPBACK}10.99.0.5\tweb\n")
    );
}

#[test]
fn hosts_without_a_network_has_loopback_only() {
    let got = hosts("box", "lonely", &[], &[]);
    let want = format!("{LOOPBACK}127.0.0.1\tbox lonely\n::1\tbox lonely\n");
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn hosts_on_the_host_network_is_the_hosts_plus_the_name() {
    let got = hosts_for_host_network(
        b"127.0.0.1 localhost\n192.0.2.2 server",
        "server",
        "web",
        &[],
    );
    assert_eq!(
        got,
        b"127.0.0.1 localhost\n192.0.2.2 server\n127.0.1.1\tserver web\n"
    );
}

#[test]
fn resolv_conf_prefers_the_networks_servers() {
    let host = "search corp.example\nnameserver 192.0.2.53\noptions ndots:2\n";
    let got = resolv_conf(&[ip("10.99.1.1")], &["dns.podman".into()], &[], host);
    assert_eq!(
        got,
        b"search dns.podman\nnameserver 10.99.1.1\noptions ndots:2\n"
    );
}

#[test]
fn resolv_conf_falls_back_to_the_hosts_reachable_servers() {
    let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n\
                nameserver fe80::1%eth0\ndomain a.example\nsearch b.example c.example\n";
    let got = resolv_conf(&[], &[], &["edns0".into()], host);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "search b.example c.example\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\noptions edns0\n"
    );
    // Only loopback servers on the host (a local resolver): the public fallback.
    let got = resolv_conf(&[], &[], &[], "nameserver 127.0.0.1\n");
    assert_eq!(got, b"nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
}

#[test]
fn hostname_is_one_line() {
    assert_eq!(hostname("web1"), b"web1\n");
}

#[test]
fn add_host_entries_parse_as_podman_takes_them() {
    let parsed = HostEntry::parse("db.local:192.0.2.5").unwrap();
    assert_eq!(parsed.names, ["db.local"]);
    assert_eq!(
        parsed.address,
        "192.0.2.5".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(HostEntry::parse("a;b:192.0.2.6").unwrap().names, ["a", "b"]);
    let v6 = HostEntry::parse("v6:2001:db8::1").unwrap();
    assert_eq!(
        (v6.names[0].as_str(), v6.address.to_string()),
        ("v6", "2001:db8::1".into())
    );
    for bad in [
        "no-address",
        "h:not-an-ip",
        ":192.0.2.1",
        "a b:192.0.2.1",
        "#c:192.0.2.1",
        "a;:192.0.2.1",
        "x\n:192.0.2.1",
    ] {
        let err = HostEntry::parse(bad).unwrap_err();
        assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
    }
}

#[test]
fn host_network_hosts_start_with_the_added_lines() {
    let extra = [HostEntry::parse("db:192.0.2.5").unwrap()];
    let got = hosts_for_host_network(b"127.0.0.1 localhost", "server", "server", &extra);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "192.0.2.5\tdb\n127.0.0.1 localhost\n127.0.1.1\tserver\n"
    );
}
