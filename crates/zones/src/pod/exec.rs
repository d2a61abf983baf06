//! A pod's zone through the zone tools: create, start, stop, remove, state.
//!
//! - **create**: podinit and the services file into the zone's root (under `/.aurora`), one
//!   mount point per container under `/containers`, then the zone as [`Zones::create`] makes
//!   one (zonecfg, `attach -F`, `ready`). A failure leaves neither zone nor files behind.
//! - **start**: stale status files removed, `zoneadm boot`: podinit starts the services.
//! - **stop**: `SIGTERM` to podinit, which stops the services in reverse order and exits, so
//!   the zone halts (to `installed`); a zone still running after the stop timeout is halted.
//! - **remove**: [`Zones::delete`] (halt, detach, zonecfg delete) and the files create wrote.
//! - **state**: the zone's state and each service's status file.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora_podinit::services::ServiceStatus;

use crate::exec::{Op, Signal, ZoneError, Zones};
use crate::name::ZoneName;
use crate::pod::{PodPlan, SERVICES_PATH};
use crate::runner::Runner;
use crate::state::{self, ZoneEntry, ZoneState};

/// The directory inside the zone that holds podinit, its services file and its statuses.
const AURORA_DIR: &str = "/.aurora";

/// A pod's state: its zone and its containers' statuses (by name; `None`: none recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct PodState {
    pub zone: ZoneEntry,
    pub containers: Vec<(String, Option<ServiceStatus>)>,
}

/// Pod zones over a [`Runner`].
#[derive(Debug)]
pub struct PodZones<R: Runner> {
    zones: Zones<R>,
    /// podinit's path inside each zone (the plan's init).
    init: PathBuf,
}

impl<R: Runner> PodZones<R> {
    /// `work_dir` keeps the zonecfg files (see [`Zones::new`]).
    pub fn new(runner: R, work_dir: impl Into<PathBuf>) -> Self {
        PodZones {
            zones: Zones::new(runner, work_dir),
            init: PathBuf::from("/.aurora/podinit"),
        }
    }

    pub fn zones(&self) -> &Zones<R> {
        &self.zones
    }

