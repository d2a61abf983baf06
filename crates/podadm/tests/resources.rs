//! Volumes, bind mounts, cp, published ports and user networks, beside podman where the
//! output can be compared.

mod support;

use std::process::Command;

use support::{stderr, stdout, World};

#[test]
fn named_volumes_survive_rm_and_are_shared() {
    let Some(world) = World::new("named_volumes_survive_rm_and_are_shared") else {
        return;
    };
    world.ok(&["volume", "create", "data"]);
    world.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = world.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "cat /data/f; touch /data/g 2>/dev/null || echo read-only",
    ]);
    assert_eq!(out, "kept\nread-only\n");
    // Two running containers see one volume.
    world.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "-v",
        "data:/data",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    world.ok(&["exec", "w", "sh", "-c", "echo shared > /data/s"]);
    let out = world.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "--network",
        "none",
        &world.image,
        "cat",
        "/d/s",
    ]);
    assert_eq!(out, "shared\n");
    // In use: refused; after rm, removable.
    let out = world.podadm(&["volume", "rm", "data"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("w"), "{}", stderr(&out));
    world.ok(&["rm", "-f", "-t", "0", "w"]);
    assert!(world
        .ok(&["volume", "ls", "-q"])
        .lines()
        .any(|l| l == "data"));
    world.ok(&["volume", "rm", "data"]);
    assert!(!world
        .ok(&["volume", "ls", "-q"])
        .lines()
        .any(|l| l == "data"));
}

