//! Hooks and the end of a container's life, as the runtime spec defines them: the state each
//! hook kind receives (checked against what runc and crun give, recorded in the comments),
//! poststart and poststop failures that warn and carry on, `delete --force` that removes a
//! container whatever is left of it, the CVE-2019-5736 protection decided from the parsed
//! config, and SELinux labels on a host without SELinux. Needs root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// A hook that writes the state it receives on stdin to `file` (a path where it runs).
fn dump_hook(file: &Path) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", file.display())]})
}

fn read_state(file: &Path) -> Value {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// What each hook kind gets, by the runtime spec (runtime.md "State" and "Lifecycle"):
/// prestart, createRuntime and createContainer run while the container is `creating`,
/// startContainer once it is `created` (start was called, the program not yet executed),
/// poststart when it is `running`, poststop when it is `stopped`; `pid` is the container
/// process as the host sees it (required while created or running, absent once stopped);
/// `bundle` is the bundle the caller gave, even when runz adapts the configuration (here it
/// adds a cgroupsPath, which runz used to do in a staged copy of config.json).
///
/// runc 1.1.5 on this host gives creating/creating/creating(pid 1)/created(pid 1)/created/
/// stopped (no pid); crun 1.8.1 gives created/created/created(pid 0)/"starting"(pid 0,
/// bundle "/")/running/stopped(pid 0).
#[test]
fn every_hook_gets_the_state_the_spec_defines_for_it() {
    let Some(runz) = runz_or_skip("every_hook_gets_the_state_the_spec_defines_for_it") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let log = |name: &str| logs.path().join(format!("{name}.json"));
    let bundle = BusyboxBundle::new(&["true"]);
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["annotations"] = json!({"org.example.key": "value"});
        assert!(
            c["linux"].get("cgroupsPath").is_none(),
            "runz adapts this bundle"
        );
        c["hooks"] = json!({
            "prestart": [dump_hook(&log("prestart"))],
            "createRuntime": [dump_hook(&log("createRuntime"))],
            // In the container's mount namespace before pivot_root: the host's paths.
            "createContainer": [dump_hook(&log("createContainer"))],
            // After pivot_root: the container's /tmp.
            "startContainer": [dump_hook(Path::new("/tmp/startContainer.json"))],
            "poststart": [dump_hook(&log("poststart"))],
            "poststop": [dump_hook(&log("poststop"))],
        });
    });
    let id = unique_id();
    let given = bundle.path().to_string_lossy().to_string();
    runz.ok(&["create", "--bundle", &given, &id]);
    let pid = runz.state(&id)["pid"].as_i64().unwrap();
    runz.ok(&["start", &id]);
    assert!(eventually(|| runz.state(&id)["status"] == "stopped"));
    runz.ok(&["delete", &id]);

    let started = bundle.rootfs().join("tmp/startContainer.json");
    for (hook, file, status) in [
        ("prestart", log("prestart"), "creating"),
        ("createRuntime", log("createRuntime"), "creating"),
        ("createContainer", log("createContainer"), "creating"),
        ("startContainer", started, "created"),
        ("poststart", log("poststart"), "running"),
        ("poststop", log("poststop"), "stopped"),
    ] {
        let state = read_state(&file);
        assert_eq!(state["id"], id.as_str(), "{hook}: {state}");
        assert_eq!(state["status"], status, "{hook}: {state}");
        assert_eq!(state["bundle"], given.as_str(), "{hook}: {state}");
        assert_eq!(
            state["annotations"],
            json!({"org.example.key": "value"}),
            "{hook}: {state}"
        );
        assert!(state["ociVersion"].is_string(), "{hook}: {state}");
        if hook == "poststop" {
            assert!(state.get("pid").is_none(), "{hook}: {state}");
        } else {
            assert_eq!(state["pid"], pid, "{hook}: {state}");
        }
    }
}

