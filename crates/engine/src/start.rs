//! `start`: the network set up, the container's monitor started (it creates the container
//! through the OCI runtime), an attach connected if asked for, then the runtime's `start`.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::create::USERDATA_FILES;
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::monitor::{launch, Launch};
use crate::net::{Namespace, Plan};
use crate::state::{ContainerRecord, ContainerState};

/// A started container, and its attach connection if one was asked for.
pub struct Started {
    pub record: ContainerRecord,
    pub attach: Option<aurora_monitor::attach::Client>,
}

impl Engine {
    /// Starts container `key` (id, name or id prefix); a running container is left as it
    /// is. With `attach`, the attach socket is connected before the process starts, so no
    /// output is missed.
    pub fn start(&self, key: &str, attach: bool) -> Result<Started> {
        // Passes while the monitor and the runtime get going (see aurora_cgroups).
        aurora_cgroups::start_grace_period();
        let record = self.find(key)?;
        // A pod member joins the namespaces its pod's infra container holds.
        self.start_pod_infra(&record)?;
        let _lock = self.lock(&record.id)?;
        let mut record = self.reconciled(&record.id)?;
        match record.state {
            ContainerState::Running | ContainerState::Paused => {
                return self.running(record, attach)
            }
            ContainerState::Created | ContainerState::Exited => {}
            state => {
                return Err(EngineError::WrongState {
                    name: record.name.clone(),
                    state: state.to_string(),
                    action: "start",
                    needed: "created or exited",
                })
            }
        }
        // A pod's infra claimed from the pool: its sandbox takes the pause process.
        if record.state == ContainerState::Created && self.start_waiting_infra(&mut record)? {
            return self.running(record, attach);
        }
        let runtime = self.runtime_of(&record);
        runtime.delete_force(&record.id);
        let monitor_dir = self.paths.monitor_dir(&record.id);
        let _ = std::fs::remove_dir_all(&monitor_dir);
        std::fs::create_dir_all(&monitor_dir).map_err(io(&monitor_dir))?;
        // After a reboot the root may need mounting again (overlay); an infra container's
        // root is a plain directory.
        if !record.config.infra {
            self.images
                .storage()?
                .container_rootfs(record.storage_name())?;
        }
        let mut plan = self.attach_network(&record)?;
        let started = self.launch_and_start(&mut record, &mut plan, attach);
        let (pid, client) = match started {
            Ok(started) => started,
            Err(e) => {
                runtime.delete_force(&record.id);
                self.detach_network(&mut record);
                let _ = self.db.update(&record);
                return Err(e);
            }
        };
        record.state = ContainerState::Running;
        record.pid = Some(pid);
        record.started_at = Some(crate::clock::now());
        record.finished_at = None;
        record.exit_code = None;
        record.restarts = 0;
        record.stopped_by_user = false;
        self.db.update(&record)?;
        self.event(&record, "start");
        Ok(Started {
            record,
            attach: client,
        })
    }

    /// A container that runs, with its attach connection when `attach`.
    fn running(&self, record: ContainerRecord, attach: bool) -> Result<Started> {
        let client = if attach {
            Some(self.connect_attach(&record)?)
        } else {
            None
        };
        Ok(Started {
            record,
            attach: client,
        })
    }

