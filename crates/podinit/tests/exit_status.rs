//! The real `podinit` binary: exit statuses, the status file and usage errors.

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// Exit statuses and the status file

#[test]
fn exit_codes_pass_through_and_are_recorded() {
    let t = tempfile::tempdir().unwrap();
    let status = t.path().join("status.json");
    let s = status.to_str().unwrap();
    for (script, code, record) in [
        ("echo out; exit 0", 0, "{\"exitCode\":0}\n"),
        ("echo out; exit 3", 3, "{\"exitCode\":3}\n"),
        (
            "echo out; kill -KILL $$",
            137,
            "{\"exitCode\":137,\"signal\":9,\"signalName\":\"SIGKILL\",\"coreDumped\":false}\n",
        ),
        (
            "echo out; kill -TERM $$",
            143,
            "{\"exitCode\":143,\"signal\":15,\"signalName\":\"SIGTERM\",\"coreDumped\":false}\n",
        ),
    ] {
        let (rc, out, err) = run(&mut podinit(&[
            "--status-file",
            s,
            "--",
            "sh",
            "-c",
            script,
        ]));
        assert_eq!(
            (rc, out.as_str(), err.as_str()),
            (code, "out\n", ""),
            "{script}"
        );
        assert_eq!(
            std::fs::read_to_string(&status).unwrap(),
            record,
            "{script}"
        );
    }
    // Only the status file is left: no temporary beside it.
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
}

#[test]
fn command_without_double_dash() {
    let (rc, out, _) = run(&mut podinit(&["sh", "-c", "echo \"$0:$1\"", "a", "b"]));
    assert_eq!((rc, out.as_str()), (0, "a:b\n"));
}

#[test]
fn command_not_found_or_not_executable() {
    let t = tempfile::tempdir().unwrap();
    let status = t.path().join("st");
    let s = status.to_str().unwrap();
    let (rc, out, err) = run(podinit(&["--status-file", s, "--", "no-such-program-x"])
        .env("PATH", "/nonexistent:/also-not"));
    let msg = "cannot execute \"no-such-program-x\": not found in PATH /nonexistent:/also-not";
    assert_eq!((rc, out.as_str()), (127, ""));
    assert_eq!(err, format!("podinit: {msg}\n"));
    let record = std::fs::read_to_string(&status).unwrap();
    let quoted = serde_json::to_string(msg).unwrap();
    assert_eq!(record, format!("{{\"exitCode\":127,\"error\":{quoted}}}\n"));

    let plain = t.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let p = plain.to_str().unwrap();
    let (rc, _, err) = run(&mut podinit(&["--", p]));
    assert_eq!(rc, 126);
    assert_eq!(
        err,
        format!("podinit: cannot execute \"{p}\": Permission denied (os error 13)\n")
    );
}

#[test]
fn usage_errors_exit_2() {
    for (args, first_line) in [
        (
            &[][..],
            "podinit: no command given and no /.aurora/podinit.json (use `podinit -- CMD ARGS...` or `--config FILE`)",
        ),
        (
            &["--bogus", "--", "true"][..],
            "podinit: unknown option \"--bogus\"",
        ),
        (
            &["--status-file"][..],
            "podinit: option --status-file needs a value",
        ),
        (
            &["action"][..],
            "podinit: `action` needs the name of an action",
        ),
    ] {
        let (rc, out, err) = run(&mut podinit(args));
        assert_eq!((rc, out.as_str()), (2, ""), "{args:?}");
        assert_eq!(err.lines().next(), Some(first_line), "{args:?}");
        assert!(err.contains("usage: podinit"), "{err}");
    }
}
