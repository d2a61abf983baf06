//! Named actions (`podinit action NAME`), saved by buildhelper in an actions file.
//!
//! ```json
//! {
//!   "actions": {
//!     "reload": { "args": ["/usr/sbin/nginx", "-s", "reload"] },
//!     "migrate": { "args": ["app", "migrate"], "env": ["APP_ENV=prod"], "cwd": "/srv/app",
//!                  "description": "apply database migrations" }
//!   }
//! }
//! ```
//!
//! * `args` (required, non-empty): the command; `args[0]` is looked up in `PATH` (of the
//!   resulting environment) unless it contains a `/`.
//! * `env`: `NAME=VALUE` entries added to (or replacing in) the environment podinit was
//!   given; the rest of that environment is kept.
//! * `cwd`: absolute; default: podinit's working directory.
//! * `description`: free text, for people.
//!
//! The default file is [`DEFAULT_ACTIONS_PATH`]. The action runs supervised like the main
//! process (signals forwarded, children reaped) and podinit exits with its status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where `podinit action` looks for actions unless `--actions` says otherwise.
pub const DEFAULT_ACTIONS_PATH: &str = "/etc/aurora/actions.json";

/// The actions file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsFile {
    pub actions: BTreeMap<String, Action>,
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An actions file or action that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("cannot read actions file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid actions file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid actions file {path}: action {name:?}: {reason}")]
    Invalid {
        path: PathBuf,
        name: String,
        reason: String,
    },
    #[error("unknown action {name:?} in {path}; known actions: {}", known_list(.known))]
    Unknown {
        path: PathBuf,
        name: String,
        known: Vec<String>,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "(none)".into()
    } else {
        known.join(", ")
    }
}

impl ActionsFile {
    /// Reads, parses and checks an actions file.
    pub fn load(path: &Path) -> Result<Self, ActionsError> {
        let bytes = std::fs::read(path).map_err(|source| ActionsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_slice(&bytes, path)
    }

    /// Parses and checks actions file bytes; `path` only names them in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Self, ActionsError> {
        let file: ActionsFile =
            serde_json::from_slice(bytes).map_err(|source| ActionsError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        for (name, a) in &file.actions {
            let invalid = |reason: String| ActionsError::Invalid {
                path: path.to_path_buf(),
                name: name.clone(),
                reason,
            };
            if a.args.is_empty() || a.args[0].is_empty() {
                return Err(invalid("args must not be empty".into()));
            }
            if a.args.iter().any(|s| s.contains('\0')) {
                return Err(invalid("args contain a NUL byte".into()));
            }
            for e in &a.env {
                if !matches!(e.split_once('='), Some((n, _)) if !n.is_empty()) || e.contains('\0') {
                    return Err(invalid(format!("env entry {e:?} is not NAME=VALUE")));
                }
            }
            if let Some(cwd) = &a.cwd {
                if !cwd.starts_with('/') || cwd.contains('\0') {
                    return Err(invalid(format!("cwd {cwd:?} is not an absolute path")));
                }
            }
        }
        Ok(file)
    }

    /// The action called `name`, or an error listing the known ones.
    pub fn get(&self, name: &str, path: &Path) -> Result<&Action, ActionsError> {
        self.actions.get(name).ok_or_else(|| ActionsError::Unknown {
            path: path.to_path_buf(),
            name: name.to_string(),
            known: self.actions.keys().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = include_str!("../tests/data/actions.json");

    #[test]
    fn golden_round_trip() {
        let f = ActionsFile::from_slice(GOLDEN.as_bytes(), Path::new("a.json")).unwrap();
        assert_eq!(
            f.actions["reload"].args,
            ["/usr/sbin/nginx", "-s", "reload"]
        );
        assert_eq!(f.actions["migrate"].cwd.as_deref(), Some("/srv/app"));
        let mut out = serde_json::to_string_pretty(&f).unwrap();
        out.push('\n');
        assert_eq!(out, GOLDEN);
    }

    #[test]
    fn unknown_action_lists_known_ones() {
        let p = Path::new("/etc/aurora/actions.json");
        let f = ActionsFile::from_slice(GOLDEN.as_bytes(), p).unwrap();
        assert_eq!(
            f.get("restart", p).unwrap_err().to_string(),
            "unknown action \"restart\" in /etc/aurora/actions.json; known actions: migrate, reload"
        );
        let empty = ActionsFile::from_slice(br#"{"actions": {}}"#, p).unwrap();
        assert_eq!(
            empty.get("x", p).unwrap_err().to_string(),
            "unknown action \"x\" in /etc/aurora/actions.json; known actions: (none)"
        );
    }

    #[test]
    fn invalid_files() {
        let p = Path::new("/a.json");
        let err = |s: &str| {
            ActionsFile::from_slice(s.as_bytes(), p)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(r#"{"actions": {"x": {"args": []}}}"#),
            "invalid actions file /a.json: action \"x\": args must not be empty"
        );
        assert_eq!(
            err(r#"{"actions": {"x": {"args": ["a"], "env": ["A"]}}}"#),
            "invalid actions file /a.json: action \"x\": env entry \"A\" is not NAME=VALUE"
        );
        assert_eq!(
            err(r#"{"actions": {"x": {"args": ["a"], "cwd": "tmp"}}}"#),
            "invalid actions file /a.json: action \"x\": cwd \"tmp\" is not an absolute path"
        );
        assert_eq!(
            err(r#"{"actions": {"x": {"cmd": ["a"]}}}"#),
            "invalid actions file /a.json: unknown field `cmd`, expected one of `args`, `env`, `cwd`, `description` at line 1 column 24"
        );
    }
}
