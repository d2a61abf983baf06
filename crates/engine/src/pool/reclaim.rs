//! The pool's verbs (`pool set`, `ls`, `rm`), the refiller, and destroying sandboxes.
//!
//! One refiller at a time holds `RUNROOT/podadm/locks/pool-refill.lock` (a flock, released
//! by the kernel when it dies). Whoever holds it may destroy every `filling` row (their
//! owner was a refiller, and it is gone), every `discard` row, and every ready sandbox it
//! first marks `discard` in one statement (so a claim never gets one being destroyed): the
//! half-made sandboxes of a killed refiller, ready ones whose monitor or podinit died,
//! ones of a removed pool, of another network or image, or above the pool's size.

use std::collections::HashMap;
use std::ffi::CString;

use super::{
    network_poolable, normalized_network, PoolConfig, PoolStatus, SandboxState, POD_INFRA_POOL,
};
use crate::config::NetworkMode;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::{ContainerRecord, SandboxRow};

/// The refiller's lock, beside the containers' locks.
const REFILL_LOCK: &str = "pool-refill";
/// Fills of one pool that may fail in a row before the refiller gives up on it (until the
/// next claim or `pool set` starts another).
const FAILURES_ALLOWED: u32 = 3;

impl Engine {
    /// `pool set IMAGE --size N --network MODE`: keeps N sandboxes of the image (which must
    /// be in the store) ready; the refiller is started to make them.
    pub fn pool_set(&self, image: &str, size: u32, network: NetworkMode) -> Result<PoolConfig> {
        if !network_poolable(&network) {
            return Err(EngineError::Invalid {
                name: image.to_string(),
                message: "a pool cannot use another container's network (--network container:…)"
                    .into(),
            });
        }
        if let NetworkMode::Bridge(names) = &network {
            let networks = self.networks()?;
            for name in names {
                // aardvark-dns would go on answering the sandbox's name for a claimed
                // container, whose name is given only at the claim.
                if networks.inspect(name)?.dns_enabled {
                    return Err(EngineError::Invalid {
                        name: image.to_string(),
                        message: format!(
                            "network {name} answers containers' names (DNS), and a claimed \
                             sandbox would keep its own name there; pool on a network made \
                             with --disable-dns, or the default network"
                        ),
                    });
                }
            }
        }
        let key = if image == POD_INFRA_POOL {
            image.to_string()
        } else {
            aurora_images::resolve(self.images.store()?, image, None)?.name
        };
        let config = PoolConfig {
            image: key,
            size,
            network,
        };
        self.db.set_pool(&config)?;
        if size == 0 {
            // Its sandboxes are gone when this returns (after a fill in progress).
            let _lock = crate::lock::lock(&self.paths.locks(), REFILL_LOCK)?;
            self.reclaim_locked()?;
        } else {
            // Sandboxes above the size or of another network go with the refiller's next
            // look.
            self.spawn_refiller();
        }
        Ok(config)
    }

    /// `pool rm IMAGE`: the pool and every sandbox of it are gone when this returns.
    pub fn pool_remove(&self, image: &str) -> Result<()> {
        let name = match aurora_images::resolve(self.images.store()?, image, None) {
            Ok(resolved) => resolved.name,
            // The image may be gone already; the pool is still named as it was set.
            Err(_) => image.to_string(),
        };
        if !self.db.remove_pool(&name)? {
            return Err(EngineError::Other(format!("no pool of image {image}")));
        }
        // A refiller filling one of its sandboxes finishes that one first.
        let _lock = crate::lock::lock(&self.paths.locks(), REFILL_LOCK)?;
        self.reclaim_locked()
    }

    /// `pool ls`: each pool with its ready and filling sandboxes (what a dead refiller left
    /// is destroyed first and a refiller started for what is short, unless one is at work).
    pub fn pool_list(&self) -> Result<Vec<PoolStatus>> {
        if let Some(lock) = crate::lock::try_lock(&self.paths.locks(), REFILL_LOCK)? {
            self.reclaim_locked()?;
            drop(lock);
            // What was destroyed (a dead sandbox, a killed refiller's) is made again.
            if self.pool_short(&HashMap::new())?.is_some() {
                self.spawn_refiller();
            }
        }
        let sandboxes = self.db.sandboxes()?;
        Ok(self
            .db
            .pools()?
            .into_iter()
            .map(|config| {
                let count = |state| {
                    sandboxes
                        .iter()
                        .filter(|s| s.pool == config.image && s.state == state)
                        .count() as u32
                };
                PoolStatus {
                    ready: count(SandboxState::Ready),
                    filling: count(SandboxState::Filling),
                    config,
                }
            })
            .collect())
    }