#[test]
fn anonymous_volumes_go_with_rm_v() {
    let Some(world) = World::new("anonymous_volumes_go_with_rm_v") else {
        return;
    };
    world.ok(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/scratch",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "echo x > /scratch/x",
    ]);
    let volumes = world.ok(&["volume", "ls", "-q"]);
    assert_eq!(volumes.lines().count(), 1, "{volumes}");
    world.ok(&["rm", "-v", "anon"]);
    assert_eq!(world.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn bind_mounts_and_bad_volume_specs() {
    let Some(world) = World::new("bind_mounts_and_bad_volume_specs") else {
        return;
    };
    let host = world.dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let spec = format!("{}:/mnt", host.display());
    let out = world.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "cat /mnt/in; echo back > /mnt/out",
    ]);
    assert_eq!(out, "from host\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    // (`name:/x` is a named volume, as in podman.)
    for bad in ["", "/x:relative", "a:/b:bogus", "/x:/y:rw,ro"] {
        let out = world.podadm(&["run", "--rm", "-v", bad, &world.image, "true"]);
        assert_eq!(out.status.code(), Some(125), "-v {bad:?}");
    }
    let missing = format!("{}/missing:/mnt", world.dir.path().display());
    let out = world.podadm(&["run", "--rm", "-v", &missing, &world.image, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn cp_copies_both_ways_and_never_follows_a_link_out() {
    let Some(world) = World::new("cp_copies_both_ways_and_never_follows_a_link_out") else {
        return;
    };
    world.ok(&["run", "-d", "--name", "box", "--network", "none", &world.image, "sh", "-c",
        "echo inside > /tmp/in; ln -s /../../../../../etc /evil; ln -s ../../../../../tmp/host-target /evil2; sleep 600"]);
    world.wait_until("the links", || {
        world
            .podadm(&["exec", "box", "test", "-L", "/evil2"])
            .status
            .success()
    });
    let host = world.dir.path();
    world.ok(&["cp", "box:/tmp/in", &host.join("out").display().to_string()]);
    assert_eq!(
        std::fs::read_to_string(host.join("out")).unwrap(),
        "inside\n"
    );
    std::fs::write(host.join("up"), "uploaded\n").unwrap();
    world.ok(&["cp", &host.join("up").display().to_string(), "box:/tmp/up"]);
    assert_eq!(world.ok(&["exec", "box", "cat", "/tmp/up"]), "uploaded\n");
    // Through a link in the container: stays inside its root.
    let _ = world.podadm(&[
        "cp",
        &host.join("up").display().to_string(),
        "box:/evil/passwd-copy",
    ]);
    assert!(!std::path::Path::new("/etc/passwd-copy").exists());
    let _ = world.podadm(&["cp", &host.join("up").display().to_string(), "box:/evil2"]);
    assert!(!std::path::Path::new("/tmp/host-target").exists());
    let out = world.podadm(&[
        "cp",
        "box:/evil/shadow",
        &host.join("shadow").display().to_string(),
    ]);
    if out.status.success() {
        let copied = std::fs::read(host.join("shadow")).unwrap();
        assert_ne!(
            copied,
            std::fs::read("/etc/shadow").unwrap(),
            "cp read the host's /etc/shadow"
        );
    }
}

#[test]
fn a_published_port_answers_on_loopback() {
    let Some(world) = World::new("a_published_port_answers_on_loopback") else {
        return;
    };
    if !aurora_testkit::skip::tools_or_skip("a_published_port_answers_on_loopback", &["curl"]) {
        return;
    }
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    world.ok(&[
        "run",
        "-d",
        "--name",
        "httpd",
        "-p",
        &publish,
        &world.image,
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-aurora > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let url = format!("http://127.0.0.1:{port}/");
    world.wait_until("httpd to answer", || {
        Command::new("curl")
            .args(["-sf", "--max-time", "2", &url])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
    assert_eq!(stdout(&out), "hello-from-aurora\n");
    assert_eq!(
        world.ok(&["port", "httpd"]),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    // The port is taken now: a second container asking for it is refused and leaves nothing.
    let out = world.podadm(&[
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        &publish,
        &world.image,
        "sleep",
        "600",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    world.ok(&["rm", "-f", "-t", "0", "httpd"]);
    world.wait_until("the port to close", || {
        !Command::new("curl")
            .args(["-sf", "--max-time", "1", &url])
            .status()
            .is_ok_and(|s| s.success())
    });
    world.ok(&["rm", "-f", "-t", "0", "second"]);
    // A --rm container on the bridge: once its teardown is done, no namespace is left.
    world.ok(&[
        "run",
        "--rm",
        "-p",
        &format!("127.0.0.1:{}:80", free_port()),
        &world.image,
        "true",
    ]);
    let netns = world.runroot().join("netns");
    world.wait_until("every network namespace to go", || {
        std::fs::read_dir(&netns)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    });
    world.ok(&["ps", "-a"]);
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let Some(world) = World::new("containers_on_a_user_network_reach_each_other_by_name") else {
        return;
    };
    let name = format!("aurt{}", std::process::id() % 100000);
    world.ok(&["network", "create", &name]);
    world.ok(&[
        "run",
        "-d",
        "--name",
        "server",
        "--network",
        &name,
        &world.image,
        "sh",
        "-c",
        "mkdir -p /www && echo via-dns > /www/index.html && exec httpd -f -p 8080 -h /www",
    ]);
    let out = world.podadm(&[
        "run",
        "--rm",
        "--network",
        &name,
        &world.image,
        "sh",
        "-c",
        "for i in $(seq 50); do wget -qO- http://server:8080/ && exit 0; sleep 0.1; done; exit 1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "via-dns\n");
    let hosts = world.ok(&["exec", "server", "cat", "/etc/hosts"]);
    assert!(hosts.contains("server"), "{hosts}");
    let out = world.podadm(&["network", "rm", &name]);
    assert_ne!(out.status.code(), Some(0), "removal of a network in use");
    world.ok(&["rm", "-f", "-t", "0", "server"]);
    world.ok(&["network", "rm", &name]);
}

#[test]
fn a_container_joins_anothers_network() {
    let Some(world) = World::new("a_container_joins_anothers_network") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "owner",
        &world.image,
        "sh",
        "-c",
        "mkdir -p /www && echo shared-namespace > /www/index.html && exec httpd -f -p 8081 -h /www",
    ]);
    let out = world.podadm(&["run", "--rm", "--network", "container:owner", &world.image, "sh", "-c",
        "for i in $(seq 50); do wget -qO- http://127.0.0.1:8081/ && exit 0; sleep 0.1; done; exit 1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "shared-namespace\n");
    // Its owner must run.
    world.ok(&["stop", "-t", "0", "owner"]);
    let out = world.podadm(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        &world.image,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("owner"), "{}", stderr(&out));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn concurrent_starts_of_one_host_port_give_it_to_one() {
    let Some(world) = World::new("concurrent_starts_of_one_host_port_give_it_to_one") else {
        return;
    };
    let publish = format!("127.0.0.1:{}:80", free_port());
    let children: Vec<_> = (0..4)
        .map(|i| {
            world
                .podadm_command(&[
                    "run",
                    "-d",
                    "--name",
                    &format!("p{i}"),
                    "-p",
                    &publish,
                    &world.image,
                    "sleep",
                    "600",
                ])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let started = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|out| out.status.success())
        .count();
    assert_eq!(started, 1);
    let running = world.ok(&["ps", "-q"]);
    assert_eq!(running.lines().count(), 1, "{running}");
}

#[test]
fn stats_stream_every_interval_until_the_named_container_stops() {
    let Some(world) = World::new("stats_stream_every_interval_until_the_named_container_stops")
    else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    let child = world
        .podadm_command(&["stats", "--interval", "1", "--format", "json", "busy"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("podadm stats");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // The stream ends by itself once the container it names has stopped.
    world.ok(&["stop", "-t", "0", "busy"]);
    let out = child.wait_with_output().expect("the stream ends");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let samples: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .expect("one JSON array per sample");
    assert!(samples.len() >= 2, "{} samples:\n{text}", samples.len());
    for sample in &samples[..2] {
        assert_eq!(sample[0]["name"], "busy", "{sample}");
        // podman's form: "USAGE / LIMIT", in decimal units.
        let memory = sample[0]["mem_usage"].as_str().unwrap_or_default();
        let (usage, limit) = memory.split_once(" / ").unwrap_or_default();
        for size in [usage, limit] {
            let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            assert!(
                size.ends_with('B') && digits.parse::<f64>().is_ok_and(|n| n > 0.0),
                "{sample}"
            );
        }
        assert_eq!(sample[0]["pids"], "1", "{sample}");
    }
    // One sample with --no-stream, as before.
    world.ok(&["start", "busy"]);
    let once = world.ok(&["stats", "--no-stream", "--format", "json", "busy"]);
    let arrays = serde_json::Deserializer::from_str(&once)
        .into_iter::<serde_json::Value>()
        .count();
    assert_eq!(arrays, 1, "{once}");
    world.ok(&["rm", "-f", "-t", "0", "busy"]);
}

#[test]
fn an_oom_killed_container_says_so_in_inspect() {
    let Some(world) = World::new("an_oom_killed_container_says_so_in_inspect") else {
        return;
    };
    world.podman_pull();
    // dd's 64 MiB buffer in a 16 MiB limit (no swap here); a quiet container beside it.
    let dd = "dd if=/dev/zero of=/dev/null bs=64M count=1";
    let mut seen = Vec::new();
    for podman in [true, false] {
        let run = |args: &[&str]| {
            if podman {
                world.podman(args)
            } else {
                world.podadm(args)
            }
        };
        run(&[
            "run",
            "--name",
            "oom",
            "--network",
            "none",
            "--memory",
            "16m",
            &world.image,
            "sh",
            "-c",
            dd,
        ]);
        let out = run(&[
            "run",
            "--name",
            "calm",
            "--network",
            "none",
            &world.image,
            "true",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "podman={podman}: {}",
            stderr(&out)
        );
        let state = |name: &str| {
            let inspected: serde_json::Value =
                serde_json::from_str(&stdout(&run(&["inspect", name]))).expect("inspect JSON");
            let state = &inspected[0]["State"];
            (state["ExitCode"].clone(), state["OOMKilled"].clone())
        };
        seen.push((state("oom"), state("calm")));
        run(&["rm", "-f", "oom", "calm"]);
    }
    // podman 4.3's conmon here (runc, hybrid cgroups) reports the same exits but never
    // OOMKilled (false for both); the kernel's count in the memory cgroup says true.
    let exits: Vec<_> = seen
        .iter()
        .map(|(oom, calm)| (oom.0.clone(), calm.0.clone()))
        .collect();
    assert_eq!(exits[0], exits[1], "podman, then podadm");
    assert_eq!(
        seen[1],
        ((137.into(), true.into()), (0.into(), false.into()))
    );
}
