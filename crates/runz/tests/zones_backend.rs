//! runz's zone backend end to end, on Linux: `runz --backend zones --zone-tools DIR` against
//! the stateful fakes of zonecfg, zoneadm, zlogin and pkill (crates/zones-fake). The fakes
//! keep each zone's state and refuse what the real tools refuse; a booted zone's init is the
//! real static podinit, chrooted into the zone's root, so the container's process really runs,
//! exec really prints, and exit statuses are real. The tests check outcomes (runc's state
//! JSON, exit statuses, which zones exist), never command lines. Needs root (chroot).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{expect_exit, expect_success, runz_command, static_podinit, unique_id, Runz};
use serde_json::{json, Value};

/// One container's world: a zonepath whose `root/` is a busybox tree, a bundle naming it,
/// runz's state directory, and a directory of fake zone tools with their own state.
struct Zoned {
    dir: tempfile::TempDir,
    id: String,
}

impl Zoned {
    /// A container running `args`; None (the test skipped) unless running as root.
    fn new(test: &str, args: &[&str]) -> Option<Zoned> {
        if !aurora_testkit::skip::root_or_skip(test)
            || !aurora_testkit::skip::tools_or_skip(test, &["busybox"])
        {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("runz-zones-")
            .tempdir()
            .expect("temporary directory");
        let zoned = Zoned {
            dir,
            id: unique_id(),
        };
        aurora_testkit::write_busybox_rootfs(&zoned.zonepath().join("root"));
        fs::set_permissions(zoned.zonepath(), fs::Permissions::from_mode(0o755))
            .expect("zonepath mode");
        fs::create_dir_all(zoned.bundle()).expect("bundle directory");
        let config = json!({
            "ociVersion": "1.0.2",
            "root": {"path": zoned.zonepath().join("root")},
            "process": {
                "args": args, "cwd": "/", "env": ["PATH=/bin"],
                "user": {"uid": 0, "gid": 0}
            }
        });
        fs::write(
            zoned.bundle().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("config.json"),
        )
        .expect("write config.json");
        let tools = zoned.tools();
        fs::create_dir_all(&tools).expect("tools directory");
        for tool in ["zonecfg", "zoneadm", "zlogin", "pkill"] {
            std::os::unix::fs::symlink(fake_binary(), tools.join(tool)).expect("tool link");
        }
        Some(zoned)
    }

    fn zonepath(&self) -> PathBuf {
        self.dir.path().join("zones/ctr")
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn tools(&self) -> PathBuf {
        self.dir.path().join("tools")
    }

    /// The fakes' state: `state/` beside their links.
    fn fakes(&self) -> PathBuf {
        self.tools().join("state")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("runz")
    }

    /// `runz --root ROOT --backend zones --zone-tools TOOLS ARGS…` under a 60 s timeout.
    fn command(&self, args: &[&str]) -> Command {
        let tools = self.tools();
        let tools = tools.to_string_lossy();
        let mut all = vec!["--backend", "zones", "--zone-tools", &tools];
        all.extend_from_slice(args);
        runz_command(&self.root(), &all)
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run runz")
    }

    fn ok(&self, args: &[&str]) -> String {
        expect_success(args, &self.output(args))
    }

    /// Fails with exit status 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        expect_exit(args, &self.output(args), 1)
    }

    /// `VERB --init --init-path PODINIT --bundle BUNDLE ID` (create or run): the static
    /// podinit becomes the zone's init.
    fn output_of_new(&self, verb: &str) -> Output {
        let podinit = static_podinit();
        let bundle = self.bundle();
        self.output(&[
            verb,
            "--init",
            "--init-path",
            &podinit.to_string_lossy(),
            "--bundle",
            &bundle.to_string_lossy(),
            &self.id,
        ])
    }

    fn create(&self) {
        let out = self.output_of_new("create");
        expect_success(&["create"], &out);
    }

    fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state", &self.id])).expect("state prints JSON")
    }

