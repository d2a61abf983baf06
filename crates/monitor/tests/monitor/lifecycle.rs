//! Output to the log, exit codes, the sync line, the daemon's independence, the exit
//! command, a failed create, and a full disk.

use std::process::Command;

use crate::harness::*;

#[test]
fn both_streams_land_in_the_log_and_the_exit_code_is_recorded() {
    if !can_run("both_streams_land_in_the_log_and_the_exit_code_is_recorded") {
        return;
    }
    for runtime in Runtime::all() {
        let bundle = BusyboxBundle::shell("echo out; echo err >&2; exit 1");
        let options = Options::started();
        let monitored = Monitored::start(runtime, &bundle, options);
        let pid = monitored.pid();
        let exit = monitored.wait_monitor_exit();
        assert_eq!(
            (exit.exit_code, exit.restarts, exit.oom_killed),
            (1, 0, false),
            "{runtime:?}"
        );
        assert!(exit.finished_at.ends_with('Z'), "{exit:?}");
        let status = monitored.status().expect("status written");
        assert_eq!((status.pid, status.restarts), (pid, 0), "{runtime:?}");
        let mut records = monitored.log_records();
        // The two pipes are read in whichever order poll reports them.
        records.sort();
        assert_eq!(records, ["stderr F err", "stdout F out"], "{runtime:?}");
        // The monitor removes its socket when it leaves.
        assert!(!monitored.dir.attach().exists());
    }
}

#[test]
fn a_clean_exit_is_0_and_sigkill_is_137() {
    if !can_run("a_clean_exit_is_0_and_sigkill_is_137") {
        return;
    }
    for runtime in Runtime::all() {
        let start = Options::started();
        let true_bundle = BusyboxBundle::new(&["true"]);
        let clean = Monitored::start(runtime, &true_bundle, start);
        let exit = clean.wait_monitor_exit();
        assert_eq!(
            exit.exit_code,
            0,
            "{runtime:?}: {:?}",
            std::fs::read_to_string(&clean.log)
        );

        // Started by the test (as podadm does), so that the kill comes after the start.
        let sleep_bundle = BusyboxBundle::new(&["sleep", "1000"]);
        let killed = Monitored::start(runtime, &sleep_bundle, Options::default());
        killed.start_container();
        // SAFETY: kill has no memory effects; the pid is the container's init.
        assert_eq!(unsafe { libc::kill(killed.pid(), libc::SIGKILL) }, 0);
        let exit = killed.wait_monitor_exit();
        assert_eq!(
            exit.exit_code,
            137,
            "{runtime:?}: {:?}",
            std::fs::read_to_string(&killed.log)
        );
    }
}

#[test]
fn an_oom_kill_is_recorded() {
    if !can_run("an_oom_kill_is_recorded") {
        return;
    }
    for runtime in Runtime::all() {
        // dd's 64 MiB buffer in a 16 MiB cgroup (no swap here).
        let bundle = BusyboxBundle::shell("dd if=/dev/zero of=/dev/null bs=64M count=1");
        bundle.edit(|config| {
            config["linux"]["resources"]["memory"] = serde_json::json!({ "limit": 16 << 20 })
        });
        let monitored = Monitored::start(runtime, &bundle, Options::started());
        let exit = monitored.wait_monitor_exit();
        assert_eq!(
            (exit.exit_code, exit.oom_killed),
            (137, true),
            "{runtime:?}"
        );
    }
}

#[test]
fn the_monitor_outlives_its_parent_and_runs_the_exit_command() {
    if !can_run("the_monitor_outlives_its_parent_and_runs_the_exit_command") {
        return;
    }
    let scratch = tempfile::tempdir().expect("scratch");
    let args_file = scratch.path().join("exit-command-args");
    let bundle = BusyboxBundle::shell("echo started");
    let options = Options {
        through_shell: true,
        exit_command: Some((
            "/bin/sh".into(),
            vec![
                "-c".into(),
                format!("echo \"$@\" > {}", args_file.display()),
                "sh".into(),
                "container".into(),
                "cleanup".into(),
                "ID".into(),
            ],
        )),
        ..Options::default()
    };
    let monitored = Monitored::start(Runtime::Runz, &bundle, options);
    // The shell that started it has exited; the monitor leads its own session and waits for
    // podadm's start.
    let monitor = monitored.monitor_pid();
    assert!(is_alive(monitor));
    let stat = std::fs::read_to_string(format!("/proc/{monitor}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        monitor.to_string(),
        "session id (setsid): {stat}"
    );
    assert!(!monitored.dir.exit().exists());
    monitored.start_container();
    let exit = monitored.wait_monitor_exit();
    assert_eq!(exit.exit_code, 0);
    assert_eq!(monitored.log_records(), ["stdout F started"]);
    assert_eq!(
        std::fs::read_to_string(&args_file).expect("the exit command ran"),
        "container cleanup ID\n"
    );
}

#[test]
fn a_failed_create_is_reported_on_the_sync_pipe() {
    if !can_run("a_failed_create_is_reported_on_the_sync_pipe") {
        return;
    }
    for runtime in Runtime::all() {
        let bundle = BusyboxBundle::new(&["true"]);
        bundle.edit(|config| config["root"]["path"] = "/nonexistent-aurora-root".into());
        let monitored = Monitored::start(runtime, &bundle, Options::default());
        let line: serde_json::Value = serde_json::from_str(&monitored.sync).expect("JSON line");
        let error = line["error"].as_str().unwrap_or_else(|| panic!("{line}"));
        assert!(
            error.contains("create") && error.contains(&monitored.id),
            "{runtime:?}: {error}"
        );
        let monitor = monitored.monitor_pid();
        wait_for("the monitor to leave", || !is_alive(monitor));
        assert!(
            !monitored.dir.exit().exists(),
            "no exit without a container"
        );
    }
}

/// A tmpfs of 64 KiB, unmounted when dropped.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> TinyDisk {
        let dir = tempfile::Builder::new()
            .prefix("aurora-full-disk-")
            .tempdir_in("/run")
            .expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "mount a tmpfs");
        TinyDisk { dir }
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_log_disk_neither_stops_the_container_nor_loses_its_exit() {
    if !can_run("a_full_log_disk_neither_stops_the_container_nor_loses_its_exit") {
        return;
    }
    let disk = TinyDisk::mount();
    // About 1.3 MB of output into 64 KiB.
    let bundle = BusyboxBundle::shell("seq 1 200000; echo done >&2; exit 7");
    let options = Options {
        log_dir: Some(disk.dir.path().to_owned()),
        ..Options::started()
    };
    let monitored = Monitored::start(Runtime::Runz, &bundle, options);
    let exit = monitored.wait_monitor_exit();
    assert_eq!(exit.exit_code, 7);
    let log = std::fs::read(&monitored.log).expect("the log");
    assert!(!log.is_empty() && log.len() <= 64 * 1024);
    // What made it to disk is whole records.
    assert!(log.ends_with(b"\n"));
    assert!(String::from_utf8_lossy(&log).starts_with(|c: char| c.is_ascii_digit()));
}
