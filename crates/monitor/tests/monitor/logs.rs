//! The log as `podadm logs -f` reads it: aurora-crilog's reader following the monitor's
//! writer until the container exits.

use std::sync::mpsc;

use aurora_crilog::{read_logs, LogQuery, Stream};
use aurora_monitor::attach::Client;

use crate::harness::*;

#[test]
fn a_follower_reads_a_running_containers_log_until_it_exits() {
    if !can_run("a_follower_reads_a_running_containers_log_until_it_exits") {
        return;
    }
    let bundle = BusyboxBundle::shell("seq 1 3000; read line; echo after $line >&2");
    let options = Options {
        stdin: true,
        ..Options::default()
    };
    let monitored = Monitored::start(Runtime::Runz, &bundle, options);
    let exit_file = monitored.dir.exit();
    let reader = read_logs(&monitored.log, &LogQuery::default())
        .expect("open the log")
        .follow(move || exit_file.exists());
    let (lines, received) = mpsc::channel();
    let follower = std::thread::spawn(move || {
        for line in reader {
            let line = line.expect("a line");
            let _ = lines.send((line.stream, String::from_utf8(line.message).expect("text")));
        }
    });
    let mut client = Client::connect(monitored.dir.path()).expect("attach");
    monitored.start_container();
    for n in 1..=3000 {
        let line = received.recv_timeout(DEADLINE).expect("a line in time");
        assert_eq!(line, (Stream::Stdout, n.to_string()));
    }
    client.send_stdin(b"input\n").expect("stdin");
    follower
        .join()
        .expect("the follower ends once the container exited");
    let rest: Vec<_> = received.try_iter().collect();
    assert_eq!(rest, [(Stream::Stderr, "after input".to_string())]);
}
