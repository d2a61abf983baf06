//! `--terminal`: the container gets a pty from the runtime over the console socket.

use aurora_monitor::attach::Client;

use crate::attach::read_until_exit;
use crate::harness::*;

fn terminal_bundle(script: &str) -> BusyboxBundle {
    let bundle = BusyboxBundle::shell(script);
    bundle.edit(|config| config["process"]["terminal"] = true.into());
    bundle
}

#[test]
fn a_terminal_container_has_a_pty_and_its_output_is_logged() {
    if !can_run("a_terminal_container_has_a_pty_and_its_output_is_logged") {
        return;
    }
    for runtime in Runtime::all() {
        let bundle = terminal_bundle("tty; echo to-stderr >&2");
        let options = Options {
            terminal: true,
            ..Options::default()
        };
        let monitored = Monitored::start(runtime, &bundle, options);
        let mut client = Client::connect(monitored.dir.path()).expect("attach");
        monitored.start_container();
        let (stdout, stderr, code) = read_until_exit(&mut client);
        let text = String::from_utf8_lossy(&stdout);
        assert!(text.starts_with("/dev/pts/"), "{runtime:?}: {text:?}");
        assert!(text.contains("to-stderr"), "{runtime:?}: {text:?}");
        assert!(stderr.is_empty(), "a terminal is one stream");
        assert_eq!(code, 0);
        monitored.wait_monitor_exit();
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
        let bundle = terminal_bundle("read line; stty size");
        let options = Options {
            terminal: true,
            ..Options::default()
        };
        let monitored = Monitored::start(runtime, &bundle, options);
        let mut client = Client::connect(monitored.dir.path()).expect("attach");
        monitored.start_container();
        client.resize(33, 111).expect("resize");
        client.send_stdin(b"go\n").expect("stdin");
        let (stdout, _, code) = read_until_exit(&mut client);
        let text = String::from_utf8_lossy(&stdout);
        assert!(text.contains("33 111\r\n"), "{runtime:?}: {text:?}");
        assert_eq!(code, 0);
    }
}
