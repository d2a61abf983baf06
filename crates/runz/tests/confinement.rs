//! What confines a container and must hold even against a hostile root filesystem or an
//! unusual configuration: masked and read-only paths land exactly where config.json names
//! them (never through a symbolic link planted in the image), the mask source is the real
//! /dev/null, `disableOOMKiller` reaches the memory cgroup, and a seccomp profile constrains
//! the container's program only, not runz's own last steps. Needs root; skipped otherwise.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::json;

/// `memory.oom_control` of the v1 memory cgroup `/sys/fs/cgroup/memory/PATH`.
fn oom_control(cgroup: &str) -> String {
    let file = Path::new("/sys/fs/cgroup/memory")
        .join(cgroup.trim_start_matches('/'))
        .join("memory.oom_control");
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn has_v1_memory_cgroup() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists()
}

#[test]
fn disable_oom_killer_reaches_the_v1_memory_cgroup_as_with_runc() {
    let Some(runz) = runz_or_skip("disable_oom_killer_reaches_the_v1_memory_cgroup_as_with_runc")
    else {
        return;
    };
    if !has_v1_memory_cgroup() {
        aurora_testkit::skip::skip(
            "disable_oom_killer_reaches_the_v1_memory_cgroup_as_with_runc",
            "no v1 memory cgroup",
        );
        return;
    }
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let id = unique_id();
    // One level, so that deleting the container (either runtime) leaves no cgroup behind.
    let cgroup = format!("/aurora-oom-test-{id}");
    bundle.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(cgroup);
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20, "disableOOMKiller": true});
    });
    let path = bundle.path().to_string_lossy().into_owned();
    runz.ok(&["create", "--bundle", &path, &id]);
    let ours = oom_control(&cgroup);
    assert!(ours.contains("oom_kill_disable 1"), "{ours}");

    // An update that changes the memory limit and says nothing of the OOM killer keeps it
    // disabled (libcgroups rewrites memory.oom_control with every memory update).
    runz.ok(&["update", "--memory", &(128u64 << 20).to_string(), &id]);
    let after_update = oom_control(&cgroup);
    assert!(
        after_update.contains("oom_kill_disable 1"),
        "{after_update}"
    );
    runz.ok(&["delete", "--force", &id]);

    // runc, from the same bundle, writes the same.
    let runc_root = tempfile::tempdir_in("/run").unwrap();
    // runc's init keeps the stdio it was given: a file, not a pipe that would never end.
    let log = tempfile::NamedTempFile::new().unwrap();
    let runc = |args: &[&str]| {
        Command::new("runc")
            .arg("--root")
            .arg(runc_root.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().unwrap())
            .status()
            .expect("runc")
    };
    let created = runc(&["create", "--bundle", &path, &id]);
    assert!(
        created.success(),
        "runc create: {}",
        std::fs::read_to_string(log.path()).unwrap_or_default()
    );
    let theirs = oom_control(&cgroup);
    runc(&["delete", "--force", &id]);
    assert!(theirs.contains("oom_kill_disable 1"), "{theirs}");
}

/// On a pure cgroup v2 host (here: a private mount namespace with cgroup2 on
/// /sys/fs/cgroup) there is no control for it: create fails naming the setting, as crun's
/// does ("cannot disable OOM killer with cgroupv2"), and leaves nothing.
#[test]
fn disable_oom_killer_is_refused_on_cgroup_v2() {
    let Some(runz) = runz_or_skip("disable_oom_killer_is_refused_on_cgroup_v2") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["true"]);
    bundle.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20, "disableOOMKiller": true});
    });
    let id = unique_id();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"")
        .arg(Runz::binary())
        .arg("--root")
        .arg(runz.root())
        .args(["run", "--bundle", &bundle.path().to_string_lossy(), &id])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("disableOOMKiller") && stderr.contains("cgroup v2"),
        "{stderr}"
    );
    assert!(runz.ids().is_empty());
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn the_oom_killer_stays_enabled_unless_the_configuration_disables_it() {
    let Some(runz) =
        runz_or_skip("the_oom_killer_stays_enabled_unless_the_configuration_disables_it")
    else {
        return;
    };
    if !has_v1_memory_cgroup() {
        aurora_testkit::skip::skip(
            "the_oom_killer_stays_enabled_unless_the_configuration_disables_it",
            "no v1 memory cgroup",
        );
        return;
    }
    let bundle = BusyboxBundle::new(&["sleep", "100"]);
    let id = unique_id();
    bundle.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20}));
    runz.ok(&["create", "--bundle", &bundle.path().to_string_lossy(), &id]);
    let control = oom_control(&format!("/runz/{id}"));
    assert!(control.contains("oom_kill_disable 0"), "{control}");
}

