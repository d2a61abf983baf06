//! The JSON files the monitor writes: replaced atomically, read tolerating absence.

use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::MonitorError;

/// `MONDIR/status`, rewritten after every create of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The container's init, as the runtime reported it.
    pub pid: i32,
    /// Restarts so far (0 for the first run).
    pub restarts: u32,
    /// RFC 3339 UTC with nanoseconds.
    pub started_at: String,
}

/// `MONDIR/exit`, written after every exit (before a restart too: it shows the last one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The exit status, or 128 + the signal that killed it.
    pub exit_code: i32,
    /// RFC 3339 UTC with nanoseconds.
    pub finished_at: String,
    pub restarts: u32,
    pub oom_killed: bool,
}

/// Writes `value` as JSON to `.NAME.tmp` beside `path`, then renames it over `path`: a reader
/// sees the old file or the new one, never half of one.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), MonitorError> {
    let failed = |source| MonitorError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    let bytes = serde_json::to_vec(value).map_err(|e| failed(std::io::Error::other(e)))?;
    std::fs::write(&temporary, bytes).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, MonitorError> {
    let Some(bytes) = read_if_present(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| MonitorError::Parse {
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn read_pid(path: &Path) -> Result<Option<i32>, MonitorError> {
    let Some(bytes) = read_if_present(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| MonitorError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a pid: {:?}", text.trim()),
            ),
        })
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, MonitorError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MonitorError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MonitorDir;

    #[test]
    fn files_round_trip_in_the_contracts_form() {
        let dir = tempfile::tempdir().unwrap();
        let mondir = MonitorDir::new(dir.path());
        assert_eq!(mondir.read_status().unwrap(), None);
        assert_eq!(mondir.read_exit().unwrap(), None);
        assert_eq!(mondir.read_container_pid().unwrap(), None);
        let exit = Exit {
            exit_code: 137,
            finished_at: "2026-12-02T19:35:38.123456789Z".into(),
            restarts: 2,
            oom_killed: false,
        };
        write_json_atomic(&mondir.exit(), &exit).unwrap();
        assert_eq!(
            std::fs::read_to_string(mondir.exit()).unwrap(),
            r#"{"exit_code":137,"finished_at":"2026-12-02T19:35:38.123456789Z","restarts":2,"oom_killed":false}"#
        );
        assert_eq!(mondir.read_exit().unwrap(), Some(exit));
        let status = Status {
            pid: 42,
            restarts: 0,
            started_at: "2026-12-02T19:35:38.000000000Z".into(),
        };
        write_json_atomic(&mondir.status(), &status).unwrap();
        assert_eq!(
            std::fs::read_to_string(mondir.status()).unwrap(),
            r#"{"pid":42,"restarts":0,"started_at":"2026-12-02T19:35:38.000000000Z"}"#
        );
        assert_eq!(mondir.read_status().unwrap(), Some(status));
        std::fs::write(mondir.pid(), "1234").unwrap();
        assert_eq!(mondir.read_container_pid().unwrap(), Some(1234));
        assert!(!mondir.is_stopped());
        mondir.mark_stopped().unwrap();
        assert!(mondir.is_stopped());
    }

    #[test]
    fn broken_files_are_errors_that_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let mondir = MonitorDir::new(dir.path());
        std::fs::write(mondir.exit(), "{").unwrap();
        let error = mondir.read_exit().unwrap_err().to_string();
        assert!(
            error.contains(&mondir.exit().display().to_string()),
            "{error}"
        );
        std::fs::write(mondir.pid(), "x").unwrap();
        let error = mondir.read_container_pid().unwrap_err().to_string();
        assert!(error.contains("not a pid: \"x\""), "{error}");
    }
}
