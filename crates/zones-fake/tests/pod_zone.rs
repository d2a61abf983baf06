//! A pod as one zone, end to end on Linux: aurora-zones' `PodZones` drives the stateful fakes
//! of zonecfg, zoneadm, zlogin and pkill. The zone's init is the real static podinit in
//! services mode, chrooted into the zone's root; each container's root is lofs-mounted (a bind
//! mount in the fake) under `/containers` when the zone is readied, and its process runs
//! chrooted there. The test checks outcomes: processes, files they wrote, zone states, the
//! order in which the containers stopped. The zone's root holds a busybox userland of its own
//! (zlogin's shell), as a real zone's root holds its brand's. Needs root (chroot, mounts, a UTS namespace).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aurora_zones::exec::ZoneError;
use aurora_zones::pod::exec::PodZones;
use aurora_zones::pod::{
    plan_pod, ContainerRoot, PodContainer, PodDescription, PodPlan, Process, RestartPolicy, User,
};
use aurora_zones::{Distribution, Programs, Runner, SystemRunner, ZoneName, ZoneState};

/// A fake system with one pod of two containers, web depending on db.
struct PodWorld {
    dir: tempfile::TempDir,
    pods: PodZones<SystemRunner>,
    plan: PodPlan,
}

const HOSTNAME: &str = "pod-one";

/// Each container: records its host name, says it is up, and on TERM appends its name to
/// `/log` (one file hard-linked into both roots, so the order of the lines is the order in
/// which the containers stopped).
fn script(name: &str) -> String {
    format!(
        "trap 'echo stop {name} >> /log; exit 0' TERM; hostname > /out/hostname; echo up > /out/up; while :; do sleep 0.05; done"
    )
}

impl PodWorld {
    fn new(test: &str) -> Option<PodWorld> {
        if !aurora_testkit::skip::root_or_skip(test)
            || !aurora_testkit::skip::tools_or_skip(test, &["busybox"])
        {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("pod-zone-")
            .tempdir()
            .expect("temporary directory");
        let tools = dir.path().join("tools");
        fs::create_dir_all(&tools).expect("tools");
        for tool in ["zonecfg", "zoneadm", "zlogin", "pkill"] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_zones-fake"), tools.join(tool))
                .expect("tool link");
        }
        let log = dir.path().join("log");
        fs::write(&log, "").expect("log");
        let mut containers = Vec::new();
        for (name, deps) in [("web", vec!["db".to_string()]), ("db", Vec::new())] {
            let rootfs = dir.path().join("containers").join(name);
            aurora_testkit::write_busybox_rootfs(&rootfs);
            fs::create_dir_all(rootfs.join("out")).expect("out");
            fs::hard_link(&log, rootfs.join("log")).expect("shared log");
            containers.push(PodContainer {
                name: name.into(),
                root: ContainerRoot::Path(rootfs),
                process: Process {
                    terminal: false,
                    user: Some(User {
                        uid: 0,
                        gid: 0,
                        umask: None,
                        additional_gids: Vec::new(),
                    }),
                    args: vec!["sh".into(), "-c".into(), script(name)],
                    env: vec!["PATH=/bin".into()],
                    cwd: Some("/".into()),
                    rlimits: Vec::new(),
                    no_new_privileges: false,
                },
                restart: RestartPolicy::Always,
                depends_on: deps,
            });
        }
        let zonepath = dir.path().join("zones/pod1");
        // The zone's own userland (a real zone's root has the brand's): zlogin's shell.
        aurora_testkit::write_busybox_rootfs(&zonepath.join("root"));
        let plan = plan_pod(&PodDescription {
            name: ZoneName::new("pod1").expect("zone name"),
            zonepath,
            hostname: Some(HOSTNAME.into()),
            brand: Some("lx".into()),
            distribution: Distribution::OmniOs,
            network: None,
            cpus: Some(1.0),
            memory: None,
            containers,
        })
        .expect("pod plan");
        let runner = SystemRunner::new(Programs::in_dir(&tools));
        let work = dir.path().join("work");
        fs::create_dir_all(&work).expect("work dir");
        Some(PodWorld {
            pods: PodZones::new(runner, work),
            plan,
            dir,
        })
    }

    fn zone(&self) -> &ZoneName {
        &self.plan.zone.name
    }

    fn root(&self) -> PathBuf {
        self.plan.zone.zonepath.join("root")
    }

    fn container(&self, name: &str) -> PathBuf {
        self.dir.path().join("containers").join(name)
    }

    fn zone_state(&self) -> ZoneState {
        self.pods
            .state(self.zone(), &self.plan)
            .expect("pod state")
            .zone
            .state
    }

    /// The containers' recorded statuses as (name, state, pid).
    fn statuses(&self) -> Vec<(String, String, Option<i64>)> {
        let state = self.pods.state(self.zone(), &self.plan).expect("pod state");
        state
            .containers
            .into_iter()
            .map(|(name, s)| {
                let s = serde_json::to_value(s).expect("status JSON");
                (
                    name,
                    s["state"].as_str().unwrap_or("none").to_string(),
                    s["pid"].as_i64(),
                )
            })
            .collect()
    }

