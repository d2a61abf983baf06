//! Pods beside `podman pod` on the same cases: members talking over the pod's localhost,
//! one hostname, a shared PID namespace only when asked, a port published at the pod, stop
//! and removal (which leave nothing behind), a restart policy inside a pod, the pod's
//! memory limit on its cgroup parent, and the errors and exit codes of the pod verbs.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{stderr, stdout, World};

/// The two tools, run on the same arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tool {
    Podadm,
    Podman,
}

const TOOLS: [Tool; 2] = [Tool::Podadm, Tool::Podman];

impl Tool {
    fn run(self, world: &World, args: &[&str]) -> Output {
        match self {
            Tool::Podadm => world.podadm(args),
            Tool::Podman => world.podman(args),
        }
    }

    /// Runs `args`, asserting success; its stdout.
    fn ok(self, world: &World, args: &[&str]) -> String {
        let out = self.run(world, args);
        assert!(
            out.status.success(),
            "{self:?} {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// `pod inspect POD` as JSON.
    fn pod_inspect(self, world: &World, pod: &str) -> Value {
        let text = self.ok(world, &["pod", "inspect", pod]);
        let value: Value = serde_json::from_str(&text).expect("pod inspect prints JSON");
        // podman 4.3 prints one object for one pod; an array would hold it first.
        match value {
            Value::Array(mut all) => all.remove(0),
            one => one,
        }
    }

    /// A container's field at `pointer` in `inspect`.
    fn inspect(self, world: &World, container: &str, pointer: &str) -> Value {
        let text = self.ok(world, &["inspect", container]);
        let all: Value = serde_json::from_str(&text).expect("inspect prints JSON");
        all[0].pointer(pointer).cloned().unwrap_or(Value::Null)
    }
}

/// A world with podman's copy of the image, or `None` when the test skips itself.
fn world(test: &str) -> Option<World> {
    let world = World::new(test)?;
    world.podman_pull();
    Some(world)
}

/// Retries `wget` (the server may still be starting) and prints what it got.
fn fetch(url: &str) -> String {
    format!(
        "got=; for i in $(seq 100); do wget -qO- {url} && got=1 && break; sleep 0.1; done; \
         [ -n \"$got\" ]"
    )
}

fn serve(text: &str, port: u16) -> String {
    format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p {port} -h /www")
}

/// A loopback port nothing listens on and no firewall rule forwards (netavark's DNAT rules
/// of other containers on this host hold ports without a socket).
fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let nat = Command::new("iptables-save").args(["-t", "nat"]).output();
        let rules = nat.map(|o| stdout(&o)).unwrap_or_default();
        if !rules.contains(&format!("--dport {port} ")) {
            return port;
        }
    }
}