    /// The monitor creates the container while the network plugin wires its namespace (the
    /// two take about as long); then the network files, the attach, and the runtime's start.
    /// With no network to wire, the monitor starts it too, holding its output and exit for
    /// the attach.
    pub(crate) fn launch_and_start(
        &self,
        record: &mut ContainerRecord,
        plan: &mut Plan,
        attach: bool,
    ) -> Result<(i32, Option<aurora_monitor::attach::Client>)> {
        let bundle = self.paths.bundle(&record.id);
        self.write_userdata(record, plan)?;
        set_network_namespace(&bundle, &plan.namespace)?;
        self.join_pod_namespaces(record, &bundle)?;
        let runtime = self.runtime_of(record);
        let monitor_dir = self.paths.monitor_dir(&record.id);
        let mut exit_command = self.options.exit_command.clone();
        exit_command.push(record.id.clone());
        let wiring = plan.wiring.as_ref();
        // Without a network to wire first, the monitor starts the container as it creates
        // it: one runtime process rather than a `create` and a `start`. Not under a memory
        // limit: the monitor tells an OOM kill from the init's cgroup, which it could find
        // only while the init lives, and a limited one may be killed at once.
        let start_in_monitor = wiring.is_none() && !self.memory_limited(record);
        let (launched, wired) = std::thread::scope(|scope| {
            let wiring = wiring.map(|w| scope.spawn(move || w.run()));
            let launched = launch(&Launch {
                id: &record.id,
                name: &record.name,
                bundle: &bundle,
                dir: &monitor_dir,
                runtime: &runtime,
                log: &self.log_path(record),
                log_max_size: self.options.log_max_size,
                terminal: record.config.terminal,
                stdin: record.config.interactive,
                restart: record.config.restart,
                exit_command,
                run: start_in_monitor,
                await_attach: start_in_monitor && attach,
            });
            let wired = wiring.map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            });
            (launched, wired)
        });
        if let Some(wired) = wired {
            let result = wired?;
            plan.wired(&result);
            // Recorded at once: what is attached is torn down by whoever finds it, even if
            // this process dies now.
            record.network_status = plan.status.clone();
            self.db.update(record)?;
            // Recorded: the next start's port check sees it.
            plan.ports_lock.take();
            // In place: the files are bind-mounted already.
            self.write_userdata(record, plan)?;
        }
        let pid = launched?;
        let client = if attach {
            Some(self.connect_attach(record)?)
        } else {
            None
        };
        if start_in_monitor {
            return Ok((pid, client));
        }
        runtime.start(&record.id).map_err(|e| match e {
            EngineError::Runtime { message, .. } => EngineError::StartFailed {
                name: record.name.clone(),
                message,
            },
            other => other,
        })?;
        Ok((pid, client))
    }

    /// Whether a memory limit bounds the container: its own, or its pod's (a pool's infra
    /// sandbox names a pod that does not exist yet, and has none).
    fn memory_limited(&self, record: &ContainerRecord) -> bool {
        record.config.resources.memory.is_some()
            || matches!(
                self.pod_of(record),
                Ok(Some(pod)) if pod.config.resources.memory.is_some()
            )
    }

    fn write_userdata(&self, record: &ContainerRecord, plan: &Plan) -> Result<()> {
        let userdata = self.paths.userdata(&record.id);
        // As podman writes it: the name without a newline.
        let hostname = self.hostname_of(record);
        for (file, _) in USERDATA_FILES {
            let content: &[u8] = match file {
                "hosts" => &plan.hosts,
                "resolv.conf" => &plan.resolv_conf,
                _ => hostname.as_bytes(),
            };
            let path = userdata.join(file);
            std::fs::write(&path, content).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Connects to the monitor's attach socket.
    pub(crate) fn connect_attach(
        &self,
        record: &ContainerRecord,
    ) -> Result<aurora_monitor::attach::Client> {
        let dir = self.paths.monitor_dir(&record.id);
        aurora_monitor::attach::Client::connect(&dir)
            .map_err(|e| EngineError::Other(format!("attaching to {}: {e}", record.name)))
    }
}

/// Points the bundle's network namespace where the plan says.
fn set_network_namespace(bundle: &Path, namespace: &Namespace) -> Result<()> {
    let mut spec = aurora_bundle::read_bundle_config(bundle)?;
    let Some(linux) = spec.linux_mut().as_mut() else {
        return Ok(());
    };
    let before = linux.namespaces().clone().unwrap_or_default();
    let mut namespaces: Vec<LinuxNamespace> = before
        .iter()
        .filter(|n| n.typ() != LinuxNamespaceType::Network)
        .cloned()
        .collect();
    match namespace {
        Namespace::Host => {}
        Namespace::New => {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(LinuxNamespaceType::Network);
            namespaces.push(ns);
        }
        Namespace::Path(file) => {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(LinuxNamespaceType::Network);
            ns.set_path(Some(file.clone()));
            namespaces.push(ns);
        }
    }
    if namespaces == before {
        // As create wrote it (a new namespace, or none): nothing to write.
        return Ok(());
    }
    linux.set_namespaces(Some(namespaces));
    aurora_bundle::write_bundle_config_as(bundle, &spec, aurora_bundle::Durability::Unsynced)?;
    Ok(())
}
