//! The status file: how the child ended, for the host to read after the container or zone
//! has stopped.
//!
//! One JSON object and a newline, written atomically (temporary file in the same directory,
//! then rename), mode 0644:
//!
//! ```text
//! {"exitCode":3}                                                        exited with 3
//! {"exitCode":143,"signal":15,"signalName":"SIGTERM","coreDumped":false}  killed by SIGTERM
//! {"exitCode":127,"error":"cannot execute \"nope\": …"}                 never started
//! ```
//!
//! `exitCode` is always present and is podinit's own exit status. `signal` is the platform's
//! number (Linux numbers in an lx zone), so `signalName` is given too. `error` is set when
//! podinit failed before or while starting the process.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil::{write_atomic, FileAttrs, WriteError};

/// Longest `error` message kept in a record, in bytes.
pub const MAX_ERROR_LEN: usize = 2048;

/// The content of the status file. Readers that know only `exitCode` and `signal` (such as
/// aurora-zones' `InitExit`) can ignore the other fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExitRecord {
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_dumped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExitRecord {
    /// The child exited with `code`.
    pub fn exited(code: i32) -> Self {
        ExitRecord {
            exit_code: code,
            signal: None,
            signal_name: None,
            core_dumped: None,
            error: None,
        }
    }

    /// The child was killed by `sig`: podinit exits with 128 + sig.
    pub fn signaled(sig: i32, core_dumped: bool) -> Self {
        ExitRecord {
            exit_code: 128 + sig,
            signal: Some(sig),
            signal_name: crate::signals::name(sig).map(str::to_string),
            core_dumped: Some(core_dumped),
            error: None,
        }
    }

    /// podinit failed with `error` and exits with `code`. The message is cut to
    /// [`MAX_ERROR_LEN`] bytes so the whole record stays small (readers may cap their read).
    pub fn failed(code: i32, mut error: String) -> Self {
        if error.len() > MAX_ERROR_LEN {
            let mut end = MAX_ERROR_LEN;
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
            error.push('…');
        }
        ExitRecord {
            error: Some(error),
            ..Self::exited(code)
        }
    }

    /// The file's bytes: compact JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of integers and strings always serialises.
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Writes the status file atomically.
    pub fn write(&self, path: &Path) -> Result<(), WriteError> {
        let attrs = FileAttrs {
            mode: 0o644,
            uid: None,
            gid: None,
        };
        write_atomic(path, &self.to_bytes(), attrs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_round_trip() {
        let golden = include_str!("../tests/data/status.jsonl");
        let records = [
            ExitRecord::exited(3),
            ExitRecord::signaled(libc::SIGKILL, false),
            ExitRecord::failed(127, "cannot execute \"nope\": not found".into()),
        ];
        let mut out = Vec::new();
        for (line, r) in golden.lines().zip(&records) {
            assert_eq!(&serde_json::from_str::<ExitRecord>(line).unwrap(), r);
            out.extend(r.to_bytes());
        }
        assert_eq!(String::from_utf8(out).unwrap(), golden);
    }

    #[test]
    fn long_errors_are_cut() {
        let r = ExitRecord::failed(125, "é".repeat(2000));
        let e = r.error.unwrap();
        assert_eq!(e.len(), 2048 + '…'.len_utf8());
        assert!(e.ends_with("é…"));
    }

    #[test]
    fn written_atomically() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("status.json");
        std::fs::write(&p, b"old").unwrap();
        ExitRecord::exited(0).write(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"exitCode\":0}\n");
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
    }
}
