//! Stopping, killing, pausing and waiting for containers.

use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::monitor::{mark_stopped, monitor_pid, report};
use crate::state::{ContainerRecord, ContainerState};

/// How long a stop waits when neither `-t` nor `--stop-timeout` says.
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

impl Engine {
    /// Stops container `key`: its stop signal, then SIGKILL after `timeout` seconds (the
    /// container's `--stop-timeout`, else 10). A container that is not running is left as
    /// it is. The restart policy does not restart a container the user stopped.
    pub fn stop(&self, key: &str, timeout: Option<u32>) -> Result<ContainerRecord> {
        let record = self.find(key)?;
        let _lock = self.lock(&record.id)?;
        let record = self.reconciled(&record.id)?;
        self.stop_locked(record, timeout)
    }

    pub(crate) fn stop_locked(
        &self,
        mut record: ContainerRecord,
        timeout: Option<u32>,
    ) -> Result<ContainerRecord> {
        if !record.state.is_active() {
            return Ok(record);
        }
        let dir = self.paths.monitor_dir(&record.id);
        mark_stopped(&dir)?;
        record.stopped_by_user = true;
        self.db.update(&record)?;
        let runtime = self.runtime_of(&record);
        let timeout = timeout
            .or(record.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let signal = self.stop_signal(&record);
        let pid = report(&dir).status.map(|s| s.pid).or(record.pid);
        let process = pid.and_then(crate::process::Watched::new);
        if timeout > 0 {
            if let Err(e) = runtime.kill(&record.id, &signal, false) {
                tracing::debug!(container = %record.name, "stop signal: {e}");
            }
            if record.state == ContainerState::Paused {
                let _ = runtime.resume(&record.id);
            }
        }
        let exited = process
            .as_ref()
            .is_some_and(|p| p.wait(Some(Duration::from_secs(u64::from(timeout)))));
        if !exited {
            let _ = runtime.kill(&record.id, "KILL", true);
            if record.state == ContainerState::Paused {
                let _ = runtime.resume(&record.id);
            }
            if let Some(process) = &process {
                process.wait(Some(Duration::from_secs(30)));
            }
        }
        // The monitor writes the exit right after it reaps the process.
        let report = wait_for_exit(&dir, Duration::from_secs(10));
        self.finalize_exit(&mut record, &report)?;
        self.event(&record, "stop");
        Ok(record)
    }

    /// The stop signal: `--stop-signal`, else the image's, else TERM.
    fn stop_signal(&self, record: &ContainerRecord) -> String {
        if let Some(signal) = &record.config.stop_signal {
            return signal.clone();
        }
        self.spec_of(record)
            .ok()
            .and_then(|spec| spec.annotations().clone())
            .and_then(|a| a.get("org.opencontainers.image.stopSignal").cloned())
            .unwrap_or_else(|| "TERM".into())
    }

    /// Sends `signal` to a running container's init. The restart policy does not restart it.
    pub fn kill(&self, key: &str, signal: &str) -> Result<ContainerRecord> {
        let record = self.find(key)?;
        let _lock = self.lock(&record.id)?;
        let mut record = self.reconciled(&record.id)?;
        self.require_active(&record, "kill")?;
        mark_stopped(&self.paths.monitor_dir(&record.id))?;
        record.stopped_by_user = true;
        self.db.update(&record)?;
        self.runtime_of(&record).kill(&record.id, signal, false)?;
        self.event(&record, "kill");
        Ok(record)
    }

    /// Waits until container `key` has exited (through its restarts); returns its exit code.
    pub fn wait(&self, key: &str) -> Result<i32> {
        loop {
            let record = self.find(key)?;
            match record.state {
                ContainerState::Exited => return Ok(record.exit_code.unwrap_or(-1)),
                ContainerState::Running | ContainerState::Paused => {
                    let dir = aurora_monitor::MonitorDir::new(self.paths.monitor_dir(&record.id));
                    match monitor_pid(&dir).and_then(crate::process::Watched::new) {
                        Some(monitor) => {
                            monitor.wait(None);
                        }
                        None => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn pause(&self, key: &str) -> Result<ContainerRecord> {
        self.set_paused(key, true)
    }

    pub fn unpause(&self, key: &str) -> Result<ContainerRecord> {
        self.set_paused(key, false)
    }

    fn set_paused(&self, key: &str, paused: bool) -> Result<ContainerRecord> {
        let record = self.find(key)?;
        let _lock = self.lock(&record.id)?;
        let mut record = self.reconciled(&record.id)?;
        let (from, action) = if paused {
            (ContainerState::Running, "pause")
        } else {
            (ContainerState::Paused, "unpause")
        };
        if record.state != from {
            return Err(EngineError::WrongState {
                name: record.name.clone(),
                state: record.state.to_string(),
                action,
                needed: from.as_str(),
            });
        }
        let runtime = self.runtime_of(&record);
        if paused {
            runtime.pause(&record.id)?;
            record.state = ContainerState::Paused;
        } else {
            runtime.resume(&record.id)?;
            record.state = ContainerState::Running;
        }
        self.db.update(&record)?;
        self.event(&record, action);
        Ok(record)
    }

    /// `restart`: stop (if running), then start.
    pub fn restart(&self, key: &str, timeout: Option<u32>) -> Result<ContainerRecord> {
        let stopped = self.stop(key, timeout)?;
        let started = self.start(&stopped.id, false)?;
        self.event(&started.record, "restart");
        Ok(started.record)
    }

    pub(crate) fn require_active(
        &self,
        record: &ContainerRecord,
        action: &'static str,
    ) -> Result<()> {
        if record.state.is_active() {
            Ok(())
        } else {
            Err(EngineError::WrongState {
                name: record.name.clone(),
                state: record.state.to_string(),
                action,
                needed: "running",
            })
        }
    }
}

/// Waits (bounded) for the monitor's `exit` file; the report as it then is.
fn wait_for_exit(dir: &std::path::Path, limit: Duration) -> crate::monitor::Report {
    let deadline = Instant::now() + limit;
    loop {
        let report = report(dir);
        let current = report.status.as_ref().map_or(0, |s| s.restarts);
        let done = report.exit.as_ref().is_some_and(|e| e.restarts >= current);
        if done || !report.alive || Instant::now() >= deadline {
            return report;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
