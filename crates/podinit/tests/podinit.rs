//! The real `podinit` binary: exit statuses, the status file, signals, reaping, the config
//! mode, config maps and actions. Tests that need root skip themselves through
//! `aurora_testkit::skip` when not run as root (a failure when the run requires every test).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aurora_testkit::skip::{root_or_skip, skip};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_podinit");

fn podinit(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).stdin(Stdio::null());
    c
}

/// Waits for `child` with a deadline, so that a hanging podinit fails the test.
fn wait(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("podinit did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output(cmd: &mut Command) -> Output {
    wait(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// (exit code, stdout, stderr)
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = output(cmd);
    (
        out.status
            .code()
            .expect("podinit itself must exit, not die by a signal"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    p
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

/// Reads lines from a child's stdout as they come.
struct Lines(BufReader<std::process::ChildStdout>);

impl Lines {
    fn new(child: &mut Child) -> Self {
        Lines(BufReader::new(child.stdout.take().unwrap()))
    }
    fn next(&mut self) -> String {
        let mut s = String::new();
        self.0.read_line(&mut s).unwrap();
        s
    }
}

/// `/proc/PID/stat` fields 3 (state) and 4 (parent pid), or None once the process is gone.
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The signals pending on `pid` (its thread's and its process's, `SigPnd | ShdPnd` of
/// /proc/PID/status, bit N-1 for signal N), or None once it is gone.
fn pending_signals(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut pending = 0;
    for line in status.lines() {
        if let Some(mask) = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
        {
            pending |= u64::from_str_radix(mask.trim(), 16).ok()?;
        }
    }
    Some(pending)
}

fn wait_gone(pid: u32, within: Duration) -> Result<(), (char, u32)> {
    let deadline = Instant::now() + within;
    loop {
        match proc_state(pid) {
            None => return Ok(()),
            Some(s) if Instant::now() > deadline => return Err(s),
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

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

// ---------------------------------------------------------------------------------------
// Signals and reaping

#[test]
fn sigterm_is_forwarded_and_the_childs_status_returned() {
    let t = tempfile::tempdir().unwrap();
    let status = t.path().join("status.json");
    let mut child = podinit(&[
        "--status-file",
        status.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = Lines::new(&mut child);
    assert_eq!(lines.next(), "ready\n");
    kill(child.id(), libc::SIGTERM);
    assert_eq!(lines.next(), "got-term\n");
    let out = wait(child);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        std::fs::read_to_string(&status).unwrap(),
        "{\"exitCode\":7}\n"
    );
}

#[test]
fn other_signals_are_forwarded() {
    let mut child = podinit(&[
        "--",
        "sh",
        "-c",
        "trap 'echo usr1' USR1; trap 'echo usr2' USR2; trap 'echo winch' WINCH; \
         trap 'echo hup; exit 5' HUP; echo ready; while :; do sleep 0.05; done",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = Lines::new(&mut child);
    assert_eq!(lines.next(), "ready\n");
    for (sig, line) in [
        (libc::SIGUSR1, "usr1\n"),
        (libc::SIGUSR2, "usr2\n"),
        (libc::SIGWINCH, "winch\n"),
        (libc::SIGHUP, "hup\n"),
    ] {
        kill(child.id(), sig);
        assert_eq!(lines.next(), line);
    }
    assert_eq!(wait(child).status.code(), Some(5));
}

/// Without `-g` only the child gets the signal; with `-g` its whole process group does.
#[test]
fn process_group_forwarding() {
    for group in [false, true] {
        let mut args = vec![];
        if group {
            args.push("-g");
        }
        args.extend(["--", "sh", "-c", "sleep 30 & echo $!; wait"]);
        let mut child = podinit(&args).stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = Lines::new(&mut child);
        let sleeper: u32 = lines.next().trim().parse().unwrap();
        kill(child.id(), libc::SIGTERM);
        let out = wait(child);
        assert_eq!(out.status.code(), Some(143), "group={group}");
        if group {
            assert_eq!(wait_gone(sleeper, Duration::from_secs(30)), Ok(()));
        } else {
            // podinit has exited, so any signal it sent is already pending on the sleeper
            // (kill(2) queues it before returning): no wait is needed to see it.
            let state = proc_state(sleeper).map(|s| s.0);
            let pending = pending_signals(sleeper);
            kill(sleeper, libc::SIGKILL);
            assert!(
                matches!(state, Some('S') | Some('R')),
                "the background sleep should still run: {state:?}"
            );
            let fatal = (1u64 << (libc::SIGTERM - 1)) | (1u64 << (libc::SIGKILL - 1));
            assert_eq!(
                pending.map(|p| p & fatal),
                Some(0),
                "the background sleep got a signal meant for the child only"
            );
        }
    }
}

#[test]
fn orphaned_grandchildren_are_reaped() {
    // The inner shell starts a sleep in the background and exits: the sleep is orphaned,
    // reparented to podinit (its subreaper), and once the test ends it, must not stay a
    // zombie. The test ends it (rather than a short sleep running out) so that a slow
    // machine cannot let it end before its reparenting is seen.
    let mut child = podinit(&[
        "--",
        "sh",
        "-c",
        "sh -c 'sleep 300 & echo $!'; exec sleep 300",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    let mut lines = Lines::new(&mut child);
    let orphan: u32 = lines.next().trim().parse().unwrap();
    // While it runs, its parent becomes podinit.
    // The wait is a hang guard only: the reparenting happens as soon as the inner shell exits.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match proc_state(orphan) {
            Some((_, ppid)) if ppid == pid => break,
            Some(s) if Instant::now() > deadline => panic!("orphan not reparented: {s:?}"),
            None => panic!("orphan {orphan} ended before it was seen reparented"),
            Some(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    // Once it exits, podinit reaps it while the main child keeps running.
    kill(orphan, libc::SIGKILL);
    assert_eq!(wait_gone(orphan, Duration::from_secs(30)), Ok(()));
    assert!(
        child.try_wait().unwrap().is_none(),
        "podinit must still run"
    );
    // And no zombie child of podinit is left.
    let zombies: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| matches!(proc_state(*p), Some(('Z', ppid)) if ppid == pid))
        .collect();
    assert_eq!(zombies, Vec::<u32>::new());
    kill(pid, libc::SIGTERM);
    assert_eq!(wait(child).status.code(), Some(143));
}

// ---------------------------------------------------------------------------------------
// Config mode

fn config_run(dir: &Path, config: serde_json::Value) -> (i32, String, String) {
    let p = write_json(dir, "podinit.json", &config);
    run(&mut podinit(&["--config", p.to_str().unwrap()]))
}

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
