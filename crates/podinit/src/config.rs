//! The zone-init config (`podinit --config FILE`).
//!
//! The file is JSON, written by the runtime and read-only for podinit. Its `process` object
//! is the bundle's process section with the runtime-spec field names (camelCase); fields of
//! the spec that podinit does not apply (`capabilities`, `apparmorProfile`, `consoleSize`,
//! …) are accepted and ignored, so the runtime may copy the section unchanged. The other
//! top-level fields are podinit's own and unknown ones are refused.
//!
//! ```json
//! {
//!   "process": {
//!     "terminal": false,
//!     "user": { "uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [10, 20] },
//!     "args": ["/usr/bin/app", "--serve"],
//!     "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/app"],
//!     "cwd": "/srv/app",
//!     "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024 }],
//!     "noNewPrivileges": true
//!   },
//!   "hostname": "web-1",
//!   "configMaps": [
//!     { "path": "/etc/app/app.toml", "mode": "0640", "data": { "server.port": "8080" },
//!       "types": { "server.port": "integer" } }
//!   ],
//!   "statusFile": "/.aurora/status.json"
//! }
//! ```
//!
//! * `process.args` (required, non-empty): `args[0]` is looked up in the `PATH` of `env`
//!   (or `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` when `env` has none)
//!   unless it contains a `/`.
//! * `process.env`: the complete environment of the process, `NAME=VALUE` each.
//! * `process.cwd`: absolute; podinit changes to it before switching user and, if that
//!   fails, again after (as runc does, for root-squashed network filesystems).
//! * `process.user`: numeric ids only (no name lookup: podinit needs no NSS). As root,
//!   podinit calls `setgroups(additionalGids)` (an empty list clears root's groups), then
//!   `setgid`, then `setuid`. `umask` (a number, e.g. 18 = 0o022) is set when given.
//! * `process.rlimits`: each `type` at most once; `soft` ≤ `hard`. Applied to the process
//!   only, before the user switch (so hard limits may still be raised).
//! * `process.noNewPrivileges`: `PR_SET_NO_NEW_PRIVS` on Linux; ignored on illumos.
//! * `process.terminal`: accepted; podinit makes the child the foreground process group of
//!   the terminal on stdin whenever stdin is one, whatever this says.
//! * `hostname`: set with `sethostname` when it differs from the current one.
//! * `configMaps`: see [`crate::configmap::ConfigMap`].
//! * `statusFile`: where to write the [`crate::status::ExitRecord`] unless `--status-file`
//!   says; when podinit was started without arguments (a zone's init) and neither names one,
//!   [`crate::cli::DEFAULT_STATUS_PATH`].
//!
//! Started without a command or `--config`, podinit reads [`crate::cli::DEFAULT_CONFIG_PATH`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::configmap::ConfigMap;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitConfig {
    pub process: Process,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_maps: Vec<ConfigMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_file: Option<PathBuf>,
}

/// The runtime-spec process section, as far as podinit applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_privileges: bool,
}

/// The runtime-spec POSIX user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// One runtime-spec rlimit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid config {path}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
}

/// Default search path when the process environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The bytes of a file podinit is given (a config or a services file).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// JSON bytes parsed as `T` and checked by `validate` (which names the offending field and
/// says why); `path` only names them in errors.
pub(crate) fn parse_checked<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    validate: impl FnOnce(&T) -> Result<(), (String, String)>,
) -> Result<T, ConfigError> {
    let value: T = serde_json::from_slice(bytes).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    validate(&value).map_err(|(field, reason)| ConfigError::Invalid {
        path: path.to_path_buf(),
        field,
        reason,
    })?;
    Ok(value)
}