    /// A command through the fake tools: (exit status, stdout, stderr).
    fn tool(&self, program: &str, args: &[&str]) -> (Option<i32>, String, String) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match self.pods.zones().runner().run(program, &args) {
            Ok(out) => (Some(0), out, String::new()),
            Err(f) => (f.status, f.stdout, f.stderr),
        }
    }
}

impl Drop for PodWorld {
    fn drop(&mut self) {
        let _ = self.pods.remove(&self.plan.zone.name, &self.plan);
    }
}

/// The podinit binary the zone boots.
fn static_podinit() -> PathBuf {
    aurora_testkit::static_podinit()
}

/// Waits until `done` holds; the deadline only guards against a hang.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, t)| t.trim_start().starts_with('Z'))
    })
}

fn mounted_under(path: &Path) -> bool {
    let path = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&path)))
}

fn host_name() -> String {
    let out = Command::new("hostname").output().expect("hostname");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_pod_is_one_zone_whose_init_runs_each_container_as_a_service() {
    let Some(w) = PodWorld::new("a_pod_is_one_zone_whose_init_runs_each_container_as_a_service")
    else {
        return;
    };
    let host = host_name();
    w.pods
        .create(&w.plan, &static_podinit())
        .expect("pod create");
    assert_eq!(w.zone_state(), ZoneState::Ready);
    assert!(w.root().join(".aurora/podinit").is_file());
    assert!(w.root().join(".aurora/services.json").is_file());
    // Readied: each container's root is mounted under /containers.
    assert!(w.root().join("containers/web/bin/busybox").is_file());
    assert!(w.root().join("containers/db/bin/busybox").is_file());
    let err = w.pods.create(&w.plan, &static_podinit()).unwrap_err();
    assert!(matches!(err, ZoneError::Exists { .. }), "{err}");

    w.pods.start(w.zone()).expect("pod start");
    assert_eq!(w.zone_state(), ZoneState::Running);
    until("both containers up", || {
        w.container("web").join("out/up").exists() && w.container("db").join("out/up").exists()
    });
    until("both statuses running", || {
        w.statuses().iter().all(|(_, state, _)| state == "running")
    });
    for (name, _, pid) in w.statuses() {
        let pid = pid.expect("a running service has a pid");
        assert!(alive(pid), "{name}'s process {pid} runs");
        let root = fs::read_link(format!("/proc/{pid}/root")).expect("process root");
        assert_eq!(
            root,
            w.root().join("containers").join(&name),
            "{name} runs in its root"
        );
    }
    // One host name for the whole pod, the zone's own: the host's is untouched.
    for name in ["web", "db"] {
        let seen = fs::read_to_string(w.container(name).join("out/hostname")).expect("hostname");
        assert_eq!(seen.trim(), HOSTNAME, "{name}");
    }
    let (code, out, err) = w.tool("zlogin", &[w.zone().as_str(), "hostname"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), HOSTNAME);
    assert_eq!(host_name(), host);

    // What the real tools refuse in a running zone, the fakes refuse too.
    let (code, _, err) = w.tool("zoneadm", &["-z", w.zone().as_str(), "boot"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("boot operation is invalid for running zones"),
        "{err}"
    );
    let (code, _, err) = w.tool("zonecfg", &["-z", w.zone().as_str(), "delete", "-F"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("delete not allowed"), "{err}");
    let err = w.pods.start(w.zone()).unwrap_err();
    assert!(matches!(err, ZoneError::WrongState { .. }), "{err}");

    let pids: Vec<i64> = w.statuses().iter().filter_map(|(_, _, p)| *p).collect();
    w.pods
        .stop(w.zone(), Duration::from_secs(60))
        .expect("pod stop");
    // podinit stopped web (which depends on db) first, then db, and exited: the zone halted.
    assert_eq!(
        fs::read_to_string(w.dir.path().join("log")).expect("log"),
        "stop web\nstop db\n"
    );
    assert_eq!(w.zone_state(), ZoneState::Installed);
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the pod");
    }
    for (name, state, _) in w.statuses() {
        assert_eq!(state, "exited", "{name}");
    }
    assert!(
        !mounted_under(&w.root()),
        "a halted zone has nothing mounted"
    );
    w.pods
        .stop(w.zone(), Duration::from_secs(60))
        .expect("stopping a stopped pod changes nothing");
    assert_eq!(w.zone_state(), ZoneState::Installed);

    // Started again, then removed while running: nothing is left but the containers' roots.
    w.pods.start(w.zone()).expect("pod start again");
    until("both statuses running again", || {
        w.statuses().iter().all(|(_, state, _)| state == "running")
    });
    w.pods.remove(w.zone(), &w.plan).expect("pod rm");
    let (_, list, _) = w.tool("zoneadm", &["list", "-cp"]);
    assert!(!list.contains("pod1"), "{list}");
    assert!(!mounted_under(&w.root()));
    for gone in [".aurora", "containers"] {
        assert!(
            !w.root().join(gone).exists(),
            "{gone} left in the zone root"
        );
    }
    assert!(
        w.container("web").join("bin/busybox").is_file(),
        "a container's root is kept"
    );
}