/// Adds `paths` to the bundle's maskedPaths (`masked`) or readonlyPaths.
fn add_paths(bundle: &BusyboxBundle, key: &str, paths: &[&str]) {
    bundle.edit(|c| {
        let list = c["linux"][key]
            .as_array_mut()
            .expect("runc spec lists paths");
        list.extend(paths.iter().map(|p| json!(p)));
    });
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn masked_and_readonly_paths_mask_and_protect_what_they_name() {
    let Some(runz) = runz_or_skip("masked_and_readonly_paths_mask_and_protect_what_they_name")
    else {
        return;
    };
    let bundle = BusyboxBundle::shell(
        "echo \"file:$(cat /secret)\"; echo \"dir:$(ls /secret-dir)\"; \
         touch /secret-dir/x 2>/dev/null || echo masked-dir-read-only; \
         echo \"timer_list:$(wc -c < /proc/timer_list)\"; \
         touch /ro-dir/x 2>/dev/null || echo ro-dir-read-only; \
         touch /ro-dir/sub/x 2>/dev/null || echo ro-submount-read-only; \
         touch /via-link/ro-sub/x 2>/dev/null || echo ro-through-parent-link; \
         touch /rw-dir/x && echo rw-dir-writable",
    );
    let rootfs = bundle.rootfs();
    write(&rootfs.join("secret"), "the secret\n");
    write(&rootfs.join("secret-dir/inside"), "hidden\n");
    write(&rootfs.join("ro-dir/sub/file"), "x\n");
    write(&rootfs.join("real-parent/ro-sub/file"), "x\n");
    write(&rootfs.join("rw-dir/file"), "x\n");
    // A link among the parents is resolved inside the root: the path it names is protected.
    symlink("real-parent", rootfs.join("via-link")).unwrap();
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    add_paths(
        &bundle,
        "maskedPaths",
        &[
            "/secret",
            "/secret-dir",
            "/not-there",
            "/secret/under-a-file",
        ],
    );
    add_paths(
        &bundle,
        "readonlyPaths",
        &["/ro-dir", "/via-link/ro-sub", "/none"],
    );
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "file:",
            "dir:",
            "masked-dir-read-only",
            "timer_list:0",
            "ro-dir-read-only",
            "ro-submount-read-only",
            "ro-through-parent-link",
            "rw-dir-writable",
        ],
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("secret")).unwrap(),
        "the secret\n"
    );
    assert!(!rootfs.join("ro-dir/x").exists());
}

/// A masked path whose last component is a link planted in the image (what a process racing
/// the setup would swap in, too): the mask must not land on what the link points to.
#[test]
fn a_masked_path_that_is_a_link_is_refused_not_followed() {
    let Some(runz) = runz_or_skip("a_masked_path_that_is_a_link_is_refused_not_followed") else {
        return;
    };
    for (link, target) in [
        ("/proc-kcore-link", "/data/planted"),
        // Pointing above the root: resolves inside it, to the container's /etc/hostfile.
        ("/escape", "../../../../../etc/hostfile"),
        ("/dangling", "/nothing/here"),
    ] {
        let bundle = BusyboxBundle::shell("cat /data/planted /etc/hostfile");
        let rootfs = bundle.rootfs();
        write(&rootfs.join("data/planted"), "planted\n");
        write(&rootfs.join("etc/hostfile"), "hostfile\n");
        symlink(target, rootfs.join(link.trim_start_matches('/'))).unwrap();
        add_paths(&bundle, "maskedPaths", &[link]);
        let (code, stdout, stderr) = runz.run(&bundle);
        assert_ne!(code, 0, "{link} -> {target}: ran with stdout {stdout:?}");
        assert!(
            stderr.contains(link) && stderr.contains("symbolic link"),
            "{link} -> {target}: {stderr}"
        );
        assert!(runz.ids().is_empty());
    }
}

/// A read-only path that is a link to a writable directory: the old code made the link's
/// target read-only (a path the configuration does not name); a race could equally leave the
/// named path writable. Refused.
#[test]
fn a_readonly_path_that_is_a_link_is_refused_not_followed() {
    let Some(runz) = runz_or_skip("a_readonly_path_that_is_a_link_is_refused_not_followed") else {
        return;
    };
    let bundle = BusyboxBundle::shell("touch /rw-data/x && echo wrote");
    let rootfs = bundle.rootfs();
    write(&rootfs.join("rw-data/file"), "x\n");
    symlink("/rw-data", rootfs.join("ro-link")).unwrap();
    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    add_paths(&bundle, "readonlyPaths", &["/ro-link"]);
    let (code, stdout, stderr) = runz.run(&bundle);
    assert_ne!(code, 0, "ran with stdout {stdout:?}");
    assert!(
        stderr.contains("/ro-link") && stderr.contains("symbolic link"),
        "{stderr}"
    );
}

