//! The illumos backend: a bundle becomes a zone. `aurora-zones` decides the zone (a pure plan)
//! and drives zonecfg/zoneadm through a [`Runner`]; this module is runz's lifecycle on top:
//! podinit put into the zone as its init with the bundle's process as its config, hooks run in
//! the global zone, and the state kept beside the zone's.
//!
//! It compiles and is tested everywhere with a fake runner; on illumos `runz` uses the system
//! one. Nothing here has run on illumos yet.

use std::fs;
use std::path::{Path, PathBuf};

use aurora_podinit::config::{InitConfig, Process as InitProcess, Rlimit, User};
use aurora_zones::{plan, OciStatus, PlanOptions, Runner, Signal, ZoneName, Zones};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::{StateReport, Status};
use crate::{hooks, id};

/// Zones are named `runz-ID`, so they are told apart from an operator's own.
const ZONE_PREFIX: &str = "runz-";

/// What runz keeps for each container, in `ROOT/ID/zone.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    bundle: PathBuf,
    zonepath: PathBuf,
    zone: String,
    created: String,
}

pub struct ZoneRuntime<R: Runner> {
    root: PathBuf,
    zones: Zones<R>,
    podinit: PathBuf,
}

impl<R: Runner> ZoneRuntime<R> {
    /// `root` is runz's state directory; `podinit` the podinit binary to copy into each zone
    /// (a Linux binary for lx zones, a native one otherwise).
    pub fn new(root: impl Into<PathBuf>, runner: R, podinit: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| Error::Io {
            what: "cannot create the state directory",
            path: root.clone(),
            source,
        })?;
        Ok(ZoneRuntime {
            zones: Zones::new(runner, root.clone()),
            root,
            podinit: podinit.into(),
        })
    }

    pub fn zones(&self) -> &Zones<R> {
        &self.zones
    }

    fn zone_name(id: &str) -> Result<ZoneName> {
        id::validate(id)?;
        ZoneName::new(format!("{ZONE_PREFIX}{id}")).map_err(|e| Error::InvalidId {
            id: id.to_string(),
            why: match e {
                aurora_zones::ZoneNameError::Invalid(_) => "it does not make a zone name (letters, digits, - _ . and at most 58 characters)",
                _ => "it does not make a zone name",
            },
        })
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.root.join(id).join("zone.json")
    }

    fn load(&self, id: &str) -> Result<Record> {
        id::validate(id)?;
        let path = self.record_path(id);
        let bytes = fs::read(&path).map_err(|_| Error::NotFound(id.to_string()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// configure + attach + ready, with podinit and its config in the zone's root.
    pub fn create(&self, id: &str, bundle: &Path, created: &str) -> Result<()> {
        let name = Self::zone_name(id)?;
        if self.root.join(id).exists() {
            return Err(Error::Exists(id.to_string()));
        }
        let bundle = fs::canonicalize(bundle).map_err(|source| Error::Bundle {
            bundle: bundle.to_path_buf(),
            why: format!("cannot open it: {source}"),
        })?;
        let spec = load_spec(&bundle)?;
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| bundle.join(r.path()))
            .ok_or_else(|| bundle_error(&bundle, "config.json has no root"))?;
        // The container dataset is the zonepath, its tree under root/ (imageadm unpack's layout).
        let zonepath = rootfs
            .parent()
            .filter(|_| rootfs.file_name().is_some_and(|n| n == "root"))
            .ok_or_else(|| bundle_error(&bundle, "its root must be a directory named `root` (the zonepath's root/), as imageadm unpack makes it"))?
            .to_path_buf();
        let options = PlanOptions::new(name.clone(), &zonepath, &bundle);
        let plan =
            plan(&spec, &options).map_err(|e| Error::backend(id, "cannot plan the zone of", e))?;
        for warning in &plan.warnings {
            tracing::warn!(id, %warning, "not honoured in a zone");
        }
        self.install_podinit(&rootfs, &spec, &plan.podinit)?;
        let record = Record {
            bundle: bundle.clone(),
            zonepath,
            zone: name.to_string(),
            created: created.to_string(),
        };
        let report = self.report(id, &record, Status::Creating);
        let hooks = spec.hooks().clone().unwrap_or_default();
        hooks::run(
            "prestart",
            hooks.prestart().as_deref().unwrap_or_default(),
            &report,
        )?;
        hooks::run(
            "createRuntime",
            hooks.create_runtime().as_deref().unwrap_or_default(),
            &report,
        )?;
        fs::create_dir_all(self.root.join(id)).map_err(|source| Error::Io {
            what: "cannot create",
            path: self.root.join(id),
            source,
        })?;
        if let Err(e) = self.zones.create(&plan) {
            let _ = fs::remove_dir_all(self.root.join(id));
            return Err(Error::backend(id, "cannot create", e));
        }
        let bytes = serde_json::to_vec(&record).map_err(|e| Error::Invalid(e.to_string()))?;
        fs::write(self.record_path(id), bytes).map_err(|source| Error::Io {
            what: "cannot write",
            path: self.record_path(id),
            source,
        })
    }

    /// podinit and its config (the bundle's process) into the zone's root, where the plan's
    /// bootargs name them.
    fn install_podinit(
        &self,
        rootfs: &Path,
        spec: &Spec,
        paths: &aurora_zones::plan::Podinit,
    ) -> Result<()> {
        let inside = |p: &Path| rootfs.join(p.strip_prefix("/").unwrap_or(p));
        let (init, config) = (inside(&paths.init), inside(&paths.config));
        if let Some(dir) = init.parent() {
            fs::create_dir_all(dir).map_err(|source| Error::Io {
                what: "cannot create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        fs::copy(&self.podinit, &init).map_err(|source| Error::Io {
            what: "cannot copy podinit into the zone as",
            path: init.clone(),
            source,
        })?;
        let config_json = serde_json::to_vec_pretty(&init_config(spec, &paths.status)?)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        fs::write(&config, config_json).map_err(|source| Error::Io {
            what: "cannot write",
            path: config,
            source,
        })
    }

    /// Boots the zone (podinit starts the process), then the poststart hooks.
    pub fn start(&self, id: &str) -> Result<()> {
        let record = self.load(id)?;
        let name = Self::zone_name(id)?;
        let status = self.status_path();
        self.zones
            .start(&name, &status)
            .map_err(|e| Error::backend(id, "cannot start", e))?;
        let spec = load_spec(&record.bundle)?;
        let hooks = spec.hooks().clone().unwrap_or_default();
        let report = self.report(id, &record, Status::Running);
        hooks::run_warning_on_failure(
            "poststart",
            hooks.poststart().as_deref().unwrap_or_default(),
            &report,
        );
        Ok(())
    }

    fn status_path(&self) -> PathBuf {
        PlanOptions::new(ZoneName::new("x").expect("a valid zone name"), "/", "/").podinit_status
    }

    pub fn state(&self, id: &str) -> Result<StateReport> {
        let record = self.load(id)?;
        let name = Self::zone_name(id)?;
        let state = self
            .zones
            .state(&name, &self.status_path())
            .map_err(|e| Error::backend(id, "cannot read the state of", e))?;
        let status = match state.status {
            OciStatus::Creating => Status::Creating,
            OciStatus::Created => Status::Created,
            OciStatus::Running => Status::Running,
            OciStatus::Stopped => Status::Stopped,
        };
        Ok(self.report(id, &record, status))
    }

    /// Signals the zone's init; `signal` as runz's other backends take it (names, numbers).
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        self.load(id)?;
        let name = Self::zone_name(id)?;
        let number = crate::signal::parse(signal)?;
        let signal =
            Signal::new(&number.to_string()).map_err(|e| Error::backend(id, "cannot signal", e))?;
        let init = PlanOptions::new(name.clone(), "/", "/").podinit;
        self.zones
            .kill(&name, &init, &signal)
            .map_err(|e| Error::backend(id, "cannot signal", e))
    }

    /// halt, detach, unconfigure, then the poststop hooks; the zonepath stays (it is the
    /// bundle's).
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let record = match self.load(id) {
            Ok(record) => record,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let report = self.state(id)?;
        if report.status == Status::Running && !force {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status: report.status.to_string(),
                action: "delete",
                hint: " (stop it first, or use --force)",
            });
        }
        let name = Self::zone_name(id)?;
        self.zones
            .delete(&name)
            .map_err(|e| Error::backend(id, "cannot delete", e))?;
        if let Ok(spec) = load_spec(&record.bundle) {
            let hooks = spec.hooks().clone().unwrap_or_default();
            let stopped = self.report(id, &record, Status::Stopped);
            hooks::run_warning_on_failure(
                "poststop",
                hooks.poststop().as_deref().unwrap_or_default(),
                &stopped,
            );
        }
        fs::remove_dir_all(self.root.join(id)).map_err(|source| Error::Io {
            what: "cannot remove",
            path: self.root.join(id),
            source,
        })
    }

    fn report(&self, id: &str, record: &Record, status: Status) -> StateReport {
        StateReport {
            oci_version: oci_spec::runtime::VERSION.to_string(),
            id: id.to_string(),
            pid: 0,
            status,
            bundle: record.bundle.clone(),
            rootfs: record.zonepath.join("root"),
            created: record.created.clone(),
            owner: String::new(),
            annotations: [("org.aurora.zone.name".to_string(), record.zone.clone())].into(),
        }
    }
}

