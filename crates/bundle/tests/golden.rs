//! Golden-file tests: every `tests/data/NAME.image.json` is converted (with the optional
//! `NAME.overrides.json`, against the fake root filesystem `tests/data/rootfs`) and compared
//! with `NAME.config.json`, or, when the conversion fails, with the message in
//! `NAME.error.txt`. Run with `AURORA_UPDATE_GOLDEN=1` to rewrite the expected files.

use std::path::{Path, PathBuf};

use aurora_bundle::{convert, parse_image_config, BundleError, Overrides};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn overrides_from(path: &Path) -> Overrides {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Overrides::default();
    };
    let v: Value = serde_json::from_str(&text).expect("overrides file is JSON");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    };
    Overrides {
        args: v.get("args").map(strings),
        env: v.get("env").map(strings).unwrap_or_default(),
        terminal: v.get("terminal").and_then(Value::as_bool).unwrap_or(false),
        hostname: v.get("hostname").and_then(Value::as_str).map(String::from),
    }
}

/// Convert one case; `Ok(pretty JSON)` or `Err(error message)` with the rootfs path
/// replaced by `<rootfs>` so the expected files do not depend on the checkout.
fn run_case(name: &str) -> Result<String, String> {
    let dir = data_dir();
    let rootfs = dir.join("rootfs");
    let image = format!("test/{name}:latest");
    let blob = std::fs::read(dir.join(format!("{name}.image.json"))).unwrap();
    let overrides = overrides_from(&dir.join(format!("{name}.overrides.json")));
    let result = parse_image_config(&image, &blob)
        .and_then(|config| convert(&image, &config, &rootfs, &overrides));
    match result {
        Ok(converted) => {
            let bytes = aurora_bundle::to_json_pretty(&converted.spec).unwrap();
            Ok(String::from_utf8(bytes).unwrap())
        }
        Err(err) => Err(format!("{err}\n").replace(&rootfs.display().to_string(), "<rootfs>")),
    }
}

fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".image.json").map(String::from)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn golden_conversions() {
    let update = std::env::var_os("AURORA_UPDATE_GOLDEN").is_some();
    let dir = data_dir();
    let names = case_names();
    assert!(names.len() >= 12, "expected at least a dozen cases");
    let mut failures = Vec::new();
    for name in &names {
        let config_path = dir.join(format!("{name}.config.json"));
        let error_path = dir.join(format!("{name}.error.txt"));
        let got = run_case(name);
        if update {
            let _ = std::fs::remove_file(&config_path);
            let _ = std::fs::remove_file(&error_path);
            match &got {
                Ok(json) => std::fs::write(&config_path, json).unwrap(),
                Err(msg) => std::fs::write(&error_path, msg).unwrap(),
            }
            continue;
        }
        match (&got, config_path.exists(), error_path.exists()) {
            (Ok(json), true, false) => {
                let want: Value =
                    serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap())
                        .unwrap();
                let got: Value = serde_json::from_str(json).unwrap();
                if want != got {
                    failures.push(format!(
                        "{name}: config differs\n--- want\n{}\n--- got\n{}",
                        serde_json::to_string_pretty(&want).unwrap(),
                        serde_json::to_string_pretty(&got).unwrap()
                    ));
                }
            }
            (Err(msg), false, true) => {
                let want = std::fs::read_to_string(&error_path).unwrap();
                if &want != msg {
                    failures.push(format!("{name}: error differs\nwant: {want}got:  {msg}"));
                }
            }
            (got, has_config, has_error) => failures.push(format!(
                "{name}: got {got:?}, but config.json expected: {has_config}, error expected: {has_error}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (AURORA_UPDATE_GOLDEN=1 rewrites them):\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

/// The conversion is deterministic: the same input gives the same bytes every time
/// (annotations and capabilities live in hash containers inside oci-spec).
#[test]
fn output_is_byte_stable() {
    let first = run_case("full").unwrap();
    for _ in 0..20 {
        assert_eq!(run_case("full").unwrap(), first);
    }
}

#[test]
fn unsafe_labels_are_dropped_and_reported() {
    let dir = data_dir();
    let blob = std::fs::read(dir.join("labels.image.json")).unwrap();
    let config = parse_image_config("labels", &blob).unwrap();
    let converted = convert(
        "labels",
        &config,
        &dir.join("rootfs"),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(
        converted.dropped_labels,
        vec![
            "org.aurora.image.volumes",
            "org.systemd.property.Delegate",
            "run.oci.hooks.stdout"
        ]
    );
    let annotations = converted.spec.annotations().clone().unwrap();
    // Labels win over the implicit annotations (conversion.md, "Annotations").
    assert_eq!(
        annotations["org.opencontainers.image.author"],
        "Label Author"
    );
    assert_eq!(annotations["org.opencontainers.image.os"], "label-os");
    assert!(!annotations.contains_key("run.oci.hooks.stdout"));
}

#[test]
fn errors_name_the_image_and_user() {
    let dir = data_dir();
    let blob = std::fs::read(dir.join("user-unknown.image.json")).unwrap();
    let config = parse_image_config("example.com/app:1", &blob).unwrap();
    let err = convert(
        "example.com/app:1",
        &config,
        &dir.join("rootfs"),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(matches!(err, BundleError::UnknownUser { .. }));
    let msg = err.to_string();
    assert!(msg.contains("example.com/app:1"), "{msg}");
    assert!(msg.contains("nosuchuser"), "{msg}");
    assert!(msg.contains("etc/passwd"), "{msg}");
}

#[test]
fn write_bundle_config_is_atomic_and_pretty() {
    let dir = data_dir();
    let blob = std::fs::read(dir.join("full.image.json")).unwrap();
    let config = parse_image_config("full", &blob).unwrap();
    let spec = convert("full", &config, &dir.join("rootfs"), &Overrides::default())
        .unwrap()
        .spec;
    let bundle = tempfile::tempdir().unwrap();
    std::fs::write(bundle.path().join("config.json"), b"old").unwrap();
    let path = aurora_bundle::write_bundle_config(bundle.path(), &spec).unwrap();
    assert_eq!(path, bundle.path().join("config.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \""), "pretty JSON");
    assert!(text.ends_with("}\n"));
    let back: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
    assert_eq!(back, spec);
    // Only config.json is left: no temporary files.
    let names: Vec<_> = std::fs::read_dir(bundle.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["config.json"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A missing bundle directory is an error naming the file.
    let err = aurora_bundle::write_bundle_config(&bundle.path().join("nope"), &spec).unwrap_err();
    assert!(err.to_string().contains("nope/config.json"), "{err}");
}
