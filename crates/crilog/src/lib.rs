//! The CRI container log format (`TIMESTAMP STREAM P|F message`), as kubelet, CRI-O and
//! podman's `k8s-file` driver write it: one line per record, `TIMESTAMP` RFC 3339 with
//! nanoseconds in UTC, `STREAM` `stdout` or `stderr`, `F` for a record that ends a line and
//! `P` for a fragment of a longer one.
//!
//! [`LogWriter`] is what the monitor writes with (lines split, partial lines buffered per
//! stream, rotation by size, a full disk counted and survived); [`read_logs`] is what
//! `podadm logs` and the CRI server read with (`FILE.1` then `FILE`, fragments joined, since,
//! until, tail, and follow across a rotation).

mod error;
mod line;
mod reader;
mod writer;

pub use error::LogError;
pub use line::{format_timestamp, parse_line, ParsedLine, Stream, MAX_LINE_SIZE};
pub use reader::{read_logs, LogLine, LogQuery, LogReader, MAX_JOINED_LINE, MAX_RECORD_SIZE};
pub use writer::LogWriter;

/// The file a rotated log moves to: `FILE.1`.
pub fn rotated_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    std::path::PathBuf::from(name)
}
