//! The peer: for the same image (built with `umoci config`) and the same root filesystem,
//! `umoci raw runtime-config` and our conversion agree on `process.args`, `cwd`, `env`,
//! `user` and the annotations, apart from the documented differences checked below.
//! Skipped when umoci is not installed.

use std::path::Path;
use std::process::Command;

use aurora_bundle::{canonical_value, convert, parse_image_config, Overrides};
use aurora_testkit::skip::tools_or_skip;
use serde_json::{json, Value};

fn umoci(args: &[&str], cwd: &Path) {
    let out = Command::new("umoci")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci {args:?}: {out:?}");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').unwrap();
    std::fs::read(layout.join("blobs").join(alg).join(hex)).unwrap()
}

/// Build an image with `umoci config ARGS`, then return (umoci's runtime config, ours).
fn both(user: &str) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rootfs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rootfs");
    umoci(&["init", "--layout", "L"], d);
    umoci(&["new", "--image", "L:t"], d);
    umoci(
        &[
            "config",
            "--image",
            "L:t",
            "--config.user",
            user,
            "--config.workingdir",
            "/srv",
            "--config.env",
            "FOO=bar",
            "--config.env",
            "PATH=/opt/bin:/bin",
            "--config.entrypoint",
            "/bin/sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "echo hi",
            "--config.exposedports",
            "8080/tcp",
            "--config.exposedports",
            "53/udp",
            "--config.volume",
            "/data",
            "--config.volume",
            "/cache",
            "--config.label",
            "com.example.k=v",
            "--config.stopsignal",
            "SIGTERM",
            "--author",
            "peer test",
        ],
        d,
    );
    let theirs_path = d.join("umoci.json");
    umoci(
        &[
            "raw",
            "runtime-config",
            "--image",
            "L:t",
            "--rootfs",
            rootfs.to_str().unwrap(),
            theirs_path.to_str().unwrap(),
        ],
        d,
    );
    let theirs = read_json(&theirs_path);

    let layout = d.join("L");
    let index = read_json(&layout.join("index.json"));
    let manifest: Value = serde_json::from_slice(&blob(
        &layout,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let config_blob = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    let config = parse_image_config("L:t", &config_blob).unwrap();
    // umoci always sets a terminal (and so TERM=xterm); ask for one too.
    let overrides = Overrides {
        terminal: true,
        ..Overrides::default()
    };
    let spec = convert("L:t", &config, &rootfs, &overrides).unwrap().spec;
    (theirs, canonical_value(&spec).unwrap())
}

fn check(user: &str, numeric_difference: bool) {
    let (theirs, ours) = both(user);
    for pointer in [
        "/process/args",
        "/process/cwd",
        "/process/env",
        "/process/terminal",
        "/process/user/uid",
        "/process/user/gid",
        "/root/path",
    ] {
        assert_eq!(
            ours.pointer(pointer),
            theirs.pointer(pointer),
            "{user}: {pointer}"
        );
    }
    // Go leaves out `readonly: false`; same meaning.
    assert_eq!(ours.pointer("/root/readonly"), Some(&json!(false)));
    assert!(theirs
        .pointer("/root/readonly")
        .is_none_or(|r| r == &json!(false)));
    // additionalGids: umoci (moby/sys/user) also adds the supplementary groups of a user
    // given by uid, and of root when User is empty; conversion.md says a numeric user
    // SHOULD NOT change them, so ours are given per case.
    let theirs_gids = theirs
        .pointer("/process/user/additionalGids")
        .cloned()
        .filter(|g| g != &json!([]));
    let ours_gids = ours.pointer("/process/user/additionalGids").cloned();
    if numeric_difference {
        assert!(
            theirs_gids.is_some(),
            "{user}: the difference is not exercised"
        );
        assert_eq!(ours_gids, None, "{user}: additionalGids");
    } else {
        assert_eq!(ours_gids, theirs_gids, "{user}: additionalGids");
    }

    // Annotations: every non-empty one umoci sets is ours too.
    let ours_ann = ours["annotations"].as_object().unwrap();
    for (key, value) in theirs["annotations"].as_object().unwrap() {
        if value == "" {
            continue; // umoci writes empty implicit annotations; we leave them out
        }
        if key == "org.opencontainers.image.exposedPorts" {
            // Same ports; we sort them by number.
            let mut a: Vec<&str> = value.as_str().unwrap().split(',').collect();
            let mut b: Vec<&str> = ours_ann[key].as_str().unwrap().split(',').collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
            continue;
        }
        assert_eq!(ours_ann.get(key), Some(value), "{user}: annotation {key}");
    }
    // Volumes: umoci mounts a tmpfs on each; we record them for the storage layer.
    let mut volumes: Vec<&str> = theirs["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "none")
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    volumes.sort();
    assert_eq!(
        ours_ann[aurora_bundle::VOLUMES_ANNOTATION]
            .as_str()
            .unwrap(),
        volumes.join(",")
    );
}

#[test]
fn agrees_with_umoci() {
    if !tools_or_skip("agrees_with_umoci", &["umoci"]) {
        return;
    }
    for user in [
        "app",
        "app:staff",
        "app:77",
        "1000:2000",
        "4242:docker",
        "4242",
        "nohome",
    ] {
        check(user, false);
    }
    // The documented difference: a numeric user, or none, gets no supplementary groups.
    check("1000", true);
    check("", true);
}
