//! The real `podinit` binary: config maps rendered before the command starts.

use std::path::Path;

use serde_json::json;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// Config maps

fn sample_data() -> serde_json::Value {
    json!({
        "name": "web \"front\" \\ end",
        "server.host": "0.0.0.0",
        "server.port": "8080",
        "server.tls.enabled": "true",
        "ratio": "0.25",
        "big": "1e100",
        "motd": "line1\nline2\ttab\u{7}bell é",
        "yes": "no",
        "empty": "",
        "number-like": "010",
        "with space": "null",
        "colon": "a: b # c",
    })
}

fn sample_types() -> serde_json::Value {
    json!({"server.port": "integer", "server.tls.enabled": "boolean",
           "ratio": "float", "big": "float"})
}

#[test]
fn config_maps_are_rendered_before_start() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("etc/app");
    let link_target = t.path().join("precious");
    std::fs::write(&link_target, "keep me").unwrap();
    std::fs::create_dir_all(&root).unwrap();
    // A symlink where a config map goes is replaced, not followed.
    std::os::unix::fs::symlink(&link_target, root.join("app.json")).unwrap();
    let files = [
        (root.join("app.json"), None, "configmap.json", 0o644),
        (root.join("deep/er/app.toml"), None, "configmap.toml", 0o600),
        (root.join("app.yml"), None, "configmap.yaml", 0o640),
        (root.join("app.conf"), Some("yaml"), "configmap.yaml", 0o444),
    ];
    let maps: Vec<serde_json::Value> = files
        .iter()
        .map(|(path, format, _, mode)| {
            let mut m = json!({"path": path, "mode": format!("{mode:04o}"),
                               "data": sample_data(), "types": sample_types()});
            if let Some(f) = format {
                m["format"] = json!(f);
            }
            m
        })
        .collect();
    let (rc, out, err) = config_run(
        t.path(),
        json!({"configMaps": maps, "process": {
            "args": ["cat", files[0].0, files[1].0, files[2].0, files[3].0],
            "env": ["PATH=/usr/bin:/bin"]}}),
    );
    assert_eq!(err, "");
    assert_eq!(rc, 0);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut want = String::new();
    for (path, _, golden, mode) in &files {
        let golden = std::fs::read_to_string(data.join(golden)).unwrap();
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            golden,
            "{}",
            path.display()
        );
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.is_file(), "{}", path.display());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            *mode,
            "{}",
            path.display()
        );
        want.push_str(&golden);
    }
    // The process saw them: they were written before it started.
    assert_eq!(out, want);
    assert_eq!(std::fs::read_to_string(&link_target).unwrap(), "keep me");
}

#[test]
fn config_map_errors_stop_before_start() {
    let t = tempfile::tempdir().unwrap();
    let marker = t.path().join("started");
    let escaping = format!("{}/../escaped.json", t.path().display());
    let cases = [
        (
            json!({"path": escaping, "data": {"a": "1"}}),
            format!("configMaps[0]: path {escaping:?}: must not contain `..`"),
        ),
        (
            json!({"path": t.path().join("x.ini"), "data": {"a": "1"}}),
            format!(
                "configMaps[0]: path {:?}: no format given and none known for its extension (.toml, .yaml, .yml, .json)",
                t.path().join("x.ini").display().to_string()
            ),
        ),
        (
            json!({"path": t.path().join("x.json"), "data": {"port": "80 80"},
                   "types": {"port": "integer"}}),
            "configMaps[0]: key \"port\": \"80 80\" is not an integer".to_string(),
        ),
    ];
    for (map, msg) in cases {
        let config = json!({"configMaps": [map], "process": {
            "args": ["touch", marker], "env": ["PATH=/usr/bin:/bin"]}});
        let p = write_json(t.path(), "podinit.json", &config);
        let (rc, out, err) = run(&mut podinit(&["--config", p.to_str().unwrap()]));
        assert_eq!((rc, out.as_str()), (125, ""));
        assert_eq!(
            err,
            format!("podinit: invalid config {}: {msg}\n", p.display())
        );
        assert!(!marker.exists(), "the process must not have started");
    }
    assert!(!t.path().parent().unwrap().join("escaped.json").exists());
}
