//! The CRI server through crictl v1.32 (the kubelet's own client library): version and
//! status, the ImageService — pull (with credentials for a registry that requires them),
//! list, inspect, image filesystem, remove — on a real registry, and pod sandboxes with
//! their containers.
//!
//! Root is not required; needs docker-registry, skopeo, htpasswd and crictl
//! (`../shared/tools/cri-tools/crictl` beside the checkout, or `$AURORA_CRICTL`): skipped
//! otherwise through `aurora_testkit::skip` (a failure when the run requires every test).

use std::time::{Duration, Instant};

use aurora_testkit::{skopeo_push, ImageBuilder, LayerBuilder, PushOpts, Registry};

mod common;

use common::{crictl_or_skip, Server};

#[test]
fn crictl_speaks_version_status_and_images() {
    let test = "crictl_speaks_version_status_and_images";
    if !aurora_testkit::skip::tools_or_skip(test, &["docker-registry", "skopeo", "htpasswd"]) {
        return;
    }
    let Some(crictl) = crictl_or_skip(test) else {
        return;
    };
    let registry = Registry::basic_auth("kube", "let-me-in");
    let layout = tempfile::tempdir().unwrap();
    ImageBuilder::new()
        .layer(LayerBuilder::busybox_rootfs().build())
        .cmd(&["/bin/sh"])
        .user("1234")
        .write(layout.path(), "1");
    let image = registry.image_ref("e2e/busybox:1.29");
    let opts = PushOpts {
        creds: registry.credentials(),
        ..Default::default()
    };
    skopeo_push(layout.path(), "1", &image, &opts);

    let server = Server::start(crictl.clone());
    let version = server.ok(&["version"]);
    assert!(version.contains("RuntimeName:  aurora"), "{version}");
    assert!(version.contains("RuntimeApiVersion:  v1"), "{version}");
    let info: serde_json::Value = serde_json::from_str(&server.ok(&["info"])).unwrap();
    assert_eq!(info["status"]["conditions"][0]["type"], "RuntimeReady");
    assert_eq!(info["status"]["conditions"][0]["status"], true);

    // Without credentials the registry refuses; with them the image arrives.
    let refused = server.run(&["pull", &image], b"");
    assert!(!refused.status.success());
    let pulled = server.ok(&["pull", "--creds", "kube:let-me-in", &image]);
    assert!(pulled.contains("sha256:"), "{pulled}");

    let images: serde_json::Value =
        serde_json::from_str(&server.ok(&["images", "-o", "json"])).unwrap();
    let listed = &images["images"][0];
    assert_eq!(listed["repoTags"][0], image);
    assert!(listed["repoDigests"][0]
        .as_str()
        .unwrap()
        .contains("@sha256:"));
    assert_eq!(listed["uid"]["value"], "1234");
    let status: serde_json::Value =
        serde_json::from_str(&server.ok(&["inspecti", &image])).unwrap();
    assert_eq!(status["status"]["id"], listed["id"]);
    let by_id = server.ok(&["inspecti", listed["id"].as_str().unwrap()]);
    assert!(by_id.contains(&image), "{by_id}");
    let fs: serde_json::Value = serde_json::from_str(&server.ok(&["imagefsinfo"])).unwrap();
    assert!(fs["status"]["imageFilesystems"][0]["usedBytes"]["value"]
        .as_str()
        .is_some_and(|v| v != "0"));

    server.ok(&["rmi", &image]);
    let images: serde_json::Value =
        serde_json::from_str(&server.ok(&["images", "-o", "json"])).unwrap();
    assert!(
        images["images"].as_array().is_none_or(|a| a.is_empty()),
        "{images}"
    );
    // Streaming is next: its calls say so.
    let exec = server.run(&["attach", "nope"], b"");
    assert!(!exec.status.success());
}

