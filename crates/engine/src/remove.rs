//! Removing containers: `rm [-f] [-v]`, `--rm`, `prune`. A removal is recorded first (state
//! `removing`), so a podadm killed half-way leaves a record the next read finishes.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::{ContainerRecord, ContainerState};

impl Engine {
    /// Removes container `key`: refused while it runs unless `force` (then stopped first,
    /// SIGKILL after `timeout` seconds or its stop timeout); with `volumes`, its anonymous
    /// volumes too.
    pub fn remove(
        &self,
        key: &str,
        force: bool,
        volumes: bool,
        timeout: Option<u32>,
    ) -> Result<ContainerRecord> {
        let record = self.db.find(key)?;
        if let Some(pod) = self.pod_of_infra(&record)? {
            return Err(EngineError::Invalid {
                name: record.name.clone(),
                message: format!(
                    "it is the infra container of pod {} and cannot be removed without \
                     removing the pod",
                    pod.name
                ),
            });
        }
        self.remove_container(key, force, volumes, timeout)
    }

    /// [`Engine::remove`] of any container, a pod's infra too (for the pod's removal).
    pub(crate) fn remove_container(
        &self,
        key: &str,
        force: bool,
        volumes: bool,
        timeout: Option<u32>,
    ) -> Result<ContainerRecord> {
        let record = self.db.find(key)?;
        let _lock = self.lock(&record.id)?;
        let Some(mut record) = self.reconcile_locked(self.db.find(&record.id)?)? else {
            return Err(EngineError::NoSuchContainer(key.to_string()));
        };
        if record.state.is_active() {
            if !force {
                return Err(EngineError::Running {
                    name: record.name.clone(),
                });
            }
            record = self.stop_locked(record, timeout)?;
        }
        record.state = ContainerState::Removing;
        record.owner_pid = Some(std::process::id() as i32);
        self.db.update(&record)?;
        self.finish_remove(&record, volumes)?;
        Ok(record)
    }

    /// Everything of a container goes, then its record: runtime state, network, monitor,
    /// root, bundle and log, and (with `volumes` or `--rm`) its anonymous volumes. Each step
    /// tolerates what is already gone, so an interrupted removal can be run again.
    pub(crate) fn finish_remove(&self, record: &ContainerRecord, volumes: bool) -> Result<()> {
        let dir = self.paths.monitor_dir(&record.id);
        let monitor = crate::monitor::monitor_pid(&aurora_monitor::MonitorDir::new(&dir));
        // A monitor running this process as its exit command is about to exit by itself
        // (and waits for this process): only a monitor left of a forced removal is killed.
        let is_parent =
            |pid: i32| rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) == Some(pid);
        if let Some(pid) = monitor.filter(|pid| !is_parent(*pid)) {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).expect("positive pid"),
                rustix::process::Signal::KILL,
            );
        }
        self.runtime_of(record).delete_force(&record.id);
        if let Some(driver) = self.images.storage_in_use()? {
            match driver.remove_container(record.storage_name()) {
                Ok(()) | Err(aurora_storage::StorageError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.container_dir(&record.id));
        let _ = std::fs::remove_dir_all(&dir);
        if volumes || record.config.auto_remove {
            let store = self.volumes()?;
            for volume in &record.anonymous_volumes {
                if let Err(e) = store.remove(volume) {
                    tracing::warn!(container = %record.name, "removing volume {volume}: {e}");
                }
            }
        }
        // The row goes before the network: what waits for the removal (`run --rm`) is done
        // then, while the network plugin's teardown (the slow part) finishes here; it is
        // kept as a pending teardown until done, so a death now forgets nothing.
        self.db
            .delete_leaving_teardown(record, std::process::id() as i32)?;
        crate::lock::forget(&self.paths.locks(), &record.id);
        self.event(record, "remove");
        if record.network_status.is_some() {
            self.detach_network(&mut record.clone());
            self.db.forget_teardown(&record.id)?;
        }
        Ok(())
    }

    /// Tears down the networks of removed containers whose remover died before it was done.
    pub(crate) fn finish_teardowns(&self) -> Result<()> {
        for (mut record, owner) in self.db.teardowns()? {
            if crate::reconcile::owner_alive(owner) {
                continue;
            }
            self.detach_network(&mut record);
            self.db.forget_teardown(&record.id)?;
        }
        Ok(())
    }

    /// Waits until container `id` (a `--rm` one) has been removed after its exit; a
    /// container whose monitor is gone without removing it is removed here.
    pub fn wait_removed(&self, id: &str) -> Result<()> {
        loop {
            let record = match self.db.find(id) {
                Err(EngineError::NoSuchContainer(_)) => return Ok(()),
                Err(e) => return Err(e),
                Ok(record) => record,
            };
            let report = crate::monitor::report(&self.paths.monitor_dir(&record.id));
            if !report.alive {
                match self.cleanup(id) {
                    Ok(()) | Err(EngineError::NoSuchContainer(_)) => {}
                    Err(e) => return Err(e),
                }
                if record.state == ContainerState::Exited && !record.config.auto_remove {
                    return Ok(());
                }
                continue;
            }
            let running = record
                .pid
                .filter(|_| record.state.is_active())
                .and_then(crate::process::Watched::new);
            match running {
                Some(process) => {
                    process.wait(None);
                }
                None => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
    }

    /// Removes every container that is not running; returns their ids.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for record in self.list()? {
            if matches!(
                record.state,
                ContainerState::Exited | ContainerState::Created
            ) {
                match self.remove(&record.id, false, false, None) {
                    Ok(_) => removed.push(record.id),
                    Err(EngineError::NoSuchContainer(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }
}
