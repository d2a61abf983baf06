//! The state report `runz state` prints: the runtime spec's state JSON with runc's extra
//! fields (`rootfs`, `created`, `owner`), which podman and containerd read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A container's status, as the runtime spec names them (plus runc's `paused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One container's state, in the field order and spelling runc uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateReport {
    pub oci_version: String,
    pub id: String,
    /// The container's init process on the host; 0 once it has stopped (as runc prints it).
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// The user name (or uid) that created the container.
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The containers in a state directory: the IDs of its directories that hold `marker` (the
/// backend's record), sorted; names starting with `.` are runz's own files.
pub fn container_ids(root: &Path, marker: &str) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(root).map_err(|source| Error::Io {
        what: "cannot read the state directory",
        path: root.to_path_buf(),
        source,
    })?;
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.path().join(marker).exists())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|id| !id.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_json_has_runc_fields() {
        let report = StateReport {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            pid: 42,
            status: Status::Running,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-01T18:00:00.000000001Z".into(),
            owner: "root".into(),
            annotations: BTreeMap::from([("a".to_string(), "b".to_string())]),
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            r#"{"ociVersion":"1.2.0","id":"c1","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-12-01T18:00:00.000000001Z","owner":"root","annotations":{"a":"b"}}"#
        );
        let back: StateReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
