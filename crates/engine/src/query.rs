//! Changing and reading running containers: rename, update, top, stats, events.

use crate::config::Resources;
use crate::engine::Engine;
use crate::error::Result;
use crate::state::{ContainerRecord, Event};
use crate::stats::ResourceUse;

impl Engine {
    /// Renames container `key`.
    pub fn rename(&self, key: &str, name: &str) -> Result<ContainerRecord> {
        crate::names::check_name(name)?;
        let record = self.find(key)?;
        self.db.rename(&record.id, name)?;
        let record = self.find(&record.id)?;
        self.event(&record, "rename");
        Ok(record)
    }

    /// Changes the limits of container `key`: recorded, written to its bundle for the next
    /// start, and applied now through the runtime when it runs.
    pub fn update(&self, key: &str, resources: &Resources) -> Result<ContainerRecord> {
        let record = self.find(key)?;
        let _lock = self.lock(&record.id)?;
        let mut record = self.reconciled(&record.id)?;
        let merged = Resources {
            memory: resources.memory.or(record.config.resources.memory),
            cpus: resources.cpus.or(record.config.resources.cpus),
            pids_limit: resources.pids_limit.or(record.config.resources.pids_limit),
        };
        if record.state.is_active() {
            self.runtime_of(&record)
                .update(&record.id, &update_args(resources))?;
        }
        record.config.resources = merged;
        let bundle = self.paths.bundle(&record.id);
        let mut spec = aurora_bundle::read_bundle_config(&bundle)?;
        for warning in crate::spec::apply_resources(&mut spec, &record.config)? {
            tracing::warn!(container = %record.name, "{warning}");
        }
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        self.db.update(&record)?;
        self.event(&record, "update");
        Ok(record)
    }

    /// The host pids of a running container's processes.
    pub fn top(&self, key: &str) -> Result<Vec<i32>> {
        let record = self.find(key)?;
        self.require_active(&record, "top")?;
        self.runtime_of(&record).pids(&record.id)
    }

    /// One sample of a running container's resource use: its runtime's statistics, and the
    /// byte counters of its network namespace.
    pub fn stats(&self, key: &str) -> Result<ResourceUse> {
        let record = self.find(key)?;
        self.require_active(&record, "stats")?;
        let mut usage = ResourceUse::from_runtime(&self.runtime_of(&record).stats(&record.id)?);
        usage.net = record.pid.and_then(crate::stats::net_bytes_of);
        Ok(usage)
    }

    /// The runtime spec of container `record` (its bundle's config.json).
    pub fn spec_of(&self, record: &ContainerRecord) -> Result<oci_spec::runtime::Spec> {
        Ok(aurora_bundle::read_bundle_config(
            &self.paths.bundle(&record.id),
        )?)
    }

    /// Events recorded after sequence number `after`.
    pub fn events_after(&self, after: i64) -> Result<Vec<Event>> {
        self.db.events_after(after)
    }

    /// Where container `id`'s log is.
    pub fn log_path(&self, record: &ContainerRecord) -> std::path::PathBuf {
        match &record.config.log_path {
            Some(path) => path.clone(),
            None => self.paths.log(&record.id),
        }
    }

    /// Has the monitor of a running container open its log file again (kubelet moved it
    /// away to rotate it): later output goes to a new file at the log path.
    pub fn reopen_log(&self, key: &str) -> Result<()> {
        let record = self.find(key)?;
        let dir = aurora_monitor::MonitorDir::new(self.paths.monitor_dir(&record.id));
        let monitor = crate::monitor::monitor_pid(&dir)
            .filter(|_| record.state.is_active())
            .ok_or_else(|| crate::error::EngineError::Invalid {
                name: record.name.clone(),
                message: "it is not running, so it has no log open".into(),
            })?;
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(monitor).ok_or_else(|| {
                crate::error::EngineError::Other(format!("monitor pid {monitor}"))
            })?,
            rustix::process::Signal::USR1,
        )
        .map_err(|e| crate::error::EngineError::Other(format!("signalling the monitor: {e}")))?;
        // The caller reads the new file next (kubelet, critest): wait for the monitor to
        // make it, for a while.
        let path = self.log_path(&record);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !path.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }

    /// Whether the kernel's OOM killer ended the container's last run (inspect's
    /// `State.OOMKilled`): the monitor's exit file says, until the next start or the run
    /// root's loss (a reboot).
    pub fn oom_killed(&self, record: &ContainerRecord) -> bool {
        record.state == crate::state::ContainerState::Exited
            && crate::monitor::report(&self.paths.monitor_dir(&record.id))
                .exit
                .is_some_and(|exit| exit.oom_killed)
    }

    /// A check that says when the container has exited for good (its monitor is gone): the
    /// stop condition of `logs -f`.
    pub fn exited_check(&self, record: &ContainerRecord) -> impl FnMut() -> bool + Send + 'static {
        let dir = aurora_monitor::MonitorDir::new(self.paths.monitor_dir(&record.id));
        move || crate::monitor::monitor_pid(&dir).is_none()
    }
}

/// runc's `update` flags for the limits given.
fn update_args(resources: &Resources) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(memory) = resources.memory {
        args.push(format!("--memory={memory}"));
        // runc refuses a memory limit above the swap limit it keeps; keep them equal.
        args.push(format!("--memory-swap={memory}"));
    }
    if let Some(cpus) = resources.cpus {
        args.push("--cpu-period=100000".into());
        args.push(format!("--cpu-quota={}", (cpus * 100_000.0).round() as i64));
    }
    if let Some(pids) = resources.pids_limit {
        args.push(format!("--pids-limit={pids}"));
    }
    args
}
