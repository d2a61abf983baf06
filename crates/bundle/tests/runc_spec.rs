//! Our defaults against the real `runc spec --rootless=false`: every field runc sets that
//! the image does not influence must be equal, apart from the differences documented in
//! `src/defaults.rs` (checked here explicitly, so a new runc difference fails the test).

use std::process::Command;

use aurora_bundle::{canonical_value, convert, parse_image_config, Overrides};
use aurora_testkit::skip::skip;
use serde_json::{json, Value};

/// `runc spec`'s config.json, canonical; `None` when `test` was skipped for want of runc.
fn runc_spec(test: &str) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = match Command::new("runc")
        .args(["spec", "--rootless=false", "--bundle"])
        .arg(dir.path())
        .output()
    {
        Ok(out) => out,
        Err(err) => {
            skip(
                test,
                format_args!("runc is not installed ({err}); apt-get install -y runc"),
            );
            return None;
        }
    };
    assert!(out.status.success(), "runc spec: {out:?}");
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    Some(aurora_bundle::canonical_value_of(
        serde_json::from_str(&text).unwrap(),
    ))
}

fn ours() -> Value {
    // An image that sets nothing but a command: every other field is a default.
    let blob = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config = parse_image_config("minimal", blob).unwrap();
    let empty_rootfs = tempfile::tempdir().unwrap();
    let spec = convert(
        "minimal",
        &config,
        empty_rootfs.path(),
        &Overrides::default(),
    )
    .unwrap()
    .spec;
    canonical_value(&spec).unwrap()
}

fn at<'v>(v: &'v Value, pointer: &str) -> &'v Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

#[test]
fn defaults_match_runc_spec() {
    let Some(runc) = runc_spec("defaults_match_runc_spec") else {
        return;
    };
    let ours = ours();

    // Equal, field for field.
    for pointer in [
        "/mounts",
        "/process/capabilities/bounding",
        "/process/capabilities/effective",
        "/process/capabilities/permitted",
        "/process/capabilities/inheritable",
        "/process/rlimits",
        "/process/noNewPrivileges",
        "/process/cwd",
        "/process/user",
        "/process/args",
        "/linux/readonlyPaths",
        "/linux/resources",
        "/linux/uidMappings",
        "/linux/gidMappings",
        "/linux/seccomp",
        "/root/path",
    ] {
        assert_eq!(at(&ours, pointer), at(&runc, pointer), "{pointer}");
    }
    assert!(at(&runc, "/mounts").as_array().unwrap().len() >= 7);

    // PATH is runc's.
    let runc_env = at(&runc, "/process/env").as_array().unwrap();
    assert_eq!(at(&ours, "/process/env/0"), &runc_env[0]);

    // Documented differences, each checked.
    // 1. Namespaces: ours are runc's, plus cgroup if this runc left it out (runc adds it
    //    only on a pure cgroup v2 host).
    let mut want_ns = at(&runc, "/linux/namespaces").as_array().unwrap().clone();
    if !want_ns.contains(&json!({"type": "cgroup"})) {
        want_ns.push(json!({"type": "cgroup"}));
    }
    assert_eq!(at(&ours, "/linux/namespaces"), &Value::Array(want_ns));
    // 2. Masked paths: runc's, plus /sys/devices/virtual/tpm (runc >= 1.2 masks it).
    let mut want_masked = at(&runc, "/linux/maskedPaths").as_array().unwrap().clone();
    let tpm = json!("/sys/devices/virtual/tpm");
    if !want_masked.contains(&tpm) {
        want_masked.push(tpm);
    }
    assert_eq!(at(&ours, "/linux/maskedPaths"), &Value::Array(want_masked));
    // 3. Ambient capabilities: none (runc >= 1.2; runc 1.1 lists them but cannot apply
    //    them without inheritable ones).
    assert_eq!(at(&ours, "/process/capabilities/ambient"), &Value::Null);
    let runc_ambient = at(&runc, "/process/capabilities/ambient");
    assert!(runc_ambient.is_null() || at(&runc, "/process/capabilities/inheritable").is_null());
    // 4. root.readonly false (the rootfs is the container's own writable clone), terminal
    //    off by default, our hostname.
    assert_eq!(at(&ours, "/root/readonly"), &json!(false));
    assert_eq!(at(&ours, "/process/terminal"), &json!(false));
    assert_eq!(
        at(&ours, "/hostname"),
        &json!(aurora_bundle::DEFAULT_HOSTNAME)
    );

    // Nothing else at the top level or in process/linux that runc sets and we do not.
    for (section, skip) in [
        ("", &["annotations"][..]),
        ("/process", &[][..]),
        ("/linux", &[][..]),
    ] {
        let runc_keys = at(&runc, section).as_object().unwrap();
        let ours_obj = at(&ours, section).as_object().unwrap();
        for key in runc_keys.keys() {
            if !skip.contains(&key.as_str()) {
                assert!(
                    ours_obj.contains_key(key),
                    "runc sets {section}/{key}, we do not"
                );
            }
        }
    }
}
