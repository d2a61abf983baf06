//! runz's lifecycle against a busybox bundle: create → start → stopped → delete, what the
//! process sees inside, hooks, exec, pause, update, stdio, and clear errors that leave no
//! state directory, cgroup or mount behind. Needs root (as CI runs); skipped otherwise.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn run_passes_output_and_exit_status_and_leaves_nothing() {
    let Some(runz) = runz_or_skip("run_passes_output_and_exit_status_and_leaves_nothing") else {
        return;
    };
    let bundle = BusyboxBundle::shell("echo out; echo err >&2; exit 3");
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 3, "stderr: {stderr}");
    assert_eq!(stdout, "out\n");
    assert_eq!(stderr, "err\n");
    assert!(runz.ids().is_empty(), "run deletes its container");
    let leftovers: Vec<_> = std::fs::read_dir(runz.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "state left behind: {leftovers:?}");
}

/// `runz run` in the background, and the container's init PID once it runs.
fn run_in_background(runz: &Runz, bundle: &BusyboxBundle, id: &str) -> (std::process::Child, i64) {
    let child = runz
        .command(&["run", "--bundle", &bundle.path().to_string_lossy(), id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pid = 0;
    assert!(eventually(|| {
        let out = runz.output(&["state", id]);
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        pid = state["pid"].as_i64().unwrap_or(0);
        state["status"] == "running"
    }));
    (child, pid)
}

#[test]
fn death_by_signal_is_128_plus_the_signal() {
    let Some(runz) = runz_or_skip("death_by_signal_is_128_plus_the_signal") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let (mut child, pid) = run_in_background(&runz, &bundle, &unique_id());
    // SAFETY: kill(2) on a PID we just read; a stale PID only makes the test fail.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(runz.ids().is_empty());
}

#[test]
fn run_passes_signals_on_to_the_container() {
    let Some(runz) = runz_or_skip("run_passes_signals_on_to_the_container") else {
        return;
    };
    let bundle = BusyboxBundle::shell(
        "trap 'exit 7' TERM; echo ready > /tmp/ready; while true; do sleep 0.1; done",
    );
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    let (mut child, _) = run_in_background(&runz, &bundle, &unique_id());
    assert!(eventually(|| bundle.rootfs().join("tmp/ready").exists()));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

#[test]
fn the_process_gets_its_env_cwd_user_groups_hostname_and_rlimits() {
    let Some(runz) = runz_or_skip("the_process_gets_its_env_cwd_user_groups_hostname_and_rlimits")
    else {
        return;
    };
    let bundle = BusyboxBundle::shell(
        "echo \"$FOO\"; pwd; id -u; id -g; id -G; hostname; ulimit -n; ulimit -Hn; \
         grep -E '^(NoNewPrivs|CapEff)' /proc/self/status",
    );
    bundle.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]});
        c["hostname"] = json!("box1");
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]);
    });
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "bar baz",
            "/tmp",
            "1000",
            "1000",
            "1000 2000",
            "box1",
            "123",
            "456",
            "CapEff:\t0000000000000000",
            "NoNewPrivs:\t1",
        ],
        "{stderr}"
    );
}

#[test]
fn root_gets_exactly_the_configured_capabilities() {
    let Some(runz) = runz_or_skip("root_gets_exactly_the_configured_capabilities") else {
        return;
    };
    let bundle = BusyboxBundle::shell("grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status");
    // runc spec: CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10).
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    let mask = format!("{:016x}", (1u64 << 29) | (1 << 5) | (1 << 10));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(
            stdout.contains(&format!("{set}:\t{mask}")),
            "{set} in {stdout}"
        );
    }
}

#[test]
fn mounts_masked_and_read_only_paths_and_binds() {
    let Some(runz) = runz_or_skip("mounts_masked_and_read_only_paths_and_binds") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("hello.txt"), "from the host\n").unwrap();
    let bundle = BusyboxBundle::shell(
        "cut -d' ' -f1-3 /proc/mounts | grep -E ' (/proc|/dev|/dev/pts|/data)( |$)' | sort; \
         echo timer_list=$(wc -c < /proc/timer_list) firmware=$(ls /sys/firmware | wc -l); \
         cat /data/hello.txt; \
         touch /data/new 2>/dev/null && echo data-writable || echo data-read-only; \
         echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo sys-writable || echo sys-read-only",
    );
    bundle.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({
            "destination": "/data", "type": "bind",
            "source": data.path(), "options": ["rbind", "ro"]
        }));
    });
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    let mut mounts = [
        "devpts /dev/pts devpts".to_string(),
        format!(
            "{} /data {}",
            source_device_of(data.path()),
            fs_type_of(data.path())
        ),
        "proc /proc proc".to_string(),
        "tmpfs /dev tmpfs".to_string(),
    ];
    mounts.sort();
    assert_eq!(
        stdout,
        format!(
            "{}\ntimer_list=0 firmware=0\nfrom the host\ndata-read-only\nsys-read-only\n",
            mounts.join("\n")
        )
    );
    assert!(!data.path().join("new").exists());
}

