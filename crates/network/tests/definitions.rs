//! Network definitions: the default network, create/list/inspect/remove, subnet and bridge
//! choice, podman's JSON, and clear errors for bad input (nothing written on refusal).

use std::collections::BTreeMap;

use aurora_network::{Network, NetworkCreate, Networks, DEFAULT_NETWORK};
use ipnet::IpNet;

fn store() -> (tempfile::TempDir, Networks) {
    let dir = tempfile::tempdir().unwrap();
    let networks = Networks::open(&dir.path().join("root"), &dir.path().join("run")).unwrap();
    (dir, networks)
}

/// The names `list` gives, in its order.
fn names(networks: &Networks) -> Vec<String> {
    networks
        .list()
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

fn named(name: &str) -> NetworkCreate {
    NetworkCreate {
        name: name.into(),
        ..Default::default()
    }
}

fn with_subnet(name: &str, subnet: &str) -> NetworkCreate {
    NetworkCreate {
        subnet: Some(subnet.into()),
        ..named(name)
    }
}

#[test]
fn the_default_network_exists_without_being_created() {
    let (_dir, networks) = store();
    let listed = networks.list().unwrap();
    assert_eq!(listed.len(), 1);
    let default = networks.inspect(DEFAULT_NETWORK).unwrap();
    assert_eq!(listed[0], default);
    assert_eq!(
        serde_json::to_value(&default).unwrap(),
        serde_json::json!({
            "name": "podadm",
            "id": "c8214157b50013540b57a56749adbc6449383c33b5431ded5eeb929c7ce8aea1",
            "driver": "bridge",
            "network_interface": "podadm0",
            "subnets": [{"subnet": "10.99.0.0/24", "gateway": "10.99.0.1"}],
            "ipv6_enabled": false,
            "internal": false,
            "dns_enabled": false,
            "ipam_options": {"driver": "host-local"}
        })
    );
    assert!(!networks.dir().join("podadm.json").exists());
}

#[test]
fn definitions_read_and_write_podmans_json() {
    let golden = include_str!("golden/podman-network.json");
    let network: Network = serde_json::from_str(golden).unwrap();
    let compact: String = golden.split_whitespace().collect();
    assert_eq!(serde_json::to_string(&network).unwrap(), compact);
}

#[test]
fn created_networks_get_a_free_subnet_and_bridge_and_are_kept() {
    let (_dir, networks) = store();
    let first = networks.create(&named("front")).unwrap();
    let second = networks
        .create(&NetworkCreate {
            labels: BTreeMap::from([("team".into(), "aurora".into())]),
            internal: true,
            dns: Some(false),
            ..named("back")
        })
        .unwrap();
    let pool: IpNet = "10.99.0.0/16".parse().unwrap();
    let default: IpNet = "10.99.0.0/24".parse().unwrap();
    for network in [&first, &second] {
        let subnet = network.subnets[0].subnet;
        assert!(
            pool.contains(&subnet) && subnet.prefix_len() == 24,
            "{subnet}"
        );
        assert!(
            !subnet.contains(&default.network()),
            "{subnet} overlaps the default"
        );
        let gateway = network.subnets[0].gateway.unwrap();
        assert_eq!(Some(gateway), subnet.hosts().next());
        assert!(network.network_interface.starts_with("podadm"));
        assert_ne!(network.network_interface, "podadm0");
        assert_eq!(network.id.len(), 64);
        assert!(network.created.is_some());
    }
    assert_ne!(first.subnets[0].subnet, second.subnets[0].subnet);
    assert_ne!(first.network_interface, second.network_interface);
    assert!(first.dns_enabled && !first.internal);
    assert!(!second.dns_enabled && second.internal);
    assert_eq!(second.labels["team"], "aurora");

    assert_eq!(names(&networks), ["podadm", "back", "front"]);
    assert_eq!(networks.inspect("front").unwrap(), first);
    let on_disk: Network =
        serde_json::from_slice(&std::fs::read(networks.dir().join("back.json")).unwrap()).unwrap();
    assert_eq!(on_disk, second);

    let given = networks
        .create(&NetworkCreate {
            gateway: Some("10.99.210.254".into()),
            interface_name: Some("aurtgiven".into()),
            ..with_subnet("given", "10.99.210.0/24")
        })
        .unwrap();
    assert_eq!(given.subnets[0].subnet.to_string(), "10.99.210.0/24");
    assert_eq!(
        given.subnets[0].gateway.unwrap().to_string(),
        "10.99.210.254"
    );
    assert_eq!(given.network_interface, "aurtgiven");
}

#[test]
fn removing_a_network_removes_its_definition_and_addresses() {
    let (_dir, networks) = store();
    let network = networks
        .create(&with_subnet("gone", "10.99.211.0/24"))
        .unwrap();
    let ipam = networks.ipam();
    ipam.allocate(&network, "c1", &[]).unwrap();
    networks.remove("gone").unwrap();
    assert!(!networks.dir().join("gone.json").exists());
    assert_eq!(
        networks.inspect("gone").unwrap_err().to_string(),
        "network \"gone\" not found"
    );
    assert_eq!(
        networks.remove("gone").unwrap_err().to_string(),
        "network \"gone\" not found"
    );
    // A new network of the same name starts with a fresh address table.
    let again = networks
        .create(&with_subnet("gone", "10.99.211.0/24"))
        .unwrap();
    assert_eq!(
        ipam.allocate(&again, "c2", &[]).unwrap()[0].to_string(),
        "10.99.211.2"
    );
    assert_eq!(
        networks.remove(DEFAULT_NETWORK).unwrap_err().to_string(),
        "network \"podadm\": the default network cannot be removed"
    );
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let (_dir, networks) = store();
    networks
        .create(&with_subnet("taken", "10.99.212.0/24"))
        .unwrap();
    // A route the host has, as ip(8) lists it (a reference reader of the kernel's table).
    let routes = std::process::Command::new("ip")
        .args(["-o", "-4", "route", "show"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let host_route = routes.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        // Not one of podadm's own bridges (another test's containers may have one up): their
        // routes overlap this store's definitions too, which are checked first.
        let route = words
            .first()
            .filter(|r| r.contains('/') && !r.starts_with("10.99."))?;
        let dev = words
            .iter()
            .position(|w| *w == "dev")
            .and_then(|i| words.get(i + 1))?;
        Some((dev.to_string(), route.to_string()))
    });
    let mut cases: Vec<(NetworkCreate, String)> = vec![
        (named("-x"), "network name \"-x\" is not valid: it must start with a letter or a digit".into()),
        (named("a b"), "network name \"a b\" is not valid: only letters, digits, '_', '.' and '-' are allowed".into()),
        (named("host"), "network name \"host\" is not valid: it is a --network mode".into()),
        (named("podadm"), "network \"podadm\" already exists".into()),
        (named("taken"), "network \"taken\" already exists".into()),
        (with_subnet("n1", "10.99.300.0/24"), "subnet \"10.99.300.0/24\" is not valid: expected an address and a prefix length, like 10.99.5.0/24".into()),
        (with_subnet("n1", "10.99.213.9/24"), "subnet \"10.99.213.9/24\" is not valid: host bits are set; the subnet is 10.99.213.0/24".into()),
        (with_subnet("n1", "10.99.212.128/25"), "subnet 10.99.212.128/25 overlaps 10.99.212.0/24 of network \"taken\"".into()),
        (with_subnet("n1", "10.99.0.0/16"), "subnet 10.99.0.0/16 overlaps 10.99.0.0/24 of network \"podadm\"".into()),
        (
            NetworkCreate { gateway: Some("10.99.214.0".into()), ..with_subnet("n1", "10.99.214.0/24") },
            "gateway \"10.99.214.0\" is not valid: not a usable address of subnet 10.99.214.0/24".into(),
        ),
        (
            NetworkCreate { gateway: Some("gw".into()), ..with_subnet("n1", "10.99.214.0/24") },
            "gateway \"gw\" is not valid: not an IP address".into(),
        ),
        (
            NetworkCreate { driver: Some("macvlan".into()), ..named("n1") },
            "network \"n1\": driver \"macvlan\" is not supported (only \"bridge\")".into(),
        ),
        (
            NetworkCreate { interface_name: Some("a-very-long-bridge-name".into()), ..named("n1") },
            "network \"n1\": interface name \"a-very-long-bridge-name\" is not a valid Linux interface name".into(),
        ),
    ];
    if let Some((iface, route)) = host_route {
        cases.push((
            with_subnet("n1", &route),
            format!("subnet {route} overlaps the host's route to {route} on {iface}"),
        ));
    }
    for (request, want) in cases {
        let err = networks.create(&request).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
    assert_eq!(names(&networks), ["podadm", "taken"]);
}