/// Pod sandboxes: `runp` makes a podadm pod (its infra container running), `pods` and
/// `inspectp` report it with its metadata, labels and annotations, `stopp` makes it
/// NOTREADY (stopping again succeeds: kubelet retries), `rmp` removes it (then NOT_FOUND).
/// In between, a container of the pod: `create` (command, args, env, labels, log path),
/// `start`, `logs` (the CRI log file where kubelet reads it), `ps` filters, `stop`, `inspect`,
/// `rm`.
#[test]
fn crictl_runs_pods_and_their_containers() {
    let test = "crictl_runs_pods_and_their_containers";
    if !aurora_testkit::skip::root_or_skip(test)
        || !aurora_testkit::skip::tools_or_skip(test, &["docker-registry", "skopeo"])
    {
        return;
    }
    let Some(crictl) = crictl_or_skip(test) else {
        return;
    };
    let server = Server::start(crictl.clone());
    let config = server.dir.path().join("pod.json");
    std::fs::write(
        &config,
        r#"{"metadata": {"name": "web", "namespace": "default", "uid": "uid-1", "attempt": 1},
            "hostname": "web-host", "labels": {"app": "web"}, "annotations": {"note": "kept"},
            "linux": {}}"#,
    )
    .unwrap();
    let id = server
        .ok(&["runp", config.to_str().unwrap()])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let pods: serde_json::Value =
        serde_json::from_str(&server.ok(&["pods", "-o", "json"])).unwrap();
    let pod = &pods["items"][0];
    assert_eq!(pod["id"], id);
    assert_eq!(pod["state"], "SANDBOX_READY");
    assert_eq!(pod["metadata"]["name"], "web");
    assert_eq!(pod["metadata"]["attempt"], 1);
    assert_eq!(pod["labels"]["app"], "web");
    assert_eq!(pod["annotations"]["note"], "kept");
    assert!(pod["annotations"]
        .get("io.aurora.cri.metadata.uid")
        .is_none());
    let filtered = server.ok(&["pods", "--label", "app=other", "-q"]);
    assert!(filtered.trim().is_empty(), "{filtered}");
    let status: serde_json::Value = serde_json::from_str(&server.ok(&["inspectp", &id])).unwrap();
    assert_eq!(status["status"]["metadata"]["namespace"], "default");

    // A container in the pod: created, started, its log where kubelet reads it, stopped,
    // removed.
    let registry = Registry::open();
    let layout = tempfile::tempdir().unwrap();
    ImageBuilder::new()
        .layer(
            LayerBuilder::busybox_rootfs()
                .symlink("bin/sleep", "busybox")
                .build(),
        )
        .cmd(&["/bin/sh"])
        .write(layout.path(), "1");
    let image = registry.image_ref("e2e/busybox:1");
    skopeo_push(layout.path(), "1", &image, &PushOpts::default());
    server.ok(&["pull", &image]);
    let logs = server.dir.path().join("pod-logs");
    let container_config = server.dir.path().join("container.json");
    std::fs::write(
        &container_config,
        serde_json::json!({
            "metadata": {"name": "app"},
            "image": {"image": image},
            "command": ["/bin/sh", "-c"],
            "args": ["echo hello from cri; exec sleep 60"],
            "envs": [{"key": "MODE", "value": "test"}],
            "labels": {"tier": "front"},
            "log_path": "app/0.log",
            "linux": {}
        })
        .to_string(),
    )
    .unwrap();
    let pod_config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let mut pod_config = pod_config;
    pod_config["log_directory"] = serde_json::json!(logs);
    let pod_config_path = server.dir.path().join("pod-with-logs.json");
    std::fs::write(&pod_config_path, pod_config.to_string()).unwrap();
    let container = server
        .ok(&[
            "create",
            &id,
            container_config.to_str().unwrap(),
            pod_config_path.to_str().unwrap(),
        ])
        .trim()
        .to_string();
    let listed: serde_json::Value =
        serde_json::from_str(&server.ok(&["ps", "-a", "-o", "json"])).unwrap();
    assert_eq!(listed["containers"][0]["state"], "CONTAINER_CREATED");
    assert_eq!(listed["containers"][0]["podSandboxId"], id);
    server.ok(&["start", &container]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = server.run(&["logs", &container], b"");
        if String::from_utf8_lossy(&out.stdout).contains("hello from cri") {
            break;
        }
        assert!(Instant::now() < deadline, "no log line: {out:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log_file = logs.join("app/0.log");
    assert!(std::fs::read_to_string(&log_file)
        .unwrap()
        .contains(" stdout F hello from cri"));
    let running: serde_json::Value =
        serde_json::from_str(&server.ok(&["ps", "--label", "tier=front", "-o", "json"])).unwrap();
    assert_eq!(running["containers"][0]["state"], "CONTAINER_RUNNING");
    // ExecSync: output and status of commands in the running container (crictl reports a
    // failed command's status and error output in its own error).
    let out = server.ok(&["exec", "--sync", &container, "sh", "-c", "echo out $MODE"]);
    assert_eq!(out.trim_end(), "out test");
    let failed = server.run(
        &[
            "exec",
            "--sync",
            &container,
            "sh",
            "-c",
            "echo err >&2; exit 3",
        ],
        b"",
    );
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("exited with 3: err"),
        "{failed:?}"
    );
    let slow = server.run(
        &[
            "exec",
            "--sync",
            "--timeout",
            "1",
            &container,
            "sleep",
            "10",
        ],
        b"",
    );
    assert!(!slow.status.success());
    assert!(
        String::from_utf8_lossy(&slow.stderr).contains("DeadlineExceeded"),
        "{slow:?}"
    );
    // The timed-out command is gone from the container, not only the runtime's wait for it.
    let processes = server.ok(&[
        "exec",
        "--sync",
        &container,
        "sh",
        "-c",
        "cat /proc/[0-9]*/cmdline",
    ]);
    assert!(!processes.contains("sleep\u{0}10"), "{processes:?}");
    // Stats of the running container: its CPU time and memory, from the runtime.
    let stats: serde_json::Value =
        serde_json::from_str(&server.ok(&["stats", "-o", "json", &container])).unwrap();
    let entry = &stats["stats"][0];
    assert_eq!(entry["attributes"]["id"], container);
    let nonzero = |v: &serde_json::Value| v.as_str().is_some_and(|v| v != "0");
    assert!(nonzero(&entry["memory"]["usageBytes"]["value"]), "{stats}");
    assert!(
        nonzero(&entry["cpu"]["usageCoreNanoSeconds"]["value"]),
        "{stats}"
    );
    // The pod's statistics: its containers' summed, each container's beside them.
    let pod_stats: serde_json::Value =
        serde_json::from_str(&server.ok(&["statsp", "-o", "json", &id])).unwrap();
    let pod_entry = &pod_stats["stats"][0];
    assert_eq!(pod_entry["attributes"]["id"], id, "{pod_stats}");
    assert_eq!(
        pod_entry["linux"]["containers"][0]["attributes"]["id"], container,
        "{pod_stats}"
    );
    assert!(
        nonzero(&pod_entry["linux"]["memory"]["usageBytes"]["value"]),
        "{pod_stats}"
    );
    server.ok(&["stop", "--timeout", "1", &container]);
    let inspect: serde_json::Value =
        serde_json::from_str(&server.ok(&["inspect", &container])).unwrap();
    assert_eq!(inspect["status"]["state"], "CONTAINER_EXITED");
    assert_eq!(inspect["status"]["metadata"]["name"], "app");
    server.ok(&["rm", &container]);
    let none = server.ok(&["ps", "-a", "-q"]);
    assert!(none.trim().is_empty(), "{none}");

    server.ok(&["stopp", &id]);
    let status: serde_json::Value = serde_json::from_str(&server.ok(&["inspectp", &id])).unwrap();
    assert_eq!(status["status"]["state"], "SANDBOX_NOTREADY");
    server.ok(&["stopp", &id]);
    server.ok(&["rmp", &id]);
    let gone = server.run(&["inspectp", &id], b"");
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
    let pods = server.ok(&["pods", "-q"]);
    assert!(pods.trim().is_empty(), "{pods}");
}
