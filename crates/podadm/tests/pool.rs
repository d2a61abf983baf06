//! The warm pool: `pool set/ls/rm`, `run` claiming a ready sandbox, the refiller, crashes,
//! and a claimed sandbox indistinguishable from a fresh container.

mod support;

use support::{stderr, stdout, World};

/// `pool ls --format json` as (ready, filling) of the world's image.
fn counts(world: &World) -> Option<(u64, u64)> {
    let out = world.ok(&["pool", "ls", "--format", "json"]);
    let pools: serde_json::Value = serde_json::from_str(&out).expect("pool ls prints JSON");
    pools
        .as_array()?
        .iter()
        .find_map(|p| Some((p["ready"].as_u64()?, p["filling"].as_u64()?)))
}

fn wait_ready(world: &World, ready: u64) {
    world.wait_until(&format!("{ready} ready sandboxes"), || {
        counts(world) == Some((ready, 0))
    });
}

/// Sandbox ids (the directories of their monitors that hold a channel).
fn sandbox_dirs(world: &World) -> Vec<String> {
    let dir = world.runroot().join("podadm");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("sandbox").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// What a removal must leave: no clone, no netns file, no monitor, no mount. A `run --rm`
/// returns before its teardown (the monitor's exit command does it): waited for first.
fn assert_nothing_left(world: &World) {
    let dir_empty = |dir: std::path::PathBuf| {
        std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
    };
    world.wait_until("the teardowns", || {
        dir_empty(world.root().join("podadm").join("containers"))
            && dir_empty(world.root().join("storage").join("containers"))
            && sandbox_dirs(world).is_empty()
    });
    let containers = world.root().join("storage").join("containers");
    let clones: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(clones.is_empty(), "clones left: {clones:?}");
    let netns: Vec<_> = std::fs::read_dir(world.runroot().join("netns"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(netns.is_empty(), "network namespaces left: {netns:?}");
    assert!(sandbox_dirs(world).is_empty(), "monitors left");
    let mounts = world.mounts_under(&world.root());
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let bundles: Vec<_> = std::fs::read_dir(world.root().join("podadm").join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(bundles.is_empty(), "bundles left: {bundles:?}");
}

fn pull(world: &World) {
    // The first run pulls the image into the store; a pool needs it there.
    world.ok(&["run", "--rm", "--network", "none", &world.image, "true"]);
}

#[test]
fn run_claims_a_ready_sandbox_and_the_pool_refills() {
    let Some(world) = World::new("run_claims_a_ready_sandbox_and_the_pool_refills") else {
        return;
    };
    pull(&world);
    world.ok(&["pool", "set", &world.image, "--size", "2"]);
    wait_ready(&world, 2);
    let before = sandbox_dirs(&world);

    // A named, kept container: its id is one of the ready sandboxes'.
    let out = world.ok(&["run", "--name", "kept", &world.image, "hostname"]);
    let id = world.inspect("kept", "/Id");
    let id = id.as_str().expect("an id").to_string();
    assert!(
        before.contains(&id),
        "{id} is not one of the sandboxes {before:?}"
    );
    assert_eq!(
        out.trim(),
        &id[..12],
        "the hostname is the id's first 12 digits"
    );
    assert_eq!(world.inspect("kept", "/State/ExitCode"), 0);
    // It starts again as any container.
    let again = world.ok(&["start", "-a", "kept"]);
    assert_eq!(again.trim(), &id[..12]);
    world.ok(&["rm", "kept"]);

    let out = world.podadm(&["run", "--rm", &world.image, "echo", "hi"]);
    assert_eq!(stdout(&out), "hi\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // `ps -a` no longer shows a --rm container.
    let ps = world.ok(&["ps", "-a", "-q"]);
    assert_eq!(ps.trim(), "", "a --rm container is still listed");

    let out = world.podadm(&["run", "--rm", &world.image, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // A command the image lacks fails the run as a fresh container's start does (the
    // sandbox is given up and the normal path reports it).
    for (flags, command, code) in [
        (&["--rm"][..], "/no/such/command", 127),
        (&["-d"][..], "/no/such/command", 127),
        (&["--rm"][..], "/etc", 126),
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend([world.image.as_str(), command]);
        let out = world.podadm(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    }
    // The -d one is left created, as any container whose start failed.
    world.ok(&["rm", "-f", "--all"]);

    // Refilled in the background to 2 (three were claimed).
    wait_ready(&world, 2);
    let after = sandbox_dirs(&world);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_ne!(before, after, "no sandbox was claimed");

    world.ok(&["pool", "rm", &world.image]);
    assert!(world.ok(&["pool", "ls"]).lines().count() <= 1);
    assert_nothing_left(&world);
}

/// Processes whose command line holds `needle` and this world's root (its refillers).
fn refillers(world: &World) -> Vec<i32> {
    let root = world.root().display().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == &root) && args.ends_with(&["pool".into(), "refill".into()]) {
            pids.push(pid);
        }
    }
    pids
}

fn entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_killed_refiller_or_monitor_leaves_no_ghost() {
    let Some(world) = World::new("a_killed_refiller_or_monitor_leaves_no_ghost") else {
        return;
    };
    pull(&world);
    world.ok(&["pool", "set", &world.image, "--size", "3"]);
    // Caught while a sandbox is being made, the refiller is killed.
    let mut killed = false;
    world.wait_until("a refiller at work", || {
        if counts(&world).is_some_and(|(_, filling)| filling > 0) {
            for pid in refillers(&world) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                killed = true;
            }
        }
        killed
    });
    // The next read destroys the half-made sandbox and starts another refiller.
    wait_ready(&world, 3);
    world.wait_until("the refiller gone", || refillers(&world).is_empty());
    let clones = entries(&world.root().join("storage").join("containers"));
    let netns = entries(&world.runroot().join("netns"));
    assert_eq!(sandbox_dirs(&world).len(), 3, "monitors");
    assert_eq!(clones, 3, "clones: a half-made sandbox left one");
    assert_eq!(netns, 3, "network namespaces: a half-made sandbox left one");

    // A ready sandbox whose monitor is killed is destroyed and made again.
    let victim = sandbox_dirs(&world)[0].clone();
    let monitor_dir = world.runroot().join("podadm").join(&victim);
    let pid = std::fs::read_to_string(monitor_dir.join("monitor.pid")).expect("monitor.pid");
    let status = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill");
    assert!(status.success());
    world.wait_until("the dead sandbox replaced", || {
        counts(&world) == Some((3, 0)) && !sandbox_dirs(&world).contains(&victim)
    });
    world.wait_until("the refiller gone", || refillers(&world).is_empty());
    assert_eq!(entries(&world.root().join("storage").join("containers")), 3);
    assert!(!world
        .root()
        .join("podadm/containers")
        .join(&victim)
        .exists());
    // Still claimable.
    let out = world.podadm(&["run", "--rm", &world.image, "echo", "ok"]);
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));

    let sandboxes = sandbox_dirs(&world);
    world.ok(&["pool", "rm", &world.image]);
    assert_nothing_left(&world);
    for id in sandboxes {
        for controller in ["memory", "pids", "cpu", "unified"] {
            let cgroup = std::path::Path::new("/sys/fs/cgroup")
                .join(controller)
                .join("runz")
                .join(&id);
            assert!(!cgroup.exists(), "{} left", cgroup.display());
        }
    }
}

/// What a container shows of itself, by section (printed by [`PROBE`]).
const PROBE: &str = r#"
echo '== find'; find / -xdev | sort
echo '== etc'; find /etc -xdev -type f ! -name hosts ! -name hostname | sort | xargs md5sum
echo '== caps'; grep Cap /proc/self/status
echo '== status'; grep -E '^(NoNewPrivs|Seccomp|Groups|Uid|Gid):' /proc/self/status
echo '== id'; id
echo '== pid1'; echo "$$"; readlink /proc/1/exe
echo '== mounts'; awk '{ print $5, $6, $9 }' /proc/self/mountinfo | sort
echo '== dev'; ls -a /dev
echo '== env'; env | grep -v '^HOSTNAME=' | sort
echo '== ulimit'; ulimit -a
echo '== umask'; umask
echo '== cwd'; pwd
echo '== cgroup'; sed -E 's/[0-9a-f]{64}/ID/g' /proc/self/cgroup
echo '== ns'; for n in /proc/self/ns/*; do echo "$n $(readlink "$n")"; done
echo '== hostname'; hostname; cat /etc/hostname; echo; echo "$HOSTNAME"
echo '== hosts'; cat /etc/hosts
echo '== ip'; ip -4 -o addr show eth0 | awk '{ print $4 }' | cut -d/ -f1
"#;

fn sections(output: &str) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    let mut current = String::new();
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            current = name.to_string();
            map.insert(current.clone(), String::new());
        } else if let Some(text) = map.get_mut(&current) {
            text.push_str(line);
            text.push('\n');
        }
    }
    map
}

/// The namespaces a container has of its own: the types whose inode differs from the
/// host's (this test's).
fn own_namespaces(section: &str) -> Vec<String> {
    section
        .lines()
        .filter_map(|line| {
            let (path, inode) = line.split_once(' ')?;
            let host = std::fs::read_link(path).ok()?;
            (host.to_string_lossy() != inode).then(|| path.to_string())
        })
        .collect()
}

fn probe(world: &World, name: &str) -> std::collections::BTreeMap<String, String> {
    let out = world.podadm(&[
        "run",
        "--rm",
        "--name",
        name,
        &world.image,
        "sh",
        "-c",
        PROBE,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sections(&stdout(&out))
}

#[test]
fn a_claimed_sandbox_is_indistinguishable_from_a_fresh_container() {
    let Some(world) = World::new("a_claimed_sandbox_is_indistinguishable_from_a_fresh_container")
    else {
        return;
    };
    pull(&world);
    world.ok(&["pool", "set", &world.image, "--size", "2"]);
    wait_ready(&world, 2);
    let sandboxes = sandbox_dirs(&world);
    let pooled = probe(&world, "pooled");
    let pooled_id = pooled["hostname"]
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        sandboxes.iter().any(|s| s.starts_with(&pooled_id)),
        "the run was not served by a sandbox: {pooled_id} not in {sandboxes:?}"
    );
    world.ok(&["pool", "rm", &world.image]);
    let fresh = probe(&world, "fresh");
    let fresh_id = fresh["hostname"]
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!sandboxes.iter().any(|s| s.starts_with(&fresh_id)));

    for section in [
        "find", "etc", "caps", "status", "id", "pid1", "mounts", "dev", "env", "ulimit", "umask",
        "cwd", "cgroup",
    ] {
        assert_eq!(
            pooled.get(section),
            fresh.get(section),
            "section {section} differs (pooled, then fresh)"
        );
    }
    assert!(!pooled["mounts"].contains("aurora-sandbox"));
    assert_eq!(
        pooled["pid1"].lines().next(),
        Some("1"),
        "the command is PID 1"
    );
    assert_eq!(
        own_namespaces(&pooled["ns"]),
        own_namespaces(&fresh["ns"]),
        "namespaces"
    );
    assert!(own_namespaces(&pooled["ns"])
        .iter()
        .any(|n| n.ends_with("/net")));
    // Its own hostname, hosts and address.
    for (probe, id, name) in [
        (&pooled, &pooled_id, "pooled"),
        (&fresh, &fresh_id, "fresh"),
    ] {
        assert_eq!(id.len(), 12);
        assert_eq!(probe["hostname"], format!("{id}\n{id}\n{id}\n"));
        let ip = probe["ip"].trim();
        assert!(!ip.is_empty(), "no address");
        let own = probe["hosts"]
            .lines()
            .any(|l| l.starts_with(ip) && l.contains(id.as_str()) && l.contains(name));
        assert!(
            own,
            "hosts of {name} lacks {ip} {id} {name}:\n{}",
            probe["hosts"]
        );
    }
}

#[test]
fn claimed_sandboxes_have_addresses_of_their_own() {
    let Some(world) = World::new("claimed_sandboxes_have_addresses_of_their_own") else {
        return;
    };
    pull(&world);
    world.ok(&["pool", "set", &world.image, "--size", "2"]);
    wait_ready(&world, 2);
    let sandboxes = sandbox_dirs(&world);
    let mut addresses = Vec::new();
    for name in ["one", "two"] {
        let id = world.ok(&["run", "-d", "--name", name, &world.image, "sleep", "600"]);
        let id = id.trim().to_string();
        assert!(
            sandboxes.contains(&id),
            "{name} was not served by a sandbox"
        );
        let out = world.ok(&["exec", name, "sh", "-c", "ip -4 -o addr show eth0"]);
        let ip = out
            .split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_string();
        assert!(!ip.is_empty(), "{out}");
        addresses.push(ip);
    }
    assert_ne!(addresses[0], addresses[1]);
    world.ok(&["rm", "-f", "-t", "0", "one", "two"]);
    world.ok(&["pool", "rm", &world.image]);
    assert_nothing_left(&world);
}

#[test]
fn bad_pool_requests_are_refused_naming_what_is_wrong() {
    let Some(world) = World::new("bad_pool_requests_are_refused_naming_what_is_wrong") else {
        return;
    };
    pull(&world);
    let refused = |args: &[&str], needle: &str| {
        let out = world.podadm(args);
        assert_eq!(out.status.code(), Some(125), "{args:?} was accepted");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    };
    let image = world.image.as_str();
    refused(
        &["pool", "set", image, "--size", "1", "--network", "nosuch"],
        "nosuch",
    );
    refused(
        &[
            "pool",
            "set",
            image,
            "--size",
            "1",
            "--network",
            "container:x",
        ],
        "container",
    );
    refused(
        &["pool", "set", "localhost:1/missing:1", "--size", "1"],
        "missing",
    );
    world.ok(&["network", "create", "named"]);
    refused(
        &["pool", "set", image, "--size", "1", "--network", "named"],
        "network named answers containers' names (DNS)",
    );
    world.ok(&["network", "rm", "named"]);
    refused(&["pool", "rm", image], "no pool of image");
    assert_eq!(world.ok(&["pool", "ls", "--format", "json"]).trim(), "[]");
    assert_nothing_left(&world);
}

/// `pod inspect POD` as JSON.
fn pod_inspect(world: &World, pod: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(&world.ok(&["pod", "inspect", pod])).expect("pod inspect prints JSON");
    match value {
        serde_json::Value::Array(mut all) => all.remove(0),
        one => one,
    }
}

/// What a pod's infra process and a member see of the pod: the infra's command line,
/// capabilities and mounts (from the host), and the member's hostname, its files and
/// the pod's memory limit.
fn pod_probe(world: &World, pod: &str) -> std::collections::BTreeMap<&'static str, String> {
    let inspected = pod_inspect(world, pod);
    let infra = inspected["InfraContainerID"].as_str().unwrap().to_string();
    let pid = world.inspect(&infra, "/State/Pid");
    let proc = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    let caps: String = proc("status")
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .map(|l| format!("{l}\n"))
        .collect();
    let parent = inspected["CgroupPath"].as_str().unwrap().to_string();
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory{parent}/memory.limit_in_bytes"
    ))
    .unwrap();
    let member = world.ok(&[
        "run",
        "--rm",
        "--pod",
        pod,
        &world.image,
        "sh",
        "-c",
        "hostname; cat /etc/hostname; echo; grep -c podhost /etc/hosts",
    ]);
    [
        ("cmdline", proc("cmdline")),
        ("caps", caps),
        (
            "sandbox mounts",
            proc("mountinfo")
                .matches("aurora-sandbox")
                .count()
                .to_string(),
        ),
        ("limit", limit),
        ("member", member),
        ("state", inspected["State"].to_string()),
    ]
    .into_iter()
    .collect()
}

#[test]
fn pod_create_claims_an_infra_sandbox_indistinguishable_from_a_fresh_one() {
    let Some(world) =
        World::new("pod_create_claims_an_infra_sandbox_indistinguishable_from_a_fresh_one")
    else {
        return;
    };
    world.ok(&["pool", "set", "--pod", "--size", "1"]);
    wait_ready(&world, 1);
    let sandboxes = sandbox_dirs(&world);
    let create = [
        "pod",
        "create",
        "--hostname",
        "podhost",
        "--memory",
        "64m",
        "--name",
    ];
    let pooled_id = world
        .ok(&[&create[..], &["pooled"]].concat())
        .trim()
        .to_string();
    let pooled_infra = pod_inspect(&world, "pooled")["InfraContainerID"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sandboxes.contains(&pooled_infra),
        "pod create did not take a sandbox: {pooled_infra} not in {sandboxes:?}"
    );
    // As a fresh pod: created, its infra not running until the pod starts.
    assert_eq!(pod_inspect(&world, "pooled")["State"], "Created");
    assert_eq!(world.inspect(&pooled_infra, "/State/Status"), "created");
    world.ok(&["pool", "rm", "--pod"]);
    world.ok(&[&create[..], &["fresh"]].concat());
    assert_eq!(pod_inspect(&world, "fresh")["State"], "Created");

    for pod in ["pooled", "fresh"] {
        world.ok(&["pod", "start", pod]);
    }
    let pooled = pod_probe(&world, "pooled");
    let fresh = pod_probe(&world, "fresh");
    assert_eq!(pooled, fresh, "pooled, then fresh");
    assert!(
        pooled["member"].starts_with("podhost\npodhost\n"),
        "{}",
        pooled["member"]
    );
    assert_eq!(pooled["sandbox mounts"], "0");
    assert_eq!(pooled["limit"], "67108864\n");

    // Stopped and started again the usual way; removed, nothing is left.
    world.ok(&["pod", "stop", "pooled"]);
    world.ok(&["pod", "start", "pooled"]);
    assert_eq!(pod_probe(&world, "pooled")["member"], pooled["member"]);
    world.ok(&["pod", "rm", "-f", "pooled", "fresh"]);
    assert_nothing_left(&world);
    let leftover: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join(format!("aurora/pod-{}", &pooled_id[..12])))
        .filter(|dir| dir.exists())
        .collect();
    assert!(leftover.is_empty(), "cgroups left: {leftover:?}");
}

#[test]
fn a_pod_the_pool_cannot_serve_is_made_as_usual_and_a_dead_sandbox_is_replaced() {
    let Some(world) =
        World::new("a_pod_the_pool_cannot_serve_is_made_as_usual_and_a_dead_sandbox_is_replaced")
    else {
        return;
    };
    world.ok(&["pool", "set", "--pod", "--size", "1"]);
    wait_ready(&world, 1);
    let sandboxes = sandbox_dirs(&world);
    let infra_of = |pod: &str| {
        pod_inspect(&world, pod)["InfraContainerID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Ports and another network are wired when a sandbox is made: not from the pool.
    world.ok(&["pod", "create", "--name", "ports", "-p", "127.0.0.1::80"]);
    world.ok(&["pod", "create", "--name", "isolated", "--network", "none"]);
    for pod in ["ports", "isolated"] {
        assert!(!sandboxes.contains(&infra_of(pod)), "{pod} took a sandbox");
    }
    assert_eq!(counts(&world), Some((1, 0)));

    // A claimed infra whose sandbox dies before the pod starts is started the usual way.
    world.ok(&["pod", "create", "--name", "orphan", "--hostname", "podhost"]);
    let infra = infra_of("orphan");
    assert!(sandboxes.contains(&infra));
    let monitor = world
        .runroot()
        .join("podadm")
        .join(&infra)
        .join("monitor.pid");
    let monitor = std::fs::read_to_string(&monitor).expect("the sandbox's monitor");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", monitor.trim()])
        .status()
        .expect("kill");
    assert!(killed.success());
    world.ok(&["pod", "start", "orphan"]);
    assert_eq!(world.inspect(&infra, "/State/Status"), "running");
    let out = world.ok(&["run", "--rm", "--pod", "orphan", &world.image, "hostname"]);
    assert_eq!(out, "podhost\n");
    world.ok(&["pod", "rm", "-f", "--all"]);
    // The ready sandboxes' pod cgroup parents go with the pool.
    wait_ready(&world, 1);
    let parents = sandbox_cgroup_parents(&world);
    assert!(!parents.is_empty(), "no ready sandbox's cgroup was seen");
    world.ok(&["pool", "rm", "--pod"]);
    assert_nothing_left(&world);
    let left: Vec<_> = parents.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// The pod cgroup parents (in every hierarchy) that hold a ready sandbox's cgroup.
fn sandbox_cgroup_parents(world: &World) -> Vec<std::path::PathBuf> {
    let sandboxes = sandbox_dirs(world);
    let mut parents = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let Ok(pods) = std::fs::read_dir(hierarchy.path().join("aurora")) else {
            continue;
        };
        for pod in pods.flatten() {
            if sandboxes.iter().any(|id| pod.path().join(id).exists()) {
                parents.push(pod.path());
            }
        }
    }
    parents
}
