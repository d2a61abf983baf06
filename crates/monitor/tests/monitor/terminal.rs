//! `--terminal`: the container gets a pty from the runtime over the console socket.

use aurora_monitor::attach::Client;

use crate::attach::read_until_exit;
use crate::harness::*;

/// Runs `script` on a terminal: the monitor started without `--start`, a client attached,
/// the container started (as podadm does), `talk` run, the output read to the exit.
fn on_terminal(
    runtime: Runtime,
    script: &str,
    talk: impl FnOnce(&mut Client),
) -> (Monitored, String, i32) {
    let bundle = BusyboxBundle::shell(script);
    bundle.edit(|config| config["process"]["terminal"] = true.into());
    let options = Options {
        terminal: true,
        stdin: true,
        ..Options::default()
    };
    let monitored = Monitored::start(runtime, &bundle, options);
    let mut client = Client::connect(monitored.dir.path()).expect("attach");
    monitored.start_container();
    talk(&mut client);
    let (stdout, stderr, code) = read_until_exit(&mut client);
    assert!(stderr.is_empty(), "a terminal is one stream");
    monitored.wait_monitor_exit();
    (
        monitored,
        String::from_utf8_lossy(&stdout).into_owned(),
        code,
    )
}

#[test]
fn a_terminal_container_has_a_pty_and_its_output_is_logged() {
    if !can_run("a_terminal_container_has_a_pty_and_its_output_is_logged") {
        return;
    }
    for runtime in Runtime::all() {
        let (monitored, text, code) = on_terminal(runtime, "tty; echo to-stderr >&2", |_| {});
        assert!(text.starts_with("/dev/pts/"), "{runtime:?}: {text:?}");
        assert!(text.contains("to-stderr"), "{runtime:?}: {text:?}");
        assert_eq!(code, 0);
        let records = monitored.log_records();
        assert!(records[0].starts_with("stdout F /dev/pts/"), "{records:?}");
        assert_eq!(records[1], "stdout F to-stderr", "{records:?}");
        // The terminal turns \n into \r\n: the log keeps what the terminal gave.
        let raw = std::fs::read_to_string(&monitored.log).expect("log");
        assert!(raw.ends_with(" stdout F to-stderr\r\n"), "{raw:?}");
    }
}

#[test]
fn resize_changes_the_size_the_container_sees() {
    if !can_run("resize_changes_the_size_the_container_sees") {
        return;
    }
    for runtime in Runtime::all() {
        let (_, text, code) = on_terminal(runtime, "read line; stty size", |client| {
            client.resize(33, 111).expect("resize");
            client.send_stdin(b"go\n").expect("stdin");
        });
        assert!(text.contains("33 111\r\n"), "{runtime:?}: {text:?}");
        assert_eq!(code, 0);
    }
}
