//! Services mode (`podinit --services FILE`): podinit as the init of a whole pod.
//!
//! On illumos a pod is one zone: podinit is the zone's init and each container of the pod is
//! a *service* of it — a process started in its own root (chroot), with its own environment,
//! working directory and user, restarted by its policy, and stopped in reverse start order.
//! The same mode serves a Linux pod whose infra container runs podinit.
//!
//! The services file is JSON, written by the host (aurora-zones' pod plan) and read-only for
//! podinit:
//!
//! ```json
//! {
//!   "hostname": "web-pod",
//!   "statusDir": "/.aurora/services",
//!   "stopTimeoutSeconds": 10,
//!   "services": [
//!     { "name": "db", "root": "/containers/db",
//!       "process": { "args": ["/bin/db"], "env": ["PATH=/bin"], "cwd": "/",
//!                    "user": { "uid": 0, "gid": 0 } },
//!       "restart": "always" },
//!     { "name": "web", "root": "/containers/web",
//!       "process": { "args": ["/bin/httpd", "-f"] },
//!       "restart": "on-failure:3", "dependsOn": ["db"] }
//!   ]
//! }
//! ```
//!
//! * `services[].process`: the runtime-spec process section, as in the zone-init config
//!   ([`crate::config::Process`]); applied after the chroot, so `cwd` and `PATH` are the
//!   container's.
//! * `services[].root`: the directory the service is chrooted into (absent: podinit's root).
//! * `services[].restart`: podman's policy text (`no`, `always`, `on-failure[:N]`,
//!   `unless-stopped`), decided and backed off as the monitor does
//!   ([`aurora_monitor::decide_restart`]).
//! * `services[].dependsOn`: services started before this one (and stopped after it).
//! * `hostname`: set once, before any service starts: every service of the pod sees it.
//! * `statusDir`: one [`ServiceStatus`] file per service, `NAME.json`, rewritten atomically
//!   at each start and exit.
//! * `stopTimeoutSeconds`: how long a service has after `SIGTERM` before `SIGKILL`.
//!
//! podinit exits once no service runs or will restart, or after stopping all of them on
//! `SIGTERM`/`SIGINT`: 0 when stopped so or when every service's last run ended with 0,
//! else 1.

#[cfg(unix)]
mod supervisor;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use aurora_monitor::RestartPolicyArg;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Process};

#[cfg(unix)]
pub use supervisor::{run_services, run_services_with_main};

/// The services file podinit reads when started as a zone's init without arguments (when
/// it exists and the zone-init config does not).
pub const DEFAULT_SERVICES_PATH: &str = "/.aurora/services.json";
/// Services an image defines (buildhelper's `service add`): podinit starts them beside the
/// container's process when it runs as its init.
pub const IMAGE_SERVICES_PATH: &str = "/etc/aurora/services.json";
/// Where the services' status files go unless the file says.
pub const DEFAULT_STATUS_DIR: &str = "/.aurora/services";
const DEFAULT_STOP_TIMEOUT_SECONDS: u32 = 10;

/// The whole services file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicesFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default = "default_status_dir")]
    pub status_dir: PathBuf,
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_seconds: u32,
    pub services: Vec<Service>,
}

fn default_status_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATUS_DIR)
}

fn default_stop_timeout() -> u32 {
    DEFAULT_STOP_TIMEOUT_SECONDS
}

/// One container of the pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    pub process: Process,
    #[serde(default, with = "policy_text")]
    pub restart: RestartPolicyArg,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// The restart policy as its `--restart` text (the monitor's parser and printer).
mod policy_text {
    pub use aurora_monitor::RestartPolicyArg;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &RestartPolicyArg, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(p)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RestartPolicyArg, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A service's state as its status file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Running,
    Exited,
}

/// `STATUSDIR/NAME.json`: what the service is doing, for the host to read (which ignores
/// fields it does not know, so a newer podinit may add some).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// The process while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Set once exited: the exit code, or 128+N when signal N ended it (as podinit's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why it could not be started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times it was started again.
    pub restarts: u32,
    /// Exited, and its policy will start it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub will_restart: bool,
}

