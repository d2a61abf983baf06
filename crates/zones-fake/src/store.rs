//! The fakes' shared state: one JSON file per zone in the state directory
//! (`$AURORA_ZONES_FAKE_STATE`), read and written under one lock, as zoneadmd and the zones
//! index keep them on illumos.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use aurora_zones::ZoneState;
use serde::{Deserialize, Serialize};

/// Where the fakes keep their zones; without it, `state/` beside the link the fake was
/// called through (so that a directory of links is a whole fake system, and runz needs only
/// `--zone-tools DIR`).
pub const STATE_VAR: &str = "AURORA_ZONES_FAKE_STATE";
/// A file in the state directory: each line `TOOL VERB` (`zoneadm attach`, `zonecfg commit`)
/// makes that command fail, leaving the zone as it was: how a test breaks a create half-way.
const FAIL_FILE: &str = "fail";

/// One zone as the fakes know it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    /// configured, installed, ready, running (zoneadm's words).
    pub state: String,
    pub zonepath: PathBuf,
    pub brand: String,
    pub ip_type: String,
    pub bootargs: String,
    pub uuid: String,
    /// Set while the zone is ready or running.
    pub zoneid: Option<u64>,
    /// The zone's init on the host, while it runs.
    pub init_pid: Option<i32>,
    /// Counts boots and halts, so that a supervisor of an earlier boot changes nothing.
    pub generation: u64,
    /// The `fs` resources, mounted while the zone is ready or running.
    #[serde(default)]
    pub fs: Vec<FsResource>,
}

/// One `add fs … end` of the configuration (the fake zoneadm mounts it: see mounts.rs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FsResource {
    pub dir: String,
    pub special: String,
    #[serde(rename = "type")]
    pub fs_type: String,
}

impl Zone {
    pub fn state(&self) -> ZoneState {
        ZoneState::parse(&self.state)
    }

    pub fn set_state(&mut self, state: ZoneState) {
        self.state = state.as_str().to_string();
    }

    pub fn root(&self) -> PathBuf {
        self.zonepath.join("root")
    }
}

/// The state directory, locked for as long as this value lives.
pub struct Store {
    dir: PathBuf,
    _lock: File,
}

impl Store {
    /// Opens and locks the state directory ([`STATE_VAR`], else `state/` beside the link).
    pub fn open() -> io::Result<Store> {
        let beside_link = || {
            let link = PathBuf::from(std::env::args_os().next()?);
            Some(link.parent()?.join("state"))
        };
        let dir = std::env::var_os(STATE_VAR)
            .map(PathBuf::from)
            .or_else(beside_link)
            .ok_or_else(|| io::Error::other(format!("set {STATE_VAR}")))?;
        fs::create_dir_all(dir.join("zones"))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        // SAFETY: flock on a descriptor this function owns; it blocks until the lock is free.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Store { dir, _lock: lock })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join("zones").join(format!("{name}.json"))
    }

    pub fn get(&self, name: &str) -> io::Result<Option<Zone>> {
        match fs::read(self.path(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Written aside and renamed, so that no reader sees half a zone.
    pub fn put(&self, zone: &Zone) -> io::Result<()> {
        let tmp = self.dir.join("zones").join(format!(".{}.tmp", zone.name));
        fs::write(
            &tmp,
            serde_json::to_vec_pretty(zone).map_err(io::Error::other)?,
        )?;
        fs::rename(tmp, self.path(&zone.name))
    }

    pub fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name))
    }

    /// Every zone, by name.
    pub fn all(&self) -> io::Result<Vec<Zone>> {
        let mut zones = Vec::new();
        for entry in fs::read_dir(self.dir.join("zones"))? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(zone) = name.strip_suffix(".json").filter(|n| !n.starts_with('.')) {
                zones.extend(self.get(zone)?);
            }
        }
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(zones)
    }

    /// A zone ID no other ready or running zone has.
    pub fn next_zoneid(&self) -> io::Result<u64> {
        let used: Vec<u64> = self.all()?.iter().filter_map(|z| z.zoneid).collect();
        Ok((1..).find(|id| !used.contains(id)).unwrap_or(1))
    }

    /// Where a zone's console output goes (its init's stdout and stderr).
    pub fn console(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.console"))
    }

    /// Whether the test asked `tool verb` to fail.
    pub fn injected_failure(&self, tool: &str, verb: &str) -> bool {
        let wanted = format!("{tool} {verb}");
        std::fs::read_to_string(self.dir.join(FAIL_FILE))
            .is_ok_and(|text| text.lines().any(|line| line.trim() == wanted))
    }
}
