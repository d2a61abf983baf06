//! The zone backend against the recording fake runner: the commands each verb runs, podinit
//! and its config in the zone, hooks in the global zone.

use super::*;
use aurora_podinit::config::{InitConfig, Rlimit};
use aurora_zones::FakeRunner;
use serde_json::json;

struct Setup {
    _dir: tempfile::TempDir,
    state: PathBuf,
    bundle: PathBuf,
    zonepath: PathBuf,
    podinit: PathBuf,
}

/// A bundle laid out as imageadm unpack makes it on zfs: zonepath/root is the rootfs.
fn setup(hooks_log: Option<&Path>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let zonepath = dir.path().join("containers/c1");
    fs::create_dir_all(zonepath.join("root/bin")).unwrap();
    let bundle = dir.path().join("bundle");
    fs::create_dir_all(&bundle).unwrap();
    let mut config = json!({
        "ociVersion": "1.0.2",
        "root": {"path": zonepath.join("root")},
        "hostname": "box",
        "process": {
            "args": ["/bin/app", "--serve"], "cwd": "/srv", "env": ["PATH=/bin", "A=1"],
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [2000]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}],
            "noNewPrivileges": true
        },
        "linux": {"resources": {"memory": {"limit": 268435456}}}
    });
    if let Some(log) = hooks_log {
        let hook = |name: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]}]);
        config["hooks"] = json!({
            "createRuntime": hook("createRuntime"), "poststart": hook("poststart"), "poststop": hook("poststop")
        });
    }
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let podinit = dir.path().join("podinit-binary");
    fs::write(&podinit, b"\x7fELF podinit").unwrap();
    Setup {
        state: dir.path().join("state"),
        bundle,
        zonepath,
        podinit,
        _dir: dir,
    }
}

fn listing(zonepath: &Path, state: &str) -> String {
    format!("-:runz-c1:{state}:{}:uuid-1:lx:excl\n", zonepath.display())
}

#[test]
fn create_puts_podinit_and_its_config_in_the_zone_and_configures_attaches_readies() {
    let s = setup(None);
    let runner = FakeRunner::new();
    runner.reply("zoneadm list -cp", "");
    let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
    create(&runtime, "c1", &s.bundle).unwrap();
    let calls = runtime.zones().runner().calls();
    let file = s.state.join("runz-c1.zonecfg");
    assert_eq!(
        calls,
        [
            "zoneadm list -cp".to_string(),
            format!("zonecfg -z runz-c1 -f {}", file.display()),
            "zoneadm -z runz-c1 attach -F".to_string(),
            "zoneadm -z runz-c1 ready".to_string(),
        ]
    );
    let zonecfg = fs::read_to_string(&file).unwrap();
    assert!(zonecfg.contains("set brand=lx"), "{zonecfg}");
    assert!(
        zonecfg.contains(&format!("set zonepath={}", s.zonepath.display())),
        "{zonecfg}"
    );
    assert!(
        zonecfg.contains("set physical=268435456") || zonecfg.contains("physical=268435456"),
        "{zonecfg}"
    );
    assert_eq!(
        fs::read(s.zonepath.join("root/.aurora/podinit")).unwrap(),
        b"\x7fELF podinit"
    );
    let config: InitConfig =
        serde_json::from_slice(&fs::read(s.zonepath.join("root/.aurora/podinit.json")).unwrap())
            .unwrap();
    assert_eq!(config.process.args, ["/bin/app", "--serve"]);
    assert_eq!(config.process.cwd.as_deref(), Some("/srv"));
    assert_eq!(config.process.env, ["PATH=/bin", "A=1"]);
    assert_eq!(
        config
            .process
            .user
            .as_ref()
            .map(|u| (u.uid, u.gid, u.additional_gids.clone())),
        Some((1000, 1000, vec![2000]))
    );
    assert_eq!(
        config.process.rlimits,
        [Rlimit {
            kind: "RLIMIT_NOFILE".into(),
            hard: 1024,
            soft: 512
        }]
    );
    assert!(config.process.no_new_privileges);
    assert_eq!(config.hostname.as_deref(), Some("box"));
    assert_eq!(
        config.status_file.as_deref(),
        Some(Path::new("/.aurora/status.json"))
    );
    // podinit reads its own config format back.
    InitConfig::from_slice(
        &fs::read(s.zonepath.join("root/.aurora/podinit.json")).unwrap(),
        Path::new("podinit.json"),
    )
    .unwrap();
}

