//! The real `podinit` binary in config mode: environment, working directory, rlimits, user,
//! hostname and the status file taken from a JSON config. Tests that need root skip
//! themselves through `aurora_testkit::skip` (a failure when the run requires every test).

use std::path::Path;
use std::process::{Command, Stdio};

use aurora_testkit::skip::{root_or_skip, skip};
use serde_json::json;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// Config mode

#[test]
fn config_env_and_cwd_are_applied() {
    let t = tempfile::tempdir().unwrap();
    let cwd = t.path().join("work dir");
    std::fs::create_dir(&cwd).unwrap();
    let (rc, out, err) = config_run(
        t.path(),
        json!({"process": {
            "args": ["sh", "-c", "pwd; printf '%s\\n' \"$FOO\" \"${HOME-unset}\"; exit 4"],
            "env": ["PATH=/usr/bin:/bin", "FOO=bar baz = $x"],
            "cwd": cwd,
        }}),
    );
    assert_eq!(err, "");
    assert_eq!(rc, 4);
    assert_eq!(out, format!("{}\nbar baz = $x\nunset\n", cwd.display()));
}

#[test]
fn config_env_is_the_whole_environment() {
    let t = tempfile::tempdir().unwrap();
    let (rc, out, _) = config_run(
        t.path(),
        json!({"process": {"args": ["/usr/bin/env"], "env": ["A=1", "B=two"]}}),
    );
    assert_eq!((rc, out.as_str()), (0, "A=1\nB=two\n"));
}

#[test]
fn config_rlimits_are_applied() {
    let t = tempfile::tempdir().unwrap();
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
    assert!(cur.rlim_cur > 64, "test needs a soft NOFILE limit over 64");
    let hard = cur.rlim_max;
    let (rc, out, err) = config_run(
        t.path(),
        json!({"process": {
            "args": ["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"],
            "env": ["PATH=/usr/bin:/bin"],
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "soft": 64, "hard": hard},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            ],
        }}),
    );
    assert_eq!(err, "");
    let hard_text = if hard == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    assert_eq!((rc, out), (0, format!("64\n{hard_text}\n0\n")));
}

#[test]
fn config_user_groups_umask_and_no_new_privileges() {
    if !root_or_skip("config_user_groups_umask_and_no_new_privileges") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // The temporary directory is 0700 root: the process can only start in it because
    // podinit changes directory before switching user.
    let (rc, out, err) = config_run(
        t.path(),
        json!({"process": {
            "args": ["sh", "-c", "grep -E '^(Uid|Gid|Groups|NoNewPrivs):' /proc/self/status; umask; pwd"],
            "env": ["PATH=/usr/bin:/bin"],
            "cwd": t.path(),
            "user": {"uid": 65534, "gid": 65533, "umask": 23, "additionalGids": [65532, 100]},
            "noNewPrivileges": true,
        }}),
    );
    assert_eq!(err, "");
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        format!(
            "Uid:\t65534\t65534\t65534\t65534\nGid:\t65533\t65533\t65533\t65533\n\
             Groups:\t100 65532 \nNoNewPrivs:\t1\n0027\n{}\n",
            t.path().display()
        )
    );
    // No additional gids: root's groups are cleared, not kept.
    let (rc, out, _) = config_run(
        t.path(),
        json!({"process": {
            "args": ["grep", "^Groups:", "/proc/self/status"],
            "env": ["PATH=/usr/bin:/bin"],
            "user": {"uid": 65534, "gid": 65534},
        }}),
    );
    // (Kernels differ in the blank they print after an empty list.)
    assert_eq!((rc, out.trim_end()), (0, "Groups:"));
}