    /// Installs `podinit` (the binary, from the global zone) and the services file into the
    /// zone's root, and creates the zone: afterwards it is `ready`.
    pub fn create(&self, plan: &PodPlan, podinit: &Path) -> Result<(), ZoneError> {
        let zone = &plan.zone.name;
        let root = plan.zone.zonepath.join("root");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ZoneError::Io {
                op: Op::Create,
                zone: zone.clone(),
                path,
                source,
            }
        };
        if !root.is_dir() {
            return Err(io(&root)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the pod's zone root must exist (the pod's dataset, with root/ in it)",
            )));
        }
        if let Ok(existing) = self.zones.state(zone, &self.status_file()) {
            return Err(ZoneError::Exists {
                zone: zone.clone(),
                state: existing.zone.state,
            });
        }
        let written = Written::default();
        let result = (|| {
            let aurora = in_root(&root, Path::new(AURORA_DIR));
            written.create_dir(&aurora).map_err(io(&aurora))?;
            let init = in_root(&root, &plan.zone.podinit.init);
            fs::copy(podinit, &init).map_err(io(&init))?;
            written.note(&init);
            let services = in_root(&root, Path::new(SERVICES_PATH));
            fs::write(&services, plan.services_json()).map_err(io(&services))?;
            written.note(&services);
            let containers = in_root(&root, Path::new(super::CONTAINERS_DIR));
            written.create_dir(&containers).map_err(io(&containers))?;
            for (_, dir) in plan.container_dirs() {
                let dir = in_root(&root, &dir);
                written.create_dir(&dir).map_err(io(&dir))?;
            }
            self.zones.create(&plan.zone)
        })();
        if result.is_err() {
            written.undo();
        }
        result
    }

    /// Boots the pod's zone; podinit starts the containers.
    pub fn start(&self, zone: &ZoneName) -> Result<(), ZoneError> {
        let entry = self.zones.state(zone, &self.status_file())?.zone;
        if !matches!(entry.state, ZoneState::Ready | ZoneState::Installed) {
            // Refused there, with the state named; no status file is touched.
            return self.zones.start(zone, &self.status_file());
        }
        let dir = state::zone_file(&entry.zonepath, Path::new(&self.status_dir()))
            .map_err(|source| status_error(Op::Start, zone, source))?;
        if let Ok(files) = fs::read_dir(&dir) {
            for f in files.flatten() {
                // Only while the zone is down (start checks it): nothing in it can race.
                let _ = fs::remove_file(f.path());
            }
        }
        self.zones.start(zone, &self.status_file())
    }

    /// Stops the containers (in reverse start order, by podinit) and with them the zone. A
    /// zone still running `timeout` after the signal is halted; a pod already stopped (or
    /// never started) is left as it is.
    pub fn stop(&self, zone: &ZoneName, timeout: Duration) -> Result<(), ZoneError> {
        let state = self.zones.state(zone, &self.status_file())?.zone.state;
        if !matches!(state, ZoneState::Running | ZoneState::ShuttingDown) {
            return Ok(());
        }
        if state == ZoneState::Running {
            self.zones.kill(zone, &self.init, &Signal::new("15")?)?;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.zones.state(zone, &self.status_file())?.zone.state;
            if state != ZoneState::Running && state != ZoneState::ShuttingDown {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(zone = %zone, "the pod did not stop in time: halting its zone");
                return self.halt(zone);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn halt(&self, zone: &ZoneName) -> Result<(), ZoneError> {
        let args = ["-z".to_string(), zone.to_string(), "halt".to_string()];
        self.zones
            .runner()
            .run("zoneadm", &args)
            .map(|_| ())
            .map_err(|source| ZoneError::Command {
                op: Op::Kill,
                zone: zone.clone(),
                source,
            })
    }

    /// Removes the pod's zone (halting it if it runs) and the files create wrote into its
    /// root; the containers' roots and the zonepath stay (they belong to the engine).
    pub fn remove(&self, zone: &ZoneName, plan: &PodPlan) -> Result<(), ZoneError> {
        self.zones.delete(zone)?;
        let root = plan.zone.zonepath.join("root");
        let written = Written::default();
        written.note(&in_root(&root, &plan.zone.podinit.init));
        written.note(&in_root(&root, Path::new(SERVICES_PATH)));
        if let Ok(dir) = state::zone_file(&plan.zone.zonepath, Path::new(&self.status_dir())) {
            let _ = fs::remove_dir_all(dir);
        }
        written.note(&in_root(&root, Path::new(STATUS_FILE)));
        // Noted outermost first: undone innermost first.
        written.note_dir(&in_root(&root, Path::new(AURORA_DIR)));
        written.note_dir(&in_root(&root, Path::new(super::CONTAINERS_DIR)));
        for (_, dir) in plan.container_dirs() {
            written.note_dir(&in_root(&root, &dir));
        }
        written.undo();
        Ok(())
    }

    /// The zone's state and each container's status, in the plan's order.
    pub fn state(&self, zone: &ZoneName, plan: &PodPlan) -> Result<PodState, ZoneError> {
        let entry = self.zones.state(zone, &self.status_file())?.zone;
        let mut containers = Vec::new();
        for s in &plan.services.services {
            let status = read_status(&entry.zonepath, &plan.services.status_path(&s.name))
                .map_err(|source| status_error(Op::State, zone, source))?;
            containers.push((s.name.clone(), status));
        }
        Ok(PodState {
            zone: entry,
            containers,
        })
    }

    fn status_file(&self) -> PathBuf {
        PathBuf::from(STATUS_FILE)
    }

    fn status_dir(&self) -> String {
        aurora_podinit::services::DEFAULT_STATUS_DIR.to_string()
    }
}

/// podinit's own exit record in a pod's zone.
const STATUS_FILE: &str = aurora_podinit::cli::DEFAULT_STATUS_PATH;

fn status_error(op: Op, zone: &ZoneName, source: state::StatusError) -> ZoneError {
    ZoneError::Status {
        op,
        zone: zone.clone(),
        source,
    }
}

/// `root` joined with an absolute path inside the zone.
fn in_root(root: &Path, inside: &Path) -> PathBuf {
    root.join(inside.strip_prefix("/").unwrap_or(inside))
}

/// A service's status file, read from the global zone: no symbolic link followed on the
/// way, at most 4 KiB. `None` when there is none (yet).
fn read_status(
    zonepath: &Path,
    in_zone: &Path,
) -> Result<Option<ServiceStatus>, state::StatusError> {
    let path = state::zone_file(zonepath, in_zone)?;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(state::StatusError::Io { path, source }),
    };
    let mut text = String::new();
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(|source| state::StatusError::Io {
            path: path.clone(),
            source,
        })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| state::StatusError::Malformed {
            path,
            reason: e.to_string(),
        })
}

/// What create wrote into a zone's root, to take it away again (files first, then the
/// directories it made, deepest first). Only what did not exist before is noted.
#[derive(Default)]
struct Written {
    files: std::cell::RefCell<Vec<PathBuf>>,
    dirs: std::cell::RefCell<Vec<PathBuf>>,
}

impl Written {
    fn create_dir(&self, dir: &Path) -> std::io::Result<()> {
        match fs::create_dir(dir) {
            Ok(()) => {
                self.note_dir(dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn note(&self, file: &Path) {
        self.files.borrow_mut().push(file.to_path_buf());
    }

    fn note_dir(&self, dir: &Path) {
        self.dirs.borrow_mut().push(dir.to_path_buf());
    }

    fn undo(&self) {
        for f in self.files.borrow().iter() {
            let _ = fs::remove_file(f);
        }
        // Deepest first; a directory that is not empty (a mounted root) stays.
        for d in self.dirs.borrow().iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}