    /// The refiller (`podadm pool refill`): finishes pending teardowns, then, one sandbox
    /// at a time under the refill lock (leaving as soon as another refiller holds it),
    /// destroys what is to go and fills the pools to their sizes; exits when nothing is left
    /// to do. Work that appears just as it lets go of the lock (a claim whose refiller found
    /// the lock taken) is seen by its last look and taken on again.
    pub fn refill(&self) -> Result<()> {
        let refilled = self.refill_pools();
        self.checkpoint_state();
        refilled
    }

    fn refill_pools(&self) -> Result<()> {
        let mut failures: HashMap<String, u32> = HashMap::new();
        if let Err(e) = self.finish_teardowns() {
            tracing::warn!("finishing network teardowns: {e}");
        }
        loop {
            // Taken for one sandbox at a time, so `pool set` and `pool rm` get their turn
            // between two fills.
            let Some(lock) = crate::lock::try_lock(&self.paths.locks(), REFILL_LOCK)? else {
                return Ok(());
            };
            self.reclaim_locked()?;
            if let Some(pool) = self.pool_short(&failures)? {
                if let Err(e) = self.fill_one(&pool) {
                    tracing::warn!(image = %pool.image, "filling a sandbox: {e}");
                    *failures.entry(pool.image.clone()).or_default() += 1;
                }
                drop(lock);
                continue;
            }
            drop(lock);
            let discards = self
                .db
                .sandboxes()?
                .iter()
                .any(|s| s.state == SandboxState::Discard);
            if !discards && self.pool_short(&failures)?.is_none() {
                return Ok(());
            }
        }
    }

    /// A pool with fewer sandboxes than its size (ready or filling), unless its fills keep
    /// failing.
    fn pool_short(&self, failures: &HashMap<String, u32>) -> Result<Option<PoolConfig>> {
        let sandboxes = self.db.sandboxes()?;
        Ok(self.db.pools()?.into_iter().find(|pool| {
            let held = sandboxes
                .iter()
                .filter(|s| s.pool == pool.image && s.state != SandboxState::Discard)
                .count() as u32;
            held < pool.size && failures.get(&pool.image).copied().unwrap_or(0) < FAILURES_ALLOWED
        }))
    }

    /// Destroys what is to go; the caller holds the refill lock.
    fn reclaim_locked(&self) -> Result<()> {
        let pools = self.db.pools()?;
        let current_images: HashMap<&str, Option<String>> = pools
            .iter()
            .map(|pool| {
                if pool.holds_pods() {
                    // Infra sandboxes have no image.
                    return (pool.image.as_str(), Some(String::new()));
                }
                let id = self.images.store().ok().and_then(|store| {
                    aurora_images::resolve(store, &pool.image, None)
                        .ok()
                        .map(|image| image.manifest_digest.to_string())
                });
                (pool.image.as_str(), id)
            })
            .collect();
        let mut kept: HashMap<&str, u32> = HashMap::new();
        for row in self.db.sandboxes()? {
            let pool = pools.iter().find(|p| p.image == row.pool);
            let keep = match (row.state, pool) {
                (SandboxState::Ready, Some(pool)) => {
                    let fits = kept.get(pool.image.as_str()).copied().unwrap_or(0) < pool.size;
                    let sound = self.sandbox_sound(&row, pool)
                        && current_images
                            .get(pool.image.as_str())
                            .is_some_and(|id| id.as_deref() == Some(row.record.image_id.as_str()));
                    fits && sound
                }
                _ => false,
            };
            if keep {
                *kept
                    .entry(pool.map_or("", |p| p.image.as_str()))
                    .or_default() += 1;
                continue;
            }
            if row.state == SandboxState::Ready && !self.db.discard_ready(&row.record.id)? {
                continue; // claimed meanwhile
            }
            self.destroy_sandbox(&row.record)?;
            self.db.delete_sandbox(&row.record.id)?;
        }
        Ok(())
    }

    /// A sandbox's processes gone: its monitor killed (no exit command runs), then whatever
    /// the runtime holds of it.
    pub(super) fn stop_sandbox(&self, record: &ContainerRecord) {
        let dir = aurora_monitor::MonitorDir::new(self.paths.monitor_dir(&record.id));
        if let Some(pid) =
            crate::monitor::monitor_pid(&dir).and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        self.runtime_of(record).delete_force(&record.id);
    }

    /// A ready sandbox still fits its pool and still waits: its monitor and podinit live.
    fn sandbox_sound(&self, row: &SandboxRow, pool: &PoolConfig) -> bool {
        let monitor = crate::monitor::report(&self.paths.monitor_dir(&row.record.id));
        normalized_network(&row.record.config.network) == normalized_network(&pool.network)
            && monitor.alive
            && row.record.pid.is_some_and(crate::process::alive)
    }

