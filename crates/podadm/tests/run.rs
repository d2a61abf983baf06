//! `podadm run` beside `podman run` on the same image and flags: output, exit codes, the
//! process's environment, user and working directory, and what `--rm` leaves.

mod support;

use support::{stderr, stdout, World};

/// A command line tool run in a world: podadm, or podman on its own store.
type Tool = fn(&World, &[&str]) -> std::process::Output;

/// podadm, then podman, each with its name.
const TOOLS: [(&str, Tool); 2] = [("podadm", World::podadm), ("podman", World::podman)];

/// `tool`'s stdout for `args`, which must succeed.
fn succeeds(world: &World, tool: &str, output: Tool, args: &[&str]) -> String {
    let out = output(world, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{tool} {args:?}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Both tools' (status, stdout) for `run --rm --network none IMAGE ARGS…`.
fn both(
    world: &World,
    flags: &[&str],
    command: &[&str],
) -> ((Option<i32>, String), (Option<i32>, String)) {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.push(&world.image);
    args.extend_from_slice(command);
    let ours = world.podadm(&args);
    let theirs = world.podman(&args);
    if ours.status.code() != theirs.status.code() {
        eprintln!("podadm: {}\npodman: {}", stderr(&ours), stderr(&theirs));
    }
    (
        (ours.status.code(), stdout(&ours)),
        (theirs.status.code(), stdout(&theirs)),
    )
}

#[test]
fn exit_codes_are_podmans() {
    let Some(world) = World::new("exit_codes_are_podmans") else {
        return;
    };
    world.podman_pull();
    for (command, expected) in [
        (vec!["true"], 0),
        (vec!["false"], 1),
        (vec!["sh", "-c", "exit 42"], 42),
        (vec!["/no/such/command"], 127),
        (vec!["/etc"], 126),
    ] {
        let ((ours, _), (theirs, _)) = both(&world, &[], &command);
        assert_eq!(theirs, Some(expected), "podman for {command:?}");
        assert_eq!(ours, Some(expected), "podadm for {command:?}");
    }
    // A container killed with SIGKILL: 137, from wait.
    for tool in ["podadm", "podman"] {
        let run = |args: &[&str]| {
            if tool == "podadm" {
                world.podadm(args)
            } else {
                world.podman(args)
            }
        };
        let out = run(&[
            "run",
            "-d",
            "--name",
            "victim",
            "--network",
            "none",
            &world.image,
            "sleep",
            "600",
        ]);
        assert!(out.status.success(), "{tool}: {}", stderr(&out));
        assert!(
            run(&["kill", "-s", "KILL", "victim"]).status.success(),
            "{tool} kill"
        );
        let out = run(&["wait", "victim"]);
        assert_eq!(stdout(&out).trim(), "137", "{tool} wait: {}", stderr(&out));
        assert!(run(&["rm", "victim"]).status.success(), "{tool} rm");
    }
    // podadm's own failures are 125, as podman's are.
    let out = world.podadm(&["run", "--rm", "--no-such-flag", &world.image, "true"]);
    assert_ne!(out.status.code(), Some(0));
    let out = world.podadm(&[
        "run",
        "--rm",
        "--restart",
        "sometimes",
        &world.image,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("sometimes"), "{}", stderr(&out));
    let missing = world.registry.image_ref("test/missing:1");
    let out = world.podadm(&["run", "--rm", &missing, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("test/missing"), "{}", stderr(&out));
    // Nothing is left by any of them.
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn environment_user_and_workdir_match_podman() {
    let Some(world) = World::new("environment_user_and_workdir_match_podman") else {
        return;
    };
    world.podman_pull();
    let env_file = world.dir.path().join("env");
    std::fs::write(&env_file, "# a comment\nFROM_FILE=yes\n\nB=from-file\n").unwrap();
    let env_file = env_file.display().to_string();
    let flags = [
        "-e",
        "A=1",
        "--env-file",
        &env_file,
        "-e",
        "B=2",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--hostname",
        "box",
    ];
    let script = "echo A=$A B=$B F=$FROM_FILE; pwd; id -u; id -g; hostname; cat /etc/hostname";
    let ((ours, our_out), (theirs, their_out)) = both(&world, &flags, &["sh", "-c", script]);
    assert_eq!(theirs, Some(0));
    assert_eq!(ours, Some(0));
    assert_eq!(our_out, their_out);
    assert_eq!(our_out, "A=1 B=2 F=yes\n/tmp\n1000\n1000\nbox\nbox");
    // A working directory the image lacks: podman refuses it with 126.
    let ((ours, _), (theirs, _)) = both(&world, &["-w", "/no/such/dir"], &["true"]);
    assert_eq!(theirs, Some(126));
    assert_eq!(ours, Some(126));
}

#[test]
fn entrypoint_and_command_follow_podmans_rules() {
    let Some(world) = World::new("entrypoint_and_command_follow_podmans_rules") else {
        return;
    };
    world.podman_pull();
    for flags in [
        vec!["--entrypoint", "echo"],
        vec!["--entrypoint", "[\"echo\",\"-n\"]"],
    ] {
        let ((ours, a), (theirs, b)) = both(&world, &flags, &["hello", "there"]);
        assert_eq!((ours, a), (theirs, b), "{flags:?}");
    }
}

#[test]
fn read_only_caps_and_tmpfs_match_podman() {
    let Some(world) = World::new("read_only_caps_and_tmpfs_match_podman") else {
        return;
    };
    world.podman_pull();
    let flags = [
        "--read-only",
        "--tmpfs",
        "/scratch",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_RAW",
    ];
    let script = "touch /x 2>/dev/null && echo wrote-root; touch /scratch/y && echo wrote-tmpfs; \
                  grep CapEff /proc/self/status";
    let ((ours, a), (theirs, b)) = both(&world, &flags, &["sh", "-c", script]);
    assert_eq!(theirs, Some(0));
    assert_eq!(ours, Some(0));
    assert_eq!(a, b);
    assert!(
        a.contains("wrote-tmpfs") && !a.contains("wrote-root"),
        "{a}"
    );
}

#[test]
fn rm_leaves_no_container_clone_or_mount() {
    let Some(world) = World::new("rm_leaves_no_container_clone_or_mount") else {
        return;
    };
    world.ok(&["run", "--rm", "--network", "none", &world.image, "true"]);
    // Gone from every listing when `run` returns; its root and mounts go beside it (the
    // monitor's exit command tears them down), without another podadm command.
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
    let containers = world.root().join("storage/containers");
    let left = || -> Vec<std::ffi::OsString> {
        std::fs::read_dir(&containers)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default()
    };
    world.wait_until("the container's root to go", || left().is_empty());
    world.wait_until("the container's mounts to go", || {
        world.mounts_under(world.dir.path()).is_empty()
    });
    // Only the locks directory is left of the run root's container state.
    let monitors = world.runroot().join("podadm");
    world.wait_until("the container's monitor directory to go", || {
        std::fs::read_dir(&monitors).map_or(true, |d| {
            d.filter_map(|e| e.ok()).all(|e| e.file_name() == "locks")
        })
    });
}

#[test]
fn dns_flags_write_resolv_conf_as_podmans() {
    let Some(world) = World::new("dns_flags_write_resolv_conf_as_podmans") else {
        return;
    };
    world.podman_pull();
    let image = world.image.as_str();
    let dns = [
        "--dns",
        "192.0.2.1",
        "--dns-search",
        "example.com",
        "--dns-option",
        "ndots:2",
    ];
    let mut run = vec!["run", "--rm"];
    run.extend_from_slice(&dns);
    run.extend_from_slice(&[image, "cat", "/etc/resolv.conf"]);
    let expected = "search example.com\nnameserver 192.0.2.1\noptions ndots:2\n";
    // A pod's resolver is its members'.
    let pod_create = [
        "pod",
        "create",
        "--name",
        "resolver",
        "--dns",
        "192.0.2.7",
        "--dns-search",
        "corp.example",
    ];
    let member = [
        "run",
        "--rm",
        "--pod",
        "resolver",
        image,
        "cat",
        "/etc/resolv.conf",
    ];
    for (tool, output) in TOOLS {
        let out = output(&world, &run);
        assert_eq!(stdout(&out), expected, "{tool}: {}", stderr(&out));
        let out = output(&world, &pod_create);
        assert_eq!(out.status.code(), Some(0), "{tool}: {}", stderr(&out));
        let out = output(&world, &member);
        assert_eq!(
            stdout(&out),
            "search corp.example\nnameserver 192.0.2.7\n",
            "{tool}: {}",
            stderr(&out)
        );
        output(&world, &["pod", "rm", "-f", "resolver"]);
        // No network of its own, no resolver to set: refused, as podman refuses it.
        for refused in [
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--dns",
                "192.0.2.1",
                image,
                "true",
            ][..],
            &["pod", "create", "--network", "none", "--dns", "192.0.2.1"],
        ] {
            let out = output(&world, refused);
            assert_eq!(out.status.code(), Some(125), "{tool} {refused:?}");
            assert!(
                stderr(&out).contains("dns and the network mode: none"),
                "{tool}: {}",
                stderr(&out)
            );
        }
        let out = output(
            &world,
            &["run", "--rm", "--dns", "not-an-ip", image, "true"],
        );
        assert_eq!(out.status.code(), Some(125), "{tool}");
    }
}

#[test]
fn add_host_lines_are_in_etc_hosts_as_podmans() {
    let Some(world) = World::new("add_host_lines_are_in_etc_hosts_as_podmans") else {
        return;
    };
    world.podman_pull();
    let image = world.image.as_str();
    let hosts_of = |tool: &str, output: Tool, args: &[&str]| succeeds(&world, tool, output, args);
    for (tool, output) in TOOLS {
        for network in ["bridge", "none"] {
            let hosts = hosts_of(
                tool,
                output,
                &[
                    "run",
                    "--rm",
                    "--network",
                    network,
                    "--add-host",
                    "db.local:192.0.2.5",
                    "--add-host",
                    "v6.local:2001:db8::1",
                    image,
                    "cat",
                    "/etc/hosts",
                ],
            );
            let lines: Vec<&str> = hosts.lines().collect();
            for line in ["192.0.2.5\tdb.local", "2001:db8::1\tv6.local"] {
                assert!(
                    lines.contains(&line),
                    "{tool} on {network}: no {line:?} in\n{hosts}"
                );
            }
        }
        // A pod's lines are its members'.
        hosts_of(
            tool,
            output,
            &[
                "pod",
                "create",
                "--name",
                "named",
                "--add-host",
                "db.local:192.0.2.5",
            ],
        );
        let hosts = hosts_of(
            tool,
            output,
            &["run", "--rm", "--pod", "named", image, "cat", "/etc/hosts"],
        );
        assert!(
            hosts.lines().any(|l| l == "192.0.2.5\tdb.local"),
            "{tool}: {hosts}"
        );
        output(&world, &["pod", "rm", "-f", "named"]);
        for bad in ["no-address", "h:not-an-ip"] {
            let out = output(&world, &["run", "--rm", "--add-host", bad, image, "true"]);
            assert_eq!(out.status.code(), Some(125), "{tool} --add-host {bad}");
        }
    }
}

#[test]
fn replace_removes_the_container_or_pod_of_that_name_first() {
    let Some(world) = World::new("replace_removes_the_container_or_pod_of_that_name_first") else {
        return;
    };
    world.podman_pull();
    let image = world.image.as_str();
    for (tool, output) in TOOLS {
        let ok = |args: &[&str]| succeeds(&world, tool, output, args);
        let first = ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--stop-timeout",
            "1",
            "--name",
            "again",
            image,
            "sleep",
            "600",
        ]);
        let replaced = ok(&[
            "run",
            "--replace",
            "--network",
            "none",
            "--name",
            "again",
            image,
            "echo",
            "second",
        ]);
        // podman prints the name of the container it removed, then the new one's output.
        assert_eq!(replaced, "again\nsecond\n", "{tool}");
        let ids = ok(&["ps", "-a", "-q", "--no-trunc", "--filter", "name=again"]);
        assert_eq!(ids.lines().count(), 1, "{tool}: {ids}");
        assert_ne!(ids.trim(), first.trim(), "{tool}: the first is gone");
        ok(&["rm", "-f", "again"]);
        let out = output(&world, &["run", "--replace", "--rm", image, "true"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{tool}: --replace needs --name"
        );
        let pod = ok(&["pod", "create", "--name", "twice"]);
        let again = ok(&["pod", "create", "--replace", "--name", "twice"]);
        assert_ne!(pod, again, "{tool}");
        let pods = ok(&["pod", "ps", "-q", "--no-trunc"]);
        assert_eq!(pods.trim(), again.trim(), "{tool}: one pod, the new one");
        ok(&["pod", "rm", "-f", "twice"]);
    }
}
