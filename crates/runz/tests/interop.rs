//! runz with the bundles and the callers of the ecosystem: a `runc spec` bundle (runc runs
//! it too, and both must print the same), a `umoci unpack` bundle, and podman using runz as
//! its OCI runtime (`podman --runtime …/runz run --rm`) through conmon. Needs root.

mod common;

use std::path::Path;
use std::process::Command;

use aurora_testkit::Podman;
use common::*;
use serde_json::json;

fn check(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const SCRIPT: &str = "echo \"$GREETING from $(hostname)\"; id; pwd; ls /";

#[test]
fn runz_and_runc_print_the_same_for_a_runc_spec_bundle() {
    let Some(runz) = runz_or_skip("runz_and_runc_print_the_same_for_a_runc_spec_bundle") else {
        return;
    };
    let bundle = BusyboxBundle::new(&["sh", "-c", SCRIPT]);
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("GREETING=hello"));
        c["process"]["cwd"] = json!("/tmp");
    });
    let (code, ours, stderr) = runz.run(&bundle);
    assert_eq!(code, 0, "{stderr}");
    let id = unique_id();
    let theirs = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc").args(["delete", "-f", &id]).output();
    assert_eq!(ours, check(&theirs, "runc run"));
    assert!(
        ours.starts_with("hello from runc\nuid=0(root) gid=0(root)"),
        "{ours}"
    );
}

/// An OCI layout with one busybox layer and a config running `cmd`, made with umoci.
fn umoci_image(dir: &Path, cmd: &[&str]) -> String {
    let rootfs = dir.join("rootfs");
    aurora_testkit::write_busybox_rootfs(&rootfs);
    let layout = dir.join("layout");
    let image = format!("{}:v1", layout.display());
    let umoci = |args: &[&str]| check(&Command::new("umoci").args(args).output().unwrap(), "umoci");
    umoci(&["init", "--layout", &layout.to_string_lossy()]);
    umoci(&["new", "--image", &image]);
    umoci(&["insert", "--image", &image, &rootfs.to_string_lossy(), "/"]);
    let mut config = vec![
        "config",
        "--image",
        &image,
        "--config.workingdir",
        "/home/app",
    ];
    config.extend(["--config.env", "PATH=/bin", "--config.env", "GREETING=hi"]);
    for arg in cmd {
        config.extend(["--config.cmd", arg]);
    }
    umoci(&config);
    image
}

#[test]
fn a_umoci_unpack_bundle_runs() {
    let Some(runz) = runz_or_skip("a_umoci_unpack_bundle_runs") else {
        return;
    };
    aurora_testkit::require_tools(&["umoci"]);
    let dir = tempfile::tempdir().unwrap();
    let image = umoci_image(dir.path(), &["sh", "-c", "echo $GREETING; pwd; id -u"]);
    let bundle = dir.path().join("bundle");
    check(
        &Command::new("umoci")
            .args(["unpack", "--image", &image])
            .arg(&bundle)
            .output()
            .unwrap(),
        "umoci unpack",
    );
    // umoci writes terminal: true; a caller without a terminal turns it off, as with runc.
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = json!(false);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let id = unique_id();
    let out = runz.output(&["run", "--bundle", &bundle.to_string_lossy(), &id]);
    assert_eq!(check(&out, "runz run"), "hi\n/home/app\n0\n");
}

struct LowercaseDir(std::path::PathBuf);

impl LowercaseDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("aurora-podman-{}", unique_id()));
        std::fs::create_dir_all(&path).unwrap();
        LowercaseDir(path)
    }
}

impl Drop for LowercaseDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn podman_runs_containers_with_runz_as_its_runtime() {
    let Some(_runz) = runz_or_skip("podman_runs_containers_with_runz_as_its_runtime") else {
        return;
    };
    aurora_testkit::require_tools(&["podman", "umoci"]);
    // podman names an oci: image after its path, which must be lowercase.
    let dir = LowercaseDir::new();
    let image = umoci_image(
        &dir.0,
        &[
            "sh",
            "-c",
            "echo $GREETING from podman; pwd; hostname; exit 3",
        ],
    );
    let podman = Podman::new();
    let pulled = check(
        &podman
            .command(&["pull", &format!("oci:{image}")])
            .output()
            .unwrap(),
        "podman pull",
    );
    let image_id = pulled.lines().last().unwrap().trim().to_string();
    let runz = Runz::binary();
    // This host's hard limits are below podman's defaults, and root here cannot raise them.
    let limits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut args = vec![
        "--runtime",
        runz.to_str().unwrap(),
        "run",
        "--rm",
        "--network",
        "none",
        "--hostname",
        "podbox",
    ];
    args.extend(limits);
    args.push(&image_id);
    let out = podman.command(&args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi from podman\n/home/app\npodbox\n"
    );