/// The device column /proc/mounts shows for the filesystem holding `path`.
fn source_device_of(path: &std::path::Path) -> String {
    mount_entry_of(path).0
}

fn fs_type_of(path: &std::path::Path) -> String {
    mount_entry_of(path).1
}

/// (source, type) of the longest mount point containing `path`.
fn mount_entry_of(path: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string("/proc/mounts").unwrap();
    let mut best: Option<(usize, String, String)> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 3 || !path.starts_with(f[1]) {
            continue;
        }
        if best.as_ref().is_none_or(|(len, _, _)| f[1].len() >= *len) {
            best = Some((f[1].len(), f[0].to_string(), f[2].to_string()));
        }
    }
    let (_, source, typ) = best.unwrap();
    (source, typ)
}

#[test]
fn create_start_kill_delete_with_states_pid_file_and_cleanup() {
    let Some(runz) = runz_or_skip("create_start_kill_delete_with_states_pid_file_and_cleanup")
    else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let id = unique_id();
    let pid_file = bundle.path().join("pid");
    let b = bundle.path().to_string_lossy().to_string();
    runz.ok(&[
        "create",
        "--bundle",
        &b,
        "--pid-file",
        &pid_file.to_string_lossy(),
        &id,
    ]);

    let state = runz.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["bundle"], b.as_str());
    assert_eq!(state["rootfs"], bundle.rootfs().to_string_lossy().as_ref());
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        !cgroup_dirs(&id).is_empty(),
        "the container has a cgroup under /runz"
    );

    runz.ok(&["start", &id]);
    assert_eq!(runz.state(&id)["status"], "running");
    let err = runz.fails(&["start", &id], 1);
    assert!(
        err.contains(&format!("container \"{id}\" is running: cannot start it")),
        "{err}"
    );
    let err = runz.fails(&["delete", &id], 1);
    assert!(err.contains("is running: cannot delete it"), "{err}");

    // PID 1 of a namespace ignores TERM without a handler; KILL always works.
    runz.ok(&["kill", &id, "KILL"]);
    assert!(eventually(|| runz.state(&id)["status"] == "stopped"));
    assert_eq!(runz.state(&id)["pid"], 0);
    let err = runz.fails(&["kill", &id], 1);
    assert!(err.contains("is stopped: cannot signal it"), "{err}");

    runz.ok(&["delete", &id]);
    let err = runz.fails(&["state", &id], 1);
    assert!(
        err.contains(&format!("container \"{id}\" does not exist")),
        "{err}"
    );
    assert!(!runz.root().join(&id).exists());
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&id)
    );
}

