use super::*;

/// The records of a log, their timestamps checked and dropped: "stream tag message".
fn records(path: &Path) -> Vec<String> {
    let text = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|record| {
            let (time, rest) = record.split_once(' ').unwrap();
            assert_eq!(
                time.len(),
                "2026-12-02T19:35:38.123456789Z".len(),
                "{record}"
            );
            assert!(
                chrono::DateTime::parse_from_rfc3339(time).is_ok(),
                "{record}"
            );
            rest.to_owned()
        })
        .collect()
}

#[test]
fn lines_are_split_and_joined_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr.log");
    let mut writer = LogWriter::open(&log, 0).unwrap();
    writer.write(Stream::Stdout, b"one\ntw").unwrap();
    writer.write(Stream::Stderr, b"err").unwrap();
    writer.write(Stream::Stdout, b"o\n\nthree\n").unwrap();
    writer.write(Stream::Stderr, b"or\n").unwrap();
    assert!(!writer.has_pending());
    assert_eq!(
        records(&log),
        [
            "stdout F one",
            "stdout F two",
            "stdout F ",
            "stdout F three",
            "stderr F error"
        ]
    );
}

#[test]
fn flush_writes_a_waiting_line_as_partial() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr.log");
    let mut writer = LogWriter::open(&log, 0).unwrap();
    writer.write(Stream::Stdout, b"prompt$ ").unwrap();
    assert!(writer.has_pending());
    assert_eq!(records(&log), Vec::<String>::new());
    writer.flush().unwrap();
    writer.write(Stream::Stdout, b"typed\n").unwrap();
    assert_eq!(records(&log), ["stdout P prompt$ ", "stdout F typed"]);
}

#[test]
fn a_long_line_is_written_as_partial_records_of_16_kib() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr.log");
    let mut writer = LogWriter::open(&log, 0).unwrap();
    let line = vec![b'x'; 2 * MAX_LINE_SIZE + 100];
    // Delivered in odd chunk sizes, as pipes do.
    for chunk in line.chunks(5000) {
        writer.write(Stream::Stderr, chunk).unwrap();
    }
    writer.write(Stream::Stderr, b"\n").unwrap();
    let x = |n| "x".repeat(n);
    assert_eq!(
        records(&log),
        [
            format!("stderr P {}", x(MAX_LINE_SIZE)),
            format!("stderr P {}", x(MAX_LINE_SIZE)),
            format!("stderr F {}", x(100)),
        ]
    );
}

#[test]
fn the_log_rotates_to_file_1_before_it_would_exceed_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr.log");
    // A record is 30 (time) + 1 + 6 + 1 + 1 + 1 + message + 1 bytes: 47 for "line N".
    let mut writer = LogWriter::open(&log, 100).unwrap();
    for n in 0..5 {
        writer
            .write(Stream::Stdout, format!("line {n}\n").as_bytes())
            .unwrap();
    }
    assert_eq!(
        records(&crate::rotated_path(&log)),
        ["stdout F line 2", "stdout F line 3"]
    );
    assert_eq!(records(&log), ["stdout F line 4"]);
    assert!(std::fs::metadata(&log).unwrap().len() <= 100);
}

#[test]
fn reopening_appends_and_counts_the_existing_size() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr.log");
    LogWriter::open(&log, 100)
        .unwrap()
        .write(Stream::Stdout, b"a\n")
        .unwrap();
    let mut again = LogWriter::open(&log, 100).unwrap();
    again.write(Stream::Stdout, b"b\n").unwrap();
    again.write(Stream::Stdout, b"c\n").unwrap();
    assert_eq!(
        records(&crate::rotated_path(&log)),
        ["stdout F a", "stdout F b"]
    );
    assert_eq!(records(&log), ["stdout F c"]);
}

#[test]
fn a_full_disk_drops_records_and_counts_them() {
    // /dev/full answers every write with ENOSPC.
    let mut writer = LogWriter::open(Path::new("/dev/full"), 0).unwrap();
    writer.write(Stream::Stdout, b"lost\nalso lost\n").unwrap();
    writer.write(Stream::Stderr, b"partial").unwrap();
    writer.flush().unwrap();
    assert_eq!(writer.dropped_records(), 3);
}
