//! What podadm's tests share: a store and run root of their own, a loopback registry with a
//! busybox image, and podman on its own store beside podadm for side-by-side checks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aurora_testkit::{ImageBuilder, LayerBuilder, PushOpts, Registry};

/// One test's world.
pub struct World {
    pub registry: Registry,
    /// The busybox image in the registry (`127.0.0.1:PORT/test/busybox:1`).
    pub image: String,
    pub dir: tempfile::TempDir,
}

impl World {
    /// A world, or `None` (the test skipped) when not root or tools are missing.
    pub fn new(test: &str) -> Option<World> {
        if !aurora_testkit::skip::root_or_skip(test)
            || !aurora_testkit::skip::tools_or_skip(test, &["docker-registry", "skopeo", "busybox"])
        {
            return None;
        }
        let registry = Registry::open();
        let layout = tempfile::tempdir().expect("tempdir");
        ImageBuilder::new()
            .layer(busybox_layer())
            .cmd(&["/bin/sh"])
            .env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .write(layout.path(), "1");
        let image = registry.image_ref("test/busybox:1");
        aurora_testkit::skopeo_push(layout.path(), "1", &image, &PushOpts::default());
        // Short paths: the monitor's sockets and runz's state live under the run root.
        let dir = tempfile::Builder::new()
            .prefix("podadm-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        Some(World {
            registry,
            image,
            dir,
        })
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// `podadm ARGS` on this world's store, output captured, stdin empty.
    pub fn podadm(&self, args: &[&str]) -> Output {
        self.podadm_command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podadm")
    }

    /// `podadm ARGS`, asserting success; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.podadm(args);
        assert!(
            out.status.success(),
            "podadm {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn podadm_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(podadm_binary());
        command
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("--storage")
            .arg("overlay")
            .args(args)
            .env("AURORA_CONFIG", "/nonexistent/aurora.toml")
            .env_remove("AURORA_ROOT")
            .env_remove("AURORA_RUNROOT");
        if let Ok(podinit) = std::env::var("AURORA_PODINIT") {
            command.env("AURORA_PODINIT", podinit);
        }
        command
    }

    /// `podadm ARGS` run under script(1), which gives it a terminal; `input` is typed into it.
    /// Returns (status, everything the terminal showed).
    pub fn podadm_in_terminal(&self, args: &[&str], input: &str) -> (Option<i32>, String) {
        let command = self.podadm_command(args);
        let mut line = shell_quote(&command.get_program().to_string_lossy());
        for arg in command.get_args() {
            line.push(' ');
            line.push_str(&shell_quote(&arg.to_string_lossy()));
        }
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .envs(command.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script(1)");
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .expect("type into the terminal");
        let out = child.wait_with_output().expect("script(1) output");
        drop(stdin);
        (
            out.status.code(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    }

    /// `podman ARGS` on a store of its own under this world's directory.
    pub fn podman(&self, args: &[&str]) -> Output {
        self.podman_command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podman")
    }

    pub fn podman_command(&self, args: &[&str]) -> Command {
        let conf = self.dir.path().join("containers.conf");
        std::fs::write(&conf, PODMAN_CONF).expect("write containers.conf");
        let mut command = Command::new("podman");
        command.env("CONTAINERS_CONF", &conf);
        command
            .arg("--root")
            .arg(self.dir.path().join("podman-root"))
            .arg("--runroot")
            .arg(self.dir.path().join("podman-run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args);
        command
    }

    /// Pulls the busybox image into podman's store (once).
    pub fn podman_pull(&self) {
        let out = self.podman(&["pull", "-q", "--tls-verify=false", &self.image]);
        assert!(
            out.status.success(),
            "podman pull: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The container `name`'s field at JSON pointer `pointer` in `podadm inspect`.
    pub fn inspect(&self, name: &str, pointer: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", name]);
        let all: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
        all[0]
            .pointer(pointer)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    /// Waits (60 s at most, a hang guard) until `check` holds.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Mount points under this world's directory (nothing may be left after a removal).
    pub fn mounts_under(&self, dir: &Path) -> Vec<String> {
        let dir = dir.display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&dir))
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Whatever a failed test left running: pods first (their infra containers go
        // only with them).
        let _ = self
            .podadm_command(&["pod", "rm", "-f", "--all"])
            .stdin(Stdio::null())
            .output();
        let _ = self.podman_command(&["pod", "rm", "-f", "--all"]).output();
        // Whatever a failed test left running: the warm pools' sandboxes first.
        let pools = self
            .podadm_command(&["pool", "ls", "--format", "json"])
            .stdin(Stdio::null())
            .output();
        let pools: Vec<serde_json::Value> = pools
            .ok()
            .and_then(|out| serde_json::from_slice(&out.stdout).ok())
            .unwrap_or_default();
        for pool in pools {
            if let Some(image) = pool["image"].as_str() {
                let _ = self
                    .podadm_command(&["pool", "rm", image])
                    .stdin(Stdio::null())
                    .output();
            }
        }
        let _ = self
            .podadm_command(&["rm", "-f", "-t", "0", "--all"])
            .stdin(Stdio::null())
            .output();
        let _ = self
            .podman_command(&["rm", "-f", "-t", "0", "--all"])
            .output();
        for mount in self.mounts_under(self.dir.path()).iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
    }
}

/// podman's settings for this host: root here lacks CAP_SYS_RESOURCE, so podman's default
/// rlimits (1048576 open files and processes) cannot be set, and crun 1.8 refuses the hybrid
/// cgroup layout; runc and rlimits within the hard limits run.
pub const PODMAN_CONF: &str = "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n[engine]\nruntime = \"runc\"\n";

/// The podadm binary, with the monitor and runz beside it.
pub fn podadm_binary() -> PathBuf {
    aurora_testkit::workspace_binary("aurora-monitor", "aurora-monitor");
    aurora_testkit::workspace_binary("runz", "runz");
    PathBuf::from(env!("CARGO_BIN_EXE_podadm"))
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// busybox with a link in /bin for every applet (sleep, seq, httpd, false, ...).
fn busybox_layer() -> aurora_testkit::Layer {
    let mut layer = LayerBuilder::busybox_rootfs();
    let list = Command::new("busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !["busybox", "sh", "ls", "cat", "echo", "true", ""].contains(&applet) {
            layer = layer.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    layer.build()
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
