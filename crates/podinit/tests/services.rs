//! The real `podinit --services FILE` as an ordinary process on Linux: services started in
//! dependency order, restarted by policy, their status files, the stop in reverse order, and
//! (as root) each service in its own root with its user, env, cwd and the pod's host name.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aurora_testkit::skip::root_or_skip;
use serde_json::{json, Value};

mod common;
use common::*;

/// A service running `script` with `sh`, restart policy `restart`.
fn service(name: &str, script: &str, restart: &str, depends_on: &[&str]) -> Value {
    json!({
        "name": name,
        "process": {"args": ["sh", "-c", script], "env": ["PATH=/usr/bin:/bin"]},
        "restart": restart,
        "dependsOn": depends_on,
    })
}

fn status(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("status of {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Waits until `done` holds; the deadline only guards against a hang.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn services_start_after_their_dependencies_and_stop_in_reverse_order() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log");
    let statuses = t.path().join("status");
    let body = |name: &str| {
        format!(
            "trap 'echo stop {name} >> {log}; exit 0' TERM; echo up {name} >> {log}; while :; do sleep 0.05; done",
            log = log.display()
        )
    };
    // Listed web first: it depends on db, db on cache.
    let file = write_json(
        t.path(),
        "services.json",
        &json!({
            "statusDir": statuses,
            "services": [
                service("web", &body("web"), "always", &["db"]),
                service("db", &body("db"), "always", &["cache"]),
                service("cache", &body("cache"), "no", &[]),
            ]
        }),
    );
    let child = podinit(&["--services", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until("three services up and recorded", || {
        lines(&log).len() == 3
            && ["web", "db", "cache"]
                .iter()
                .all(|n| statuses.join(format!("{n}.json")).exists())
    });
    for name in ["web", "db", "cache"] {
        let s = status(&statuses, name);
        assert_eq!(s["state"], "running", "{name}: {s}");
        assert!(s["pid"].as_i64().is_some_and(|p| p > 0), "{name}: {s}");
        assert_eq!(s["restarts"], 0);
    }
    kill(child.id(), libc::SIGTERM);
    let out = wait(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let started: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("podinit: service "))
        .filter(|l| l.contains(" started "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(started, ["cache", "db", "web"], "{stderr}");
    // Each stop waits for the one before to be reaped, so the log's order is the stop order.
    assert_eq!(lines(&log)[3..], ["stop web", "stop db", "stop cache"]);
    for name in ["web", "db", "cache"] {
        let s = status(&statuses, name);
        assert_eq!(s["state"], "exited", "{name}: {s}");
        assert_eq!(s["exitCode"], 0, "{name}: {s}");
        assert!(
            s.get("willRestart").is_none(),
            "a stop restarts nothing: {s}"
        );
    }
}

#[test]
fn a_failing_service_is_restarted_by_its_policy_and_podinit_ends_with_the_last_service() {
    let t = tempfile::tempdir().unwrap();
    let runs = t.path().join("runs");
    let statuses = t.path().join("status");
    let file = write_json(
        t.path(),
        "services.json",
        &json!({
            "statusDir": statuses,
            "services": [
                service("flaky", &format!("echo run >> {}; exit 3", runs.display()), "on-failure:2", &[]),
                service("once", "exit 0", "on-failure", &[]),
            ]
        }),
    );
    let (code, _, stderr) = run(&mut podinit(&["--services", file.to_str().unwrap()]));
    // Not every service ended with 0.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        lines(&runs),
        ["run", "run", "run"],
        "one run and two restarts"
    );
    let flaky = status(&statuses, "flaky");
    assert_eq!(
        flaky,
        json!({"state": "exited", "exitCode": 3, "restarts": 2}),
        "{stderr}"
    );
    let once = status(&statuses, "once");
    assert_eq!(
        once,
        json!({"state": "exited", "exitCode": 0, "restarts": 0})
    );
}

#[test]
fn a_service_that_cannot_start_is_recorded_and_a_bad_file_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let statuses = t.path().join("status");
    let file = write_json(
        t.path(),
        "services.json",
        &json!({
            "statusDir": statuses,
            "services": [{"name": "ghost", "process": {"args": ["no-such-program"], "env": ["PATH=/nonexistent"]}}]
        }),
    );
    let (code, _, stderr) = run(&mut podinit(&["--services", file.to_str().unwrap()]));
    assert_eq!(code, 1, "{stderr}");
    let ghost = status(&statuses, "ghost");
    assert_eq!(ghost["exitCode"], 127, "{ghost}");
    assert!(
        ghost["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-program")),
        "{ghost}"
    );

    let bad = write_json(
        t.path(),
        "bad.json",
        &json!({"services": [{"name": "a", "process": {"args": ["true"]}, "dependsOn": ["a"]}]}),
    );
    let st = t.path().join("podinit-status.json");
    let (code, _, stderr) = run(&mut podinit(&[
        "--status-file",
        st.to_str().unwrap(),
        "--services",
        bad.to_str().unwrap(),
    ]));
    assert_eq!(code, 125, "{stderr}");
    assert!(
        stderr.contains("services[0].dependsOn[0]: a cannot depend on itself"),
        "{stderr}"
    );
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    assert_eq!(record["exitCode"], 125);
}

#[test]
fn each_service_runs_in_its_root_as_its_user_and_all_see_the_pods_host_name() {
    if !root_or_skip("each_service_runs_in_its_root_as_its_user_and_all_see_the_pods_host_name") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let root = t.path().join(name);
        aurora_testkit::write_busybox_rootfs(&root);
        std::fs::create_dir_all(root.join("work")).unwrap();
        std::fs::create_dir_all(root.join("out")).unwrap();
        std::fs::set_permissions(
            root.join("out"),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        std::fs::write(root.join("which"), format!("root {name}\n")).unwrap();
    }
    let script = "echo \"$(cat /which) $(id -u):$(id -g) $PWD $GREETING $(hostname)\" > /out/seen";
    let process = |uid: u32| {
        json!({"args": ["sh", "-c", script], "env": ["PATH=/bin", "GREETING=hello"],
               "cwd": "/work", "user": {"uid": uid, "gid": uid}})
    };
    let file = write_json(
        t.path(),
        "services.json",
        &json!({
            "hostname": "pod-one",
            "statusDir": t.path().join("status"),
            "services": [
                {"name": "a", "root": t.path().join("a"), "process": process(0)},
                {"name": "b", "root": t.path().join("b"), "process": process(1000)},
            ]
        }),
    );
    let mut cmd = podinit(&["--services", file.to_str().unwrap()]);
    // Its own UTS namespace, as a zone has its own node name: the host's stays untouched.
    // SAFETY: unshare is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUTS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    let seen = |name: &str| std::fs::read_to_string(t.path().join(name).join("out/seen")).unwrap();
    assert_eq!(seen("a"), "root a 0:0 /work hello pod-one\n");
    assert_eq!(seen("b"), "root b 1000:1000 /work hello pod-one\n");
}
