//! `-p` texts as podman reads them, and the errors for bad ones.

use std::net::IpAddr;

use aurora_network::{PortMapping, Protocol};

fn one(text: &str) -> PortMapping {
    let mut all = PortMapping::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(all.len(), 1, "{text}");
    all.remove(0)
}

fn mapping(
    host_ip: Option<&str>,
    host: u16,
    ctr: u16,
    protocol: Protocol,
    range: u16,
) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(|ip| ip.parse::<IpAddr>().unwrap()),
        host_port: host,
        container_port: ctr,
        protocol,
        range,
    }
}

#[test]
fn podman_port_texts_parse() {
    use Protocol::{Tcp, Udp};
    for (text, want) in [
        ("80", mapping(None, 0, 80, Tcp, 1)),
        ("8080:80", mapping(None, 8080, 80, Tcp, 1)),
        ("8080:80/udp", mapping(None, 8080, 80, Udp, 1)),
        ("8080:80/TCP", mapping(None, 8080, 80, Tcp, 1)),
        (
            "127.0.0.1:8080:80",
            mapping(Some("127.0.0.1"), 8080, 80, Tcp, 1),
        ),
        ("127.0.0.1::80", mapping(Some("127.0.0.1"), 0, 80, Tcp, 1)),
        (":8080:80", mapping(None, 8080, 80, Tcp, 1)),
        ("[::1]:8080:80", mapping(Some("::1"), 8080, 80, Tcp, 1)),
        ("[::1]::80/udp", mapping(Some("::1"), 0, 80, Udp, 1)),
        ("8000-8001:80-81", mapping(None, 8000, 80, Tcp, 2)),
        ("80-81", mapping(None, 0, 80, Tcp, 2)),
        (
            "10.99.0.1:9000-9002:7000-7002/udp",
            mapping(Some("10.99.0.1"), 9000, 7000, Udp, 3),
        ),
    ] {
        assert_eq!(one(text), want, "{text}");
    }
    let both = PortMapping::parse("53:53/tcp,udp").unwrap();
    assert_eq!(
        both,
        [mapping(None, 53, 53, Tcp, 1), mapping(None, 53, 53, Udp, 1)]
    );
}

#[test]
fn mappings_show_as_podman_port_does() {
    assert_eq!(one("8080:80").to_string(), "0.0.0.0:8080->80/tcp");
    assert_eq!(
        one("127.0.0.1:53:53/udp").to_string(),
        "127.0.0.1:53->53/udp"
    );
    assert_eq!(
        one("[::1]:8000-8001:80-81").to_string(),
        "[::1]:8000-8001->80-81/tcp"
    );
    assert_eq!(one("8000-8001:80-81").host_ports(), 8000..8002);
    assert_eq!(one("80").host_ports(), 0..0);
}

#[test]
fn bad_port_texts_are_refused_with_the_text_and_the_reason() {
    for (text, why) in [
        ("", "not a port number"),
        ("abc", "\"abc\" is not a port number"),
        ("0", "\"0\" is not a port number"),
        ("70000", "\"70000\" is not a port number"),
        ("8080:80/sctp", "unknown protocol \"sctp\""),
        ("8080:80/", "the protocol after '/' is empty"),
        ("8000-8002:80-81", "ranges must be of the same length"),
        ("81-80", "ends before it starts"),
        ("300.1.1.1:8080:80", "\"300.1.1.1\" is not an IP address"),
        ("::1:8080:80", "an IPv6 host address must be in brackets"),
        ("[::1:8080:80", "without its ']'"),
        ("[::1]8080:80", "a ':' must follow the bracketed address"),
        ("1:2:3:4", "\"1\" is not an IP address"),
        ("10.0.0.1:80:81:82", "too many ':'"),
    ] {
        let err = PortMapping::parse(text).expect_err(text).to_string();
        assert!(
            err.starts_with(&format!("port mapping {text:?} is not valid: ")),
            "{err}"
        );
        assert!(err.contains(why), "{text}: {err}");
    }
}
