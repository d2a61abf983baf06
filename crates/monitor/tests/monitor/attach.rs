//! The attach socket: output to clients, their input to the container.

use aurora_monitor::attach::{Client, Frame};

use crate::harness::*;

/// Reads frames until the exit frame: (stdout, stderr, exit code).
pub fn read_until_exit(client: &mut Client) -> (Vec<u8>, Vec<u8>, i32) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    loop {
        match client.read_frame().expect("a frame") {
            Some(Frame::Stdout(bytes)) => stdout.extend(bytes),
            Some(Frame::Stderr(bytes)) => stderr.extend(bytes),
            Some(Frame::Exited(code)) => return (stdout, stderr, code),
            None => panic!(
                "the monitor closed the connection before the exit frame; stdout so far {:?}",
                String::from_utf8_lossy(&stdout)
            ),
        }
    }
}

#[test]
fn a_cat_container_echoes_what_an_attached_client_sends() {
    if !can_run("a_cat_container_echoes_what_an_attached_client_sends") {
        return;
    }
    for runtime in Runtime::all() {
        let bundle = BusyboxBundle::shell("cat; echo bye >&2");
        let options = Options {
            stdin: true,
            ..Options::default()
        };
        let monitored = Monitored::start(runtime, &bundle, options);
        let mut client = Client::connect(monitored.dir.path()).expect("attach");
        let mut watcher = Client::connect(monitored.dir.path()).expect("a second client");
        monitored.start_container();
        client.send_stdin(b"hello\nworld\n").expect("stdin");
        client.send_eof().expect("eof");
        let (stdout, stderr, code) = read_until_exit(&mut client);
        assert_eq!(
            (stdout.as_slice(), stderr.as_slice(), code),
            (&b"hello\nworld\n"[..], &b"bye\n"[..], 0),
            "{runtime:?}"
        );
        // Every client gets the output.
        let (stdout, _, code) = read_until_exit(&mut watcher);
        assert_eq!(
            (stdout.as_slice(), code),
            (&b"hello\nworld\n"[..], 0),
            "{runtime:?}"
        );
        assert_eq!(monitored.wait_monitor_exit().exit_code, 0);
        let mut records = monitored.log_records();
        records.sort();
        assert_eq!(
            records,
            ["stderr F bye", "stdout F hello", "stdout F world"],
            "{runtime:?}"
        );
    }
}

#[test]
fn a_client_that_breaks_the_protocol_is_dropped_and_harms_no_one() {
    if !can_run("a_client_that_breaks_the_protocol_is_dropped_and_harms_no_one") {
        return;
    }
    use std::io::{Read, Write};
    let bundle = BusyboxBundle::shell("read line; echo got $line");
    let options = Options {
        stdin: true,
        ..Options::default()
    };
    let monitored = Monitored::start(Runtime::Runz, &bundle, options);
    let mut good = Client::connect(monitored.dir.path()).expect("attach");
    let mut hostile =
        std::os::unix::net::UnixStream::connect(monitored.dir.attach()).expect("connect");
    // A kind no one knows (ignored), then a frame of 4 GiB (refused: disconnected).
    hostile
        .write_all(&[9, 0, 0, 0, 1, b'x', 1, 0xff, 0xff, 0xff, 0xff])
        .expect("write");
    let mut rest = Vec::new();
    hostile
        .read_to_end(&mut rest)
        .expect("the monitor closes the connection");
    assert!(rest.is_empty(), "{rest:?}");
    monitored.start_container();
    good.send_stdin(b"fine\n").expect("stdin");
    let (stdout, _, code) = read_until_exit(&mut good);
    assert_eq!((stdout.as_slice(), code), (&b"got fine\n"[..], 0));
}

#[test]
fn a_container_started_by_the_monitor_waits_for_its_first_client() {
    if !can_run("a_container_started_by_the_monitor_waits_for_its_first_client") {
        return;
    }
    for (runtime, one_call) in Runtime::all()
        .into_iter()
        .flat_map(|runtime| [(runtime, false), (runtime, true)])
    {
        let bundle = BusyboxBundle::shell("echo early; echo late >&2; exit 3");
        // Started after the create, or by one `run --detach`.
        let options = Options {
            start: !one_call,
            run: one_call,
            await_attach: true,
            ..Options::default()
        };
        let monitored = Monitored::start(runtime, &bundle, options);
        // The container has run and exited by now; its output and exit wait for us.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            monitored.dir.read_exit().expect("the exit file").is_none(),
            "{runtime:?} (run: {one_call}): the exit was recorded before a client came"
        );
        let mut client = Client::connect(monitored.dir.path()).expect("attach");
        let (stdout, stderr, code) = read_until_exit(&mut client);
        assert_eq!(
            (stdout.as_slice(), stderr.as_slice(), code),
            (&b"early\n"[..], &b"late\n"[..], 3),
            "{runtime:?} (run: {one_call})"
        );
        assert_eq!(monitored.wait_monitor_exit().exit_code, 3, "{runtime:?}");
    }
}
