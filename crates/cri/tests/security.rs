//! Security contexts and limits through crictl, observed from inside the containers: seccomp
//! (the runtime default filter, also on exec; a localhost profile denying chmod; the
//! deprecated path form refused when it is not one), no_new_privs, supplemental groups, a
//! group without a user refused, masked and read-only paths, the pod's sysctls, PID
//! namespaces (the pod's or the container's own), host-to-container mount propagation, and
//! a memory limit whose OOM kill is reported as such.
//!
//! Needs root, docker-registry, skopeo and crictl; skipped otherwise through
//! `aurora_testkit::skip`.

mod common;

use std::time::{Duration, Instant};

use aurora_testkit::{skopeo_push, ImageBuilder, LayerBuilder, PushOpts, Registry};
use common::{crictl_or_skip, Server};
use serde_json::json;

/// A pod and containers in it, made from JSON configs.
struct Pod<'a> {
    server: &'a Server,
    image: String,
    config: String,
    id: String,
}

impl Pod<'_> {
    fn run<'a>(server: &'a Server, image: &str, name: &str, linux: serde_json::Value) -> Pod<'a> {
        let config = server.write(
            &format!("{name}.json"),
            json!({"metadata": {"name": name, "namespace": "default", "uid": name},
                   "log_directory": server.dir.path().join("logs").join(name), "linux": linux}),
        );
        let id = server.ok(&["runp", &config]);
        Pod {
            server,
            image: image.to_string(),
            config,
            id,
        }
    }

    /// Creates (without starting) a container running `command` with `extra` config fields.
    fn create(&self, name: &str, command: &[&str], extra: serde_json::Value) -> String {
        let mut config = json!({"metadata": {"name": name}, "image": {"image": self.image},
                                "command": command, "log_path": format!("{name}.log")});
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let path = self
            .server
            .write(&format!("{}-{name}.json", self.id), config);
        self.server.ok(&["create", &self.id, &path, &self.config])
    }

    /// A started container that sleeps, for exec; `extra`: more config fields.
    fn sleeper(&self, name: &str, extra: serde_json::Value) -> String {
        let id = self.create(name, &["sleep", "600"], extra);
        self.server.ok(&["start", &id]);
        id
    }

    fn exec(&self, container: &str, command: &[&str]) -> std::process::Output {
        let mut args = vec!["exec", "-s", container];
        args.extend_from_slice(command);
        self.server.run(&args, b"")
    }

    /// The command's output, its trailing newlines left out (crictl adds its own).
    fn exec_ok(&self, container: &str, command: &[&str]) -> String {
        let out = self.exec(container, command);
        assert!(out.status.success(), "{command:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    }
}

/// Root, the registry tools and crictl, or the test is skipped (`None`).
fn tools(test: &str) -> Option<std::path::PathBuf> {
    if !aurora_testkit::skip::root_or_skip(test)
        || !aurora_testkit::skip::tools_or_skip(test, &["docker-registry", "skopeo"])
    {
        return None;
    }
    crictl_or_skip(test)
}

/// `rootfs` as an image in a loopback registry, pulled by a new server: the registry (kept
/// alive by the caller), the server and the image's name.
fn serve(
    crictl: std::path::PathBuf,
    rootfs: LayerBuilder,
    tag: &str,
) -> (Registry, Server, String) {
    let registry = Registry::open();
    let layout = tempfile::tempdir().unwrap();
    ImageBuilder::new()
        .layer(rootfs.build())
        .cmd(&["/bin/sh"])
        .write(layout.path(), "1");
    let image = registry.image_ref(&format!("e2e/busybox:{tag}"));
    skopeo_push(layout.path(), "1", &image, &PushOpts::default());
    let server = Server::start(crictl);
    server.ok(&["pull", &image]);
    (registry, server, image)
}

fn inspect(server: &Server, container: &str) -> serde_json::Value {
    serde_json::from_str(&server.ok(&["inspect", container])).expect("inspect's JSON")
}

#[test]
fn security_contexts_are_what_the_container_sees() {
    let Some(crictl) = tools("security_contexts_are_what_the_container_sees") else {
        return;
    };
    let mut rootfs = LayerBuilder::busybox_rootfs().file("etc/secret", "hidden\n", 0o644);
    // Hard links, as busybox images ship them: a masked applet masks only itself.
    for applet in [
        "sleep", "grep", "id", "chmod", "touch", "mount", "tail", "hostname", "head",
    ] {
        rootfs = rootfs.hardlink(&format!("bin/{applet}"), "bin/busybox");
    }
    let (_registry, server, image) = serve(crictl, rootfs, "security");

    // Seccomp: the runtime's default filter, on the process and on what exec starts.
    let pod = Pod::run(
        &server,
        &image,
        "secure",
        json!({"sysctls": {"kernel.shm_rmid_forced": "1"}}),
    );
    // In a PID namespace of its own, so that /proc/1 is its process (not the pod's infra).
    let filtered = pod.sleeper(
        "filtered",
        json!({"linux": {"security_context": {
            "seccomp": {"profile_type": 0}, "no_new_privs": true,
            "supplemental_groups": [1234, 5678], "masked_paths": ["/etc/secret"],
            "readonly_paths": ["/tmp"], "namespace_options": {"pid": 1}}}}),
    );
    let status = pod.exec_ok(
        &filtered,
        &["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"],
    );
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let status = pod.exec_ok(&filtered, &["grep", "^Seccomp:", "/proc/1/status"]);
    assert!(status.contains("Seccomp:\t2"), "{status}");
    // The default filter denies mount (no CAP_SYS_ADMIN) with EPERM.
    let mount = pod.exec(&filtered, &["mount", "-t", "tmpfs", "t", "/mnt"]);
    assert!(!mount.status.success(), "{mount:?}");
    let groups = pod.exec_ok(&filtered, &["id", "-G"]);
    let groups: Vec<&str> = groups.split_whitespace().collect();
    assert!(
        groups.contains(&"1234") && groups.contains(&"5678"),
        "{groups:?}"
    );
    assert_eq!(pod.exec_ok(&filtered, &["cat", "/etc/secret"]), "");
    let touch = pod.exec(&filtered, &["touch", "/tmp/x"]);
    assert!(!touch.status.success(), "/tmp is read-only: {touch:?}");
    assert_eq!(
        pod.exec_ok(&filtered, &["cat", "/proc/sys/kernel/shm_rmid_forced"]),
        "1"
    );

    // A localhost profile that denies chmod.
    let profile = server.dir.path().join("deny-chmod.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod","fchmodat","fchmodat2"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let local = pod.sleeper(
        "local",
        json!({"linux": {"security_context": {"seccomp": {"profile_type": 2,
                                                          "localhost_ref": profile}}}}),
    );
    let chmod = pod.exec(&local, &["chmod", "600", "/etc/secret"]);
    assert!(!chmod.status.success(), "{chmod:?}");
    let unconfined = pod.sleeper("plain", json!({}));
    pod.exec_ok(&unconfined, &["chmod", "600", "/etc/secret"]);
    let status = pod.exec_ok(&unconfined, &["grep", "^Seccomp:", "/proc/self/status"]);
    assert!(status.contains("Seccomp:\t0"), "{status}");

    // Refused at create: a group without a user; a profile path that is none of the forms.
    for (name, security) in [
        ("group-only", json!({"run_as_group": {"value": 5}})),
        (
            "bad-profile",
            json!({"seccomp_profile_path": "/etc/p.json"}),
        ),
    ] {
        let config = server.write(
            &format!("{name}.json"),
            json!({"metadata": {"name": name}, "image": {"image": image},
                   "command": ["true"], "linux": {"security_context": security}}),
        );
        let out = server.run(&["create", &pod.id, &config, &pod.config], b"");
        assert!(!out.status.success(), "{name}: {out:?}");
    }

    // PID namespaces: the pod's (its infra's podinit is pid 1) or the container's own.
    let shared = pod.exec_ok(&unconfined, &["cat", "/proc/1/cmdline"]);
    assert!(shared.contains("pause"), "{shared:?}");
    let own = pod.sleeper(
        "own-pid",
        json!({"linux": {"security_context": {"namespace_options": {"pid": 1}}}}),
    );
    let alone = pod.exec_ok(&own, &["cat", "/proc/1/cmdline"]);
    assert!(alone.starts_with("sleep"), "{alone:?}");
    server.ok(&["rmp", "-f", &pod.id]);
}

#[test]
fn mounts_propagate_and_memory_limits_kill() {
    let Some(crictl) = tools("mounts_propagate_and_memory_limits_kill") else {
        return;
    };
    let mut rootfs = LayerBuilder::busybox_rootfs().dir("mnt", 0o755);
    for applet in ["sleep", "tail", "head"] {
        rootfs = rootfs.symlink(&format!("bin/{applet}"), "busybox");
    }
    let (_registry, server, image) = serve(crictl, rootfs, "mounts");
    let pod = Pod::run(&server, &image, "mounts", json!({}));

    // Host to container (rslave): a mount made on the host after the start shows inside.
    let shared = tempfile::tempdir().unwrap();
    let source = shared.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let run = |args: &[&str]| {
        let status = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "mount {args:?}");
    };
    run(&["--bind", source.to_str().unwrap(), source.to_str().unwrap()]);
    run(&["--make-shared", source.to_str().unwrap()]);
    let watcher = pod.sleeper(
        "watcher",
        json!({"mounts": [{"container_path": "/mnt/host", "host_path": source,
                           "propagation": 1}]}),
    );
    let mounts = inspect(&server, &watcher)["status"]["mounts"].clone();
    assert_eq!(mounts[0]["containerPath"], "/mnt/host", "{mounts}");
    assert_eq!(
        mounts[0]["propagation"], "PROPAGATION_HOST_TO_CONTAINER",
        "{mounts}"
    );
    let inner = source.join("later");
    std::fs::create_dir(&inner).unwrap();
    run(&["-t", "tmpfs", "later", inner.to_str().unwrap()]);
    std::fs::write(inner.join("flag"), "from the host\n").unwrap();
    assert_eq!(
        pod.exec_ok(&watcher, &["cat", "/mnt/host/later/flag"]),
        "from the host"
    );
    server.ok(&["rm", "-f", &watcher]);
    let _ = std::process::Command::new("umount")
        .arg("-R")
        .arg(&source)
        .status();

    // A memory limit the process outgrows: killed by the kernel, reported as OOMKilled.
    let hog = pod.create(
        "hog",
        &["sh", "-c", "tail /dev/zero"],
        json!({"linux": {"resources": {"memory_limit_in_bytes": 16 << 20}}}),
    );
    server.ok(&["start", &hog]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = inspect(&server, &hog)["status"].clone();
        if status["state"] == "CONTAINER_EXITED" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["state"], "CONTAINER_EXITED", "{status}");
    assert_eq!(status["exitCode"], 137, "{status}");
    assert_eq!(status["reason"], "OOMKilled", "{status}");
    server.ok(&["rmp", "-f", &pod.id]);
}
