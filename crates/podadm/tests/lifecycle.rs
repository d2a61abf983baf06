//! A container's life under podadm: detached runs, ps, logs, exec, stop, kill, wait,
//! restart policies, pause, rename, update, top, and what rm leaves.

mod support;

use support::{stderr, stdout, World};

fn names_in_ps(world: &World, all: bool) -> Vec<String> {
    let mut args = vec!["ps", "--format", "json"];
    if all {
        args.push("-a");
    }
    let list: serde_json::Value = serde_json::from_str(&world.ok(&args)).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn detached_container_runs_stops_and_is_removed() {
    let Some(world) = World::new("detached_container_runs_stops_and_is_removed") else {
        return;
    };
    // With --init, podinit passes the stop signal on to sleep (which, as pid 1, would ignore it).
    let id = world.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "web",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(names_in_ps(&world, false), ["web"]);
    assert_eq!(world.inspect("web", "/State/Status"), "running");
    assert!(world.inspect("web", "/State/Pid").as_i64().unwrap() > 0);
    // A second container may not take the name.
    let out = world.podadm(&["run", "-d", "--name", "web", &world.image, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("web") && stderr(&out).contains("in use"),
        "{}",
        stderr(&out)
    );
    // TERM ends it (status 143), well within the timeout.
    world.ok(&["stop", "-t", "5", "web"]);
    assert_eq!(world.inspect("web", "/State/Status"), "exited");
    assert_eq!(world.inspect("web", "/State/ExitCode"), 143);
    assert!(names_in_ps(&world, false).is_empty());
    assert_eq!(names_in_ps(&world, true), ["web"]);
    // It starts again.
    world.ok(&["start", "web"]);
    assert_eq!(world.inspect("web", "/State/Status"), "running");
    let out = world.podadm(&["rm", "web"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "rm of a running container: {}",
        stderr(&out)
    );
    world.ok(&["rm", "-f", "-t", "0", "web"]);
    assert!(names_in_ps(&world, true).is_empty());
    assert!(world.mounts_under(&world.root()).is_empty());
    assert!(!world.runroot().join("podadm").join(id).exists());
}

#[test]
fn logs_keep_both_streams_tail_and_timestamps() {
    let Some(world) = World::new("logs_keep_both_streams_tail_and_timestamps") else {
        return;
    };
    let script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf partial";
    world.ok(&[
        "run",
        "--name",
        "talk",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        script,
    ]);
    let out = world.podadm(&["logs", "talk"]);
    assert_eq!(stdout(&out), "out1\nout2\nout3\npartial");
    assert_eq!(stderr(&out), "err1\nerr2\nerr3\n");
    let out = world.podadm(&["logs", "--tail", "2", "talk"]);
    let both = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        both.contains("err3") && both.contains("partial") && !both.contains("out1"),
        "{both}"
    );
    let out = world.podadm(&["logs", "-t", "talk"]);
    let first = stdout(&out).lines().next().unwrap().to_string();
    let (time, rest) = first.split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "{first}"
    );
    assert_eq!(rest, "out1");
    // The file itself is in the CRI format.
    let id = world.inspect("talk", "/Id");
    let log = std::fs::read_to_string(
        world
            .root()
            .join("podadm/containers")
            .join(id.as_str().unwrap())
            .join("ctr.log"),
    )
    .unwrap();
    let line = log.lines().next().unwrap();
    let fields: Vec<&str> = line.splitn(4, ' ').collect();
    assert_eq!(&fields[1..], ["stdout", "F", "out1"], "{line}");
    assert!(
        log.lines().any(|l| l.ends_with(" stdout P partial")),
        "{log}"
    );
}

#[test]
fn logs_follow_a_running_container_until_it_exits() {
    let Some(world) = World::new("logs_follow_a_running_container_until_it_exits") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo tick$i; sleep 0.2; done",
    ]);
    let out = world.podadm(&["logs", "-f", "ticker"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "tick1\ntick2\ntick3\ntick4\ntick5\n");
}