/// The mask source is the container's /dev/null only when it is the null device itself:
/// not a regular file, not a link (the runtime's device setup follows one and makes a real
/// null device at its target; the mask must still not go through the link).
#[test]
fn a_dev_null_that_is_not_the_null_device_is_not_used_to_mask() {
    let Some(runz) = runz_or_skip("a_dev_null_that_is_not_the_null_device_is_not_used_to_mask")
    else {
        return;
    };
    for (what, is_link) in [("a regular file", false), ("a link", true)] {
        let bundle = BusyboxBundle::shell("cat /secret; echo ran");
        let rootfs = bundle.rootfs();
        std::fs::create_dir_all(rootfs.join("data")).unwrap();
        if is_link {
            symlink("/data/null", rootfs.join("dev/null")).unwrap();
        } else {
            write(&rootfs.join("dev/null"), "not null\n");
        }
        write(&rootfs.join("secret"), "the secret\n");
        // The container's /dev is its root filesystem's, not a tmpfs runz fills.
        bundle.edit(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        });
        add_paths(&bundle, "maskedPaths", &["/secret"]);
        let (code, stdout, stderr) = runz.run(&bundle);
        assert!(
            !stdout.contains("the secret"),
            "/dev/null as {what}: the mask was not applied: {stdout}"
        );
        assert_ne!(code, 0, "/dev/null as {what}: {stdout}");
        assert!(stderr.contains("dev/null"), "/dev/null as {what}: {stderr}");
        if is_link {
            assert!(stderr.contains("symbolic link"), "{stderr}");
        }
    }
}

/// A profile that allows everything but `denied` (EPERM).
fn deny(denied: &[&str]) -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

/// Sets `process.noNewPrivileges`, or removes it for None.
fn set_no_new_privileges(config: &mut serde_json::Value, value: Option<bool>) {
    let process = config["process"].as_object_mut().expect("a process");
    match value {
        Some(value) => process.insert("noNewPrivileges".into(), json!(value)),
        None => process.remove("noNewPrivileges"),
    };
}

/// What runz's init did after loading the filter before it was moved to the last step: the
/// working-directory check, the executable's lookup, waiting on the notify socket.
const RUNTIME_CALLS: &[&str] = &[
    "getcwd",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "accept",
    "accept4",
];

#[test]
fn a_profile_denying_the_runtimes_own_calls_still_starts_the_program() {
    let Some(runz) =
        runz_or_skip("a_profile_denying_the_runtimes_own_calls_still_starts_the_program")
    else {
        return;
    };
    // Without no_new_privs (unset or false: the filter then needs CAP_SYS_ADMIN) and with it;
    // and capabilities that leave the permitted set out (podman's), which the drop keeps.
    for (no_new_privs, with_permitted) in [
        (None, true),
        (Some(false), true),
        (Some(true), true),
        (None, false),
    ] {
        let bundle = BusyboxBundle::new(&["echo", "hello from the program"]);
        bundle.edit(|c| {
            set_no_new_privileges(c, no_new_privs);
            c["linux"]["seccomp"] = deny(RUNTIME_CALLS);
            if !with_permitted {
                let caps = c["process"]["capabilities"].as_object_mut().unwrap();
                caps.remove("permitted");
            }
        });
        let (code, stdout, stderr) = runz.run(&bundle);
        let case = format!("noNewPrivileges {no_new_privs:?}, permitted set {with_permitted}");
        assert_eq!(code, 0, "{case}: {stderr}");
        assert_eq!(stdout, "hello from the program\n", "{case}");
    }
}

#[test]
fn the_program_is_still_denied_what_the_profile_denies_with_its_capabilities_intact() {
    let Some(runz) = runz_or_skip(
        "the_program_is_still_denied_what_the_profile_denies_with_its_capabilities_intact",
    ) else {
        return;
    };
    for no_new_privs in [None, Some(false), Some(true)] {
        let bundle = BusyboxBundle::shell(
            "mkdir /tmp/x; cat /proc/self/status | grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):'",
        );
        bundle.edit(|c| {
            set_no_new_privileges(c, no_new_privs);
            c["root"]["readonly"] = json!(false);
            c["linux"]["seccomp"] = deny(&["mkdir", "mkdirat"]);
        });
        let (code, stdout, stderr) = runz.run(&bundle);
        assert_eq!(code, 0, "noNewPrivileges {no_new_privs:?}: {stderr}");
        assert!(
            stderr.contains("Operation not permitted"),
            "noNewPrivileges {no_new_privs:?}: {stderr}"
        );
        assert!(!bundle.rootfs().join("tmp/x").exists());
        // runc spec's capabilities (no CAP_SYS_ADMIN): the one kept for loading the filter
        // without no_new_privs is gone by the time the program runs.
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            [
                "CapPrm:\t0000000020000420",
                "CapEff:\t0000000020000420",
                &format!("NoNewPrivs:\t{}", u8::from(no_new_privs == Some(true))),
                "Seccomp:\t2",
            ],
            "noNewPrivileges {no_new_privs:?}: {stderr}"
        );
    }
}

#[test]
fn features_say_how_disable_oom_killer_and_seccomp_are_handled() {
    let out = Command::new(Runz::binary())
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let features: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let annotations = &features["annotations"];
    let oom = annotations["org.aurora.runz.linux.resources.memory.disableOOMKiller"]
        .as_str()
        .expect("the disableOOMKiller annotation");
    assert!(
        oom.contains("cgroup v2") && oom.contains("refused"),
        "{oom}"
    );
    let seccomp = annotations["org.aurora.runz.linux.seccomp"]
        .as_str()
        .expect("the seccomp annotation");
    assert!(seccomp.contains("last step before exec"), "{seccomp}");
}
