//! The illumos design, checked through the code that will run it: a container's address
//! choice → `solaris.anet` (ours) → zonecfg `net` (aurora-zones' planner, as runz uses it).
//! `golden/illumos-vnic.zonecfg` is the expected zonecfg; `AURORA_UPDATE_GOLDEN=1` rewrites it.

use std::path::Path;

use aurora_network::illumos::{solaris_anet, VnicChoice};
use aurora_network::NetworkStatus;
use aurora_zones::{plan, PlanOptions, ZoneName};
use oci_spec::runtime::{SolarisBuilder, Spec};

#[test]
fn a_containers_vnic_becomes_a_zonecfg_net_resource() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let id = "3f2a9c0d1e4b5a6978877665544332211009f8e7d6c5b4a39281706f5e4d3c2b";
    // What setup reports for the container's first network.
    let status = NetworkStatus {
        network: "podadm".into(),
        interface: "eth0".into(),
        addresses: vec!["10.99.0.5/24".into()],
        gateway: Some("10.99.0.1".into()),
        mac: "2:8:20:aa:bb:5".into(),
        dns_servers: Vec::new(),
        dns_search: Vec::new(),
        ..Default::default()
    };
    let choice = VnicChoice::for_container(id, 0, "podadm0", &status);
    assert_eq!(
        choice,
        VnicChoice {
            link_name: "pa3f2a9c0d1e4bn0".into(),
            lower_link: "podadm0".into(),
            address: "10.99.0.5/24".into(),
            gateway: Some("10.99.0.1".into()),
            mac: Some("2:8:20:aa:bb:5".into()),
        }
    );

    let mut spec: Spec = serde_json::from_str(
        &std::fs::read_to_string(golden.join("illumos-vnic.base.json")).unwrap(),
    )
    .unwrap();
    spec.set_solaris(Some(
        SolarisBuilder::default()
            .anet(vec![solaris_anet(&choice)])
            .build()
            .unwrap(),
    ));
    let options = PlanOptions::new(ZoneName::new("web").unwrap(), "/zones/web", "/zones/web");
    let zonecfg = plan(&spec, &options).unwrap().zonecfg();
    let expected = golden.join("illumos-vnic.zonecfg");
    if std::env::var("AURORA_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&expected, &zonecfg).unwrap();
    }
    assert_eq!(zonecfg, std::fs::read_to_string(&expected).unwrap());
}