impl InitConfig {
    /// Reads, parses and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_slice(&read_file(path)?, path)
    }

    /// Parses and checks config bytes; `path` only names them in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Self, ConfigError> {
        parse_checked(bytes, path, InitConfig::validate)
    }

    /// Checks what serde cannot: returns the offending field and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.process.validate("process")?;
        if let Some(h) = &self.hostname {
            if h.is_empty() || h.len() > 64 || h.contains('\0') {
                return Err(("hostname".into(), format!("{h:?} is not a valid host name")));
            }
        }
        let mut paths = BTreeSet::new();
        for (i, m) in self.config_maps.iter().enumerate() {
            let field = format!("configMaps[{i}]");
            m.validate().map_err(|e| (field.clone(), e.to_string()))?;
            if !paths.insert(m.path.as_str()) {
                return Err((
                    format!("{field}.path"),
                    format!("{} is given twice", m.path),
                ));
            }
        }
        Ok(())
    }

    /// The `PATH` used to find `args[0]`.
    pub fn search_path(&self) -> String {
        self.process.search_path()
    }
}

impl Process {
    /// Checks what serde cannot; `prefix` names the section in errors (`process`,
    /// `services[1].process`). Returns the offending field and why.
    pub fn validate(&self, prefix: &str) -> Result<(), (String, String)> {
        let p = self;
        if p.args.is_empty() {
            return Err((format!("{prefix}.args"), "must not be empty".into()));
        }
        if p.args[0].is_empty() {
            return Err((format!("{prefix}.args[0]"), "must not be empty".into()));
        }
        for (i, a) in p.args.iter().enumerate() {
            if a.contains('\0') {
                return Err((format!("{prefix}.args[{i}]"), "contains a NUL byte".into()));
            }
        }
        for (i, e) in p.env.iter().enumerate() {
            let field = format!("{prefix}.env[{i}]");
            match e.split_once('=') {
                None => return Err((field, format!("{e:?} is not NAME=VALUE"))),
                Some(("", _)) => return Err((field, format!("{e:?} has an empty name"))),
                Some(_) if e.contains('\0') => return Err((field, "contains a NUL byte".into())),
                Some(_) => {}
            }
        }
        if let Some(cwd) = &p.cwd {
            if !cwd.starts_with('/') || cwd.contains('\0') {
                return Err((
                    format!("{prefix}.cwd"),
                    format!("{cwd:?} is not an absolute path"),
                ));
            }
        }
        if let Some(u) = &p.user {
            if let Some(m) = u.umask {
                if m > 0o777 {
                    return Err((
                        format!("{prefix}.user.umask"),
                        format!("{m:#o} is over 0o777"),
                    ));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (i, r) in p.rlimits.iter().enumerate() {
            let field = format!("{prefix}.rlimits[{i}]");
            if rlimit_resource(&r.kind).is_none() {
                return Err((
                    format!("{field}.type"),
                    format!("{:?} is not a resource limit on this system", r.kind),
                ));
            }
            if !seen.insert(r.kind.as_str()) {
                return Err((
                    format!("{field}.type"),
                    format!("{} is given twice", r.kind),
                ));
            }
            if r.soft > r.hard {
                return Err((
                    field,
                    format!("soft limit {} is over hard limit {}", r.soft, r.hard),
                ));
            }
        }
        Ok(())
    }

    /// The `PATH` used to find `args[0]`.
    pub fn search_path(&self) -> String {
        self.env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_string()
    }
}

/// The platform's resource number for a runtime-spec rlimit type (`RLIMIT_NOFILE`, …).
pub fn rlimit_resource(kind: &str) -> Option<i32> {
    #[allow(clippy::unnecessary_cast)]
    let r = match kind {
        "RLIMIT_CPU" => libc::RLIMIT_CPU as i32,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE as i32,
        "RLIMIT_DATA" => libc::RLIMIT_DATA as i32,
        "RLIMIT_STACK" => libc::RLIMIT_STACK as i32,
        "RLIMIT_CORE" => libc::RLIMIT_CORE as i32,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE as i32,
        "RLIMIT_AS" => libc::RLIMIT_AS as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_RSS" => libc::RLIMIT_RSS as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_NICE" => libc::RLIMIT_NICE as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO as i32,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME as i32,
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = include_str!("../tests/data/config-full.json");
    const MINIMAL: &str = include_str!("../tests/data/config-minimal.json");

    fn load(s: &str) -> Result<InitConfig, ConfigError> {
        InitConfig::from_slice(s.as_bytes(), Path::new("/run/podinit.json"))
    }

    #[test]
    fn golden_round_trip() {
        for golden in [FULL, MINIMAL] {
            let config = load(golden).unwrap();
            let mut out = serde_json::to_string_pretty(&config).unwrap();
            out.push('\n');
            assert_eq!(out, golden);
        }
    }

    #[test]
    fn full_config_fields() {
        let c = load(FULL).unwrap();
        assert_eq!(c.process.args, ["/usr/bin/app", "--serve"]);
        let user = c.process.user.as_ref().unwrap();
        assert_eq!((user.uid, user.gid, user.umask), (1000, 1000, Some(0o022)));
        assert_eq!(user.additional_gids, [10, 20]);
        assert_eq!(c.process.rlimits[0].kind, "RLIMIT_NOFILE");
        assert_eq!(c.hostname.as_deref(), Some("web-1"));
        assert_eq!(c.search_path(), "/usr/local/bin:/usr/bin:/bin");
        assert_eq!(load(MINIMAL).unwrap().search_path(), DEFAULT_PATH);
    }

    #[test]
    fn spec_fields_podinit_ignores_are_accepted() {
        let c = load(
            r#"{"process": {"args": ["sh"], "capabilities": {"bounding": []},
                "consoleSize": {"height": 1, "width": 2}, "apparmorProfile": "x"}}"#,
        )
        .unwrap();
        assert_eq!(c.process.args, ["sh"]);
    }

    #[test]
    fn errors_name_file_and_field() {
        let cases = [
            (
                r#"{"process": {"args": []}}"#,
                "process.args: must not be empty",
            ),
            (
                r#"{"process": {"args": ["x"], "env": ["NOEQUALS"]}}"#,
                "process.env[0]: \"NOEQUALS\" is not NAME=VALUE",
            ),
            (
                r#"{"process": {"args": ["x"], "cwd": "rel"}}"#,
                "process.cwd: \"rel\" is not an absolute path",
            ),
            (
                r#"{"process": {"args": ["x"], "rlimits": [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]}}"#,
                "process.rlimits[0].type: \"RLIMIT_BOGUS\" is not a resource limit on this system",
            ),
            (
                r#"{"process": {"args": ["x"], "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}]}}"#,
                "process.rlimits[0]: soft limit 2 is over hard limit 1",
            ),
            (
                r#"{"process": {"args": ["x"], "rlimits": [{"type": "RLIMIT_CORE", "hard": 1, "soft": 1},
                   {"type": "RLIMIT_CORE", "hard": 1, "soft": 1}]}}"#,
                "process.rlimits[1].type: RLIMIT_CORE is given twice",
            ),
            (
                r#"{"process": {"args": ["x"]}, "configMaps": [{"path": "/a/../b", "data": {}}]}"#,
                "configMaps[0]: path \"/a/../b\": must not contain `..`",
            ),
        ];
        for (json, want) in cases {
            let err = load(json).unwrap_err().to_string();
            assert_eq!(err, format!("invalid config /run/podinit.json: {want}"));
        }
        let err = load(r#"{"process": {"args": ["x"]}, "extra": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid config /run/podinit.json: unknown field `extra`"),
            "{err}"
        );
        let err = load("{not json").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid config /run/podinit.json: key must be a string at line 1 column 2"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let err = InitConfig::load(Path::new("/nonexistent/podinit.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cannot read config /nonexistent/podinit.json: No such file or directory (os error 2)"
        );
    }
}
