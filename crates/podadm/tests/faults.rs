//! Faults: podadm killed at any point, a monitor killed, many podadm processes at once, a
//! host reboot (every process killed, mounts gone), a full disk under the logs.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{stderr, World};

fn ps_all(world: &World) -> serde_json::Value {
    serde_json::from_str(&world.ok(&["ps", "-a", "--format", "json"])).unwrap()
}

/// Every container of the world is removed and nothing of them is left.
fn assert_all_removable(world: &World) {
    world.ok(&["rm", "-f", "-t", "0", "--all"]);
    assert_eq!(ps_all(world), serde_json::json!([]));
    assert!(
        world.mounts_under(&world.root()).is_empty(),
        "{:?}",
        world.mounts_under(&world.root())
    );
    let containers = world.root().join("podadm/containers");
    let left: Vec<_> = std::fs::read_dir(&containers).unwrap().collect();
    assert!(left.is_empty(), "container directories left: {left:?}");
    let storage = world.root().join("storage/containers");
    let left: Vec<_> = std::fs::read_dir(&storage)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "storage containers left: {left:?}");
}

#[test]
fn podadm_killed_at_any_point_leaves_a_consistent_state() {
    let Some(world) = World::new("podadm_killed_at_any_point_leaves_a_consistent_state") else {
        return;
    };
    // The image is pulled once, so the kills land in create and start.
    world.ok(&["create", "--name", "warm", &world.image, "true"]);
    world.ok(&["rm", "warm"]);
    for delay_ms in [1u64, 5, 10, 20, 40, 80, 160, 320] {
        let mut child = world
            .podadm_command(&[
                "run",
                "-d",
                "--network",
                "none",
                &world.image,
                "sleep",
                "600",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever ps shows is true: running ones run, others are created or exited.
        for c in ps_all(&world).as_array().unwrap() {
            let state = c["State"].as_str().unwrap();
            assert!(
                ["created", "running", "exited"].contains(&state),
                "after {delay_ms} ms: {c}"
            );
            if state == "running" {
                let pid = c["Pid"].as_i64().unwrap();
                assert!(
                    std::path::Path::new(&format!("/proc/{pid}")).exists(),
                    "{c}"
                );
            }
        }
        assert_all_removable(&world);
    }
}

#[test]
fn a_killed_monitor_is_noticed() {
    let Some(world) = World::new("a_killed_monitor_is_noticed") else {
        return;
    };
    let id = world.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    let id = id.trim();
    let pid_file = world.runroot().join("podadm").join(id).join("monitor.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    world.wait_until("the monitor to die", || {
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    assert_eq!(world.inspect(id, "/State/Status"), "exited");
    world.ok(&["start", id]);
    assert_eq!(world.inspect(id, "/State/Status"), "running");
    assert_all_removable(&world);
}

#[test]
fn sixteen_concurrent_runs_into_one_store() {
    let Some(world) = World::new("sixteen_concurrent_runs_into_one_store") else {
        return;
    };
    let children: Vec<_> = (0..16)
        .map(|i| {
            world
                .podadm_command(&[
                    "run",
                    "-d",
                    "--name",
                    &format!("c{i}"),
                    "--network",
                    "none",
                    &world.image,
                    "sleep",
                    "600",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let all = ps_all(&world);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 16);
    assert!(all.iter().all(|c| c["State"] == "running"), "{all:?}");
    assert_all_removable(&world);
}

#[test]
fn after_a_reboot_containers_show_exited_and_start_again() {
    let Some(world) = World::new("after_a_reboot_containers_show_exited_and_start_again") else {
        return;
    };
    world.ok(&[
        "run",
        "-d",
        "--name",
        "one",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    world.ok(&[
        "run",
        "-d",
        "--name",
        "two",
        "--network",
        "none",
        &world.image,
        "sleep",
        "600",
    ]);
    // The reboot: every monitor and container process killed, mounts and run root gone.
    for name in ["one", "two"] {
        let id = world.inspect(name, "/Id");
        let dir = world.runroot().join("podadm").join(id.as_str().unwrap());
        let monitor = std::fs::read_to_string(dir.join("monitor.pid")).unwrap();
        let pid = world.inspect(name, "/State/Pid");
        Command::new("kill")
            .args(["-9", monitor.trim(), &pid.to_string()])
            .status()
            .unwrap();
    }
    for mount in world.mounts_under(world.dir.path()).iter().rev() {
        Command::new("umount")
            .arg("-l")
            .arg(mount)
            .status()
            .unwrap();
    }
    std::fs::remove_dir_all(world.runroot()).unwrap();
    for c in ps_all(&world).as_array().unwrap() {
        assert_eq!(c["State"], "exited", "{c}");
    }
    world.ok(&["start", "one"]);
    assert_eq!(world.inspect("one", "/State/Status"), "running");
    let out = world.ok(&["exec", "one", "echo", "back"]);
    assert_eq!(out, "back\n");
    assert_all_removable(&world);
}

#[test]
fn a_full_disk_for_logs_does_not_stop_the_container() {
    let Some(world) = World::new("a_full_disk_for_logs_does_not_stop_the_container") else {
        return;
    };
    world.ok(&["create", "--name", "warm", &world.image, "true"]);
    world.ok(&["rm", "warm"]);
    let containers = world.root().join("podadm/containers");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&containers)
        .status()
        .unwrap();
    assert!(status.success());
    let out = world.podadm(&[
        "run",
        "--name",
        "loud",
        "--network",
        "none",
        &world.image,
        "sh",
        "-c",
        "yes aurora-log-line | head -n 200000; echo done >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(world.inspect("loud", "/State/ExitCode"), 3);
    world.ok(&["rm", "loud"]);
    Command::new("umount").arg(&containers).status().unwrap();
}