#[test]
fn delete_force_kills_a_running_container_and_tolerates_a_missing_one() {
    let Some(runz) =
        runz_or_skip("delete_force_kills_a_running_container_and_tolerates_a_missing_one")
    else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let id = runz.run_detached(&bundle);
    let pid = runz.state(&id)["pid"].as_i64().unwrap();
    runz.ok(&["delete", "--force", &id]);
    assert!(eventually(|| !std::path::Path::new(&format!(
        "/proc/{pid}"
    ))
    .exists()));
    assert!(cgroup_dirs(&id).is_empty());
    runz.ok(&["delete", "--force", &id]);
    let err = runz.fails(&["delete", &id], 1);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn bad_bundles_and_ids_fail_clearly_and_leave_nothing() {
    let Some(runz) = runz_or_skip("bad_bundles_and_ids_fail_clearly_and_leave_nothing") else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let id = unique_id();
    let err = runz.fails(
        &["create", "--bundle", &empty.path().to_string_lossy(), &id],
        1,
    );
    assert!(err.contains("has no config.json"), "{err}");
    assert!(
        err.contains(&empty.path().to_string_lossy().to_string()),
        "names the bundle: {err}"
    );

    std::fs::write(empty.path().join("config.json"), "{\"ociVersion\": 1").unwrap();
    let err = runz.fails(
        &["create", "--bundle", &empty.path().to_string_lossy(), &id],
        1,
    );
    assert!(
        err.contains("config.json is not a valid runtime spec"),
        "{err}"
    );

    let missing = runz.fails(&["create", "--bundle", "/nonexistent/bundle", &id], 1);
    assert!(missing.contains("/nonexistent/bundle"), "{missing}");

    for bad in ["../escape", "a/b", "."] {
        let err = runz.fails(&["state", bad], 1);
        assert!(err.contains("invalid container ID"), "{bad}: {err}");
    }
    for verb in ["state", "start", "kill", "pause", "resume", "ps"] {
        let err = runz.fails(&[verb, "no-such-container"], 1);
        assert!(
            err.contains("container \"no-such-container\" does not exist"),
            "{verb}: {err}"
        );
    }
    assert!(runz.fails(&["create"], 2).contains("<ID>"));
    assert!(runz.fails(&["frobnicate"], 2).contains("frobnicate"));

    // A mount whose source does not exist fails inside the container's setup.
    let bundle = BusyboxBundle::new(&["true"]);
    bundle.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": "/nonexistent/source", "options": ["rbind"]
        }));
    });
    let mounts_before = mounts_containing(&bundle.rootfs().to_string_lossy());
    let err = runz.fails(
        &["create", "--bundle", &bundle.path().to_string_lossy(), &id],
        1,
    );
    assert!(
        err.contains(&format!("cannot create container \"{id}\"")),
        "{err}"
    );
    assert!(runz.ids().is_empty());
    assert!(!runz.root().join(&id).exists(), "state directory left");
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&id)
    );
    assert_eq!(
        mounts_containing(&bundle.rootfs().to_string_lossy()),
        mounts_before
    );
    // …and the ID can be used again.
    let good = BusyboxBundle::new(&["true"]);
    runz.ok(&["create", "--bundle", &good.path().to_string_lossy(), &id]);
    let err = runz.fails(
        &["create", "--bundle", &good.path().to_string_lossy(), &id],
        1,
    );
    assert!(
        err.contains(&format!("container \"{id}\" already exists")),
        "{err}"
    );
    runz.ok(&["delete", &id]);
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let Some(runz) = runz_or_skip("hooks_run_in_order_with_the_state_on_stdin") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("hooks.log");
    let bundle = BusyboxBundle::new(&["sh", "-c", "echo main >> /tmp/inside.log"]);
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    let host_hook = |name: &str| {
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {name} >> {0}; cat > {1}/{name}.json", log.display(), logs.path().display())],
        })
    };
    bundle.edit(|c| {
        c["hooks"] = json!({
            "prestart": [host_hook("prestart")],
            "createRuntime": [host_hook("createRuntime")],
            // In the container's namespaces but before pivot_root: the host's paths.
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo createContainer >> {}", log.display())]}],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /tmp/inside.log"]}],
            "poststart": [host_hook("poststart")],
            "poststop": [host_hook("poststop")],
        });
    });
    let (code, _, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    let order = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        order,
        "prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop\n"
    );
    let inside = std::fs::read_to_string(bundle.rootfs().join("tmp/inside.log")).unwrap();
    assert_eq!(inside, "startContainer\nmain\n");
    for hook in ["createRuntime", "poststart", "poststop"] {
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(logs.path().join(format!("{hook}.json"))).unwrap(),
        )
        .unwrap();
        assert!(
            state["id"].as_str().is_some_and(|id| id.starts_with('t')),
            "{hook}: {state}"
        );
        assert!(state["ociVersion"].is_string(), "{hook}: {state}");
    }
}

#[test]
fn a_failing_prestart_hook_fails_the_create_cleanly() {
    let Some(runz) = runz_or_skip("a_failing_prestart_hook_fails_the_create_cleanly") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["true"]);
    bundle.edit(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let id = unique_id();
    let err = runz.fails(
        &["create", "--bundle", &bundle.path().to_string_lossy(), &id],
        1,
    );
    assert!(err.contains(&id), "{err}");
    assert!(runz.ids().is_empty());
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&id)
    );
}

