//! The config.json we write runs: a busybox root filesystem, an image configuration with a
//! user, working directory and environment, run with the real `runc` and `crun`, and with
//! Aurora's `runz`.
//!
//! Needs root and the runtimes (`apt-get install -y runc crun busybox-static`); skipped
//! through `aurora_testkit::skip` otherwise (a failure when the run requires every test). On a host with cgroup v1 and v2 mounted together (hybrid),
//! crun 1.8 refuses to start, so it runs in a private mount namespace with
//! `/sys/fs/cgroup/unified` unmounted.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use aurora_bundle::{convert, parse_image_config, write_bundle_config, Overrides};
use aurora_testkit::skip::skip;
use aurora_testkit::OciRuntime as Runtime;

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &["sh", "echo", "id", "pwd", "env", "cat", "grep"];

fn skip_reason(runtime: Runtime) -> Option<String> {
    if !Path::new(BUSYBOX).exists() {
        return Some(format!(
            "{BUSYBOX} missing (apt-get install -y busybox-static)"
        ));
    }
    runtime.unavailable()
}

/// A bundle directory with a busybox rootfs and the image's passwd/group files.
fn make_bundle() -> (tempfile::TempDir, PathBuf) {
    let bundle = tempfile::tempdir().unwrap();
    let rootfs = bundle.path().join("rootfs");
    for dir in [
        "bin",
        "etc",
        "work",
        "home/tester",
        "proc",
        "sys",
        "dev",
        "tmp",
    ] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:Tester:/home/tester:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ntester:x:1000:\nextra:x:3000:tester\n",
    )
    .unwrap();
    std::fs::set_permissions(rootfs.join("work"), std::fs::Permissions::from_mode(0o755)).unwrap();
    (bundle, rootfs)
}

/// The lines the image's process printed, run by `runtime`; `None` when `test` was skipped
/// because the runtime cannot run here.
fn run_image(
    test: &str,
    runtime: Runtime,
    image_config: &str,
    overrides: &Overrides,
) -> Option<Vec<String>> {
    if let Some(reason) = skip_reason(runtime) {
        skip(test, reason);
        return None;
    }
    let (bundle, rootfs) = make_bundle();
    let image = "test/busybox:run";
    let config = parse_image_config(image, image_config.as_bytes()).unwrap();
    let converted = convert(image, &config, &rootfs, overrides).unwrap();
    write_bundle_config(bundle.path(), &converted.spec).unwrap();

    let out: Output = runtime.run_bundle(bundle.path());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{} run failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nconfig.json:\n{}",
        runtime.name(),
        out.status,
        std::fs::read_to_string(bundle.path().join("config.json")).unwrap()
    );
    Some(stdout.lines().map(String::from).collect())
}

const NAMED_USER_IMAGE: &str = r#"{
  "architecture": "amd64", "os": "linux",
  "config": {
    "User": "tester",
    "WorkingDir": "/work",
    "Env": ["FOO=bar"],
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["id -u; id -g; id -G; pwd; echo $FOO; echo $HOME; cat /proc/sys/kernel/hostname; grep CapEff /proc/self/status"]
  },
  "rootfs": {"type": "layers", "diff_ids": []}
}"#;

fn check_named_user(test: &str, runtime: Runtime) {
    let Some(lines) = run_image(test, runtime, NAMED_USER_IMAGE, &Overrides::default()) else {
        return;
    };
    assert_eq!(
        lines,
        vec![
            "1000",
            "1000",
            "1000 3000",
            "/work",
            "bar",
            "/home/tester",
            aurora_bundle::DEFAULT_HOSTNAME,
            "CapEff:\t0000000000000000",
        ],
        "{}",
        runtime.name()
    );
}

const NUMERIC_USER_IMAGE: &str = r#"{
  "architecture": "amd64", "os": "linux",
  "config": {
    "User": "1000:1000",
    "WorkingDir": "/work",
    "Env": ["FOO=bar"],
    "Cmd": ["/bin/sh", "-c", "echo not this"]
  },
  "rootfs": {"type": "layers", "diff_ids": []}
}"#;

fn check_numeric_user_with_overrides(test: &str, runtime: Runtime) {
    let overrides = Overrides {
        args: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "id -u; pwd; echo $FOO; echo $EXTRA".into(),
        ]),
        env: vec!["FOO=override".into(), "EXTRA=x y".into()],
        terminal: false,
        hostname: Some("bundle-test".into()),
    };
    let Some(lines) = run_image(test, runtime, NUMERIC_USER_IMAGE, &overrides) else {
        return;
    };
    assert_eq!(
        lines,
        vec!["1000", "/work", "override", "x y"],
        "{}",
        runtime.name()
    );
}

#[test]
fn runc_runs_named_user() {
    check_named_user("runc_runs_named_user", Runtime::Runc);
}

#[test]
fn crun_runs_named_user() {
    check_named_user("crun_runs_named_user", Runtime::Crun);
}

#[test]
fn runc_runs_numeric_user_with_overrides() {
    check_numeric_user_with_overrides("runc_runs_numeric_user_with_overrides", Runtime::Runc);
}

#[test]
fn crun_runs_numeric_user_with_overrides() {
    check_numeric_user_with_overrides("crun_runs_numeric_user_with_overrides", Runtime::Crun);
}

#[test]
fn runz_runs_named_user() {
    check_named_user("runz_runs_named_user", Runtime::Runz);
}

#[test]
fn runz_runs_numeric_user_with_overrides() {
    check_numeric_user_with_overrides("runz_runs_numeric_user_with_overrides", Runtime::Runz);
}
