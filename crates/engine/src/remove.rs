//! Removing containers: `rm [-f] [-v]`, `--rm`, `prune`. A removal is recorded first (state
//! `removing`), so a podadm killed half-way leaves a record the next read finishes.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::{ContainerRecord, ContainerState};

/// The owner of a teardown anyone may take at once.
const NO_OWNER: i32 = 0;

/// Whether a removal kills the container's monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Monitor {
    /// Unless it is this process's parent (this is its exit command).
    KillStray,
    /// It recorded the exit and is finishing by itself.
    Leave,
}

/// What a teardown does when another process is doing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Waits for it (the caller promises the teardown is done when it returns).
    Wait,
    /// Leaves it to them.
    Skip,
}

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

    /// Everything of a container goes: first what the user sees (its record, and with
    /// `volumes` or `--rm` its anonymous volumes), then the rest (see [`Engine::tear_down`]),
    /// which this process does before returning. Each step tolerates what is already gone,
    /// so an interrupted removal can be run again.
    pub(crate) fn finish_remove(&self, record: &ContainerRecord, volumes: bool) -> Result<()> {
        self.remove_record(
            record,
            volumes,
            Monitor::KillStray,
            std::process::id() as i32,
        )?;
        self.finish_teardown(record, Turn::Wait)
    }

    /// After an attached `--rm` container exited (`podadm run --rm`): its exit is recorded and
    /// its record goes now; the rest is left as a pending teardown that anyone may take, and
    /// the monitor's exit command (`podadm container cleanup`), which starts at the exit,
    /// does. So `run` returns as soon as the container is gone from every listing, while
    /// unmounting its root and deleting the runtime's state happen beside it.
    pub fn remove_exited(&self, id: &str) -> Result<()> {
        let lock = self.lock(id)?;
        let mut record = match self.db.find(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(()),
            found => found?,
        };
        if record.state.is_active() {
            let report = crate::monitor::report(&self.paths.monitor_dir(&record.id));
            if report.exit.is_none() {
                // Not exited after all (the attach ended for another reason): the monitor's
                // exit command removes it when it does.
                drop(lock);
                return self.wait_removed(id);
            }
            self.finalize_exit(&mut record, &report)?;
        }
        if !record.config.auto_remove || record.state != ContainerState::Exited {
            return Ok(());
        }
        record.state = ContainerState::Removing;
        // The monitor is finishing on its own: it runs the exit command, then leaves.
        self.remove_record(&record, true, Monitor::Leave, NO_OWNER)
    }

    /// The record goes, with a pending teardown in its place in the same transaction (owned by
    /// `owner`; [`NO_OWNER`] lets anyone take it at once), after a monitor left by a forced
    /// removal is killed and (with `volumes` or `--rm`) the anonymous volumes are removed.
    fn remove_record(
        &self,
        record: &ContainerRecord,
        volumes: bool,
        monitor: Monitor,
        owner: i32,
    ) -> Result<()> {
        if monitor == Monitor::KillStray {
            self.kill_stray_monitor(record);
        }
        if (volumes || record.config.auto_remove) && !record.anonymous_volumes.is_empty() {
            let store = self.volumes()?;
            for volume in &record.anonymous_volumes {
                if let Err(e) = store.remove(volume) {
                    tracing::warn!(container = %record.name, "removing volume {volume}: {e}");
                }
            }
        }
        self.db.delete_leaving_teardown(record, owner)?;
        crate::lock::forget(&self.paths.locks(), &record.id);
        self.event(record, "remove");
        Ok(())
    }

    /// A monitor running this process as its exit command is about to exit by itself (and
    /// waits for this process): only a monitor left of a forced removal is killed.
    fn kill_stray_monitor(&self, record: &ContainerRecord) {
        let dir = self.paths.monitor_dir(&record.id);
        let monitor = crate::monitor::monitor_pid(&aurora_monitor::MonitorDir::new(&dir));
        let is_parent =
            |pid: i32| rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) == Some(pid);
        if let Some(pid) = monitor.filter(|pid| !is_parent(*pid)) {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).expect("positive pid"),
                rustix::process::Signal::KILL,
            );
        }
    }

    /// What is left of a removed container: its runtime state, root, bundle, monitor files and
    /// log, and its network (the network plugin's teardown is the slow part).
    fn tear_down(&self, record: &ContainerRecord) -> Result<()> {
        self.runtime_of(record).delete_force(&record.id);
        if let Some(driver) = self.images.storage_in_use()? {
            match driver.remove_container(record.storage_name()) {
                Ok(()) | Err(aurora_storage::StorageError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.container_dir(&record.id));
        let _ = std::fs::remove_dir_all(self.paths.monitor_dir(&record.id));
        // A CNI network's teardown goes by its cache, which a start that died before
        // recording the status may have written.
        let cni = matches!(record.config.network, crate::config::NetworkMode::Cni(_));
        if record.network_status.is_some() || cni {
            self.detach_network(&mut record.clone());
        }
        Ok(())
    }

    /// Does the pending teardown of `record` unless it is done already, or (with
    /// [`Turn::Skip`]) another process is doing it.
    fn finish_teardown(&self, record: &ContainerRecord, turn: Turn) -> Result<()> {
        let locks = self.paths.locks();
        let name = format!("teardown-{}", record.id);
        let _turn = match turn {
            Turn::Wait => crate::lock::lock(&locks, &name)?,
            Turn::Skip => match crate::lock::try_lock(&locks, &name)? {
                Some(held) => held,
                None => return Ok(()),
            },
        };
        if !self.db.teardown_pending(&record.id)? {
            return Ok(());
        }
        self.tear_down(record)?;
        self.db.forget_teardown(&record.id)?;
        crate::lock::forget(&locks, &name);
        Ok(())
    }

    /// Finishes the teardowns of removed containers whose remover died before it was done,
    /// or left them to whoever comes next (see [`Engine::remove_exited`]). One that fails
    /// stays pending for the next try; it does not fail the caller.
    pub(crate) fn finish_teardowns(&self) -> Result<()> {
        for (record, owner) in self.db.teardowns()? {
            if crate::reconcile::owner_alive(owner) {
                continue;
            }
            if let Err(e) = self.finish_teardown(&record, Turn::Skip) {
                tracing::warn!(container = %record.name, "tearing down a removed container: {e}");
            }
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
