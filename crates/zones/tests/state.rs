//! `zoneadm list -cp` parsing against recorded-style outputs, and zone state → OCI status.

use std::path::PathBuf;

use aurora_zones::{parse_list, OciStatus, ZoneState};

/// An OmniOS host: the global zone (empty uuid), a running lx zone, an installed sparse zone
/// not running (`-` zoneid), a zonepath with escaped colons, and a half-made zone.
const OMNIOS: &str = "\
0:global:running:/::ipkg:shared
3:web1:running:/zones/web1:a5b8c0d2-3e4f-6a7b-8c9d-0e1f2a3b4c5d:lx:excl
-:ctr1:installed:/zones/ctr1:b1c2d3e4-aaaa-bbbb-cccc-000000000001:sparse:excl
-:odd:configured:/zones/with\\:colon\\:s:::shared
-:half:incomplete:/zones/half:c0ffee00-0000-0000-0000-000000000002:pkgsrc:excl
";

/// SmartOS appends a debug id; a future illumos may append more.
const SMARTOS: &str = "\
0:global:running:/::liveimg:shared:0
12:8f1c5a2e-19b0-4ec6-a7a4-3e0d1b2c3d4e:running:/zones/8f1c5a2e-19b0-4ec6-a7a4-3e0d1b2c3d4e:8f1c5a2e-19b0-4ec6-a7a4-3e0d1b2c3d4e:joyent-minimal:excl:12:extra:fields
-:stopping:shutting_down:/zones/stopping:d1:lx:excl:40
";

#[test]
fn omnios_listing() {
    let zones = parse_list(OMNIOS);
    assert_eq!(zones.len(), 5);
    let g = &zones[0];
    assert_eq!(
        (g.id, g.name.as_str(), &g.state),
        (Some(0), "global", &ZoneState::Running)
    );
    assert_eq!(g.uuid, None);
    assert_eq!(g.brand.as_deref(), Some("ipkg"));
    let web = &zones[1];
    assert_eq!(web.id, Some(3));
    assert_eq!(web.zonepath, PathBuf::from("/zones/web1"));
    assert_eq!(web.brand.as_deref(), Some("lx"));
    assert_eq!(web.ip_type.as_deref(), Some("excl"));
    let ctr = &zones[2];
    assert_eq!(ctr.id, None);
    assert_eq!(ctr.state, ZoneState::Installed);
    let odd = &zones[3];
    assert_eq!(odd.zonepath, PathBuf::from("/zones/with:colon:s"));
    assert_eq!((odd.uuid.as_deref(), odd.brand.as_deref()), (None, None));
    assert_eq!(odd.ip_type.as_deref(), Some("shared"));
    assert_eq!(zones[4].state, ZoneState::Incomplete);
}

#[test]
fn smartos_listing_with_extra_fields() {
    let zones = parse_list(SMARTOS);
    assert_eq!(zones.len(), 3);
    assert_eq!(zones[0].ip_type.as_deref(), Some("shared"));
    assert_eq!(zones[1].id, Some(12));
    assert_eq!(zones[1].brand.as_deref(), Some("joyent-minimal"));
    assert_eq!(zones[1].ip_type.as_deref(), Some("excl"));
    assert_eq!(zones[2].state, ZoneState::ShuttingDown);
}

#[test]
fn tolerates_junk() {
    let text = "\n   \nnot a zone line\n1:short\n-:ok:ready:/z/ok\n-::running:/z/noname::lx:excl\n-:crlf:down:/z/crlf:u:lx:excl\r\n";
    let zones = parse_list(text);
    let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["ok", "crlf"]);
    assert_eq!(zones[0].state, ZoneState::Ready);
    assert_eq!(zones[0].uuid, None);
    assert_eq!(zones[1].state, ZoneState::Down);
    assert_eq!(zones[1].ip_type.as_deref(), Some("excl"));
    // A backslash before anything but a colon stays.
    let z = parse_list("-:b:installed:/z/back\\slash:u:lx:excl");
    assert_eq!(z[0].zonepath, PathBuf::from("/z/back\\slash"));
    // Unknown states are kept.
    let z = parse_list("-:n:hibernating:/z/n:u:lx:excl");
    assert_eq!(z[0].state, ZoneState::Other("hibernating".into()));
    assert_eq!(z[0].state.to_string(), "hibernating");
}

#[test]
fn oci_status() {
    use OciStatus::*;
    let cases = [
        ("configured", false, Creating),
        ("incomplete", false, Creating),
        ("mounted", false, Creating),
        ("installed", false, Created),
        ("installed", true, Stopped),
        ("ready", false, Created),
        ("ready", true, Stopped),
        ("running", false, Running),
        ("shutting_down", false, Running),
        ("down", false, Running),
        ("something-new", false, Creating),
    ];
    for (state, exited, want) in cases {
        let s = ZoneState::parse(state);
        assert_eq!(s.as_str(), state);
        assert_eq!(s.oci_status(exited), want, "{state} exited={exited}");
    }
    assert_eq!(serde_json::to_string(&Stopped).unwrap(), "\"stopped\"");
    assert_eq!(Created.to_string(), "created");
}