#[test]
fn exec_runs_with_its_own_env_cwd_and_user_and_returns_its_status() {
    let Some(runz) = runz_or_skip("exec_runs_with_its_own_env_cwd_and_user_and_returns_its_status")
    else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let id = runz.run_detached(&bundle);
    let out = runz.ok(&[
        "exec",
        "-e",
        "GREETING=hi",
        "--cwd",
        "/home/app",
        "-u",
        "1000:1000",
        &id,
        "sh",
        "-c",
        "echo $GREETING; pwd; id -u; hostname",
    ]);
    assert_eq!(
        out,
        "hi\n/home/app\n1000\naurora\n".replace("aurora", &runz_hostname(&bundle))
    );
    let out = runz.output(&["exec", &id, "sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42));
    // A process.json, as containerd and podman pass it.
    let process = bundle.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::to_vec(&json!({"args": ["sh", "-c", "echo from-json"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}})).unwrap(),
    )
    .unwrap();
    assert_eq!(
        runz.ok(&["exec", "--process", &process.to_string_lossy(), &id]),
        "from-json\n"
    );
    runz.ok(&["kill", &id, "KILL"]);
    assert!(eventually(|| runz.state(&id)["status"] == "stopped"));
    let err = runz.fails(&["exec", &id, "true"], 1);
    assert!(err.contains("is stopped: cannot exec in it"), "{err}");
    runz.ok(&["delete", &id]);
}

fn runz_hostname(bundle: &BusyboxBundle) -> String {
    bundle.config()["hostname"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn pause_resume_ps_update_and_events() {
    let Some(runz) = runz_or_skip("pause_resume_ps_update_and_events") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sh", "-c", "sleep 100 & sleep 101 & wait"]);
    let id = runz.run_detached(&bundle);
    let init = runz.state(&id)["pid"].as_i64().unwrap();
    assert!(eventually(|| {
        let pids: Vec<i64> =
            serde_json::from_str(&runz.ok(&["ps", "--format", "json", &id])).unwrap();
        pids.len() == 3 && pids.contains(&init)
    }));
    let table = runz.ok(&["ps", &id]);
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");

    runz.ok(&["pause", &id]);
    assert_eq!(runz.state(&id)["status"], "paused");
    let freezer = cgroup_file(&id, "freezer", "freezer.state");
    assert_eq!(freezer.as_deref(), Some("FROZEN"));
    runz.fails(&["pause", &id], 1);
    runz.ok(&["resume", &id]);
    assert_eq!(runz.state(&id)["status"], "running");
    assert_eq!(
        cgroup_file(&id, "freezer", "freezer.state").as_deref(),
        Some("THAWED")
    );

    runz.ok(&["update", "--pids-limit", "10", "--memory", "67108864", &id]);
    assert_eq!(cgroup_file(&id, "pids", "pids.max").as_deref(), Some("10"));
    assert_eq!(
        cgroup_file(&id, "memory", "memory.limit_in_bytes").as_deref(),
        Some("67108864")
    );
    let stats: serde_json::Value =
        serde_json::from_str(runz.ok(&["events", "--stats", &id]).trim()).unwrap();
    assert_eq!(stats["type"], "stats", "{stats}");
    assert_eq!(stats["id"], id.as_str());
    assert_eq!(stats["data"]["pids"]["current"], 3, "{stats}");
    assert_eq!(stats["data"]["pids"]["limit"], 10, "{stats}");
    assert_eq!(
        stats["data"]["memory"]["memory"]["limit"], 67108864,
        "{stats}"
    );
    runz.ok(&["delete", "--force", &id]);
}

/// A cgroup v1 file of the container (hybrid and legacy hosts), or the v2 one.
fn cgroup_file(id: &str, controller: &str, file: &str) -> Option<String> {
    let v1 = format!("/sys/fs/cgroup/{controller}/runz/{id}/{file}");
    std::fs::read_to_string(v1)
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn stdio_pipes_files_and_dev_null() {
    let Some(runz) = runz_or_skip("stdio_pipes_files_and_dev_null") else {
        return;
    };
    // stdin from a pipe, stdout to a file.
    let bundle = BusyboxBundle::new(&["sh", "-c", "tr a-z A-Z; echo done"]);
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = runz
        .command(&[
            "run",
            "--bundle",
            &bundle.path().to_string_lossy(),
            &unique_id(),
        ])
        .stdin(Stdio::piped())
        .stdout(out_file.reopen().unwrap())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello pipe\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(out_file.path()).unwrap(),
        "HELLO PIPE\ndone\n"
    );

    // stdout and stderr to /dev/null: writes still succeed inside.
    let bundle = BusyboxBundle::new(&["sh", "-c", "echo x || exit 8; echo y >&2 || exit 9"]);
    let status = runz
        .command(&[
            "run",
            "--bundle",
            &bundle.path().to_string_lossy(),
            &unique_id(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    // stdin from /dev/null reads as end of file.
    let bundle = BusyboxBundle::new(&["sh", "-c", "cat; echo eof"]);
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!((code, stdout.as_str()), (0, "eof\n"), "{stderr}");
}

#[test]
fn terminal_through_a_console_socket() {
    let Some(runz) = runz_or_skip("terminal_through_a_console_socket") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sh", "-c", "tty; test -t 0 && echo in-a-terminal"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let console = ConsoleSocket::listen();
    let id = unique_id();
    runz.ok(&[
        "create",
        "--bundle",
        &bundle.path().to_string_lossy(),
        "--console-socket",
        &console.path().to_string_lossy(),
        &id,
    ]);
    runz.ok(&["start", &id]);
    let output = console
        .output(Duration::from_secs(20))
        .expect("terminal output");
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("in-a-terminal"), "{text:?}");
    assert!(eventually(|| runz.state(&id)["status"] == "stopped"));
    runz.ok(&["delete", &id]);

    // terminal: true without a console socket is refused before anything is made.
    let err = runz.fails(
        &["create", "--bundle", &bundle.path().to_string_lossy(), &id],
        1,
    );
    assert!(err.contains(&id), "{err}");
    assert!(runz.ids().is_empty());
}

#[test]
fn list_shows_every_container() {
    let Some(runz) = runz_or_skip("list_shows_every_container") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let (a, b) = (unique_id(), unique_id());
    for id in [&a, &b] {
        runz.ok(&["create", "--bundle", &bundle.path().to_string_lossy(), id]);
    }
    let mut ids = vec![a.clone(), b.clone()];
    ids.sort();
    assert_eq!(runz.ids(), ids);
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&runz.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s["status"] == "created"));
    let table = runz.ok(&["list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert_eq!(table.lines().count(), 3);
}

#[test]
fn spec_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(Runz::binary())
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    let again = std::process::Command::new(Runz::binary())
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let out = std::process::Command::new(Runz::binary())
        .arg("features")
        .output()
        .unwrap();
    let features: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(features["hooks"]
        .as_array()
        .unwrap()
        .contains(&json!("createRuntime")));
    assert_eq!(features["linux"]["cgroup"]["v1"], true);
}

#[test]
fn errors_reach_a_json_log_file_as_runc_writes_them() {
    let Some(runz) = runz_or_skip("errors_reach_a_json_log_file_as_runc_writes_them") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = runz.output(&[
        "--log",
        &log.to_string_lossy(),
        "--log-format",
        "json",
        "start",
        "ghost",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container \"ghost\" does not exist");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn run_in_a_terminal_relays_the_container_s_own_terminal() {
    let Some(runz) = runz_or_skip("run_in_a_terminal_relays_the_container_s_own_terminal") else {
        return;
    };
    // `runc spec` bundles ask for a terminal; in the foreground runz relays one, as runc does.
    // script(1) gives runz a terminal of its own here.
    let bundle = BusyboxBundle::new(&[
        "sh",
        "-c",
        "tty; echo reading; read line; echo got:$line; exit 5",
    ]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let log = tempfile::NamedTempFile::new().unwrap();
    let command = format!(
        "{} --root {} run --bundle {} {}",
        Runz::binary().display(),
        runz.root().display(),
        bundle.path().display(),
        unique_id()
    );
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            // Type once the container says it reads (script's header names no such word), and
            // keep the input open until it has answered; each wait is bounded (60 s) only
            // against a hang.
            "(wait_for() {{ i=0; until grep -q \"$1\" {log}; do i=$((i+1)); [ $i -gt 3000 ] && return 1; sleep 0.02; done; }}; \
              wait_for reading && printf 'typed\\r'; wait_for got:) \
             | timeout 60 script -fqec '{command}' {log}",
            log = log.path().display()
        ))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let typescript = std::fs::read_to_string(log.path()).unwrap();
    assert!(typescript.contains("/dev/pts/0"), "{typescript}");
    assert!(typescript.contains("got:typed"), "{typescript}");
    assert!(
        typescript.contains("COMMAND_EXIT_CODE=\"5\""),
        "runz passed the exit status on: {typescript} {status}"
    );
    assert!(runz.ids().is_empty());
    assert!(!std::fs::read_dir(runz.root())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".console")));
}