#[test]
fn exec_runs_in_the_container_with_podmans_statuses() {
    let Some(world) = World::new("exec_runs_in_the_container_with_podmans_statuses") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "-e",
        "A=outer",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    let out = world.podadm(&[
        "exec",
        "-e",
        "B=inner",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $A $B; pwd; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "outer inner\n/tmp\n");
    let out = world.podadm(&["exec", "-u", "65534", "box", "id", "-u"]);
    assert_eq!(stdout(&out), "65534\n");
    let out = world.podadm(&["exec", "box", "/no/such/thing"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let out = world.podadm(&["exec", "nosuch", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("nosuch"));
    // The processes are the container's.
    let out = world.ok(&["top", "box"]);
    assert!(out.contains("sleep 600"), "{out}");
}

#[test]
fn wait_gives_the_exit_code() {
    let Some(world) = World::new("wait_gives_the_exit_code") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "quick",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "sleep 0.3; exit 7",
    ]);
    let out = world.podadm(&["wait", "quick"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "7\n");
    assert_eq!(world.inspect("quick", "/State/ExitCode"), 7);
    // Events were recorded; prune removes what does not run.
    let events = world.ok(&["events", "--no-stream", "--filter", "container=quick"]);
    let actions: Vec<&str> = events.lines().filter_map(|l| l.split(' ').nth(2)).collect();
    assert_eq!(actions, ["create", "start", "died"], "{events}");
    world.ok(&[
        "run",
        "-d",
        "--name",
        "keeps",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    let quick = world.inspect("quick", "/Id");
    assert_eq!(world.ok(&["prune"]).trim(), quick.as_str().unwrap());
    assert_eq!(names_in_ps(&world, true), ["keeps"]);
}

#[test]
fn on_failure_restarts_exactly_n_times() {
    let Some(world) = World::new("on_failure_restarts_exactly_n_times") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let out = world.podadm(&["wait", "flaky"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(world.inspect("flaky", "/RestartCount"), 2);
    assert_eq!(stdout(&world.podadm(&["logs", "flaky"])), "run\nrun\nrun\n");
}

#[test]
fn unless_stopped_stays_stopped_after_stop() {
    let Some(world) = World::new("unless_stopped_stays_stopped_after_stop") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "svc",
        "--restart",
        "unless-stopped",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    world.ok(&["stop", "-t", "1", "svc"]);
    assert_eq!(world.inspect("svc", "/State/Status"), "exited");
    // The monitor is gone and did not start it again.
    let out = world.podadm(&["wait", "svc"]);
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(world.inspect("svc", "/State/Status"), "exited");
    // `always` restarts a container that exits on its own.
    world.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "always",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "sleep 0.1; exit 0",
    ]);
    world.wait_until("two restarts", || {
        world
            .inspect("again", "/RestartCount")
            .as_u64()
            .unwrap_or(0)
            >= 2
    });
    world.ok(&["stop", "-t", "1", "again"]);
    assert_eq!(world.inspect("again", "/State/Status"), "exited");
}

#[test]
fn pause_rename_update_and_kill() {
    let Some(world) = World::new("pause_rename_update_and_kill") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--memory",
        "64m",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    world.ok(&["pause", "a"]);
    assert_eq!(world.inspect("a", "/State/Status"), "paused");
    world.ok(&["unpause", "a"]);
    assert_eq!(world.inspect("a", "/State/Status"), "running");
    world.ok(&["rename", "a", "b"]);
    assert_eq!(world.inspect("b", "/Name"), "b");
    world.ok(&["update", "--memory", "128m", "--pids-limit", "50", "b"]);
    assert_eq!(world.inspect("b", "/HostConfig/Memory"), 128 * 1024 * 1024);
    let out = world.ok(&["exec", "b", "sh", "-c",
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert_eq!(out.trim(), (128 * 1024 * 1024).to_string());
    world.ok(&["kill", "-s", "KILL", "b"]);
    assert_eq!(world.podadm(&["wait", "b"]).status.code(), Some(137));
}

#[test]
fn run_and_attach_with_a_terminal() {
    let Some(world) = World::new("run_and_attach_with_a_terminal") else {
        return;
    };
    if !aurora_testkit::skip::tools_or_skip("run_and_attach_with_a_terminal", &["script"]) {
        return;
    }
    let (status, shown) = world.podadm_in_terminal(
        &[
            "run",
            "--rm",
            "-it",
            "--network",
            "none",
            &world.image,
            "sh",
        ],
        "tty; echo sum=$((40+2)); exit 5\n",
    );
    assert_eq!(status, Some(5), "{shown}");
    assert!(shown.contains("/dev/pts/"), "{shown}");
    assert!(shown.contains("sum=42"), "{shown}");
    // A detached container with a terminal, attached to later.
    world.ok(&[
        "run",
        "-d",
        "-it",
        "--name",
        "later",
        "--network",
        "none",
        &world.image,
        "sh",
    ]);
    let (status, shown) =
        world.podadm_in_terminal(&["attach", "later"], "echo attached-$((1+1)); exit 7\n");
    assert_eq!(status, Some(7), "{shown}");
    assert!(shown.contains("attached-2"), "{shown}");
    assert_eq!(world.inspect("later", "/State/ExitCode"), 7);
}

#[test]
fn imageadm_gc_keeps_what_containers_use() {
    let Some(world) = World::new("imageadm_gc_keeps_what_containers_use") else {
        return;
    };
    world.ok(&[
        "create",
        "--name",
        "kept",
        "--network",
        "none",
        &world.image,
        "echo",
        "still-here",
    ]);
    let imageadm = aurora_testkit::workspace_binary("imageadm", "imageadm");
    let root = world.root();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&imageadm)
            .arg("--root")
            .arg(&root)
            .args(args)
            .env("AURORA_CONFIG", "/nonexistent/aurora.toml")
            .output()
            .unwrap();
        assert!(out.status.success(), "imageadm {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    // The image's name goes and gc runs: the container's layers stay, and it still runs.
    run(&["rm", &world.image]);
    run(&["gc"]);
    assert_eq!(world.ok(&["start", "-a", "kept"]), "still-here\n");
    // Once the container is gone, gc takes its layers.
    world.ok(&["rm", "kept"]);
    let out = run(&["gc"]);
    assert!(!out.contains(" 0 layers"), "{out}");
    let layers = std::fs::read_dir(root.join("storage/layers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(layers, 0);
}
