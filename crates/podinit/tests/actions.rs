//! The real `podinit` binary: actions named in an actions file.

use std::path::{Path, PathBuf};

use serde_json::json;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// Actions

fn actions_file(dir: &Path) -> PathBuf {
    let cwd = dir.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    write_json(
        dir,
        "actions.json",
        &json!({"actions": {
            "greet": {"args": ["sh", "-c", "pwd; echo \"$GREETING $INHERITED\"; exit 4"],
                      "env": ["GREETING=hello"], "cwd": cwd, "description": "says hello"},
            "reload": {"args": ["true"]},
        }}),
    )
}

#[test]
fn known_action_runs_with_its_status() {
    let t = tempfile::tempdir().unwrap();
    let f = actions_file(t.path());
    let (rc, out, err) = run(
        podinit(&["action", "greet", "--actions", f.to_str().unwrap()])
            .env("INHERITED", "world")
            .env("GREETING", "overridden"),
    );
    assert_eq!(err, "");
    assert_eq!(
        (rc, out),
        (
            4,
            format!("{}\nhello world\n", t.path().join("cwd").display())
        )
    );
    let (rc, out, err) = run(&mut podinit(&[
        "action",
        "--actions",
        f.to_str().unwrap(),
        "reload",
    ]));
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn unknown_action_lists_the_known_ones() {
    let t = tempfile::tempdir().unwrap();
    let f = actions_file(t.path());
    let (rc, out, err) = run(&mut podinit(&[
        "action",
        "restart",
        "--actions",
        f.to_str().unwrap(),
    ]));
    assert_eq!((rc, out.as_str()), (2, ""));
    assert_eq!(
        err,
        format!(
            "podinit: unknown action \"restart\" in {}; known actions: greet, reload\n",
            f.display()
        )
    );
}

#[test]
fn missing_or_invalid_actions_file() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("none.json");
    let (rc, out, err) = run(&mut podinit(&[
        "action",
        "x",
        "--actions",
        missing.to_str().unwrap(),
    ]));
    assert_eq!((rc, out.as_str()), (125, ""));
    assert_eq!(
        err,
        format!(
            "podinit: cannot read actions file {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    let bad = t.path().join("bad.json");
    std::fs::write(&bad, "{\"actions\": {\"x\": {\"args\": [\"true\"]},}}").unwrap();
    let (rc, out, err) = run(&mut podinit(&[
        "action",
        "x",
        "--actions",
        bad.to_str().unwrap(),
    ]));
    assert_eq!((rc, out.as_str()), (125, ""));
    assert_eq!(
        err,
        format!(
            "podinit: invalid actions file {}: trailing comma at line 1 column 38\n",
            bad.display()
        )
    );
}