/// CVE-2019-5736: a startContainer hook runs from runz's fork inside the container, so runz
/// must then run from a sealed copy of itself, whatever the spelling of the key in
/// config.json: a JSON escape (`"start\u0043ontainer"`) is the same key to the parser.
#[test]
fn a_start_container_hook_however_spelled_runs_under_a_sealed_runz() {
    let Some(runz) =
        runz_or_skip("a_start_container_hook_however_spelled_runs_under_a_sealed_runz")
    else {
        return;
    };
    for spelling in ["startContainer", "start\\u0043ontainer"] {
        let bundle = BusyboxBundle::new(&["true"]);
        bundle.edit(|c| {
            c["root"]["readonly"] = json!(false);
            // Reading the exe link of a non-dumpable process needs CAP_SYS_PTRACE.
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_SYS_PTRACE"));
            }
            // The hook's parent is the container's init: a fork of runz.
            c["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": [
                "sh", "-c", "readlink /proc/$PPID/exe > /tmp/exe 2>&1"
            ]}]});
        });
        let config = bundle.path().join("config.json");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("\"startContainer\"", &format!("\"{spelling}\"")),
        )
        .unwrap();
        let (code, _, stderr) = runz.run(&bundle);
        assert_eq!(code, 0, "{spelling}: {stderr}");
        let exe = std::fs::read_to_string(bundle.rootfs().join("tmp/exe")).unwrap();
        let host_binary = std::fs::canonicalize(Runz::binary()).unwrap();
        assert!(
            !exe.contains(&*host_binary.to_string_lossy()),
            "{spelling}: the hook's parent runs the host's runz binary: {exe}"
        );
        assert!(
            exe.starts_with("/memfd:"),
            "{spelling}: not a sealed copy: {exe}"
        );
    }
}

