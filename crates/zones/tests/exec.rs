//! The executor's exact command sequences, from each zone state, against the fake runner.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aurora_zones::exec::Op;
use aurora_zones::state::InitExit;
use aurora_zones::{
    plan, FakeRunner, OciStatus, PlanOptions, Runner, Signal, ZoneError, ZoneName, ZonePlan, Zones,
};
use oci_spec::runtime::Spec;

const LIST: &str = "zoneadm list -cp";
const STATUS: &str = "/.aurora/status.json";

struct World {
    _dir: tempfile::TempDir,
    work: PathBuf,
    zonepath: PathBuf,
    zones: Zones<FakeRunner>,
    name: ZoneName,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("state");
    let zonepath = dir.path().join("zones/ctr1");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(zonepath.join("root/.aurora")).unwrap();
    fs::set_permissions(&zonepath, fs::Permissions::from_mode(0o755)).unwrap();
    World {
        zones: Zones::new(FakeRunner::new(), &work),
        work,
        zonepath,
        _dir: dir,
        name: ZoneName::new("ctr1").unwrap(),
    }
}

impl World {
    /// `zoneadm list -cp` shows the global zone, another zone, and ctr1 in `state`.
    fn with_state(&self, state: &str) -> &Self {
        let id = if state == "running" { "7" } else { "-" };
        let out = format!(
            "0:global:running:/::ipkg:shared\n3:other:running:/zones/other:u1:lx:excl\n{id}:ctr1:{state}:{}:u2:lx:excl\n",
            self.zonepath.display()
        );
        self.zones.runner().reply(LIST, &out);
        self
    }

    fn without_ctr1(&self) -> &Self {
        self.zones.runner().reply(
            LIST,
            "0:global:running:/::ipkg:shared\n3:other:running:/zones/other:u1:lx:excl\n",
        );
        self
    }

    fn calls(&self) -> Vec<String> {
        self.zones.runner().calls()
    }

    fn plan(&self) -> ZonePlan {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.2.0","root":{"path":"root"},"linux":{"namespaces":[{"type":"network"}]}}"#,
        )
        .unwrap();
        plan(
            &spec,
            &PlanOptions::new(self.name.clone(), &self.zonepath, &self.zonepath),
        )
        .unwrap()
    }

    fn status_file(&self) -> PathBuf {
        self.zonepath.join("root/.aurora/status.json")
    }
}

fn zonecfg_file(w: &World) -> PathBuf {
    w.work.join("ctr1.zonecfg")
}

