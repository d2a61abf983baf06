//! What the CRI server's tests share: crictl (found beside the checkout or through
//! `$AURORA_CRICTL`, else the test is skipped) and a running `aurora-cri` on a store, run
//! root and socket of its own, stopped when dropped.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// crictl: `$AURORA_CRICTL`, else the shared tools beside the checkout.
pub fn crictl_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AURORA_CRICTL") {
        return Some(PathBuf::from(path));
    }
    // Beside the checkout (../shared), where the machines that build Aurora keep it.
    let beside =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/cri-tools/crictl");
    [beside, PathBuf::from("/work/shared/tools/cri-tools/crictl")]
        .into_iter()
        .find(|p| p.is_file())
}

/// crictl, or `None` with the test marked skipped (a failure when every test must run).
pub fn crictl_or_skip(test: &str) -> Option<PathBuf> {
    let found = crictl_path();
    if found.is_none() {
        aurora_testkit::skip::skip(
            test,
            "crictl is not in ../shared/tools/cri-tools (or $AURORA_CRICTL)",
        );
    }
    found
}

/// The pods' network in these tests: a bridge, host-local addresses and port mappings.
const TEST_NETWORK: &str = r#"{
  "cniVersion": "1.0.0",
  "name": "aurora-cri-tests",
  "plugins": [
    {"type": "bridge", "bridge": "aurora-crit0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.84.0.0/16"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}"#;

/// A running `aurora-cri`, stopped when dropped.
pub struct Server {
    child: Child,
    pub socket: PathBuf,
    pub crictl: PathBuf,
    /// The server's store, run root and socket; the tests' config files.
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    /// Stops the server, then removes what it left running (a test that failed half-way
    /// leaves pods): their monitors, namespaces and mounts would outlive the test.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let podadm = aurora_testkit::workspace_binary("podadm", "podadm");
        let store = self.dir.path().join("store");
        let run = self.dir.path().join("run");
        for args in [
            &["pod", "rm", "-f", "--all"][..],
            &["rm", "-f", "-t", "0", "--all"][..],
        ] {
            let _ = Command::new(&podadm)
                .arg("--root")
                .arg(&store)
                .arg("--runroot")
                .arg(&run)
                .args(args)
                .env("AURORA_PODINIT", aurora_testkit::static_podinit())
                .output();
        }
        // The network namespaces' directory is a mount of its own (made shared on itself).
        let _ = Command::new("umount")
            .arg("-l")
            .arg(run.join("netns"))
            .output();
    }
}

impl Server {
    /// The server with no config file, its credentials isolated from the user's.
    pub fn start(crictl: PathBuf) -> Server {
        Server::start_with(crictl, &[])
    }

    /// The server with more flags.
    pub fn start_with(crictl: PathBuf, flags: &[&str]) -> Server {
        aurora_testkit::workspace_binary("runz", "runz");
        aurora_testkit::workspace_binary("aurora-monitor", "aurora-monitor");
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("cri.sock");
        // A network of the tests' own: the host's /etc/cni/net.d may hold another tool's
        // (podman's legacy bridge on 10.88.0.0/16 would clash with podman's own network).
        let cni = dir.path().join("cni");
        std::fs::create_dir(&cni).expect("CNI conf dir");
        std::fs::write(cni.join("10-aurora-tests.conflist"), TEST_NETWORK).expect("conflist");
        let child = Command::new(env!("CARGO_BIN_EXE_aurora-cri"))
            .arg("--listen")
            .arg(&socket)
            .arg("--root")
            .arg(dir.path().join("store"))
            .arg("--config")
            .arg(dir.path().join("no-config.toml"))
            .arg("--runroot")
            .arg(dir.path().join("run"))
            .arg("--cni-conf-dir")
            .arg(&cni)
            .args(flags)
            .env("AURORA_PODINIT", aurora_testkit::static_podinit())
            .env(
                "AURORA_PODADM",
                aurora_testkit::workspace_binary("podadm", "podadm"),
            )
            .env("HOME", dir.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env("DOCKER_CONFIG", dir.path().join("docker"))
            .spawn()
            .expect("start aurora-cri");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "aurora-cri did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            socket,
            crictl,
            dir,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let endpoint = format!("unix://{}", self.socket.display());
        let mut command = Command::new(&self.crictl);
        command
            .args([
                "--runtime-endpoint",
                &endpoint,
                "--image-endpoint",
                &endpoint,
            ])
            .args(["--timeout", "60s"])
            .args(args);
        command
    }

    /// crictl with `input` on its stdin.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run crictl");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        child.wait_with_output().expect("crictl's output")
    }

    /// crictl's stdout, trimmed; the call must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, b"");
        assert!(
            out.status.success(),
            "crictl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `json` to a file in the server's directory; its path.
    pub fn write(&self, name: &str, json: serde_json::Value) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, json.to_string()).expect("write a config");
        path.display().to_string()
    }
}

/// crictl's own lines on stderr (its config file warning) left out.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("crictl.yaml"))
        .collect::<Vec<_>>()
        .join("\n")
}