fn bundle_error(bundle: &Path, why: &str) -> Error {
    Error::Bundle {
        bundle: bundle.to_path_buf(),
        why: why.to_string(),
    }
}

fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = fs::read(&path).map_err(|_| bundle_error(bundle, "it has no config.json"))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        bundle_error(
            bundle,
            &format!("config.json is not a valid runtime spec: {e}"),
        )
    })
}

/// The bundle's process as podinit's config (podinit applies it inside the zone).
fn init_config(spec: &Spec, status_file: &Path) -> Result<InitConfig> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Invalid("config.json has no process for the zone to run".into()))?;
    let user = process.user();
    Ok(InitConfig {
        process: InitProcess {
            terminal: process.terminal().unwrap_or(false),
            user: Some(User {
                uid: user.uid(),
                gid: user.gid(),
                umask: user.umask(),
                additional_gids: user.additional_gids().clone().unwrap_or_default(),
            }),
            args: process.args().clone().unwrap_or_default(),
            env: process.env().clone().unwrap_or_default(),
            cwd: Some(process.cwd().to_string_lossy().into_owned()),
            rlimits: process
                .rlimits()
                .iter()
                .flatten()
                .map(|r| Rlimit {
                    kind: serde_json::to_value(r.typ())
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    hard: r.hard(),
                    soft: r.soft(),
                })
                .collect(),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
        },
        hostname: spec.hostname().clone(),
        config_maps: Vec::new(),
        status_file: Some(status_file.to_path_buf()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_zones::FakeRunner;
    use serde_json::json;

    struct Setup {
        _dir: tempfile::TempDir,
        state: PathBuf,
        bundle: PathBuf,
        zonepath: PathBuf,
        podinit: PathBuf,
    }

    /// A bundle laid out as imageadm unpack makes it on zfs: zonepath/root is the rootfs.
    fn setup(hooks_log: Option<&Path>) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let zonepath = dir.path().join("containers/c1");
        fs::create_dir_all(zonepath.join("root/bin")).unwrap();
        let bundle = dir.path().join("bundle");
        fs::create_dir_all(&bundle).unwrap();
        let mut config = json!({
            "ociVersion": "1.0.2",
            "root": {"path": zonepath.join("root")},
            "hostname": "box",
            "process": {
                "args": ["/bin/app", "--serve"], "cwd": "/srv", "env": ["PATH=/bin", "A=1"],
                "user": {"uid": 1000, "gid": 1000, "additionalGids": [2000]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}],
                "noNewPrivileges": true
            },
            "linux": {"resources": {"memory": {"limit": 268435456}}}
        });
        if let Some(log) = hooks_log {
            let hook = |name: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]}]);
            config["hooks"] = json!({
                "createRuntime": hook("createRuntime"), "poststart": hook("poststart"), "poststop": hook("poststop")
            });
        }
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        let podinit = dir.path().join("podinit-binary");
        fs::write(&podinit, b"\x7fELF podinit").unwrap();
        Setup {
            state: dir.path().join("state"),
            bundle,
            zonepath,
            podinit,
            _dir: dir,
        }
    }

    fn listing(zonepath: &Path, state: &str) -> String {
        format!("-:runz-c1:{state}:{}:uuid-1:lx:excl\n", zonepath.display())
    }

    #[test]
    fn create_puts_podinit_and_its_config_in_the_zone_and_configures_attaches_readies() {
        let s = setup(None);
        let runner = FakeRunner::new();
        runner.reply("zoneadm list -cp", "");
        let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
        runtime
            .create("c1", &s.bundle, "2026-12-01T00:00:00Z")
            .unwrap();
        let calls = runtime.zones().runner().calls();
        let file = s.state.join("runz-c1.zonecfg");
        assert_eq!(
            calls,
            [
                "zoneadm list -cp".to_string(),
                format!("zonecfg -z runz-c1 -f {}", file.display()),
                "zoneadm -z runz-c1 attach -F".to_string(),
                "zoneadm -z runz-c1 ready".to_string(),
            ]
        );
        let zonecfg = fs::read_to_string(&file).unwrap();
        assert!(zonecfg.contains("set brand=lx"), "{zonecfg}");
        assert!(
            zonecfg.contains(&format!("set zonepath={}", s.zonepath.display())),
            "{zonecfg}"
        );
        assert!(
            zonecfg.contains("set physical=268435456") || zonecfg.contains("physical=268435456"),
            "{zonecfg}"
        );
        assert_eq!(
            fs::read(s.zonepath.join("root/.aurora/podinit")).unwrap(),
            b"\x7fELF podinit"
        );
        let config: InitConfig = serde_json::from_slice(
            &fs::read(s.zonepath.join("root/.aurora/podinit.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config.process.args, ["/bin/app", "--serve"]);
        assert_eq!(config.process.cwd.as_deref(), Some("/srv"));
        assert_eq!(config.process.env, ["PATH=/bin", "A=1"]);
        assert_eq!(
            config
                .process
                .user
                .as_ref()
                .map(|u| (u.uid, u.gid, u.additional_gids.clone())),
            Some((1000, 1000, vec![2000]))
        );
        assert_eq!(
            config.process.rlimits,
            [Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                hard: 1024,
                soft: 512
            }]
        );
        assert!(config.process.no_new_privileges);
        assert_eq!(config.hostname.as_deref(), Some("box"));
        assert_eq!(
            config.status_file.as_deref(),
            Some(Path::new("/.aurora/status.json"))
        );
        // podinit reads its own config format back.
        InitConfig::from_slice(
            &fs::read(s.zonepath.join("root/.aurora/podinit.json")).unwrap(),
            Path::new("podinit.json"),
        )
        .unwrap();
    }

    #[test]
    fn the_lifecycle_maps_zone_states_and_runs_hooks_in_the_global_zone() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("hooks.log");
        let s = setup(Some(&log));
        let runner = FakeRunner::new();
        runner
            .reply("zoneadm list -cp", "")
            .reply("zoneadm list -cp", &listing(&s.zonepath, "ready"))
            .reply("zoneadm list -cp", &listing(&s.zonepath, "ready"))
            .reply("zoneadm list -cp", &listing(&s.zonepath, "running"))
            .reply("zoneadm list -cp", &listing(&s.zonepath, "running"))
            .reply("zoneadm list -cp", &listing(&s.zonepath, "installed"));
        let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
        runtime.create("c1", &s.bundle, "t0").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "createRuntime\n");
        assert_eq!(runtime.state("c1").unwrap().status, Status::Created);
        runtime.start("c1").unwrap();
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "createRuntime\npoststart\n"
        );
        assert_eq!(runtime.state("c1").unwrap().status, Status::Running);
        runtime.kill("c1", "TERM").unwrap();
        // podinit wrote the exit status and the zone halted.
        fs::write(
            s.zonepath.join("root/.aurora/status.json"),
            br#"{"exitCode":0}"#,
        )
        .unwrap();
        let stopped = runtime.state("c1").unwrap();
        assert_eq!(stopped.status, Status::Stopped);
        assert_eq!(stopped.rootfs, s.zonepath.join("root"));
        assert_eq!(stopped.annotations["org.aurora.zone.name"], "runz-c1");
        runtime.delete("c1", false).unwrap();
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "createRuntime\npoststart\npoststop\n"
        );
        let calls = runtime.zones().runner().calls();
        assert!(
            calls.contains(&"zoneadm -z runz-c1 boot".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"pkill -15 -z runz-c1 -o -x podinit".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.ends_with(&[
                "zoneadm -z runz-c1 detach".to_string(),
                "zonecfg -z runz-c1 delete -F".to_string()
            ]),
            "{calls:?}"
        );
        assert!(!s.state.join("c1").exists());
        assert!(matches!(runtime.state("c1"), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_failing_poststart_or_poststop_hook_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("hooks.log");
        let s = setup(Some(&log));
        let path = s.bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        for stage in ["poststart", "poststop"] {
            let list = config["hooks"][stage].as_array_mut().unwrap();
            list.insert(0, serde_json::json!({"path": "/bin/false"}));
        }
        fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        let runner = FakeRunner::new();
        runner
            .reply("zoneadm list -cp", "")
            .reply("zoneadm list -cp", &listing(&s.zonepath, "installed"));
        let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
        runtime.create("c1", &s.bundle, "t0").unwrap();
        runtime.start("c1").unwrap();
        runtime.delete("c1", false).unwrap();
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "createRuntime\npoststart\npoststop\n"
        );
        assert!(!s.state.join("c1").exists());
    }

    #[test]
    fn bad_bundles_and_ids_are_refused_before_any_zone_command() {
        let s = setup(None);
        let runtime = ZoneRuntime::new(&s.state, FakeRunner::new(), &s.podinit).unwrap();
        let err = runtime.create("../x", &s.bundle, "t").unwrap_err();
        assert!(matches!(err, Error::InvalidId { .. }), "{err}");
        let flat = tempfile::tempdir().unwrap();
        fs::create_dir_all(flat.path().join("rootfs")).unwrap();
        fs::write(flat.path().join("config.json"), br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}}"#).unwrap();
        let err = runtime
            .create("c2", flat.path(), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a directory named `root`"), "{err}");
        assert!(runtime.zones().runner().calls().is_empty());
        let err = runtime
            .create("c3", Path::new("/nonexistent"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent"), "{err}");
    }

    #[test]
    fn delete_refuses_a_running_zone_without_force() {
        let s = setup(None);
        let runner = FakeRunner::new();
        runner
            .reply("zoneadm list -cp", "")
            .reply("zoneadm list -cp", &listing(&s.zonepath, "running"));
        let runtime = ZoneRuntime::new(&s.state, runner, &s.podinit).unwrap();
        runtime.create("c1", &s.bundle, "t").unwrap();
        let err = runtime.delete("c1", false).unwrap_err().to_string();
        assert!(err.contains("is running: cannot delete it"), "{err}");
        runtime.delete("c1", true).unwrap();
        assert!(runtime
            .zones()
            .runner()
            .calls()
            .contains(&"zoneadm -z runz-c1 halt".to_string()));
    }
}
