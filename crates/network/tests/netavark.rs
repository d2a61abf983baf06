//! The netavark backend against the real netavark and aardvark-dns, as root, on subnets of
//! 10.99.200.0/21 and bridges named `aurt*`: namespaces on one network reach each other by
//! address and by name, a published port answers on 127.0.0.1, and teardown leaves no veth,
//! no firewall rule, no namespace and no address behind; a failed setup leaves nothing either.

mod common;

use std::process::{Child, Command, Stdio};

use aurora_network::{
    Attachment, Netavark, Netns, NetworkBackend, NetworkCreate, NetworkError, Networks, PerNetwork,
    PortMapping,
};
use common::{
    attachment_in, container_id, in_netns, iptables_rules_about, is_mounted, ports_of_bridge,
    wait_for, Lab,
};

#[test]
fn namespaces_on_a_user_network_reach_each_other_by_address_and_by_name() {
    let test = "namespaces_on_a_user_network_reach_each_other_by_address_and_by_name";
    let Some(mut lab) = Lab::with_network(test, "aurt-reach", "aurt201", "10.99.201.0/24", true)
    else {
        return;
    };
    let (id_a, id_b) = (container_id("a1"), container_id("b2"));
    let needles = ["10.99.201.", id_a.as_str(), id_b.as_str(), "aurt201"];
    let rules_before = iptables_rules_about(&needles);

    let (a, result_a) = lab
        .attach(&id_a, "aurt-a", "aurt-reach", &["web-a"], Vec::new())
        .unwrap();
    let (b, result_b) = lab
        .attach(&id_b, "aurt-b", "aurt-reach", &[], Vec::new())
        .unwrap();
    let status_a = &result_a.networks[0];
    assert_eq!(
        (status_a.network.as_str(), status_a.interface.as_str()),
        ("aurt-reach", "eth0")
    );
    assert_eq!(status_a.addresses, ["10.99.201.2/24"]);
    assert_eq!(result_b.networks[0].addresses, ["10.99.201.3/24"]);
    assert_eq!(status_a.gateway.as_deref(), Some("10.99.201.1"));
    assert_eq!(status_a.dns_servers, ["10.99.201.1"]);
    assert_eq!(status_a.dns_search, ["dns.podman"]);
    assert_eq!(status_a.mac.len(), 17, "{status_a:?}");
    let inside = in_netns(
        &a.netns,
        &["busybox", "ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert!(
        String::from_utf8_lossy(&inside.stdout).contains("inet 10.99.201.2/24"),
        "{inside:?}"
    );
    let veths = ports_of_bridge("aurt201");
    assert_eq!(veths.len(), 2, "{veths:?}");

    let ping = in_netns(
        &b.netns,
        &["busybox", "ping", "-c", "1", "-W", "10", "10.99.201.2"],
    );
    assert!(ping.status.success(), "{ping:?}");
    for name in ["aurt-a", "web-a", &id_a[..12]] {
        let answer = wait_for(&format!("aardvark-dns to answer {name}"), || {
            let out = in_netns(&b.netns, &["busybox", "nslookup", name, "10.99.201.1"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            out.status.success().then_some(text)
        });
        assert!(answer.contains("10.99.201.2"), "{name}: {answer}");
    }

    lab.detach(&a);
    lab.detach(&b);
    for veth in &veths {
        assert!(
            !std::path::Path::new("/sys/class/net").join(veth).exists(),
            "{veth} is left"
        );
    }
    assert!(ports_of_bridge("aurt201").is_empty());
    for netns in [&a.netns, &b.netns] {
        assert!(!netns.exists() && !is_mounted(netns), "{}", netns.display());
    }
    assert_eq!(iptables_rules_about(&needles), rules_before);
    let ipam = lab.networks.ipam();
    assert!(ipam.addresses_of("aurt-reach", &id_a).unwrap().is_empty());
    assert!(ipam.addresses_of("aurt-reach", &id_b).unwrap().is_empty());
}

#[test]
fn a_published_port_answers_on_loopback_and_goes_away_at_teardown() {
    let test = "a_published_port_answers_on_loopback_and_goes_away_at_teardown";
    let Some(mut lab) = Lab::with_network(test, "aurt-ports", "aurt202", "10.99.202.0/24", false)
    else {
        return;
    };
    let id = container_id("c3");
    let ports = PortMapping::parse("127.0.0.1::80").unwrap();
    let (attachment, result) = lab
        .attach(&id, "aurt-web", "aurt-ports", &[], ports)
        .unwrap();
    let host_port = result.ports[0].host_port;
    assert_ne!(host_port, 0, "a free host port is picked");
    assert_eq!(result.networks[0].dns_servers, Vec::<String>::new());
    let needles = [id.as_str(), "10.99.202.2", &format!("dport {host_port}")];
    assert!(
        !iptables_rules_about(&needles).is_empty(),
        "no DNAT rule was written"
    );

    let www = lab.base.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from the namespace\n").unwrap();
    let server = HttpServer::start(&attachment, &www);
    wait_for("httpd to listen", || {
        let out = in_netns(&attachment.netns, &["busybox", "netstat", "-ltn"]);
        String::from_utf8_lossy(&out.stdout)
            .contains(":80 ")
            .then_some(())
    });
    let url = format!("http://127.0.0.1:{host_port}/index.html");
    let got = Command::new("curl")
        .args(["-sS", "--max-time", "30", &url])
        .output()
        .unwrap();
    assert!(got.status.success(), "{got:?}");
    assert_eq!(got.stdout, b"hello from the namespace\n");

    // The same host port again: refused before anything is made.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let other = container_id("c4");
    let ports = PortMapping::parse(&format!("127.0.0.1:{busy}:80")).unwrap();
    let err = lab
        .attach(&other, "aurt-busy", "aurt-ports", &[], ports)
        .unwrap_err();
    assert!(
        matches!(&err, NetworkError::PortInUse { port, .. } if *port == busy),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("{busy}/tcp on 127.0.0.1")),
        "{err}"
    );
    assert!(lab
        .networks
        .ipam()
        .addresses_of("aurt-ports", &other)
        .unwrap()
        .is_empty());
    assert!(!lab.runroot.join("netns").join(&other).exists());

    drop(server);
    lab.detach(&attachment);
    assert_eq!(iptables_rules_about(&needles), Vec::<String>::new());
    assert!(ports_of_bridge("aurt202").is_empty());
}

#[test]
fn a_failed_setup_gives_its_addresses_back() {
    let test = "a_failed_setup_gives_its_addresses_back";
    let Some(lab) = Lab::new(test, &["aurt203", "aurt207"]) else {
        return;
    };
    lab.network("aurt-fail", "aurt203", "10.99.203.0/24", false);
    let id = container_id("d5");
    // A plain file is not a namespace: netavark refuses it.
    let not_a_netns = lab.base.join("not-a-netns");
    std::fs::write(&not_a_netns, "").unwrap();
    let attachment = Attachment {
        container_id: id.clone(),
        container_name: "aurt-fail".into(),
        netns: not_a_netns,
        networks: vec![(
            "aurt-fail".into(),
            PerNetwork {
                interface_name: "eth0".into(),
                ..Default::default()
            },
        )],
        ports: Vec::new(),
    };
    let err = lab.backend.setup(&attachment).unwrap_err();
    assert!(
        matches!(err, NetworkError::Netavark { verb: "setup", .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&id), "{err}");
    assert!(lab
        .networks
        .ipam()
        .addresses_of("aurt-fail", &id)
        .unwrap()
        .is_empty());
    assert!(ports_of_bridge("aurt203").is_empty());

    let mut internal = attachment.clone();
    lab.networks
        .create(&aurora_network::NetworkCreate {
            name: "aurt-inside".into(),
            subnet: Some("10.99.207.0/24".into()),
            interface_name: Some("aurt207".into()),
            internal: true,
            ..Default::default()
        })
        .unwrap();
    internal.networks[0].0 = "aurt-inside".into();
    internal.ports = PortMapping::parse("8080:80").unwrap();
    let err = lab.backend.setup(&internal).unwrap_err();
    assert_eq!(
        err.to_string(),
        "network \"aurt-inside\": ports cannot be published from an internal network"
    );
    assert!(lab
        .networks
        .ipam()
        .addresses_of("aurt-inside", &id)
        .unwrap()
        .is_empty());

    let mut unknown = attachment.clone();
    unknown.networks[0].0 = "aurt-nowhere".into();
    let err = lab.backend.setup(&unknown).unwrap_err();
    assert_eq!(err.to_string(), "network \"aurt-nowhere\" not found");
}

#[test]
fn a_namespace_is_bound_with_loopback_up_and_removed_without_trace() {
    let test = "a_namespace_is_bound_with_loopback_up_and_removed_without_trace";
    let Some(lab) = Lab::new(test, &[]) else {
        return;
    };
    let id = container_id("e6");
    let netns = Netns::create(&lab.runroot, &id).unwrap();
    assert_eq!(netns.path, lab.runroot.join("netns").join(&id));
    assert!(is_mounted(&netns.path));
    let ours = std::fs::metadata("/proc/self/ns/net").unwrap();
    let theirs = std::fs::metadata(&netns.path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_ne!(ours.ino(), theirs.ino(), "a new namespace, not the host's");
    let lo = in_netns(&netns.path, &["busybox", "ip", "-o", "link", "show", "lo"]);
    assert!(String::from_utf8_lossy(&lo.stdout).contains("UP"), "{lo:?}");
    let err = Netns::create(&lab.runroot, &id).unwrap_err();
    assert!(err.to_string().contains(&id), "{err}");
    let err = Netns::create(&lab.runroot, "../escape").unwrap_err();
    assert!(
        err.to_string()
            .contains("\"../escape\" cannot name a namespace file"),
        "{err}"
    );

    Netns::remove(&netns.path).unwrap();
    assert!(!netns.path.exists() && !is_mounted(&netns.path));
    Netns::remove(&netns.path).unwrap();
}

#[test]
fn concurrent_setups_on_one_network_all_succeed_with_their_own_addresses() {
    let test = "concurrent_setups_on_one_network_all_succeed_with_their_own_addresses";
    let Some(mut lab) = Lab::with_network(test, "aurt-many", "aurt204", "10.99.204.0/24", true)
    else {
        return;
    };
    let attachments: Vec<Attachment> = (0..6)
        .map(|i| {
            let id = container_id(&format!("f{i}"));
            let netns = Netns::create(&lab.runroot, &id).unwrap();
            let attachment = Attachment {
                container_id: id,
                container_name: format!("aurt-many-{i}"),
                netns: netns.path,
                networks: vec![(
                    "aurt-many".into(),
                    PerNetwork {
                        interface_name: "eth0".into(),
                        ..Default::default()
                    },
                )],
                ports: Vec::new(),
            };
            lab.track(&attachment);
            attachment
        })
        .collect();
    // The bridge does not exist yet: every setup may be the one to make it.
    let workers: Vec<_> = attachments
        .iter()
        .map(|attachment| {
            let (backend, attachment) = (lab.backend.clone(), attachment.clone());
            std::thread::spawn(move || backend.setup(&attachment))
        })
        .collect();
    let mut addresses: Vec<String> = workers
        .into_iter()
        .map(|w| w.join().unwrap().unwrap().networks[0].addresses[0].clone())
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 6, "{addresses:?}");
    assert_eq!(ports_of_bridge("aurt204").len(), 6);
    let last = attachments.last().unwrap();
    let ping = in_netns(
        &last.netns,
        &["busybox", "ping", "-c", "1", "-W", "10", "10.99.204.2"],
    );
    assert!(ping.status.success(), "{ping:?}");
    for attachment in &attachments {
        lab.detach(attachment);
    }
    assert!(ports_of_bridge("aurt204").is_empty());
}

#[test]
fn teardown_after_the_namespace_is_gone_still_removes_rules_and_addresses() {
    let test = "teardown_after_the_namespace_is_gone_still_removes_rules_and_addresses";
    let Some(mut lab) = Lab::with_network(test, "aurt-gone", "aurt205", "10.99.205.0/24", true)
    else {
        return;
    };
    let id = container_id("a7");
    let ports = PortMapping::parse("127.0.0.1::8080").unwrap();
    let (attachment, result) = lab
        .attach(&id, "aurt-gone", "aurt-gone", &[], ports)
        .unwrap();
    let needles = [
        id.as_str(),
        "10.99.205.2",
        &format!("dport {}", result.ports[0].host_port),
    ];
    assert!(!iptables_rules_about(&needles).is_empty());
    // What a crash between "namespace removed" and "network torn down" leaves.
    Netns::remove(&attachment.netns).unwrap();
    lab.detach(&attachment);
    assert_eq!(iptables_rules_about(&needles), Vec::<String>::new());
    assert!(lab
        .networks
        .ipam()
        .addresses_of("aurt-gone", &id)
        .unwrap()
        .is_empty());
    assert!(!attachment.netns.exists());
}

/// `busybox httpd` in a namespace, killed (by its pid) when dropped.
struct HttpServer(Child);

impl HttpServer {
    fn start(attachment: &Attachment, dir: &std::path::Path) -> HttpServer {
        let child = Command::new("nsenter")
            .arg(format!("--net={}", attachment.netns.display()))
            .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        HttpServer(child)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two stores (two roots, as two `--root`s or two test worlds) whose networks use one bridge
/// and subnet, as every store's default network does: the second store's container must not
/// get the address the first store's holds, and gets it once that one is torn down.
#[test]
fn two_stores_on_one_bridge_never_share_an_address() {
    let test = "two_stores_on_one_bridge_never_share_an_address";
    let Some(mut lab) = Lab::with_network(test, "aurt-shared", "aurt206", "10.99.206.0/24", false)
    else {
        return;
    };
    let other_root = lab.base.join("other-root");
    let other_runroot = lab.base.join("other-run");
    std::fs::create_dir_all(&other_runroot).unwrap();
    let other = Networks::open(&other_root, &other_runroot).unwrap();
    other
        .create(&NetworkCreate {
            name: "aurt-shared".into(),
            subnet: Some("10.99.206.0/24".into()),
            interface_name: Some("aurt206".into()),
            dns: Some(false),
            ..Default::default()
        })
        .unwrap();
    let other_backend = Netavark::find(&other).unwrap();
    let (id_a, id_b, id_c) = (container_id("a8"), container_id("b8"), container_id("c8"));

    let (a, result_a) = lab
        .attach(&id_a, "aurt-a8", "aurt-shared", &[], Vec::new())
        .unwrap();
    let b = attachment_in(&other_runroot, &id_b, "aurt-b8", "aurt-shared", &[]);
    lab.track(&b);
    let result_b = other_backend.setup(&b).unwrap();

    assert_eq!(result_a.networks[0].addresses, ["10.99.206.2/24"]);
    assert_eq!(result_b.networks[0].addresses, ["10.99.206.3/24"]);
    let ping = in_netns(
        &b.netns,
        &["busybox", "ping", "-c", "1", "-W", "10", "10.99.206.2"],
    );
    assert!(ping.status.success(), "{ping:?}");

    lab.detach(&a);
    let c = attachment_in(&other_runroot, &id_c, "aurt-c8", "aurt-shared", &[]);
    lab.track(&c);
    let result_c = other_backend.setup(&c).unwrap();
    // The other store's own table goes round from .3; .2 is free on the bridge again.
    assert_eq!(result_c.networks[0].addresses, ["10.99.206.4/24"]);
    for attachment in [&b, &c] {
        other_backend.teardown(attachment).unwrap();
        Netns::remove(&attachment.netns).unwrap();
    }
    let (d, result_d) = lab
        .attach(&id_a, "aurt-d8", "aurt-shared", &[], Vec::new())
        .unwrap();
    assert_eq!(result_d.networks[0].addresses, ["10.99.206.3/24"]);
    lab.detach(&d);
}