/// The runtime spec: a failing poststart hook is logged as a warning, the remaining hooks
/// run, and the lifecycle continues as if it had succeeded.
#[test]
fn a_failing_poststart_hook_warns_and_the_container_keeps_running() {
    let Some(runz) = runz_or_skip("a_failing_poststart_hook_warns_and_the_container_keeps_running")
    else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let after = logs.path().join("after.json");
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    bundle.edit(|c| {
        c["hooks"] = json!({"poststart": [{"path": "/bin/false"}, dump_hook(&after)]});
    });
    let id = unique_id();
    runz.ok(&["create", "--bundle", &bundle.path().to_string_lossy(), &id]);
    let out = runz.output(&["start", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "start failed: {stderr}");
    assert!(
        stderr.contains("poststart hook /bin/false failed"),
        "no warning: {stderr}"
    );
    assert_eq!(read_state(&after)["status"], "running", "the next hook ran");
    let state = runz.state(&id);
    assert_eq!(state["status"], "running");
    let pid = state["pid"].as_i64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    runz.ok(&["delete", "--force", &id]);
}

/// The same for poststop: `delete` warns, runs the remaining hooks, and removes the
/// container, its state and its cgroup.
#[test]
fn a_failing_poststop_hook_warns_and_delete_removes_everything() {
    let Some(runz) = runz_or_skip("a_failing_poststop_hook_warns_and_delete_removes_everything")
    else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let after = logs.path().join("after.json");
    let bundle = BusyboxBundle::new(&["true"]);
    bundle.edit(|c| {
        c["hooks"] = json!({"poststop": [{"path": "/bin/false"}, dump_hook(&after)]});
    });
    let id = unique_id();
    runz.ok(&["create", "--bundle", &bundle.path().to_string_lossy(), &id]);
    runz.ok(&["start", &id]);
    assert!(eventually(|| runz.state(&id)["status"] == "stopped"));
    let out = runz.output(&["delete", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "delete failed: {stderr}");
    assert!(
        stderr.contains("poststop hook /bin/false failed"),
        "no warning: {stderr}"
    );
    assert_eq!(read_state(&after)["status"], "stopped", "the next hook ran");
    assert_gone(&runz, &id);
}

fn assert_gone(runz: &Runz, id: &str) {
    assert!(runz.ids().is_empty(), "still listed: {:?}", runz.ids());
    assert!(!runz.root().join(id).exists(), "state directory left");
    assert!(
        cgroup_dirs(id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(id)
    );
}

/// A poststop hook that lived in the bundle, and the bundle removed before `delete` (as a
/// careless caller does): the hook cannot run, which is a warning, and the container goes.
#[test]
fn delete_removes_a_container_whose_bundle_is_gone() {
    let Some(runz) = runz_or_skip("delete_removes_a_container_whose_bundle_is_gone") else {
        return;
    };
    for force in [false, true] {
        let bundle = BusyboxBundle::new(&["sleep", "100"]);
        let hook = bundle.path().join("poststop.sh");
        std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        bundle.edit(|c| c["hooks"] = json!({"poststop": [{"path": hook}]}));
        let id = runz.run_detached(&bundle);
        let pid = runz.state(&id)["pid"].as_i64().unwrap();
        if !force {
            runz.ok(&["kill", &id, "KILL"]);
            assert!(eventually(|| runz.state(&id)["status"] == "stopped"));
        }
        std::fs::remove_dir_all(bundle.path()).unwrap();
        let args: &[&str] = if force {
            &["delete", "--force", &id]
        } else {
            &["delete", &id]
        };
        let out = runz.output(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        assert!(stderr.contains("poststop hook"), "no warning: {stderr}");
        assert!(eventually(|| !Path::new(&format!("/proc/{pid}")).exists()));
        assert_gone(&runz, &id);
    }
}

/// A state file, or the configuration libcontainer recorded, cut short (runz killed while
/// writing it, a full disk): `delete --force` still kills the container's processes and
/// removes its cgroup and state.
#[test]
fn delete_force_removes_a_container_whose_state_is_half_written() {
    let Some(runz) = runz_or_skip("delete_force_removes_a_container_whose_state_is_half_written")
    else {
        return;
    };
    for file in ["state.json", "youki_config.json"] {
        let bundle = BusyboxBundle::new(&["sleep", "100"]);
        let id = runz.run_detached(&bundle);
        let pid = runz.state(&id)["pid"].as_i64().unwrap();
        let path = runz.root().join(&id).join(file);
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        if file == "state.json" {
            let err = runz.fails(&["delete", &id], 1);
            assert!(err.contains(&id), "{err}");
        }
        runz.ok(&["delete", "--force", &id]);
        assert!(
            eventually(|| !Path::new(&format!("/proc/{pid}")).exists()),
            "{file}: the container's process survived"
        );
        assert_gone(&runz, &id);
    }
}

/// SELinux is not enabled on this host (no selinuxfs): labels are ignored, as the features
/// document says, and the container runs (with them, the masked directories' tmpfs used to
/// be mounted with a context= option the kernel refuses without SELinux).
#[test]
fn selinux_labels_are_ignored_where_selinux_is_disabled() {
    let Some(runz) = runz_or_skip("selinux_labels_are_ignored_where_selinux_is_disabled") else {
        return;
    };
    assert!(
        !Path::new("/sys/fs/selinux/enforce").exists(),
        "this test expects a host without SELinux"
    );
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    bundle.edit(|c| {
        c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2");
        c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
        assert!(c["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/acpi")));
    });
    let id = runz.run_detached(&bundle);
    let out = runz.ok(&[
        "exec",
        "--process-label",
        "system_u:system_r:container_t:s0:c1,c2",
        &id,
        "sh",
        "-c",
        "ls -A /proc/acpi | wc -l; echo ran",
    ]);
    assert_eq!(out, "0\nran\n", "the masked directory is an empty tmpfs");
    runz.ok(&["delete", "--force", &id]);

    let features: Value = serde_json::from_slice(
        &std::process::Command::new(Runz::binary())
            .arg("features")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(features["linux"]["selinux"]["enabled"], false);
    let note = features["annotations"]["org.aurora.runz.selinux"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.contains("ignored") && note.contains("disabled"),
        "features say nothing of labels: {features}"
    );
}
