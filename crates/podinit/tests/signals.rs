//! The real `podinit` binary: forwarding signals and reaping orphans. Tests that need root skip
//! themselves through `aurora_testkit::skip` (a failure when the run requires every test).

use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::*;

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
// Pause mode (a pod's infra container)

/// `pid` waits for its signals: it blocks them (`SigBlk`), or it sits in `sigwait` (where
/// the kernel shows the waited-for signals as unblocked).
fn waits_for_signals(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let blocked = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0);
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    blocked != 0 || wchan.contains("sigtimedwait")
}

#[test]
fn pause_ignores_other_signals_and_exits_0_on_term_or_int() {
    for stop in [libc::SIGTERM, libc::SIGINT] {
        let mut child = podinit(&["pause"]).stdout(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !waits_for_signals(child.id()) {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pause never waited for its signals");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Ignored: were they not, USR1's default action would end it with 128+10.
        kill(child.id(), libc::SIGUSR1);
        kill(child.id(), libc::SIGHUP);
        kill(child.id(), stop);
        let out = wait(child);
        assert_eq!(out.status.code(), Some(0), "stopped by signal {stop}");
        assert!(out.stdout.is_empty());
    }
}
