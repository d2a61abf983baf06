use super::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const T0: &str = "2026-12-02T19:35:38.000000001Z";
const T1: &str = "2026-12-02T19:35:39.000000002Z";
const T2: &str = "2026-12-02T19:35:40.000000003Z";

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn lines(reader: LogReader) -> Vec<String> {
    reader
        .map(|line| {
            let line = line.unwrap();
            format!(
                "{} {}{} {}",
                format_timestamp(line.time),
                line.stream.as_str(),
                if line.partial { " partial" } else { "" },
                String::from_utf8_lossy(&line.message)
            )
        })
        .collect()
}

fn log_with(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

#[test]
fn fragments_are_joined_per_stream_and_rotated_file_comes_first() {
    let (_dir, path) =
        log_with(format!("{T1} stdout P hel\n{T1} stderr F oops\n{T2} stdout F lo\n").as_bytes());
    std::fs::write(rotated_path(&path), format!("{T0} stdout F first\n")).unwrap();
    let reader = read_logs(&path, &LogQuery::default()).unwrap();
    assert_eq!(
        lines(reader),
        [
            format!("{T0} stdout first"),
            format!("{T1} stderr oops"),
            format!("{T1} stdout hello"),
        ]
    );
}

#[test]
fn since_until_and_tail_select_lines() {
    let (_dir, path) =
        log_with(format!("{T0} stdout F a\n{T1} stdout F b\n{T2} stderr F c\n").as_bytes());
    let read = |query: LogQuery| lines(read_logs(&path, &query).unwrap());
    let since = LogQuery {
        since: Some(time(T1)),
        ..LogQuery::default()
    };
    assert_eq!(
        read(since),
        [format!("{T1} stdout b"), format!("{T2} stderr c")]
    );
    let until = LogQuery {
        until: Some(time(T1)),
        ..LogQuery::default()
    };
    assert_eq!(
        read(until.clone()),
        [format!("{T0} stdout a"), format!("{T1} stdout b")]
    );
    let tail = |n| LogQuery {
        tail: Some(n),
        ..LogQuery::default()
    };
    assert_eq!(read(tail(1)), [format!("{T2} stderr c")]);
    assert_eq!(read(tail(0)), Vec::<String>::new());
    assert_eq!(read(tail(9)).len(), 3);
    // The tail of what until lets through.
    let tail_until = LogQuery {
        tail: Some(2),
        ..until
    };
    assert_eq!(
        read(tail_until),
        [format!("{T0} stdout a"), format!("{T1} stdout b")]
    );
}

#[test]
fn render_prints_the_message_with_its_newline() {
    let line = LogLine {
        time: time(T0),
        stream: Stream::Stdout,
        partial: false,
        message: b"hi".to_vec(),
    };
    let mut out = Vec::new();
    line.render(false, &mut out);
    line.render(true, &mut out);
    let partial = LogLine {
        partial: true,
        ..line
    };
    partial.render(false, &mut out);
    assert_eq!(out, format!("hi\n{T0} hi\nhi").as_bytes());
}

#[test]
fn hostile_records_are_skipped_not_fatal() {
    let huge = vec![b'z'; MAX_RECORD_SIZE + 10];
    let mut content = Vec::new();
    content.extend_from_slice(b"garbage without fields\n\n\xff\xfe\xfd\n");
    content.extend_from_slice(b"notatime stdout F x\n2026-13-45T99:99:99Z stdout F x\n");
    content.extend_from_slice(format!("{T0} stdin F x\n{T0} stdout Q x\n").as_bytes());
    content.extend_from_slice(format!("{T0} stdout F ").as_bytes());
    content.extend_from_slice(&huge);
    content.push(b'\n');
    content.extend_from_slice(
        format!("{T1} stdout F kept\n{T2} stderr P no newline at the end").as_bytes(),
    );
    let (_dir, path) = log_with(&content);
    let mut reader = read_logs(&path, &LogQuery::default()).unwrap();
    let mut got = Vec::new();
    for line in reader.by_ref() {
        got.push(line.unwrap());
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message, b"kept");
    assert_eq!(got[1].message, b"no newline at the end");
    assert!(got[1].partial);
    assert_eq!(reader.skipped_records(), 8);
}

#[test]
fn an_endless_partial_line_is_cut_at_the_joined_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    let mut file = std::fs::File::create(&path).unwrap();
    let fragment = format!("{T0} stdout P {}\n", "y".repeat(16 * 1024));
    for _ in 0..(MAX_JOINED_LINE / (16 * 1024) + 2) {
        file.write_all(fragment.as_bytes()).unwrap();
    }
    writeln!(file, "{T1} stdout F end").unwrap();
    let got: Vec<LogLine> = read_logs(&path, &LogQuery::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got[0].partial);
    assert_eq!(got[0].message.len(), MAX_JOINED_LINE);
    assert_eq!(
        got[1].message,
        [b"y".repeat(2 * 16 * 1024), b"end".to_vec()].concat()
    );
}

#[test]
fn a_missing_log_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let reader = read_logs(&dir.path().join("none.log"), &LogQuery::default()).unwrap();
    assert_eq!(lines(reader), Vec::<String>::new());
}

#[test]
fn follow_reads_across_a_rotation_until_told_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    let mut writer = crate::LogWriter::open(&path, 200).unwrap();
    writer.write(Stream::Stdout, b"before\n").unwrap();
    let exited = Arc::new(AtomicBool::new(false));
    let stop = exited.clone();
    let reader = read_logs(&path, &LogQuery::default())
        .unwrap()
        .follow(move || stop.load(Ordering::SeqCst))
        .poll_interval(Duration::from_millis(5));
    let (tx, rx) = std::sync::mpsc::channel();
    let follower = std::thread::spawn(move || {
        for line in reader {
            tx.send(line.unwrap().message).unwrap();
        }
    });
    let wait = |expected: &[u8]| {
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a line within 30 s");
        assert_eq!(got, expected);
    };
    wait(b"before");
    // Each record is about 45 bytes: the log rotates several times.
    for n in 0..12 {
        writer
            .write(Stream::Stdout, format!("line {n}\n").as_bytes())
            .unwrap();
        wait(format!("line {n}").as_bytes());
    }
    writer.write(Stream::Stdout, b"last\n").unwrap();
    exited.store(true, Ordering::SeqCst);
    follower.join().unwrap();
    let rest: Vec<Vec<u8>> = rx.try_iter().collect();
    assert_eq!(rest, [b"last".to_vec()]);
}
