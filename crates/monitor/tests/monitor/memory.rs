//! Peak memory: the monitor built as it ships (`--profile runtime`) stays under 2 MiB while it
//! relays output to a client.

use std::path::PathBuf;
use std::process::Command;

use aurora_monitor::attach::{Client, Frame};

use crate::harness::*;

/// `cargo build --profile runtime -p aurora-monitor` into the tests' own target directory.
fn shipped_monitor() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test binaries live in TARGET/PROFILE/deps")
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--profile", "runtime", "-p", "aurora-monitor"])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo build --profile runtime -p aurora-monitor"
    );
    target.join("runtime/aurora-monitor")
}

/// VmHWM of `pid`, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM");
    line.split_whitespace()
        .nth(1)
        .expect("a number")
        .parse()
        .expect("KiB")
}

#[test]
fn the_shipped_monitor_peaks_under_2_mib() {
    if !can_run("the_shipped_monitor_peaks_under_2_mib") {
        return;
    }
    let binary = shipped_monitor();
    let bundle = BusyboxBundle::shell("seq 1 100000; echo; read line; echo $line");
    let options = Options {
        stdin: true,
        binary: Some(binary),
        log_max_size: Some(256 * 1024),
        ..Options::default()
    };
    let monitored = Monitored::start(Runtime::Runz, &bundle, options);
    let mut client = Client::connect(monitored.dir.path()).expect("attach");
    monitored.start_container();
    // Everything up to the empty line, through the client and into the (rotating) log.
    let mut tail = Vec::new();
    while !tail.ends_with(b"100000\n\n") {
        match client.read_frame().expect("a frame") {
            Some(Frame::Stdout(bytes)) => {
                tail.extend(bytes);
                let keep = tail.len().saturating_sub(16);
                tail.drain(..keep);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let peak = peak_rss_kib(monitored.monitor_pid());
    client.send_stdin(b"end\n").expect("stdin");
    let (stdout, _, code) = crate::attach::read_until_exit(&mut client);
    assert_eq!((stdout.as_slice(), code), (&b"end\n"[..], 0));
    monitored.wait_monitor_exit();
    // 100000 lines of about 44 bytes through a log of at most 256 KiB: rotated, and what
    // is left reads back as the last lines, in order.
    let rotated = aurora_crilog::rotated_path(&monitored.log);
    for file in [&rotated, &monitored.log] {
        let size = std::fs::metadata(file).expect("log files").len();
        assert!(size <= 256 * 1024, "{} is {size} bytes", file.display());
    }
    let lines: Vec<Vec<u8>> = aurora_crilog::read_logs(&monitored.log, &Default::default())
        .expect("read the log")
        .map(|line| line.expect("a line").message)
        .collect();
    let tail: Vec<&[u8]> = lines[lines.len() - 3..].iter().map(Vec::as_slice).collect();
    assert_eq!(tail, [&b"100000"[..], b"", b"end"]);
    let first: u32 = String::from_utf8_lossy(&lines[0])
        .parse()
        .expect("a number");
    let expected: Vec<Vec<u8>> = (first..=100000)
        .map(|n| n.to_string().into_bytes())
        .collect();
    assert_eq!(
        lines[..lines.len() - 2],
        expected[..],
        "every line after the first kept"
    );
    eprintln!("aurora-monitor (profile runtime) VmHWM: {peak} KiB");
    assert!(peak <= 2048, "the monitor peaked at {peak} KiB, over 2 MiB");
}