#[test]
fn members_share_localhost_and_the_pods_hostname() {
    let Some(world) = world("members_share_localhost_and_the_pods_hostname") else {
        return;
    };
    let image = world.image.clone();
    for tool in TOOLS {
        tool.ok(&world, &["pod", "create", "--name", "web"]);
        tool.ok(
            &world,
            &[
                "run",
                "-d",
                "--pod",
                "web",
                "--name",
                "server",
                &image,
                "sh",
                "-c",
                &serve("over-localhost", 8080),
            ],
        );
        let client = format!(
            "{} && hostname && echo $(cat /etc/hostname)",
            fetch("http://127.0.0.1:8080/")
        );
        let out = tool.run(
            &world,
            &["run", "--rm", "--pod", "web", &image, "sh", "-c", &client],
        );
        assert_eq!(out.status.code(), Some(0), "{tool:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "over-localhost\nweb\nweb\n", "{tool:?}");
        assert_eq!(
            tool.ok(&world, &["exec", "server", "hostname"]),
            "web\n",
            "{tool:?}"
        );
        let pod = tool.pod_inspect(&world, "web");
        assert_eq!(pod["State"], "Running", "{tool:?}");
        // podman lists them in no fixed order.
        let mut shared: Vec<&str> = pod["SharedNamespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        shared.sort();
        assert_eq!(shared, ["ipc", "net", "uts"], "{tool:?}");
        assert_eq!(
            pod["NumContainers"], 2,
            "{tool:?}: the infra and the server"
        );
        let listed: Value =
            serde_json::from_str(&tool.ok(&world, &["pod", "ps", "--format", "json"])).unwrap();
        assert_eq!(listed[0]["Name"], "web");
        assert_eq!(listed[0]["Status"], "Running");
        assert_eq!(listed[0]["InfraId"], pod["InfraContainerID"]);
        assert_eq!(
            tool.ok(
                &world,
                &["pod", "ps", "-q", "--no-trunc", "--filter", "name=web"]
            ),
            format!("{}\n", pod["Id"].as_str().unwrap())
        );
        let removed = tool.ok(&world, &["pod", "rm", "-f", "web"]);
        assert_eq!(
            removed,
            format!("{}\n", pod["Id"].as_str().unwrap()),
            "{tool:?}"
        );
    }
}

#[test]
fn only_a_shared_pid_namespace_shows_the_other_members_processes() {
    let Some(world) = world("only_a_shared_pid_namespace_shows_the_other_members_processes") else {
        return;
    };
    let image = world.image.clone();
    for tool in TOOLS {
        let mut seen = Vec::new();
        for (pod, share) in [("pids", "net,ipc,uts,pid"), ("nopids", "net,ipc,uts")] {
            tool.ok(&world, &["pod", "create", "--name", pod, "--share", share]);
            let sleeper = format!("{pod}-sleeper");
            tool.ok(
                &world,
                &[
                    "run", "-d", "--pod", pod, "--name", &sleeper, &image, "sleep", "600",
                ],
            );
            let out = tool.ok(
                &world,
                &[
                    "run",
                    "--rm",
                    "--pod",
                    pod,
                    &image,
                    "sh",
                    "-c",
                    "ps -o comm | grep -cx sleep; true",
                ],
            );
            seen.push(out);
            tool.ok(&world, &["pod", "rm", "-f", pod]);
        }
        assert_eq!(seen, ["1\n", "0\n"], "{tool:?}");
    }
}

#[test]
fn a_port_published_on_the_pod_reaches_a_member() {
    let Some(world) = world("a_port_published_on_the_pod_reaches_a_member") else {
        return;
    };
    if !aurora_testkit::skip::tools_or_skip(
        "a_port_published_on_the_pod_reaches_a_member",
        &["curl"],
    ) {
        return;
    }
    let image = world.image.clone();
    for tool in TOOLS {
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        tool.ok(
            &world,
            &["pod", "create", "--name", "published", "-p", &publish],
        );
        tool.ok(
            &world,
            &[
                "run",
                "-d",
                "--pod",
                "published",
                &image,
                "sh",
                "-c",
                &serve("via-the-pod", 80),
            ],
        );
        let url = format!("http://127.0.0.1:{port}/");
        world.wait_until("the member's httpd to answer at the pod's port", || {
            Command::new("curl")
                .args(["-sf", "--max-time", "2", &url])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        assert_eq!(stdout(&out), "via-the-pod\n", "{tool:?}");
        let pod = tool.pod_inspect(&world, "published");
        assert_eq!(
            pod["InfraConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            port.to_string(),
            "{tool:?}"
        );
        tool.ok(&world, &["pod", "rm", "-f", "published"]);
        world.wait_until("the pod's port to close", || {
            !Command::new("curl")
                .args(["-sf", "--max-time", "1", &url])
                .status()
                .is_ok_and(|s| s.success())
        });
    }
}

/// podadm's pod-level events (`Type` pod) and container stops, in order.
fn events(world: &World) -> Vec<(String, String, String)> {
    world
        .ok(&["events", "--no-stream", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("an event per line"))
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (text("Type"), text("action"), text("name"))
        })
        .collect()
}

#[test]
fn pod_stop_stops_members_in_reverse_order_and_rm_leaves_nothing() {
    let Some(world) = world("pod_stop_stops_members_in_reverse_order_and_rm_leaves_nothing") else {
        return;
    };
    let mut veth_index: Option<u32> = None;
    let image = world.image.clone();
    for tool in TOOLS {
        tool.ok(
            &world,
            &[
                "pod",
                "create",
                "--name",
                "trio",
                "-p",
                &format!("127.0.0.1:{}:80", free_port()),
            ],
        );
        for name in ["first", "second"] {
            tool.ok(
                &world,
                &[
                    "create", "--pod", "trio", "--name", name, &image, "sleep", "600",
                ],
            );
        }
        assert_eq!(
            tool.pod_inspect(&world, "trio")["State"],
            "Created",
            "{tool:?}"
        );
        tool.ok(&world, &["pod", "start", "trio"]);
        assert_eq!(
            tool.pod_inspect(&world, "trio")["State"],
            "Running",
            "{tool:?}"
        );
        tool.ok(&world, &["stop", "-t", "0", "second"]);
        assert_eq!(
            tool.pod_inspect(&world, "trio")["State"],
            "Degraded",
            "{tool:?}"
        );
        tool.ok(&world, &["pod", "stop", "-t", "0", "trio"]);
        let pod = tool.pod_inspect(&world, "trio");
        assert_eq!(pod["State"], "Exited", "{tool:?}");
        for container in pod["Containers"].as_array().unwrap() {
            assert_eq!(container["State"], "exited", "{tool:?}: {container}");
        }
        // Stopped ones beside one that never ran: Stopped.
        tool.ok(
            &world,
            &["create", "--pod", "trio", "--name", "third", &image, "true"],
        );
        assert_eq!(
            tool.pod_inspect(&world, "trio")["State"],
            "Stopped",
            "{tool:?}"
        );
        tool.ok(&world, &["rm", "third"]);
        // A running pod is not removed without -f.
        tool.ok(&world, &["pod", "start", "trio"]);
        if tool == Tool::Podadm {
            // The host end of the pod's veth: the peer of the eth0 its members share.
            let peer = tool.ok(
                &world,
                &["exec", "first", "cat", "/sys/class/net/eth0/iflink"],
            );
            veth_index = peer.trim().parse().ok();
        }
        let out = tool.run(&world, &["pod", "rm", "trio"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{tool:?}: rm of a running pod"
        );
        tool.ok(&world, &["pod", "stop", "-t", "0", "trio"]);
        tool.ok(&world, &["pod", "rm", "trio"]);
        assert_eq!(tool.ok(&world, &["pod", "ps", "-q"]), "", "{tool:?}");
        assert_eq!(tool.ok(&world, &["ps", "-a", "-q"]), "", "{tool:?}");
        assert_eq!(
            tool.run(&world, &["pod", "exists", "trio"]).status.code(),
            Some(1)
        );
    }
    // The order: the members in reverse creation order, then the infra.
    let stops: Vec<String> = events(&world)
        .into_iter()
        .filter(|(kind, action, _)| kind == "container" && action == "stop")
        .map(|(_, _, name)| name)
        .collect();
    let pod_stop = &stops[stops.len() - 3..];
    assert_eq!(pod_stop[..2], ["second".to_string(), "first".to_string()]);
    assert!(pod_stop[2].ends_with("-infra"), "{stops:?}");
    let pod_events: Vec<String> = events(&world)
        .into_iter()
        .filter(|(kind, _, _)| kind == "pod")
        .map(|(_, action, _)| action)
        .collect();
    assert_eq!(pod_events.first().map(String::as_str), Some("create"));
    assert_eq!(pod_events.last().map(String::as_str), Some("remove"));
    // Nothing of podadm's pod is left: its veth, mounts, network namespaces, clones, files.
    let veth_index = veth_index.expect("the pod's veth was seen");
    let host_interfaces: Vec<u32> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .filter_map(|i| std::fs::read_to_string(i.path().join("ifindex")).ok())
        .filter_map(|i| i.trim().parse().ok())
        .collect();
    assert!(
        !host_interfaces.contains(&veth_index),
        "the pod's veth (host interface {veth_index}) was left"
    );
    assert_eq!(world.mounts_under(&world.root()), Vec::<String>::new());
    let netns = world.runroot().join("netns");
    let left: Vec<_> = std::fs::read_dir(&netns)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "network namespaces left: {left:?}");
    let containers = world.root().join("podadm/containers");
    assert_eq!(
        std::fs::read_dir(&containers).unwrap().count(),
        0,
        "container files left"
    );
    assert_eq!(storage_clones(&world), Vec::<String>::new());
}

/// The containers' clones the overlay driver keeps under the store (none once removed).
fn storage_clones(world: &World) -> Vec<String> {
    std::fs::read_dir(world.root().join("storage/containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_restart_policy_works_inside_a_pod() {
    let Some(world) = world("a_restart_policy_works_inside_a_pod") else {
        return;
    };
    let image = world.image.clone();
    for tool in TOOLS {
        tool.ok(&world, &["pod", "create", "--name", "retry"]);
        tool.ok(
            &world,
            &[
                "run",
                "-d",
                "--pod",
                "retry",
                "--name",
                "flaky",
                "--restart",
                "on-failure:2",
                &image,
                "sh",
                "-c",
                "echo attempt; exit 3",
            ],
        );
        let out = tool.run(&world, &["wait", "flaky"]);
        assert_eq!(stdout(&out), "3\n", "{tool:?}: {}", stderr(&out));
        world.wait_until("the last exit to be recorded", || {
            tool.inspect(&world, "flaky", "/State/Status") == "exited"
        });
        assert_eq!(
            tool.inspect(&world, "flaky", "/RestartCount"),
            2,
            "{tool:?}"
        );
        assert_eq!(
            tool.ok(&world, &["logs", "flaky"]),
            "attempt\n".repeat(3),
            "{tool:?}"
        );
        // The infra is still running: the pod is degraded, as podman says.
        assert_eq!(
            tool.pod_inspect(&world, "retry")["State"],
            "Degraded",
            "{tool:?}"
        );
        tool.ok(&world, &["pod", "rm", "-f", "retry"]);
    }
}

#[test]
fn the_pods_memory_limit_is_on_its_cgroup_parent_and_members_sit_under_it() {
    let Some(world) =
        world("the_pods_memory_limit_is_on_its_cgroup_parent_and_members_sit_under_it")
    else {
        return;
    };
    let image = world.image.clone();
    for tool in TOOLS {
        tool.ok(
            &world,
            &["pod", "create", "--name", "limited", "--memory", "64m"],
        );
        tool.ok(
            &world,
            &[
                "run", "-d", "--pod", "limited", "--name", "member", &image, "sleep", "600",
            ],
        );
        let parent = tool.pod_inspect(&world, "limited")["CgroupPath"]
            .as_str()
            .unwrap()
            .to_string();
        let pid = tool.inspect(&world, "member", "/State/Pid");
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let memory = cgroups
            .lines()
            .find_map(|l| l.split_once(":memory:").map(|(_, path)| path.to_string()))
            .expect("a memory cgroup (v1)");
        assert!(
            memory.starts_with(&format!("{parent}/")),
            "{tool:?}: {memory} is not under {parent}"
        );
        let limit_file = format!("/sys/fs/cgroup/memory{parent}/memory.limit_in_bytes");
        assert_eq!(
            std::fs::read_to_string(&limit_file).unwrap(),
            "67108864\n",
            "{tool:?}"
        );
        // In effect for the member: holding 100 MiB (tail keeps what it prints) gets it killed.
        let out = tool.run(
            &world,
            &[
                "exec",
                "member",
                "sh",
                "-c",
                "head -c 100m /dev/zero | tail -c 100m >/dev/null && echo survived",
            ],
        );
        assert_ne!(
            stdout(&out),
            "survived\n",
            "{tool:?}: the pod's limit did not hold"
        );
        tool.ok(&world, &["pod", "rm", "-f", "limited"]);
        if tool == Tool::Podadm {
            for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
                let left = hierarchy.path().join(parent.trim_start_matches('/'));
                assert!(!left.exists(), "{} was left", left.display());
            }
        }
    }
}

#[test]
fn pod_errors_and_exit_codes_are_podmans() {
    let Some(world) = world("pod_errors_and_exit_codes_are_podmans") else {
        return;
    };
    let image = world.image.clone();
    for tool in TOOLS {
        tool.ok(&world, &["pod", "create", "--name", "p1"]);
        let code = |args: &[&str]| tool.run(&world, args).status.code();
        assert_eq!(
            code(&["pod", "create", "--name", "p1"]),
            Some(125),
            "{tool:?}: taken name"
        );
        assert_eq!(code(&["pod", "exists", "p1"]), Some(0), "{tool:?}");
        assert_eq!(code(&["pod", "exists", "nope"]), Some(1), "{tool:?}");
        assert_eq!(code(&["pod", "rm", "nope"]), Some(1), "{tool:?}");
        assert_eq!(code(&["pod", "stop", "nope"]), Some(125), "{tool:?}");
        assert_eq!(code(&["pod", "start", "nope"]), Some(125), "{tool:?}");
        assert_eq!(
            code(&["create", "--pod", "p1", "-p", "8080:80", &image, "true"]),
            Some(125),
            "{tool:?}: a member publishing a port"
        );
        assert_eq!(
            code(&["create", "--pod", "nope", &image, "true"]),
            Some(125),
            "{tool:?}"
        );
        let infra = tool.pod_inspect(&world, "p1")["InfraContainerID"]
            .as_str()
            .unwrap()
            .to_string();
        let out = tool.run(&world, &["rm", &infra]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{tool:?}: rm of the infra alone"
        );
        assert!(
            stderr(&out).contains("infra container"),
            "{tool:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            code(&["pod", "exists", "p1"]),
            Some(0),
            "{tool:?}: the pod survives"
        );
        tool.ok(&world, &["pod", "rm", "p1"]);
    }
    // podadm's messages name what is wrong.
    let out = world.podadm(&["pod", "create", "--share", "net,user"]);
    assert!(stderr(&out).contains("\"user\""), "{}", stderr(&out));
    assert_eq!(
        world.ok(&["pod", "ps", "-q"]),
        "",
        "a refused create leaves no pod"
    );
}

/// What podadm's pods leave on the host: pod cgroup parents of this world's pods.
fn pod_cgroups(ids: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for id in ids {
            let dir = hierarchy.path().join(format!("aurora/pod-{}", &id[..12]));
            if dir.exists() {
                left.push(dir.display().to_string());
            }
        }
    }
    left
}

#[test]
fn podadm_killed_during_pod_create_or_rm_leaves_nothing_pod_rm_cannot_remove() {
    let Some(world) =
        World::new("podadm_killed_during_pod_create_or_rm_leaves_nothing_pod_rm_cannot_remove")
    else {
        return;
    };
    let mut seen_ids = Vec::new();
    for delay_ms in [1u64, 5, 10, 20, 40, 80, 160, 320] {
        for args in [
            vec!["pod", "create", "--memory", "64m", "-p", "127.0.0.1:0:80"],
            vec!["pod", "rm", "-f", "--all"],
        ] {
            if args[1] == "rm" {
                // Something to remove: a running pod with a member.
                let id = world.ok(&["pod", "create"]).trim().to_string();
                world.ok(&["run", "-d", "--pod", &id, &world.image, "sleep", "600"]);
                seen_ids.push(id);
            }
            let mut child = world
                .podadm_command(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            // Every pod listed is whole: its infra container is listed too.
            let pods: Value =
                serde_json::from_str(&world.ok(&["pod", "ps", "--format", "json"])).unwrap();
            for pod in pods.as_array().unwrap() {
                seen_ids.push(pod["Id"].as_str().unwrap().to_string());
                let containers = pod["Containers"].as_array().unwrap();
                assert!(
                    containers.iter().any(|c| c["Id"] == pod["InfraId"]),
                    "a pod without its infra: {pod}"
                );
            }
        }
    }
    world.ok(&["pod", "rm", "-f", "--all"]);
    assert_eq!(world.ok(&["pod", "ps", "-q"]), "");
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(world.mounts_under(&world.root()), Vec::<String>::new());
    assert_eq!(storage_clones(&world), Vec::<String>::new());
    assert_eq!(pod_cgroups(&seen_ids), Vec::<String>::new());
    let netns = world.runroot().join("netns");
    let left: Vec<_> = std::fs::read_dir(&netns)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "network namespaces left: {left:?}");
}

#[test]
fn pod_top_logs_and_stats_show_the_members() {
    let Some(world) = world("pod_top_logs_and_stats_show_the_members") else {
        return;
    };
    let image = world.image.clone();
    // Each tool's `pod stats` header, and its JSON row for the member.
    let mut stats_seen = Vec::new();
    for tool in TOOLS {
        tool.ok(&world, &["pod", "create", "--name", "seen"]);
        tool.ok(
            &world,
            &[
                "run",
                "-d",
                "--pod",
                "seen",
                "--name",
                "talker",
                &image,
                "sh",
                "-c",
                "echo hello-from-member; exec sleep 600",
            ],
        );
        world.wait_until("the member's output", || {
            tool.ok(&world, &["logs", "talker"])
                .contains("hello-from-member")
        });
        let logs = tool.ok(&world, &["pod", "logs", "seen"]);
        assert!(logs.contains("hello-from-member"), "{tool:?}: {logs}");
        let top = tool.ok(&world, &["pod", "top", "seen"]);
        assert!(top.contains("sleep 600"), "{tool:?}: {top}");
        let out = tool.run(&world, &["pod", "stats", "--no-stream", "seen"]);
        assert_eq!(out.status.code(), Some(0), "{tool:?}: {}", stderr(&out));
        let table = String::from_utf8_lossy(&out.stdout).to_string();
        let stats: serde_json::Value = serde_json::from_str(&tool.ok(
            &world,
            &["pod", "stats", "--no-stream", "--format", "json", "seen"],
        ))
        .unwrap();
        let talker_stats = stats
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["Name"] == "talker")
            .cloned()
            .unwrap_or_default();
        let container_stats: serde_json::Value = serde_json::from_str(&tool.ok(
            &world,
            &["stats", "--no-stream", "--format", "json", "talker"],
        ))
        .unwrap();
        stats_seen.push((
            table.lines().next().unwrap_or_default().to_string(),
            talker_stats,
            container_stats[0].clone(),
        ));
        // podman's pod ps --ctr-*: the containers' names and states instead of their number,
        // the infra container first; --noheading, --sort and --latest.
        let listed = tool.ok(&world, &["pod", "ps", "--ctr-names", "--ctr-status"]);
        let mut lines = listed.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["POD", "ID", "NAME", "STATUS", "CREATED", "INFRA", "ID", "NAMES", "STATUS"],
            "{tool:?}: {listed}"
        );
        let row: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let infra = format!("{}-infra", &row[0]);
        // In the order of the containers' ids (random), as podman lists them.
        let mut names: Vec<&str> = row[row.len() - 2].split(',').collect();
        names.sort();
        assert_eq!(names, [infra.as_str(), "talker"], "{tool:?}: {listed}");
        assert_eq!(row[row.len() - 1], "running,running", "{tool:?}: {listed}");
        let ids_listed = tool.ok(&world, &["pod", "ps", "--ctr-ids", "--noheading"]);
        let ids: Vec<&str> = ids_listed
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .split(',')
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{tool:?}: {ids_listed}");
        let bare = tool.ok(&world, &["ps", "-a", "--noheading", "--sort", "names"]);
        let names: Vec<&str> = bare
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .collect();
        assert_eq!(names, [infra.as_str(), "talker"], "{tool:?}: {bare}");
        let latest = tool.ok(&world, &["ps", "--latest", "--format", "json"]);
        let latest: serde_json::Value = serde_json::from_str(&latest).unwrap();
        assert_eq!(latest[0]["Names"][0], "talker", "{tool:?}: {latest}");
        // `ps --pod` and ps's JSON name each container's pod.
        let table = tool.ok(&world, &["ps", "--pod"]);
        let header = table.lines().next().unwrap_or_default();
        assert!(
            header.contains("POD ID") && header.trim_end().ends_with("PODNAME"),
            "{tool:?}: {table}"
        );
        let talker = table
            .lines()
            .find(|l| l.contains("talker"))
            .unwrap_or_default();
        assert!(talker.trim_end().ends_with("seen"), "{tool:?}: {table}");
        let listed: serde_json::Value =
            serde_json::from_str(&tool.ok(&world, &["ps", "--pod", "--format", "json"])).unwrap();
        let member = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Names"][0] == "talker")
            .cloned()
            .unwrap_or_default();
        assert_eq!(member["PodName"], "seen", "{tool:?}: {member}");
        assert_eq!(
            member["Pod"],
            tool.pod_inspect(&world, "seen")["Id"],
            "{tool:?}"
        );
        let state = || tool.pod_inspect(&world, "seen")["State"].clone();
        tool.ok(&world, &["pod", "pause", "seen"]);
        assert_eq!(state(), "Paused", "{tool:?}");
        // A second pause finds it paused, and that is fine.
        tool.ok(&world, &["pod", "pause", "seen"]);
        tool.ok(&world, &["pod", "unpause", "seen"]);
        assert_eq!(state(), "Running", "{tool:?}");
        tool.ok(&world, &["pod", "kill", "seen"]);
        world.wait_until("the pod to exit", || {
            tool.pod_inspect(&world, "seen")["State"] == "Exited"
        });
        tool.ok(&world, &["pod", "rm", "seen"]);
    }
    // The same columns, the same JSON keys, the same units (the memory limit: the host's).
    let [(podadm_header, podadm_row, podadm_container), (podman_header, podman_row, podman_container)] =
        &stats_seen[..]
    else {
        panic!("one sample per tool: {stats_seen:?}");
    };
    let words = |header: &str| header.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(podadm_header), words(podman_header));
    let keys = |row: &serde_json::Value| {
        let mut keys: Vec<String> = row.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(podadm_row),
        keys(podman_row),
        "{podadm_row} against {podman_row}"
    );
    assert_eq!(
        keys(podadm_container),
        keys(podman_container),
        "{podadm_container} against {podman_container}"
    );
    let limit = |row: &serde_json::Value| {
        let usage = row["MemUsage"].as_str().unwrap_or_default().to_string();
        usage.split(" / ").nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(
        limit(podadm_row),
        limit(podman_row),
        "{podadm_row} against {podman_row}"
    );
    assert_eq!(podadm_row["PIDS"], "1", "{podadm_row}");
    assert_eq!(
        podadm_row["CID"].as_str().map(str::len),
        Some(12),
        "{podadm_row}"
    );
}

#[test]
fn a_pod_runs_under_runc_as_under_runz() {
    let Some(world) = World::new("a_pod_runs_under_runc_as_under_runz") else {
        return;
    };
    if !aurora_testkit::skip::tools_or_skip("a_pod_runs_under_runc_as_under_runz", &["runc"]) {
        return;
    }
    let runc = |args: &[&str]| {
        let mut all = vec!["--runtime", "runc"];
        all.extend_from_slice(args);
        world.ok(&all)
    };
    runc(&["pod", "create", "--name", "viarunc", "--share", "+pid"]);
    runc(&[
        "run",
        "-d",
        "--pod",
        "viarunc",
        "--name",
        "sleeper",
        &world.image,
        "sleep",
        "600",
    ]);
    // runc refuses a hostname in a UTS namespace it joins: the member's spec sets none.
    let out = runc(&[
        "run",
        "--rm",
        "--pod",
        "viarunc",
        &world.image,
        "sh",
        "-c",
        "hostname; ps -o comm | grep -cx sleep",
    ]);
    assert_eq!(out, "viarunc\n1\n");
    runc(&["pod", "rm", "-f", "viarunc"]);
    assert_eq!(world.ok(&["ps", "-a", "-q"]), "");
}