#[test]
fn the_lifecycle_maps_zone_states_and_runs_hooks_in_the_global_zone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let s = setup(Some(&log));
    let runner = FakeRunner::new();
    runner
        .reply("zoneadm list -cp", "")
        .reply("zoneadm list -cp", &listing(&s.zonepath, "ready"))
        .reply("zoneadm list -cp", &listing(&s.zonepath, "ready"))
        .reply("zoneadm list -cp", &listing(&s.zonepath, "running"))
        .reply("zoneadm list -cp", &listing(&s.zonepath, "running"))
        .reply("zoneadm list -cp", &listing(&s.zonepath, "installed"));
    let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
    create(&runtime, "c1", &s.bundle).unwrap();
    assert_eq!(fs::read_to_string(&log).unwrap(), "createRuntime\n");
    assert_eq!(runtime.state("c1").unwrap().status, Status::Created);
    runtime.start("c1").unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "createRuntime\npoststart\n"
    );
    assert_eq!(runtime.state("c1").unwrap().status, Status::Running);
    runtime.kill("c1", 15, false).unwrap();
    // podinit wrote the exit status and the zone halted.
    fs::write(
        s.zonepath.join("root/.aurora/status.json"),
        br#"{"exitCode":0}"#,
    )
    .unwrap();
    let stopped = runtime.state("c1").unwrap();
    assert_eq!(stopped.status, Status::Stopped);
    assert_eq!(stopped.rootfs, s.zonepath.join("root"));
    assert_eq!(stopped.annotations["org.aurora.zone.name"], "runz-c1");
    runtime.delete("c1", false).unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "createRuntime\npoststart\npoststop\n"
    );
    let calls = runtime.zones().runner().calls();
    assert!(
        calls.contains(&"zoneadm -z runz-c1 boot".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"pkill -15 -z runz-c1 -o -x podinit".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.ends_with(&[
            "zoneadm -z runz-c1 detach".to_string(),
            "zonecfg -z runz-c1 delete -F".to_string()
        ]),
        "{calls:?}"
    );
    assert!(!s.state.join("c1").exists());
    assert!(matches!(runtime.state("c1"), Err(Error::NotFound(_))));
}

#[test]
fn a_failing_poststart_or_poststop_hook_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let s = setup(Some(&log));
    let path = s.bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for stage in ["poststart", "poststop"] {
        let list = config["hooks"][stage].as_array_mut().unwrap();
        list.insert(0, serde_json::json!({"path": "/bin/false"}));
    }
    fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let runner = FakeRunner::new();
    runner
        .reply("zoneadm list -cp", "")
        .reply("zoneadm list -cp", &listing(&s.zonepath, "installed"));
    let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
    create(&runtime, "c1", &s.bundle).unwrap();
    runtime.start("c1").unwrap();
    runtime.delete("c1", false).unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "createRuntime\npoststart\npoststop\n"
    );
    assert!(!s.state.join("c1").exists());
}

#[test]
fn bad_bundles_and_ids_are_refused_before_any_zone_command() {
    let s = setup(None);
    let runtime = ZoneRuntime::new(&s.state, FakeRunner::new(), &s.podinit).unwrap();
    let err = create(&runtime, "../x", &s.bundle).unwrap_err();
    assert!(matches!(err, Error::InvalidId { .. }), "{err}");
    let flat = tempfile::tempdir().unwrap();
    fs::create_dir_all(flat.path().join("rootfs")).unwrap();
    fs::write(flat.path().join("config.json"), br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}}"#).unwrap();
    let err = create(&runtime, "c2", flat.path()).unwrap_err().to_string();
    assert!(err.contains("must be a directory named `root`"), "{err}");
    assert!(runtime.zones().runner().calls().is_empty());
    let err = create(&runtime, "c3", Path::new("/nonexistent"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent"), "{err}");
}

#[test]
fn delete_refuses_a_running_zone_without_force() {
    let s = setup(None);
    let runner = FakeRunner::new();
    runner
        .reply("zoneadm list -cp", "")
        .reply("zoneadm list -cp", &listing(&s.zonepath, "running"));
    let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
    create(&runtime, "c1", &s.bundle).unwrap();
    let err = runtime.delete("c1", false).unwrap_err().to_string();
    assert!(err.contains("is running: cannot delete it"), "{err}");
    runtime.delete("c1", true).unwrap();
    assert!(runtime
        .zones()
        .runner()
        .calls()
        .contains(&"zoneadm -z runz-c1 halt".to_string()));
}

/// `create` as runz calls it: the bundle loaded first, no options.
fn create(runtime: &ZoneRuntime<FakeRunner>, id: &str, bundle: &Path) -> Result<()> {
    runtime.create(id, Bundle::load(bundle)?, &CreateOptions::default())
}