    /// Everything of a sandbox (or of a claimed container left to destroy): monitor,
    /// runtime state, network, clone, bundle, volumes. What is gone already is fine; a clone
    /// that cannot be removed is an error (the row stays, to be tried again).
    pub(super) fn destroy_sandbox(&self, record: &ContainerRecord) -> Result<()> {
        let dir = self.paths.monitor_dir(&record.id);
        self.stop_sandbox(record);
        self.remove_infra_cgroup(record);
        let mut record = record.clone();
        let netns = self.paths.netns_dir().join(&record.id);
        if record.network_status.is_none() && netns.exists() {
            // A fill killed between the plugin's set-up and its record: torn down by the
            // container's id, with what the record knows.
            record.network_status = Some(serde_json::Value::Null);
        }
        self.detach_network(&mut record);
        if let Some(driver) = self.images.storage_in_use()? {
            match driver.remove_container(record.storage_name()) {
                Ok(()) | Err(aurora_storage::StorageError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.container_dir(&record.id));
        let _ = std::fs::remove_dir_all(&dir);
        if !record.anonymous_volumes.is_empty() {
            let volumes = self.volumes()?;
            for volume in &record.anonymous_volumes {
                if let Err(e) = volumes.remove(volume) {
                    tracing::warn!(sandbox = %record.id, "removing volume {volume}: {e}");
                }
            }
        }
        crate::lock::forget(&self.paths.locks(), &record.id);
        Ok(())
    }

    /// Starts the refiller detached, unless one is at work: its own session, stdio on
    /// /dev/null, never waited for (podadm exits long before it). posix_spawn (a vfork
    /// underneath) costs well under a millisecond whatever podadm's size; a failure is only
    /// logged (the next claim or `pool ls` tries again).
    pub(crate) fn spawn_refiller(&self) {
        // A refiller at work (it holds the lock) sees what was committed before this in its
        // next look, its last one included: no second one is needed.
        match crate::lock::try_lock(&self.paths.locks(), REFILL_LOCK) {
            Ok(Some(_free)) => {}
            _ => return,
        }
        let Some(argv) = self.refill_command() else {
            tracing::debug!("no podadm command line to start the refiller with");
            return;
        };
        let Ok(argv) = argv
            .into_iter()
            .map(CString::new)
            .collect::<std::result::Result<Vec<_>, _>>()
        else {
            return;
        };
        let mut pointers: Vec<*mut libc::c_char> =
            argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        pointers.push(std::ptr::null_mut());
        if let Err(e) = spawn_detached(&pointers) {
            tracing::warn!("starting the pool's refiller: {e}");
        }
    }

    /// `podadm [global flags] pool refill`: the monitors' exit command names podadm and its
    /// global flags, followed by `container cleanup`.
    fn refill_command(&self) -> Option<Vec<String>> {
        let command = &self.options.exit_command;
        let global = command.strip_suffix(&["container".to_string(), "cleanup".to_string()])?;
        if global.is_empty() {
            return None;
        }
        let mut argv = global.to_vec();
        argv.extend(["pool".to_string(), "refill".to_string()]);
        Some(argv)
    }
}

/// posix_spawn of `argv` (NULL-terminated) in a new session with stdio on /dev/null.
fn spawn_detached(argv: &[*mut libc::c_char]) -> std::io::Result<()> {
    extern "C" {
        static environ: *const *mut libc::c_char;
    }
    let dev_null = c"/dev/null";
    let check = |r: libc::c_int| {
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(r))
        }
    };
    // SAFETY: the attribute and file-action objects are initialised before use and
    // destroyed after; argv and environ are NULL-terminated arrays of C strings.
    unsafe {
        let mut attributes: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut attributes))?;
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        let mut result = check(libc::posix_spawnattr_setflags(
            &mut attributes,
            libc::POSIX_SPAWN_SETSID as libc::c_short,
        ));
        for fd in 0..3 {
            if result.is_ok() {
                result = check(libc::posix_spawn_file_actions_addopen(
                    &mut actions,
                    fd,
                    dev_null.as_ptr(),
                    libc::O_RDWR,
                    0,
                ));
            }
        }
        if result.is_ok() {
            let mut pid: libc::pid_t = 0;
            result = check(libc::posix_spawn(
                &mut pid,
                argv[0],
                &actions,
                &attributes,
                argv.as_ptr(),
                environ,
            ));
        }
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attributes);
        result
    }
}