impl ServicesFile {
    /// Reads, parses and checks a services file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_slice(&crate::config::read_file(path)?, path)
    }

    /// Parses and checks services-file bytes; `path` only names them in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Self, ConfigError> {
        crate::config::parse_checked(bytes, path, ServicesFile::validate)
    }

    /// Checks what serde cannot: returns the offending field and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.services.is_empty() {
            return Err(("services".into(), "must name at least one service".into()));
        }
        if !self.status_dir.is_absolute() {
            return Err((
                "statusDir".into(),
                format!("{} is not an absolute path", self.status_dir.display()),
            ));
        }
        if let Some(h) = &self.hostname {
            if h.is_empty() || h.len() > 64 || h.contains('\0') {
                return Err(("hostname".into(), format!("{h:?} is not a valid host name")));
            }
        }
        let mut names = BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let field = format!("services[{i}]");
            if !valid_name(&s.name) {
                return Err((
                    format!("{field}.name"),
                    format!("{:?} must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit", s.name),
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err((
                    format!("{field}.name"),
                    format!("{} is given twice", s.name),
                ));
            }
            if let Some(root) = &s.root {
                if !root.is_absolute() {
                    return Err((
                        format!("{field}.root"),
                        format!("{} is not an absolute path", root.display()),
                    ));
                }
            }
            s.process.validate(&format!("{field}.process"))?;
        }
        for (i, s) in self.services.iter().enumerate() {
            for (j, d) in s.depends_on.iter().enumerate() {
                let field = format!("services[{i}].dependsOn[{j}]");
                if d == &s.name {
                    return Err((field, format!("{} cannot depend on itself", s.name)));
                }
                if !names.contains(d.as_str()) {
                    return Err((field, format!("{d} is not a service of this file")));
                }
            }
        }
        self.start_order()
            .map(|_| ())
            .map_err(|cycle| ("services".into(), format!("dependsOn has a cycle: {cycle}")))
    }

    /// Indices of the services in the order they start: each after what it depends on, else
    /// in file order. A cycle is returned as `a -> b -> a`.
    pub fn start_order(&self) -> Result<Vec<usize>, String> {
        let index = |name: &str| self.services.iter().position(|s| s.name == name);
        let mut order = Vec::new();
        let mut placed = vec![false; self.services.len()];
        while order.len() < self.services.len() {
            let ready = (0..self.services.len()).find(|&i| {
                !placed[i]
                    && self.services[i]
                        .depends_on
                        .iter()
                        .all(|d| index(d).is_none_or(|j| placed[j]))
            });
            match ready {
                Some(i) => {
                    placed[i] = true;
                    order.push(i);
                }
                None => return Err(self.describe_cycle(&placed)),
            }
        }
        Ok(order)
    }

    /// Follows unmet dependencies from the first unplaced service until a name repeats.
    fn describe_cycle(&self, placed: &[bool]) -> String {
        let mut path: Vec<&str> = Vec::new();
        let mut current = placed.iter().position(|p| !p);
        while let Some(i) = current {
            let name = self.services[i].name.as_str();
            if let Some(start) = path.iter().position(|n| *n == name) {
                let mut cycle = path[start..].to_vec();
                cycle.push(name);
                return cycle.join(" -> ");
            }
            path.push(name);
            current = self.services[i].depends_on.iter().find_map(|d| {
                self.services
                    .iter()
                    .position(|s| &s.name == d)
                    .filter(|&j| !placed[j])
            });
        }
        path.join(" -> ")
    }

    /// Where the status file of `service` goes.
    pub fn status_path(&self, service: &str) -> PathBuf {
        self.status_dir.join(format!("{service}.json"))
    }
}

/// A service name: used as a file name, so plain.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(s: &str) -> Result<ServicesFile, ConfigError> {
        ServicesFile::from_slice(s.as_bytes(), Path::new("/s.json"))
    }

    fn names(file: &ServicesFile) -> Vec<&str> {
        let order = file.start_order().unwrap();
        order
            .iter()
            .map(|&i| file.services[i].name.as_str())
            .collect()
    }

    #[test]
    fn order_follows_dependencies_then_file_order() {
        let f = load(
            r#"{"services": [
                {"name": "web", "process": {"args": ["w"]}, "dependsOn": ["db", "cache"]},
                {"name": "db", "process": {"args": ["d"]}},
                {"name": "cache", "process": {"args": ["c"]}, "dependsOn": ["db"]},
                {"name": "side", "process": {"args": ["s"]}}]}"#,
        )
        .unwrap();
        assert_eq!(names(&f), ["db", "cache", "web", "side"]);
        assert_eq!(f.status_dir, Path::new(DEFAULT_STATUS_DIR));
        assert_eq!(f.stop_timeout_seconds, 10);
        assert_eq!(f.services[0].restart, RestartPolicyArg::No);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"services": []}"#, "services: must name at least one service"),
            (
                r#"{"services": [{"name": "a", "process": {"args": ["x"]}, "dependsOn": ["b"]},
                   {"name": "b", "process": {"args": ["x"]}, "dependsOn": ["a"]}]}"#,
                "services: dependsOn has a cycle: a -> b -> a",
            ),
            (
                r#"{"services": [{"name": "a", "process": {"args": ["x"]}, "dependsOn": ["zz"]}]}"#,
                "services[0].dependsOn[0]: zz is not a service of this file",
            ),
            (
                r#"{"services": [{"name": "a", "process": {"args": ["x"]}},
                   {"name": "a", "process": {"args": ["y"]}}]}"#,
                "services[1].name: a is given twice",
            ),
            (
                r#"{"services": [{"name": "../x", "process": {"args": ["x"]}}]}"#,
                "services[0].name: \"../x\" must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit",
            ),
            (
                r#"{"services": [{"name": "a", "root": "rel", "process": {"args": ["x"]}}]}"#,
                "services[0].root: rel is not an absolute path",
            ),
            (
                r#"{"services": [{"name": "a", "process": {"args": ["x"], "cwd": "rel"}}]}"#,
                "services[0].process.cwd: \"rel\" is not an absolute path",
            ),
        ];
        for (json, want) in cases {
            let err = load(json).unwrap_err().to_string();
            assert_eq!(err, format!("invalid config /s.json: {want}"));
        }
        let err = load(
            r#"{"services": [{"name": "a", "process": {"args": ["x"]}, "restart": "sometimes"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sometimes"), "{err}");
    }

    #[test]
    fn policies_round_trip_as_text() {
        let f = load(
            r#"{"services": [{"name": "a", "process": {"args": ["x"]}, "restart": "on-failure:3"}]}"#,
        )
        .unwrap();
        assert_eq!(f.services[0].restart, RestartPolicyArg::OnFailure(Some(3)));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["services"][0]["restart"], "on-failure:3");
    }
}
