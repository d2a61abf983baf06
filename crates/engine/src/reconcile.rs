//! Bringing a record in line with the world. The database says what podadm last did; the
//! monitor's files and processes say what happened since (the container exited, the
//! monitor was killed, the host rebooted, a podadm died half-way through create or rm).
//! Every read of a container passes through here, so `ps -a` never shows a container
//! wrongly and `rm -f` can always remove it.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::monitor::{report, Report};
use crate::state::{ContainerRecord, ContainerState};

impl Engine {
    /// The container `key` names (id, name or id prefix), reconciled when nobody else is
    /// changing it.
    pub fn find(&self, key: &str) -> Result<ContainerRecord> {
        let record = self.db.find(key)?;
        self.reconcile_unlocked(record)?
            .ok_or_else(|| EngineError::NoSuchContainer(key.to_string()))
    }

    /// Every container, reconciled.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        self.finish_teardowns()?;
        let mut all = Vec::new();
        for record in self.db.list()? {
            if let Some(record) = self.reconcile_unlocked(record)? {
                all.push(record);
            }
        }
        Ok(all)
    }

    /// Reconciles `record` if its lock is free; someone holding it is changing it, and what
    /// they change it to is what the next read sees.
    fn reconcile_unlocked(&self, record: ContainerRecord) -> Result<Option<ContainerRecord>> {
        if record.state == ContainerState::Created || record.state == ContainerState::Exited {
            // Only a monitor left by an interrupted start can make these wrong.
            if !self
                .paths
                .monitor_dir(&record.id)
                .join("monitor.pid")
                .exists()
            {
                return Ok(Some(record));
            }
        }
        match crate::lock::try_lock(&self.paths.locks(), &record.id)? {
            Some(_lock) => self.reconcile_locked(record),
            None => Ok(Some(record)),
        }
    }

    /// The record of `id`, reconciled; the caller holds its lock.
    pub(crate) fn reconciled(&self, id: &str) -> Result<ContainerRecord> {
        let record = self.db.find(id)?;
        self.reconcile_locked(record)?
            .ok_or_else(|| EngineError::NoSuchContainer(id.to_string()))
    }

    /// `None` when the container turned out to be gone (an abandoned create, a removal to
    /// finish, or a `--rm` container that exited).
    pub(crate) fn reconcile_locked(
        &self,
        mut record: ContainerRecord,
    ) -> Result<Option<ContainerRecord>> {
        match record.state {
            ContainerState::Creating | ContainerState::Removing => {
                if record.owner_pid.is_some_and(owner_alive) {
                    return Ok(Some(record));
                }
                if record.state == ContainerState::Creating {
                    tracing::info!(container = %record.name, "removing an abandoned create");
                    self.undo_create(&record);
                } else {
                    self.finish_remove(&record, true)?;
                }
                Ok(None)
            }
            ContainerState::Running | ContainerState::Paused => {
                let report = report(&self.paths.monitor_dir(&record.id));
                if report.alive {
                    if refresh_running(&mut record, &report) {
                        self.db.update(&record)?;
                    }
                    return Ok(Some(record));
                }
                self.finalize_exit(&mut record, &report)?;
                self.after_exit(record)
            }
            ContainerState::Created | ContainerState::Exited => {
                let report = report(&self.paths.monitor_dir(&record.id));
                let process_runs = report
                    .status
                    .as_ref()
                    .is_some_and(|s| crate::process::alive(s.pid));
                let exited_since = match (&report.exit, &report.status) {
                    (Some(exit), Some(status)) => exit.restarts >= status.restarts,
                    _ => false,
                };
                // A pod's infra claimed from the pool runs its sandbox until its start.
                if report.alive && process_runs && !exited_since && !self.infra_waits(&record) {
                    // A start was interrupted after the monitor made the container.
                    record.state = ContainerState::Running;
                    refresh_running(&mut record, &report);
                    self.db.update(&record)?;
                }
                Ok(Some(record))
            }
        }
    }

    /// Records the exit the monitor wrote (or an unknown one, -1, when the monitor is gone
    /// without one: killed, or the host rebooted) and releases the container's network and
    /// runtime state. Its root stays for the next start.
    pub(crate) fn finalize_exit(
        &self,
        record: &mut ContainerRecord,
        report: &Report,
    ) -> Result<()> {
        // A `--rm` container's runtime state and network go with the rest of it, after its
        // row (see `finish_remove`).
        if !record.config.auto_remove {
            self.runtime_of(record).delete_force(&record.id);
            self.detach_network(record);
        }
        record.state = ContainerState::Exited;
        record.pid = None;
        match &report.exit {
            Some(exit) => {
                record.exit_code = Some(exit.exit_code);
                record.finished_at = Some(exit.finished_at.clone());
                record.restarts = exit.restarts;
            }
            None => {
                record.exit_code = Some(-1);
                record.finished_at = Some(crate::clock::now());
            }
        }
        self.db.update(record)?;
        self.event(record, "died");
        Ok(())
    }

    /// After an exit: a `--rm` container is removed.
    pub(crate) fn after_exit(&self, record: ContainerRecord) -> Result<Option<ContainerRecord>> {
        if record.config.auto_remove {
            self.finish_remove(&record, true)?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// The monitor's exit command: records the last exit at once (rather than at the next
    /// read) and removes a `--rm` container.
    pub fn cleanup(&self, key: &str) -> Result<()> {
        let cleaned = self.cleanup_container(key);
        // A `run --rm` that removed the record itself left the rest to this exit command.
        self.finish_teardowns()?;
        self.checkpoint_state();
        match cleaned {
            Err(EngineError::NoSuchContainer(_)) => Ok(()),
            other => other,
        }
    }

    fn cleanup_container(&self, key: &str) -> Result<()> {
        let record = self.db.find(key)?;
        let _lock = self.lock(&record.id)?;
        let mut record = self.db.find(&record.id)?;
        if record.state.is_active() {
            let report = report(&self.paths.monitor_dir(&record.id));
            if report.exit.is_some() {
                self.finalize_exit(&mut record, &report)?;
                self.after_exit(record)?;
            }
        } else if record.state == ContainerState::Exited {
            self.after_exit(record)?;
        }
        Ok(())
    }
}

/// Takes the pid and restart count the monitor reports; true if anything changed.
fn refresh_running(record: &mut ContainerRecord, report: &Report) -> bool {
    let Some(status) = &report.status else {
        return false;
    };
    let changed = record.pid != Some(status.pid) || record.restarts != status.restarts;
    record.pid = Some(status.pid);
    record.restarts = status.restarts;
    changed
}

/// The process `pid` that owns a transition still runs: it is this process, or a process
/// of the same program (a pid reused by something else after a crash does not count).
pub(crate) fn owner_alive(pid: i32) -> bool {
    if pid == std::process::id() as i32 {
        return true;
    }
    let theirs = crate::process::executable(pid);
    let ours = std::env::current_exe().ok();
    crate::process::alive(pid) && theirs.is_some() && theirs == ours
}
