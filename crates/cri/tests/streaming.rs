//! The streaming server through crictl v1.32 (client-go's SPDY executor and port-forwarder):
//! `crictl exec` with stdin piped and with a terminal, `crictl attach`, and
//! `crictl port-forward` to busybox's httpd, asserting bytes and exit codes.
//!
//! Needs root, docker-registry, skopeo and crictl (`../shared/tools/cri-tools/crictl` beside
//! the checkout, or `$AURORA_CRICTL`); skipped otherwise through `aurora_testkit::skip`.

use std::io::{BufRead, BufReader, Read, Write};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aurora_testkit::{skopeo_push, ImageBuilder, LayerBuilder, PushOpts, Registry};

mod common;

use common::{crictl_path, stderr_of, Server};

#[test]
fn crictl_execs_attaches_and_forwards_ports() {
    let test = "crictl_execs_attaches_and_forwards_ports";
    if !aurora_testkit::skip::root_or_skip(test)
        || !aurora_testkit::skip::tools_or_skip(test, &["docker-registry", "skopeo"])
    {
        return;
    }
    let Some(crictl) = crictl_path() else {
        aurora_testkit::skip::skip(test, "crictl is not in ../shared/tools/cri-tools");
        return;
    };
    let registry = Registry::open();
    let layout = tempfile::tempdir().unwrap();
    let mut rootfs = LayerBuilder::busybox_rootfs();
    for applet in ["sleep", "httpd", "mkdir"] {
        rootfs = rootfs.symlink(&format!("bin/{applet}"), "busybox");
    }
    ImageBuilder::new()
        .layer(rootfs.build())
        .cmd(&["/bin/sh"])
        .write(layout.path(), "1");
    let image = registry.image_ref("e2e/busybox:stream");
    skopeo_push(layout.path(), "1", &image, &PushOpts::default());

    let server = Server::start(crictl);
    server.ok(&["pull", &image]);
    let pod_config = server.write(
        "pod.json",
        serde_json::json!({"metadata": {"name": "stream", "namespace": "default", "uid": "u-1"},
                           "linux": {}}),
    );
    let pod = server.ok(&["runp", &pod_config]);
    let container = |name: &str, command: &[&str], extra: serde_json::Value| {
        let mut config = serde_json::json!({
            "metadata": {"name": name}, "image": {"image": image},
            "command": command, "linux": {}
        });
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let path = server.write(&format!("{name}.json"), config);
        let id = server.ok(&["create", &pod, &path, &pod_config]);
        server.ok(&["start", &id]);
        id
    };

    // exec, stdin piped: the input comes back, stderr apart, the exit code reported.
    let sleeper = container("sleeper", &["sleep", "600"], serde_json::json!({}));
    let out = server.run(
        &[
            "exec",
            "-i",
            &sleeper,
            "sh",
            "-c",
            "cat; echo err >&2; exit 3",
        ],
        b"line one\nline two\n",
    );
    assert_eq!(out.stdout, b"line one\nline two\n", "{out:?}");
    let stderr = stderr_of(&out);
    assert!(stderr.starts_with("err\n"), "{stderr}");
    assert!(
        stderr.ends_with("command terminated with exit code 3"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = server.run(&["exec", &sleeper, "echo", "plain"], b"");
    assert_eq!(out.stdout, b"plain\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stderr_of(&out), "");

    // exec with a terminal (crictl wants one of its own for -it: script gives it one): one
    // output stream, newlines as a terminal writes them.
    if aurora_testkit::skip::tools_or_skip(test, &["script"]) {
        let line = format!(
            "{} --runtime-endpoint unix://{} --timeout 60s exec -it {sleeper} sh -c 'echo hello; exit 2'",
            server.crictl.display(),
            server.socket.display()
        );
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Input stays open (script would pass its end on) until crictl is done.
        let _input = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let text: Vec<&str> = text
            .split("\r\n")
            .filter(|l| !l.contains("crictl.yaml"))
            .collect();
        assert_eq!(text[0], "hello", "{text:?}");
        assert!(
            text[1].ends_with("command terminated with exit code 2"),
            "{text:?}"
        );
        assert_eq!(out.status.code(), Some(1));
    }

    // attach: input to the container's shell, its output back; its stdin's end ends it.
    let shell = container(
        "shell",
        &["/bin/sh"],
        serde_json::json!({"stdin": true, "stdin_once": true}),
    );
    let out = server.run(&["attach", "-i", &shell], b"echo attached\nexit 5\n");
    assert_eq!(out.stdout, b"attached\n", "{out:?}");
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let inspect: serde_json::Value =
            serde_json::from_str(&server.ok(&["inspect", &shell])).unwrap();
        if inspect["status"]["state"] == "CONTAINER_EXITED" {
            assert_eq!(inspect["status"]["exitCode"], 5);
            break;
        }
        assert!(Instant::now() < deadline, "{inspect}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // port-forward: busybox httpd in the pod's network namespace, reached through crictl.
    container(
        "web",
        &[
            "sh",
            "-c",
            "mkdir -p /www && echo -n served > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
        serde_json::json!({}),
    );
    let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = local.local_addr().unwrap().port();
    drop(local);
    let mut forward = server
        .command(&["port-forward", &pod, &format!("{port}:8080")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(forward.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert!(
        first.starts_with(&format!("Forwarding from 127.0.0.1:{port}")),
        "{first}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
        let mut response = Vec::new();
        let _ = tcp.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).to_string();
        if text.starts_with("HTTP/1.") {
            break text;
        }
        // httpd may not listen yet.
        assert!(Instant::now() < deadline, "{text:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(body.ends_with("\r\n\r\nserved"), "{body}");
    // A second connection through the same forward.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(b"GET /missing HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = tcp.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let _ = forward.kill();
    let _ = forward.wait();

    server.ok(&["stopp", &pod]);
    server.ok(&["rmp", &pod]);
}
