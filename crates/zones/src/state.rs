//! Zone states from `zoneadm list -cp`, and what they mean for an OCI container.

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A zone's state as zoneadm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneState {
    Configured,
    Incomplete,
    Installed,
    Ready,
    Mounted,
    Running,
    ShuttingDown,
    Down,
    /// A state this crate does not know (a newer illumos); kept verbatim.
    Other(String),
}

impl ZoneState {
    pub fn parse(s: &str) -> ZoneState {
        match s {
            "configured" => ZoneState::Configured,
            "incomplete" => ZoneState::Incomplete,
            "installed" => ZoneState::Installed,
            "ready" => ZoneState::Ready,
            "mounted" => ZoneState::Mounted,
            "running" => ZoneState::Running,
            "shutting_down" => ZoneState::ShuttingDown,
            "down" => ZoneState::Down,
            other => ZoneState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ZoneState::Configured => "configured",
            ZoneState::Incomplete => "incomplete",
            ZoneState::Installed => "installed",
            ZoneState::Ready => "ready",
            ZoneState::Mounted => "mounted",
            ZoneState::Running => "running",
            ZoneState::ShuttingDown => "shutting_down",
            ZoneState::Down => "down",
            ZoneState::Other(s) => s,
        }
    }

    /// The OCI status of a container whose zone is in this state. `init_exited` says whether
    /// podinit has recorded the container process's exit (read only when the zone is not
    /// running: see [`read_init_exit`]).
    ///
    /// - configured, incomplete, mounted, unknown states → `creating` (on the way, or an
    ///   administrator's scratch mount)
    /// - installed or ready, exit recorded → `stopped`; otherwise → `created` (ready after
    ///   `create`; installed when a host reboot dropped the ready state, and boot still works)
    /// - running, shutting_down, down → `running`: the zone halts when podinit is done, so a
    ///   zone still up still holds the container
    pub fn oci_status(&self, init_exited: bool) -> OciStatus {
        match self {
            ZoneState::Installed | ZoneState::Ready if init_exited => OciStatus::Stopped,
            ZoneState::Installed | ZoneState::Ready => OciStatus::Created,
            ZoneState::Running | ZoneState::ShuttingDown | ZoneState::Down => OciStatus::Running,
            ZoneState::Configured
            | ZoneState::Incomplete
            | ZoneState::Mounted
            | ZoneState::Other(_) => OciStatus::Creating,
        }
    }
}

impl fmt::Display for ZoneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The runtime-spec's container statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OciStatus {
    Creating,
    Created,
    Running,
    Stopped,
}

impl OciStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OciStatus::Creating => "creating",
            OciStatus::Created => "created",
            OciStatus::Running => "running",
            OciStatus::Stopped => "stopped",
        }
    }
}

impl fmt::Display for OciStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of `zoneadm list -cp`:
/// `zoneid:zonename:state:zonepath:uuid:brand:ip-type[:more…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneEntry {
    /// `None` when the zone is not running (zoneadm prints `-`).
    pub id: Option<u64>,
    pub name: String,
    pub state: ZoneState,
    pub zonepath: PathBuf,
    pub uuid: Option<String>,
    pub brand: Option<String>,
    pub ip_type: Option<String>,
}

/// Splits a parsable zoneadm line on `:`, where `\:` is a colon inside a field (zoneadm
/// escapes colons in zonepaths). A backslash before anything else is kept as it is.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&':') => {
                chars.next();
                field.push(':');
            }
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Parses `zoneadm list -cp`. Tolerant: blank lines and lines with fewer than four fields are
/// skipped, fields after the seventh are ignored, empty uuid/brand/ip-type are `None`, and a
/// zoneid that is not a number (`-`) is `None`.
pub fn parse_list(output: &str) -> Vec<ZoneEntry> {
    output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let f = split_fields(line);
            if f.len() < 4 || f[1].is_empty() {
                return None;
            }
            let opt = |i: usize| f.get(i).filter(|s| !s.is_empty()).cloned();
            Some(ZoneEntry {
                id: f[0].parse().ok(),
                name: f[1].clone(),
                state: ZoneState::parse(&f[2]),
                zonepath: PathBuf::from(&f[3]),
                uuid: opt(4),
                brand: opt(5),
                ip_type: opt(6),
            })
        })
        .collect()
}

/// How the container process ended, as podinit records it in its status file: a JSON object
/// `{"exitCode": N}` or `{"signal": N}` (other fields are ignored). podinit must write it
/// atomically (a temporary file renamed into place) before it halts the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitExit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

/// Why podinit's status file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("podinit status path {0} must be absolute and free of `..`")]
    BadPath(PathBuf),
    #[error("podinit status file {path}: {component} is a symbolic link, which the global zone does not follow into a zone")]
    Symlink { path: PathBuf, component: PathBuf },
    #[error("podinit status file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("podinit status file {path} is not a JSON exit record: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// The global-zone path of a file inside the zone's root, refusing symbolic links on the way:
/// the zone's contents belong to the container, and a link planted there must not make the
/// global zone read or remove one of its own files. Only called while the zone is not running,
/// so nothing in the zone can swap a component afterwards.
pub fn zone_file(zonepath: &Path, in_zone: &Path) -> Result<PathBuf, StatusError> {
    if !in_zone.is_absolute() {
        return Err(StatusError::BadPath(in_zone.to_path_buf()));
    }
    let root = zonepath.join("root");
    let target = root.join(in_zone.strip_prefix("/").unwrap_or(in_zone));
    let mut path = root.clone();
    // The root itself first, then each component below it.
    let below = std::iter::once(None).chain(in_zone.components().map(Some));
    for c in below {
        match c {
            None => {}
            Some(Component::RootDir | Component::CurDir) => continue,
            Some(Component::Normal(n)) => path.push(n),
            Some(_) => return Err(StatusError::BadPath(in_zone.to_path_buf())),
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(StatusError::Symlink {
                    path: target,
                    component: path,
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(StatusError::Io { path, source: e }),
        }
    }
    Ok(target)
}

/// Reads podinit's exit record from `<zonepath>/root/<in_zone>`: `None` when there is none
/// (the process has not exited, or never started). At most 4 KiB is read, without following a
/// final symbolic link.
pub fn read_init_exit(zonepath: &Path, in_zone: &Path) -> Result<Option<InitExit>, StatusError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = zone_file(zonepath, in_zone)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StatusError::Io { path, source: e }),
    };
    let mut text = String::new();
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(|e| StatusError::Io {
            path: path.clone(),
            source: e,
        })?;
    let exit: InitExit = serde_json::from_str(&text).map_err(|e| StatusError::Malformed {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if exit.exit_code.is_none() && exit.signal.is_none() {
        return Err(StatusError::Malformed {
            path,
            reason: "neither exitCode nor signal".to_string(),
        });
    }
    Ok(Some(exit))
}
