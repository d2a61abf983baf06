//! An unprivileged user applies a layer with ownership ignored and device creation off: the
//! test (as root) runs this same test binary again as nobody (`setpriv --reuid 65534`), whose
//! `child_applies_a_layer` test does the work and writes what it saw to a file.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use aurora_layers::{apply_layer, ApplyOptions, Compression};
use aurora_testkit::require_tools;
use aurora_testkit::skip::root_or_skip;
use common::*;

const CHILD_ENV: &str = "AURORA_LAYERS_UNPRIVILEGED_CHILD";
const NOBODY: u32 = 65534;

/// Runs only when started by the test below (it sets `CHILD_ENV` to `ROOT:LAYER:OUT`).
#[test]
fn child_applies_a_layer() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (root, layer, out) = (parts[0], parts[1], parts[2]);
    let blob = fs::read(layer).unwrap();
    let result = apply_layer(
        Path::new(root),
        &blob[..],
        Compression::Detect,
        &ApplyOptions::unprivileged("unprivileged-layer"),
    );
    let text = match result {
        Ok(report) => format!(
            "euid={}\nok\nskipped={}\nfifos={}\nfiles={}\nwarnings:\n{}\n",
            rustix::process::geteuid().as_raw(),
            report.skipped,
            report.fifos,
            report.files,
            report.warnings.join("\n")
        ),
        Err(e) => format!("euid={}\nerror: {e}\n", rustix::process::geteuid().as_raw()),
    };
    fs::write(out, text).unwrap();
}

#[test]
fn unprivileged_apply_ignores_owners_and_skips_devices() {
    if !root_or_skip("unprivileged_apply_ignores_owners_and_skips_devices") {
        return;
    }
    require_tools(&["setpriv"]);
    let work = tempfile::tempdir().unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = work.path().join("root");
    let out_dir = work.path().join("out");
    for dir in [&root, &out_dir] {
        fs::create_dir(dir).unwrap();
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let layer = work.path().join("layer.tar.gz");
    fs::write(
        &layer,
        gzip(&tar(&[
            E::dir("etc", 0o755),
            E::file("etc/owned", "owned by 1000\n", 0o640).owner(1000, 1000),
            E::file("etc/suid", "suid\n", 0o4755),
            E::file("etc/xattrs", "x\n", 0o644)
                .xattr("user.ok", b"yes")
                .xattr("trusted.no", b"needs root"),
            E::dir("dev", 0o755),
            E::chardev("dev/null", 1, 3, 0o666),
            E::blockdev("dev/sda", 8, 0, 0o660),
            E::fifo("dev/fifo", 0o600),
            // Read-only directories still receive their contents (modes are set at the end).
            E::dir("ro", 0o555),
            E::dir("ro/inner", 0o500),
            E::file("ro/inner/file", "in a read-only dir\n", 0o444),
            E::symlink("ro/link", "inner/file"),
            E::hardlink("ro/hard", "ro/inner/file"),
        ])),
    )
    .unwrap();
    fs::set_permissions(&layer, fs::Permissions::from_mode(0o644)).unwrap();
    // A copy of this test binary nobody can run.
    let exe = work.path().join("child");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let out = out_dir.join("result");

    let status = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg(&exe)
        .args([
            "--exact",
            "child_applies_a_layer",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(
            CHILD_ENV,
            format!("{}:{}:{}", root.display(), layer.display(), out.display()),
        )
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "the unprivileged child failed:\n{}\n{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let result = fs::read_to_string(&out).unwrap();
    assert!(result.starts_with("euid=65534\nok\n"), "{result}");
    assert!(result.contains("skipped=2\n"), "{result}");
    assert!(result.contains("fifos=1\n"), "{result}");
    assert!(
        result.contains("\"dev/null\": device node 1:3 skipped"),
        "{result}"
    );
    assert!(
        result.contains("\"dev/sda\": device node 8:0 skipped"),
        "{result}"
    );
    assert!(result.contains("xattr trusted.no not set"), "{result}");

    let tree = snapshot(&root, GOLDEN);
    for (path, node) in &tree {
        assert_eq!(
            (node.uid, node.gid),
            (NOBODY, NOBODY),
            "{path} is not nobody's"
        );
    }
    assert!(!tree.contains_key("dev/null") && !tree.contains_key("dev/sda"));
    assert_eq!(tree["dev/fifo"].kind, 'p');
    assert_eq!(tree["etc/owned"].mode, 0o640);
    assert_eq!(tree["etc/suid"].mode, 0o4755);
    assert_eq!(
        tree["etc/xattrs"].xattrs.get("user.ok").map(|v| &v[..]),
        Some(&b"yes"[..])
    );
    assert!(!tree["etc/xattrs"].xattrs.contains_key("trusted.no"));
    assert_eq!(tree["ro"].mode, 0o555);
    assert_eq!(tree["ro/inner"].mode, 0o500);
    assert_eq!(
        tree["ro/inner/file"].content.as_deref(),
        Some("in a read-only dir\n")
    );
    assert_eq!(tree["ro/hard"].hardlinks, vec!["ro/inner/file".to_string()]);
    assert_eq!(fs::metadata(root.join("etc")).unwrap().uid(), NOBODY);
}