#[test]
fn create_from_nothing() {
    let w = world();
    w.without_ctr1();
    let plan = w.plan();
    w.zones.create(&plan).unwrap();
    let file = zonecfg_file(&w);
    assert_eq!(
        w.calls(),
        [
            LIST.to_string(),
            format!("zonecfg -z ctr1 -f {}", file.display()),
            "zoneadm -z ctr1 attach -F".to_string(),
            "zoneadm -z ctr1 ready".to_string(),
        ]
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), plan.zonecfg());
    let mode = fs::metadata(&w.zonepath).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn create_refuses_an_existing_zone() {
    for state in ["configured", "installed", "running"] {
        let w = world();
        w.with_state(state);
        let err = w.zones.create(&w.plan()).unwrap_err();
        assert!(matches!(err, ZoneError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("ctr1"), "{err}");
        assert_eq!(w.calls(), [LIST]);
    }
}

#[test]
fn create_undoes_a_failed_attach() {
    let w = world();
    w.without_ctr1();
    w.zones.runner().fail(
        "zoneadm -z ctr1 attach -F",
        1,
        "zoneadm: zone 'ctr1': attach failed",
    );
    let err = w.zones.create(&w.plan()).unwrap_err();
    match &err {
        ZoneError::Command { op, zone, source } => {
            assert_eq!((*op, zone.as_str()), (Op::Create, "ctr1"));
            assert_eq!(source.status, Some(1));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("attach failed"), "{err}");
    let calls = w.calls();
    assert_eq!(
        calls[2..],
        ["zoneadm -z ctr1 attach -F", "zonecfg -z ctr1 delete -F"]
    );
}

#[test]
fn create_undoes_a_failed_ready() {
    let w = world();
    w.without_ctr1();
    w.zones
        .runner()
        .fail("zoneadm -z ctr1 ready", 1, "could not mount /data");
    w.zones.create(&w.plan()).unwrap_err();
    assert_eq!(
        w.calls()[2..],
        [
            "zoneadm -z ctr1 attach -F",
            "zoneadm -z ctr1 ready",
            "zoneadm -z ctr1 detach",
            "zonecfg -z ctr1 delete -F"
        ]
    );
}

#[test]
fn create_fails_on_a_missing_zonepath() {
    let w = world();
    w.without_ctr1();
    fs::remove_dir_all(&w.zonepath).unwrap();
    let err = w.zones.create(&w.plan()).unwrap_err();
    assert!(matches!(err, ZoneError::Io { .. }), "{err}");
    assert!(err.to_string().contains("zones/ctr1"), "{err}");
    assert_eq!(w.calls(), [LIST]);
}

#[test]
fn start_boots_from_ready_or_installed_and_clears_a_stale_status() {
    for state in ["ready", "installed"] {
        let w = world();
        w.with_state(state);
        fs::write(w.status_file(), r#"{"exitCode":0}"#).unwrap();
        w.zones.start(&w.name, Path::new(STATUS)).unwrap();
        assert_eq!(w.calls(), [LIST, "zoneadm -z ctr1 boot"]);
        assert!(!w.status_file().exists());
    }
}

#[test]
fn start_refuses_other_states() {
    for state in [
        "configured",
        "incomplete",
        "running",
        "shutting_down",
        "mounted",
    ] {
        let w = world();
        w.with_state(state);
        let err = w.zones.start(&w.name, Path::new(STATUS)).unwrap_err();
        assert!(
            matches!(err, ZoneError::WrongState { .. }),
            "{state}: {err}"
        );
        assert!(err.to_string().contains(state), "{err}");
        assert_eq!(w.calls(), [LIST]);
    }
    let w = world();
    w.without_ctr1();
    let err = w.zones.start(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(
        matches!(err, ZoneError::NotFound { op: Op::Start, .. }),
        "{err}"
    );
}

#[test]
fn start_does_not_follow_a_symlink_out_of_the_zone() {
    let w = world();
    w.with_state("ready");
    let outside = w.zonepath.parent().unwrap().join("precious");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("status.json"), "keep me").unwrap();
    fs::remove_dir(w.zonepath.join("root/.aurora")).unwrap();
    std::os::unix::fs::symlink(&outside, w.zonepath.join("root/.aurora")).unwrap();
    let err = w.zones.start(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(matches!(err, ZoneError::Status { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(
        fs::read_to_string(outside.join("status.json")).unwrap(),
        "keep me"
    );
    assert_eq!(w.calls(), [LIST]);
}

#[test]
fn kill_signals_the_zones_init() {
    let w = world();
    w.with_state("running");
    let init = Path::new("/.aurora/podinit");
    w.zones
        .kill(&w.name, init, &Signal::new("SIGTERM").unwrap())
        .unwrap();
    w.zones
        .kill(&w.name, init, &Signal::new("9").unwrap())
        .unwrap();
    assert_eq!(
        w.calls(),
        [
            LIST,
            "pkill -TERM -z ctr1 -o -x podinit",
            LIST,
            "pkill -9 -z ctr1 -o -x podinit"
        ]
    );
}

#[test]
fn kill_without_an_init() {
    let w = world();
    w.with_state("running");
    w.zones
        .runner()
        .fail("pkill -KILL -z ctr1 -o -x podinit", 1, "");
    let err = w
        .zones
        .kill(
            &w.name,
            Path::new("/.aurora/podinit"),
            &Signal::new("KILL").unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, ZoneError::NoInit { .. }), "{err}");
    for state in ["ready", "installed", "configured"] {
        let w = world();
        w.with_state(state);
        let err = w
            .zones
            .kill(
                &w.name,
                Path::new("/.aurora/podinit"),
                &Signal::new("TERM").unwrap(),
            )
            .unwrap_err();
        assert!(matches!(err, ZoneError::WrongState { .. }), "{err}");
        assert_eq!(w.calls(), [LIST]);
    }
}

#[test]
fn signals() {
    for ok in ["TERM", "SIGTERM", "KILL", "9", "64", "RTMIN+3", "USR1"] {
        assert!(Signal::new(ok).is_ok(), "{ok}");
    }
    for bad in ["", "SIG", "0", "65", "term", "-9", "TERM;reboot", "1 2"] {
        assert!(
            matches!(Signal::new(bad), Err(ZoneError::BadSignal(_))),
            "{bad}"
        );
    }
    assert_eq!(Signal::new("SIGHUP").unwrap().as_str(), "HUP");
}

#[test]
fn delete_from_each_state() {
    let cases: [(&str, &[&str]); 7] = [
        (
            "running",
            &[
                "zoneadm -z ctr1 halt",
                "zoneadm -z ctr1 detach",
                "zonecfg -z ctr1 delete -F",
            ],
        ),
        (
            "ready",
            &[
                "zoneadm -z ctr1 halt",
                "zoneadm -z ctr1 detach",
                "zonecfg -z ctr1 delete -F",
            ],
        ),
        (
            "shutting_down",
            &[
                "zoneadm -z ctr1 halt",
                "zoneadm -z ctr1 detach",
                "zonecfg -z ctr1 delete -F",
            ],
        ),
        (
            "down",
            &[
                "zoneadm -z ctr1 halt",
                "zoneadm -z ctr1 detach",
                "zonecfg -z ctr1 delete -F",
            ],
        ),
        (
            "mounted",
            &[
                "zoneadm -z ctr1 unmount",
                "zoneadm -z ctr1 detach",
                "zonecfg -z ctr1 delete -F",
            ],
        ),
        (
            "installed",
            &["zoneadm -z ctr1 detach", "zonecfg -z ctr1 delete -F"],
        ),
        ("configured", &["zonecfg -z ctr1 delete -F"]),
    ];
    for (state, want) in cases {
        let w = world();
        w.with_state(state);
        w.zones.delete(&w.name).unwrap();
        let mut expected = vec![LIST];
        expected.extend_from_slice(want);
        assert_eq!(w.calls(), expected, "from {state}");
        assert!(
            w.zonepath.join("root").exists(),
            "the rootfs is the bundle's"
        );
    }
}

#[test]
fn delete_of_nothing_is_done() {
    let w = world();
    w.without_ctr1();
    w.zones.delete(&w.name).unwrap();
    assert_eq!(w.calls(), [LIST]);
}

#[test]
fn delete_stops_at_an_incomplete_zone() {
    let w = world();
    w.with_state("incomplete");
    let err = w.zones.delete(&w.name).unwrap_err();
    assert!(
        matches!(err, ZoneError::WrongState { op: Op::Delete, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("uninstall -F"), "{err}");
    assert_eq!(w.calls(), [LIST]);
}

#[test]
fn delete_stops_when_halt_fails() {
    let w = world();
    w.with_state("running");
    w.zones
        .runner()
        .fail("zoneadm -z ctr1 halt", 1, "halt failed");
    let err = w.zones.delete(&w.name).unwrap_err();
    assert!(err.to_string().contains("halt failed"), "{err}");
    assert_eq!(w.calls(), [LIST, "zoneadm -z ctr1 halt"]);
}

#[test]
fn state_maps_zone_states_and_reads_the_exit() {
    let w = world();
    w.with_state("ready");
    let s = w.zones.state(&w.name, Path::new(STATUS)).unwrap();
    assert_eq!((s.status, s.exit), (OciStatus::Created, None));

    let w = world();
    w.with_state("installed");
    fs::write(
        w.status_file(),
        r#"{"exitCode":3,"finishedAt":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let s = w.zones.state(&w.name, Path::new(STATUS)).unwrap();
    assert_eq!(s.status, OciStatus::Stopped);
    assert_eq!(
        s.exit,
        Some(InitExit {
            exit_code: Some(3),
            signal: None
        })
    );
    assert_eq!(s.zone.zonepath, w.zonepath);

    let w = world();
    w.with_state("installed");
    fs::write(w.status_file(), r#"{"signal":9}"#).unwrap();
    let s = w.zones.state(&w.name, Path::new(STATUS)).unwrap();
    assert_eq!(
        s.exit,
        Some(InitExit {
            exit_code: None,
            signal: Some(9)
        })
    );

    // A running zone's files are not read: the zone halts once podinit is done.
    let w = world();
    w.with_state("running");
    fs::write(w.status_file(), "not json").unwrap();
    let s = w.zones.state(&w.name, Path::new(STATUS)).unwrap();
    assert_eq!((s.status, s.zone.id), (OciStatus::Running, Some(7)));

    let w = world();
    w.with_state("configured");
    assert_eq!(
        w.zones.state(&w.name, Path::new(STATUS)).unwrap().status,
        OciStatus::Creating
    );
    assert_eq!(w.calls(), [LIST]);
}

#[test]
fn state_errors() {
    let w = world();
    w.with_state("installed");
    fs::write(w.status_file(), "{}").unwrap();
    let err = w.zones.state(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(
        err.to_string().contains("neither exitCode nor signal"),
        "{err}"
    );
    fs::write(w.status_file(), "garbage").unwrap();
    let err = w.zones.state(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(err.to_string().contains("not a JSON exit record"), "{err}");

    // A final symbolic link is refused, not followed.
    fs::remove_file(w.status_file()).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", w.status_file()).unwrap();
    let err = w.zones.state(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");

    let w = world();
    w.without_ctr1();
    let err = w.zones.state(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(
        matches!(err, ZoneError::NotFound { op: Op::State, .. }),
        "{err}"
    );

    let w = world();
    w.zones.runner().fail(LIST, 1, "zoneadm: permission denied");
    let err = w.zones.state(&w.name, Path::new(STATUS)).unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(err.to_string().contains("state zone ctr1"), "{err}");
}

#[test]
fn the_fake_replays_in_turn_then_repeats() {
    let f = FakeRunner::new();
    f.reply("a b", "one").reply("a b", "two");
    f.fail("c", 2, "nope");
    let run =
        |p: &str, args: &[&str]| f.run(p, &args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(run("a", &["b"]).unwrap(), "one");
    assert_eq!(run("a", &["b"]).unwrap(), "two");
    assert_eq!(run("a", &["b"]).unwrap(), "two");
    assert_eq!(run("c", &[]).unwrap_err().status, Some(2));
    assert_eq!(run("unknown", &["x"]).unwrap(), "");
    assert_eq!(f.calls(), ["a b", "a b", "a b", "c", "unknown x"]);
}