#[test]
fn config_user_switch_refused_when_not_permitted() {
    if !root_or_skip("config_user_switch_refused_when_not_permitted") {
        return;
    }
    // Drop to an unprivileged user first (with podinit itself), then ask for uid 0.
    let t = tempfile::tempdir().unwrap();
    let inner = write_json(
        t.path(),
        "inner.json",
        &json!({"process": {"args": ["true"], "user": {"uid": 0, "gid": 0}}}),
    );
    std::fs::set_permissions(&inner, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        t.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (rc, out, err) = config_run(
        t.path(),
        json!({"process": {
            "args": [BIN, "--config", inner],
            "env": ["PATH=/usr/bin:/bin"],
            "user": {"uid": 65534, "gid": 65534},
        }}),
    );
    assert_eq!((rc, out.as_str()), (125, ""));
    assert_eq!(
        err,
        "podinit: cannot switch to gid 0: Operation not permitted (os error 1)\n"
    );
}

#[test]
fn config_hostname_is_set() {
    if !root_or_skip("config_hostname_is_set") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = write_json(
        t.path(),
        "podinit.json",
        &json!({"hostname": "podinit-test", "process": {
            "args": ["cat", "/proc/sys/kernel/hostname"], "env": ["PATH=/usr/bin:/bin"]}}),
    );
    // In a UTS namespace of its own, so the host keeps its name.
    let probe = Command::new("unshare").args(["-u", "true"]).output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        skip("config_hostname_is_set", "`unshare -u` does not work here");
        return;
    }
    let (rc, out, err) = run(Command::new("unshare")
        .args(["-u", BIN, "--config"])
        .arg(&p)
        .stdin(Stdio::null()));
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "podinit-test\n", ""));
}

#[test]
fn config_names_the_status_file_unless_the_command_line_does() {
    let t = tempfile::tempdir().unwrap();
    let from_config = t.path().join("from-config.json");
    let from_cli = t.path().join("from-cli.json");
    let p = write_json(
        t.path(),
        "podinit.json",
        &json!({"statusFile": from_config, "process": {"args": ["sh", "-c", "exit 6"],
                "env": ["PATH=/usr/bin:/bin"]}}),
    );
    let (rc, _, _) = run(&mut podinit(&["--config", p.to_str().unwrap()]));
    assert_eq!(rc, 6);
    assert_eq!(
        std::fs::read_to_string(&from_config).unwrap(),
        "{\"exitCode\":6}\n"
    );
    std::fs::remove_file(&from_config).unwrap();
    let (rc, _, _) = run(&mut podinit(&[
        "--config",
        p.to_str().unwrap(),
        "--status-file",
        from_cli.to_str().unwrap(),
    ]));
    assert_eq!(rc, 6);
    assert_eq!(
        std::fs::read_to_string(&from_cli).unwrap(),
        "{\"exitCode\":6}\n"
    );
    assert!(!from_config.exists());
}

#[test]
fn invalid_config_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    let status = t.path().join("status.json");
    let bad_json = t.path().join("bad.json");
    std::fs::write(&bad_json, "{\"process\": {\"args\": [\"true\"]},\n  oops}").unwrap();
    let empty_args = write_json(t.path(), "empty.json", &json!({"process": {"args": []}}));
    let missing = t.path().join("missing.json");
    let d = |p: &Path| p.display().to_string();
    for (file, msg) in [
        (
            &bad_json,
            format!(
                "invalid config {}: key must be a string at line 2 column 3",
                d(&bad_json)
            ),
        ),
        (
            &empty_args,
            format!(
                "invalid config {}: process.args: must not be empty",
                d(&empty_args)
            ),
        ),
        (
            &missing,
            format!(
                "cannot read config {}: No such file or directory (os error 2)",
                d(&missing)
            ),
        ),
    ] {
        let (rc, out, err) = run(&mut podinit(&[
            "--config",
            file.to_str().unwrap(),
            "--status-file",
            status.to_str().unwrap(),
        ]));
        assert_eq!((rc, out.as_str()), (125, ""));
        assert_eq!(err, format!("podinit: {msg}\n"));
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
        assert_eq!(record, json!({"exitCode": 125, "error": msg}));
    }
}