    /// Waits for the container to reach `status` (the zone halts when its init exits);
    /// the deadline only guards against a hang.
    fn wait_for(&self, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.state();
            if state["status"] == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container never became {status}: {state}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The zones the fake system has (name and state), the global zone left out.
    fn zones(&self) -> Vec<(String, String)> {
        let out = Command::new(self.tools().join("zoneadm"))
            .args(["list", "-cp"])
            .output()
            .expect("fake zoneadm");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
            .filter(|f| f.len() > 2 && f[1] != "global")
            .map(|f| (f[1].clone(), f[2].clone()))
            .collect()
    }

    fn zone_name(&self) -> String {
        format!("runz-{}", self.id)
    }

    /// Makes the fake `tool verb` fail until [`Zoned::heal`].
    fn break_step(&self, step: &str) {
        fs::create_dir_all(self.fakes()).expect("fake state");
        fs::write(self.fakes().join("fail"), format!("{step}\n")).expect("fail file");
    }

    fn heal(&self) {
        let _ = fs::remove_file(self.fakes().join("fail"));
    }

    /// What the zone's init and its process wrote (the zone's console).
    fn console(&self) -> String {
        fs::read_to_string(self.fakes().join(format!("{}.console", self.zone_name())))
            .unwrap_or_default()
    }
}

impl Drop for Zoned {
    fn drop(&mut self) {
        let _ = self
            .command(&["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

/// The fakes' binary: built beside runz by `cargo test --workspace`; built here otherwise.
fn fake_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let beside = Runz::binary().with_file_name("zones-fake");
            if !beside.exists() {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let status = Command::new(cargo)
                    .args(["build", "-p", "aurora-zones-fake", "--bin", "zones-fake"])
                    .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
                    .status()
                    .expect("cargo build the zone tool fakes");
                assert!(status.success(), "building zones-fake failed");
            }
            assert!(beside.exists(), "no {}", beside.display());
            beside
        })
        .clone()
}

/// How many live processes have the zone's root as theirs (the fakes enter a zone by chroot).
fn processes_in(root: &Path) -> usize {
    let root = fs::canonicalize(root).expect("zone root");
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            fs::read_link(e.path().join("root")).is_ok_and(|r| r == root)
                && fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
                    !s.rsplit_once(')')
                        .is_some_and(|(_, t)| t.trim_start().starts_with('Z'))
                })
        })
        .count()
}

