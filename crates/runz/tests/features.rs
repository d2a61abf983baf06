//! The Linux backend's less common fields, checked from inside the container: seccomp,
//! sysctl, oomScoreAdj, joining another container's namespace by path, a user namespace with
//! id maps, and runz's --init (podinit as PID 1, reaping orphans and passing signals on).
//! Needs root.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::json;

#[test]
fn seccomp_denies_what_the_profile_denies() {
    let Some(runz) = runz_or_skip("seccomp_denies_what_the_profile_denies") else {
        return;
    };
    let bundle = BusyboxBundle::shell("mkdir /tmp/x 2>&1 && echo made; echo still-running");
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "mkdir: can't create directory '/tmp/x': Operation not permitted\nstill-running\n"
    );
    assert!(!bundle.rootfs().join("tmp/x").exists());
}

#[test]
fn sysctl_and_oom_score_adj_are_applied() {
    let Some(runz) = runz_or_skip("sysctl_and_oom_score_adj_are_applied") else {
        return;
    };
    let bundle =
        BusyboxBundle::shell("cat /proc/sys/kernel/shm_rmid_forced /proc/self/oom_score_adj");
    bundle.edit(|c| {
        c["linux"]["sysctl"] = json!({"kernel.shm_rmid_forced": "1"});
        // Root here lacks CAP_SYS_RESOURCE: a score above the caller's is what it may set.
        c["process"]["oomScoreAdj"] = json!(500);
    });
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "1\n500\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
        "0\n",
        "the host's own value is untouched"
    );
}

#[test]
fn a_container_joins_another_s_network_namespace_by_path() {
    let Some(runz) = runz_or_skip("a_container_joins_another_s_network_namespace_by_path") else {
        return;
    };
    let first = BusyboxBundle::new(&["sleep", "100"]);
    let a = runz.run_detached(&first);
    let pid = runz.state(&a)["pid"].as_i64().unwrap();
    let netns = format!("/proc/{pid}/ns/net");
    let theirs = std::fs::read_link(&netns)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let second = BusyboxBundle::shell("readlink /proc/self/ns/net; readlink /proc/self/ns/uts");
    second.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        for ns in namespaces.iter_mut() {
            if ns["type"] == "network" {
                ns["path"] = json!(netns);
            }
        }
    });
    let (code, stdout, stderr) = runz.run(&second);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0], theirs,
        "joined the first container's network namespace"
    );
    let uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    assert_ne!(
        lines[1],
        uts.to_string_lossy(),
        "but has a UTS namespace of its own"
    );
    runz.ok(&["delete", "--force", &a]);
}

#[test]
fn a_user_namespace_maps_ids() {
    let Some(runz) = runz_or_skip("a_user_namespace_maps_ids") else {
        return;
    };
    let bundle = BusyboxBundle::shell(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox",
    );
    // The rootfs belongs to the mapped range's root, as an image unpacked with --uidmap would.
    for entry in walk(&bundle.rootfs()) {
        let _ = std::os::unix::fs::lchown(&entry, Some(100000), Some(100000));
    }
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    let fields: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(fields[0], ["0", "100000", "65536"]);
    assert_eq!(fields[1], ["0", "100000", "65536"]);
    assert_eq!(fields[2], ["0"]);
    assert_eq!(fields[3], ["0"], "the host's 100000 is root inside");
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn init_runs_podinit_as_pid_1_which_reaps_orphans_and_passes_signals_on() {
    let Some(runz) =
        runz_or_skip("init_runs_podinit_as_pid_1_which_reaps_orphans_and_passes_signals_on")
    else {
        return;
    };
    let podinit = static_podinit();
    // An orphan that exits must be reaped by PID 1 (podinit), and the command is PID 2. The
    // script waits for the reaping itself: a zombie keeps its /proc entry, a reaped process
    // does not (runz's 60 s timeout is the hang guard).
    let bundle = BusyboxBundle::shell(
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo pid=$$; \
         orphan=$( (true >/dev/null 2>&1 & echo $!) ); \
         while [ -e /proc/$orphan ]; do usleep 10000; done; \
         grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l",
    );
    let id = unique_id();
    let out = runz.output(&[
        "run",
        "--init",
        "--init-path",
        &podinit.to_string_lossy(),
        "--bundle",
        &bundle.path().to_string_lossy(),
        &id,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("/dev/.aurora-init -- sh -c"),
        "{stdout}"
    );
    assert_eq!(lines[1], "pid=2");
    assert_eq!(lines[2].trim(), "0", "no zombies: {stdout}");
    // The image's tree is untouched by the injection.
    assert!(!bundle.rootfs().join("dev/.aurora-init").exists());

    // SIGTERM to `runz run` reaches podinit, which passes it to the command; its exit status
    // comes back out.
    let bundle = BusyboxBundle::shell(
        "trap 'exit 9' TERM; echo ready > /tmp/ready; while true; do sleep 0.1; done",
    );
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    let mut child = runz
        .command(&[
            "run",
            "--init",
            "--init-path",
            &podinit.to_string_lossy(),
            "--bundle",
            &bundle.path().to_string_lossy(),
            &unique_id(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(|| bundle.rootfs().join("tmp/ready").exists()));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(9));

    let err = runz.fails(
        &[
            "run",
            "--init",
            "--init-path",
            "/nonexistent/podinit",
            "--bundle",
            &bundle.path().to_string_lossy(),
            "x",
        ],
        1,
    );
    assert!(err.contains("/nonexistent/podinit"), "{err}");
}

#[test]
fn a_program_whose_interpreter_is_proc_self_exe_never_reaches_the_host_binary() {
    let Some(runz) =
        runz_or_skip("a_program_whose_interpreter_is_proc_self_exe_never_reaches_the_host_binary")
    else {
        return;
    };
    // CVE-2019-5736's entry point: the kernel runs the interpreter /proc/self/exe of the
    // process that executes the program. That must be the sealed runz-exec, not runz.
    let bundle = BusyboxBundle::new(&["/evil", "--version"]);
    std::fs::write(bundle.rootfs().join("evil"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(
        bundle.rootfs().join("evil"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let before = std::fs::read(Runz::binary()).unwrap();
    let (code, stdout, stderr) = runz.run(&bundle);
    assert!(
        !stdout.contains("runz"),
        "runz ran inside the container: {stdout}"
    );
    assert!(
        !stderr.contains("Usage: runz"),
        "runz ran inside the container: {stderr}"
    );
    // runz-exec, run as the interpreter with only the script as argument, refuses.
    assert_eq!(code, 127, "{stdout}{stderr}");
    assert!(stderr.contains("runz-exec: usage"), "{stderr}");
    assert_eq!(std::fs::read(Runz::binary()).unwrap(), before);
}

#[test]
fn devices_and_cgroup_resources_come_from_the_config() {
    let Some(runz) = runz_or_skip("devices_and_cgroup_resources_come_from_the_config") else {
        return;
    };
    let bundle = BusyboxBundle::shell(
        "stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/fuse; \
         cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    bundle.edit(|c| {
        c["linux"]["devices"] = json!([{
            "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 0, "gid": 0
        }]);
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
        c["linux"]["resources"]["memory"] = json!({"limit": 134217728});
        c["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({
            "allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"
        }));
    });
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "/dev/null character special file 1:3 666\n\
         /dev/zero character special file 1:5 666\n\
         /dev/fuse character special file a:e5 640\n\
         42\n134217728\n"
    );
}