    // Detached, then exec, stop and rm: podman drives create/start/exec/kill/delete/state.
    let mut args = vec![
        "--runtime",
        runz.to_str().unwrap(),
        "run",
        "-d",
        "--network",
        "none",
    ];
    args.extend(limits);
    args.extend([image_id.as_str(), "sleep", "300"]);
    let id = check(&podman.command(&args).output().unwrap(), "podman run -d")
        .trim()
        .to_string();
    let exec = podman
        .command(&[
            "--runtime",
            runz.to_str().unwrap(),
            "exec",
            &id,
            "sh",
            "-c",
            "echo exec works; exit 5",
        ])
        .output()
        .unwrap();
    assert_eq!(
        exec.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "exec works\n");
    let inspect = check(
        &podman
            .command(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.OCIRuntime}}",
                &id,
            ])
            .output()
            .unwrap(),
        "podman inspect",
    );
    assert_eq!(inspect.trim(), format!("running {}", runz.display()));
    check(
        &podman
            .command(&["--runtime", runz.to_str().unwrap(), "stop", "-t", "1", &id])
            .output()
            .unwrap(),
        "podman stop",
    );
    check(
        &podman
            .command(&["--runtime", runz.to_str().unwrap(), "rm", &id])
            .output()
            .unwrap(),
        "podman rm",
    );
}

/// containerd with a root, state and socket of its own, stopped (and its mounts removed) when
/// the test ends.
struct Containerd {
    dir: tempfile::TempDir,
    daemon: std::process::Child,
}

impl Containerd {
    fn start() -> Self {
        // A unix socket path must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ctrd-")
            .tempdir_in("/tmp")
            .unwrap();
        let config = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
             [grpc]\n  address = \"{0}/sock\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_tcp_service = true\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd (apt-get install -y containerd)");
        let ctrd = Containerd { dir, daemon };
        // containerd loads its plugins first: give it up to 30 s on a busy machine.
        let answered = (0..300).any(|_| {
            let up = ctrd.ctr(&["version"]).status.success();
            if !up {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            up
        });
        assert!(
            answered,
            "containerd did not answer: {}",
            std::fs::read_to_string(ctrd.dir.path().join("log")).unwrap_or_default()
        );
        ctrd
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .args(["60", "ctr", "--address"])
            .arg(self.dir.path().join("sock"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("root"))
            .output();
    }
}

#[test]
fn containerd_s_runc_shim_drives_runz() {
    let Some(_runz) = runz_or_skip("containerd_s_runc_shim_drives_runz") else {
        return;
    };
    aurora_testkit::require_tools(&["containerd", "ctr", "umoci"]);
    let dir = tempfile::tempdir().unwrap();
    let image = umoci_image(
        dir.path(),
        &["sh", "-c", "echo $GREETING from containerd; pwd; exit 4"],
    );
    let layout = image.rsplit_once(':').unwrap().0;
    let archive = dir.path().join("image.tar");
    check(
        &Command::new("tar")
            .arg("-C")
            .arg(layout)
            .arg("-cf")
            .arg(&archive)
            .arg(".")
            .output()
            .unwrap(),
        "tar",
    );
    let ctrd = Containerd::start();
    check(
        &ctrd.ctr(&[
            "images",
            "import",
            "--base-name",
            "localhost/aurora-test",
            &archive.to_string_lossy(),
        ]),
        "ctr images import",
    );
    let image_ref = "localhost/aurora-test:v1";
    let runz = Runz::binary();
    let runz = runz.to_str().unwrap();

    let out = ctrd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        runz,
        image_ref,
        &unique_id(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi from containerd\n/home/app\n"
    );

    // A task left running: exec, kill, delete through the shim.
    let id = unique_id();
    check(
        &ctrd.ctr(&[
            "run",
            "-d",
            "--runc-binary",
            runz,
            image_ref,
            &id,
            "sleep",
            "300",
        ]),
        "ctr run -d",
    );
    let exec = ctrd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo exec works; exit 6",
    ]);
    assert_eq!(
        exec.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "exec works\n");
    let tasks = check(&ctrd.ctr(&["task", "ls"]), "ctr task ls");
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("RUNNING")),
        "{tasks}"
    );
    check(
        &ctrd.ctr(&["task", "kill", "--signal", "KILL", &id]),
        "ctr task kill",
    );
    assert!(eventually(|| {
        check(&ctrd.ctr(&["task", "ls"]), "ctr task ls")
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("STOPPED"))
    }));
    check(&ctrd.ctr(&["task", "delete", &id]), "ctr task delete");
    check(
        &ctrd.ctr(&["containers", "delete", &id]),
        "ctr containers delete",
    );
}