#[test]
fn create_start_exec_kill_delete_go_through_the_zone_states() {
    let Some(z) = Zoned::new(
        "create_start_exec_kill_delete_go_through_the_zone_states",
        &["sleep", "1000"],
    ) else {
        return;
    };
    z.create();
    let state = z.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], z.id.as_str());
    assert_eq!(state["pid"], 0);
    assert_eq!(
        state["rootfs"],
        z.zonepath().join("root").to_string_lossy().as_ref()
    );
    assert_eq!(state["annotations"]["org.aurora.zone.name"], z.zone_name());
    assert_eq!(z.zones(), [(z.zone_name(), "ready".to_string())]);
    assert_eq!(z.ok(&["list", "-q"]).trim(), z.id);

    // exec needs a running zone, as zlogin does.
    let err = z.fails(&["exec", &z.id, "true"]);
    assert!(err.contains("zlogin needs a running zone"), "{err}");

    z.ok(&["start", &z.id]);
    assert_eq!(z.state()["status"], "running");
    assert_eq!(z.zones(), [(z.zone_name(), "running".to_string())]);
    let err = z.fails(&["start", &z.id]);
    assert!(err.contains("the zone is running"), "{err}");

    // exec: real output and the command's own exit status, through zlogin.
    let out = z.output(&[
        "exec",
        "--env",
        "GREETING=hello zone",
        "--cwd",
        "/etc",
        &z.id,
        "sh",
        "-c",
        "echo \"$GREETING from $PWD\"; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello zone from /etc\n"
    );

    let err = z.fails(&["delete", &z.id]);
    assert!(err.contains("is running: cannot delete it"), "{err}");
    assert_eq!(z.zones(), [(z.zone_name(), "running".to_string())]);

    // kill signals the zone's init (podinit), which passes it on; the zone then halts.
    z.ok(&["kill", &z.id, "TERM"]);
    z.wait_for("stopped");
    assert_eq!(z.zones(), [(z.zone_name(), "installed".to_string())]);
    let err = z.fails(&["kill", &z.id, "KILL"]);
    assert!(err.contains("only a running zone has an init"), "{err}");

    z.ok(&["delete", &z.id]);
    assert!(z.zones().is_empty(), "{:?}", z.zones());
    assert_eq!(z.ok(&["list", "-q"]), "");
    assert!(!z.root().join(&z.id).exists());
    // The bundle's rootfs is the caller's: delete leaves it.
    assert!(z.zonepath().join("root/bin/busybox").exists());
    let err = z.fails(&["state", &z.id]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn run_returns_the_process_s_exit_status_and_leaves_no_zone() {
    let Some(z) = Zoned::new(
        "run_returns_the_process_s_exit_status_and_leaves_no_zone",
        &["sh", "-c", "echo out from the zone; exit 5"],
    ) else {
        return;
    };
    let out = z.output_of_new("run");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(z.console().contains("out from the zone"), "{}", z.console());
    assert!(z.zones().is_empty(), "{:?}", z.zones());
    assert_eq!(z.ok(&["list", "-q"]), "");
}

#[test]
fn a_create_that_fails_half_way_leaves_no_zone_behind() {
    let Some(z) = Zoned::new(
        "a_create_that_fails_half_way_leaves_no_zone_behind",
        &["sleep", "1000"],
    ) else {
        return;
    };
    for step in ["zoneadm attach", "zoneadm ready", "zonecfg commit"] {
        z.break_step(step);
        let out = z.output_of_new("create");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{step}: {stderr}");
        assert!(stderr.contains("(injected)"), "{step}: {stderr}");
        assert!(z.zones().is_empty(), "{step}: {:?}", z.zones());
        assert_eq!(z.ok(&["list", "-q"]), "", "{step}");
        assert!(!z.root().join(&z.id).exists(), "{step}");
    }
    // Nothing left in the way: the same ID is created once the tools work.
    z.heal();
    z.create();
    assert_eq!(z.state()["status"], "created");
}

#[test]
fn delete_force_halts_and_removes_a_running_zone() {
    let Some(z) = Zoned::new(
        "delete_force_halts_and_removes_a_running_zone",
        &["sleep", "1000"],
    ) else {
        return;
    };
    z.create();
    z.ok(&["start", &z.id]);
    z.ok(&["delete", "--force", &z.id]);
    assert!(z.zones().is_empty(), "{:?}", z.zones());
    assert_eq!(z.ok(&["list", "-q"]), "");
    // runc: deleting what is not there succeeds with --force only.
    z.ok(&["delete", "--force", &z.id]);
    let err = z.fails(&["delete", &z.id]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn kill_all_signals_every_process_in_the_zone() {
    let Some(z) = Zoned::new(
        "kill_all_signals_every_process_in_the_zone",
        &["sleep", "1000"],
    ) else {
        return;
    };
    z.create();
    z.ok(&["start", &z.id]);
    // TERM, not KILL: podinit must live to record the exit, or the halted zone looks created
    // again (a zone's state alone cannot tell the two apart).
    z.ok(&["kill", "--all", &z.id, "TERM"]);
    z.wait_for("stopped");
    let processes = processes_in(&z.zonepath().join("root"));
    assert_eq!(processes, 0, "processes left in the halted zone");
    z.ok(&["delete", &z.id]);
    assert!(z.zones().is_empty(), "{:?}", z.zones());
}

#[test]
fn what_a_zone_cannot_do_is_refused_by_name() {
    let Some(z) = Zoned::new(
        "what_a_zone_cannot_do_is_refused_by_name",
        &["sleep", "1000"],
    ) else {
        return;
    };
    z.create();
    z.ok(&["start", &z.id]);
    for (args, words) in [
        (vec!["pause", &z.id], "the zones backend cannot pause"),
        (vec!["ps", &z.id], "the zones backend cannot ps"),
        (
            vec!["exec", "--user", "1000", &z.id, "true"],
            "run as another user",
        ),
        (
            vec!["update", "--memory", "1000000", &z.id],
            "the zones backend cannot update",
        ),
    ] {
        let err = z.fails(&args);
        assert!(err.contains(words), "{args:?}: {err}");
    }
    // Nothing refused changed the zone.
    assert_eq!(z.state()["status"], "running");
}
