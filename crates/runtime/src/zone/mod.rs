//! The illumos backend: a bundle becomes a zone. `aurora-zones` decides the zone (a pure plan)
//! and drives zonecfg/zoneadm/zlogin/pkill through a [`Runner`]; this module is runz's
//! lifecycle on top: podinit put into the zone as its init with the bundle's process as its
//! config, hooks run in the global zone, and the state kept beside the zone's.
//!
//! It compiles everywhere: only the runner is platform-specific. runz selects it with
//! `--backend zones` (the default on illumos); on Linux its tests run it end to end against
//! stateful fakes of the zone tools. Nothing here has run on illumos yet.

mod podinit;

use std::fs;
use std::path::{Path, PathBuf};

use aurora_zones::{plan, OciStatus, PlanOptions, Runner, Signal, ZoneName, Zones};
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, CreateOptions, ExecOptions, RunMode};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::state::{container_ids, StateReport, Status};
use crate::{hooks, id};

/// Zones are named `runz-ID`, so they are told apart from an operator's own.
const ZONE_PREFIX: &str = "runz-";

const BACKEND: &str = "zones";

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

    /// The paths podinit uses inside every zone runz makes (the plan's defaults).
    fn podinit_paths() -> PlanOptions {
        PlanOptions::new(ZoneName::new("x").expect("a valid zone name"), "/", "/")
    }

    /// configure + attach + ready, with podinit and its config in the zone's root.
    fn create_zone(&self, id: &str, bundle: Bundle, podinit: &Path) -> Result<()> {
        let name = Self::zone_name(id)?;
        if self.root.join(id).exists() {
            return Err(Error::Exists(id.to_string()));
        }
        let (bundle, spec) = bundle.into_parts();
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
        podinit::install(podinit, &rootfs, &spec, &plan.podinit)?;
        let record = Record {
            bundle: bundle.clone(),
            zonepath,
            zone: name.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
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

    /// Waits for a started container's process to end (podinit records it and the zone
    /// halts), and returns its exit status: its code, or 128+N when signal N killed it.
    /// zoneadm has no way to wait for a halt, so the zone's state is polled.
    fn wait(&self, id: &str) -> Result<i32> {
        let name = Self::zone_name(id)?;
        let status = Self::podinit_paths().podinit_status;
        loop {
            let state = self
                .zones
                .state(&name, &status)
                .map_err(|e| Error::backend(id, "cannot wait for", e))?;
            if let Some(exit) = state.exit.filter(|_| state.status == OciStatus::Stopped) {
                return Ok(exit.exit_code.or(exit.signal.map(|n| 128 + n)).unwrap_or(1));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
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

impl<R: Runner> Backend for ZoneRuntime<R> {
    /// configure + attach + ready. `--init-path` names the podinit copied into the zone
    /// (podinit is always a zone's init); a console socket and extra descriptors cannot
    /// reach a zone's init and are refused; `--no-pivot` means nothing to a zone.
    fn create(&self, id: &str, bundle: Bundle, options: &CreateOptions) -> Result<()> {
        if options.console_socket.is_some() {
            return Err(Error::unsupported(
                BACKEND,
                "use --console-socket",
                "a zone's console is zlogin -C's",
            ));
        }
        if options.preserve_fds > 0 {
            return Err(Error::unsupported(
                BACKEND,
                "use --preserve-fds",
                "descriptors do not pass into a booting zone",
            ));
        }
        if options.pid_file.is_some() {
            return Err(Error::unsupported(
                BACKEND,
                "use --pid-file",
                "the zone's init has no process before the zone boots",
            ));
        }
        let podinit = options.init.as_deref().unwrap_or(&self.podinit);
        self.create_zone(id, bundle, podinit)
    }

    /// Boots the zone (podinit starts the process), then the poststart hooks.
    fn start(&self, id: &str) -> Result<()> {
        let record = self.load(id)?;
        let name = Self::zone_name(id)?;
        self.zones
            .start(&name, &Self::podinit_paths().podinit_status)
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

    fn run(&self, id: &str, bundle: Bundle, options: &CreateOptions, mode: RunMode) -> Result<i32> {
        self.create(id, bundle, options)?;
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, true);
            return Err(e);
        }
        if mode.detach {
            return Ok(0);
        }
        let status = self.wait(id)?;
        if !mode.keep {
            if let Err(e) = self.delete(id, true) {
                tracing::error!(id, error = %e, "deleting the container after it ran");
            }
        }
        Ok(status)
    }

    fn state(&self, id: &str) -> Result<StateReport> {
        let record = self.load(id)?;
        let name = Self::zone_name(id)?;
        let state = self
            .zones
            .state(&name, &Self::podinit_paths().podinit_status)
            .map_err(|e| Error::backend(id, "cannot read the state of", e))?;
        let status = match state.status {
            OciStatus::Creating => Status::Creating,
            OciStatus::Created => Status::Created,
            OciStatus::Running => Status::Running,
            OciStatus::Stopped => Status::Stopped,
        };
        Ok(self.report(id, &record, status))
    }

    fn list(&self) -> Result<Vec<StateReport>> {
        let mut reports = Vec::new();
        for id in container_ids(&self.root, "zone.json")? {
            match self.state(&id) {
                Ok(report) => reports.push(report),
                Err(e) => tracing::warn!(id, error = %e, "skipping an unreadable container"),
            }
        }
        Ok(reports)
    }

    /// Signals the zone's init (with `all`, every process in the zone).
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        self.load(id)?;
        let name = Self::zone_name(id)?;
        let signal =
            Signal::new(&signal.to_string()).map_err(|e| Error::backend(id, "cannot signal", e))?;
        let done = if all {
            self.zones.kill_all(&name, &signal)
        } else {
            let init = Self::podinit_paths().podinit;
            self.zones.kill(&name, &init, &signal)
        };
        done.map_err(|e| Error::backend(id, "cannot signal", e))
    }

    /// halt, detach, unconfigure, then the poststop hooks; the zonepath stays (it is the
    /// bundle's).
    fn delete(&self, id: &str, force: bool) -> Result<()> {
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

    /// zlogin runs the process as the zone's root user, in the foreground: what it cannot
    /// express (another user, capabilities, a terminal, detaching) is refused.
    fn exec(&self, id: &str, options: &ExecOptions) -> Result<i32> {
        let refused = [
            (options.user.is_some(), "run as another user (--user)"),
            (!options.additional_gids.is_empty(), "add groups"),
            (!options.capabilities.is_empty(), "add capabilities"),
            (options.console_socket.is_some(), "give a terminal"),
            (options.detach, "detach an exec"),
            (options.preserve_fds > 0, "pass descriptors"),
            (options.cgroup.is_some(), "join a cgroup"),
            (options.pid_file.is_some(), "write a pid file"),
        ];
        if let Some((_, action)) = refused.iter().find(|(asked, _)| *asked) {
            return Err(Error::unsupported(BACKEND, action, "zlogin cannot"));
        }
        self.load(id)?;
        let name = Self::zone_name(id)?;
        let (args, env, cwd) = match &options.process_file {
            Some(path) => process_from_file(path)?,
            None => (options.args.clone(), Vec::new(), options.cwd.clone()),
        };
        if args.is_empty() {
            return Err(Error::Invalid(
                "exec needs a command, or --process FILE".to_string(),
            ));
        }
        let env: Vec<String> = env
            .into_iter()
            .chain(options.env.iter().map(|(k, v)| format!("{k}={v}")))
            .collect();
        self.zones
            .exec(&name, &args, &env, cwd.as_deref())
            .map_err(|e| Error::backend(id, "cannot exec in", e))
    }

    fn pause(&self, _id: &str) -> Result<()> {
        Err(Error::unsupported(
            BACKEND,
            "pause",
            "zones cannot be frozen",
        ))
    }

    fn resume(&self, _id: &str) -> Result<()> {
        Err(Error::unsupported(
            BACKEND,
            "resume",
            "zones cannot be frozen",
        ))
    }

    fn ps(&self, _id: &str) -> Result<Vec<i32>> {
        Err(Error::unsupported(
            BACKEND,
            "ps",
            "not written yet (pgrep -z would)",
        ))
    }

    fn update(&self, _id: &str, _resources: &LinuxResources) -> Result<()> {
        Err(Error::unsupported(
            BACKEND,
            "update",
            "not written yet (prctl would)",
        ))
    }

    fn stats(&self, _id: &str) -> Result<serde_json::Value> {
        Err(Error::unsupported(
            BACKEND,
            "report statistics",
            "not written yet (kstat would)",
        ))
    }
}

fn bundle_error(bundle: &Path, why: &str) -> Error {
    Error::Bundle {
        bundle: bundle.to_path_buf(),
        why: why.to_string(),
    }
}

/// The configuration again, for the hooks of later verbs (create's parse is long gone).
fn load_spec(bundle: &Path) -> Result<Spec> {
    Bundle::load(bundle).map(|b| b.into_parts().1)
}

/// A `--process` file's args, env and cwd.
fn process_from_file(path: &Path) -> Result<(Vec<String>, Vec<String>, Option<PathBuf>)> {
    let bytes = fs::read(path).map_err(|source| Error::Io {
        what: "cannot read the process file",
        path: path.to_path_buf(),
        source,
    })?;
    let process: oci_spec::runtime::Process = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Invalid(format!(
            "{}: not a runtime-spec process: {e}",
            path.display()
        ))
    })?;
    Ok((
        process.args().clone().unwrap_or_default(),
        process.env().clone().unwrap_or_default(),
        Some(process.cwd().clone()),
    ))
}

#[cfg(test)]
mod tests;
