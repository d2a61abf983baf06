//! The Linux backend: bundles run with namespaces, cgroups (v1, v2 and the hybrid layout),
//! seccomp, capabilities and the rest of the runtime spec, through youki's `libcontainer`
//! (see docs/decisions.md for why). This module owns what `runz` adds around it: the state
//! directory and its notes, ID checks, clear errors, cleanup of failed creates, the init
//! injection, and waiting for a foreground container with signals passed on.

mod cleanup;
mod foreground;
mod grace;
mod note;
mod resources;
pub mod sealed;
mod stdio;
mod terminal;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::{LinuxResources, Spec};

use crate::error::{Error, Result};
use crate::selinux::{self, Decision, Label};
use crate::state::{StateReport, Status};
use crate::{id, init};

use crate::bundle::rootfs_of;
pub use crate::bundle::Bundle;
pub use foreground::wait_foreground;
use note::Note;
use sealed::RunzExecutor;
use terminal::{Console, Relay};

/// How to create a container (runc's `create` and `run` flags; the bundle is loaded first,
/// see [`Bundle`]).
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    /// Extra file descriptors passed on from 3 upwards (runc's `--preserve-fds`).
    pub preserve_fds: i32,
    /// Run this podinit binary (host path) as the container's first process.
    pub init: Option<PathBuf>,
}

/// What `exec` runs in a container (runc's `exec` flags, or a process.json).
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub process_file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub capabilities: Vec<String>,
    pub no_new_privs: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    pub detach: bool,
    pub ignore_paused: bool,
    pub cgroup: Option<String>,
    /// runc's `--process-label` (SELinux): see [`crate::selinux`].
    pub process_label: Option<String>,
}

/// A container just made, before runz has written its note.
struct Built {
    container: Container,
    note: Note,
    /// runz's own console socket, when it relays the container's terminal itself.
    console: Option<Console>,
}

/// The runtime over one state directory (`runz --root`).
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    /// Opens (creating, mode 0700) the state directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|source| Error::Io {
                what: "cannot create the state directory",
                path: root.clone(),
                source,
            })?;
        Ok(Runtime { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn load(&self, id: &str) -> Result<Container> {
        id::validate(id)?;
        let dir = self.container_dir(id);
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Container::load(dir).map_err(|e| Error::backend(id, "cannot load the state of", e))
    }

    /// `create`: sets the container up and leaves its process waiting for `start`.
    pub fn create(&self, id: &str, bundle: Bundle, options: &CreateOptions) -> Result<Container> {
        let built = self.build(id, bundle, options, true)?;
        built.note.write(&self.container_dir(id))?;
        Ok(built.container)
    }

    /// Creates the container from the configuration parsed once (adapted in memory: no copy
    /// of config.json is written), so that its state and every hook name the caller's bundle;
    /// the note is for the caller to write.
    fn build(
        &self,
        id: &str,
        bundle: Bundle,
        options: &CreateOptions,
        detach: bool,
    ) -> Result<Built> {
        id::validate(id)?;
        if self.container_dir(id).exists() {
            return Err(Error::Exists(id.to_string()));
        }
        grace::start();
        let (bundle, mut spec) = bundle.into_parts();
        let rootfs = rootfs_of(&spec, &bundle)?;
        drop_selinux_labels(id, &mut spec)?;
        // A host without a cgroup mount fails in libcontainer, with its own message.
        if let Ok(setup) = libcgroups::common::get_cgroup_setup() {
            if let Some(why) = resources::unsupported(&spec, &setup) {
                return Err(Error::Bundle { bundle, why });
            }
        }
        // A terminal in the foreground without a console socket: runz takes the terminal
        // itself, through a console socket of its own (libcontainer hands it over no other way).
        let wants_terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
        let console = if wants_terminal && !detach && options.console_socket.is_none() {
            Some(Console::listen(&self.root)?)
        } else {
            None
        };
        let console_socket = match &console {
            Some(console) => Some(console.path().to_path_buf()),
            None => options.console_socket.clone(),
        };
        let executor = runz_executor(id)?;
        let builder = stdio::guard_dev_null_outputs(ContainerBuilder::new(
            id.to_string(),
            SyscallType::default(),
        ))?;
        self.adapt(id, &mut spec, options)?;
        let built = builder
            .with_executor(executor)
            .with_root_path(&self.root)
            .and_then(|b| b.with_pid_file(options.pid_file.as_ref()))
            .map(|b| {
                b.with_console_socket(console_socket.as_ref())
                    .with_preserved_fds(options.preserve_fds)
                    .as_init(&bundle)
                    .with_spec(spec)
                    .with_systemd(false)
                    // libcontainer only checks the console socket against this.
                    .with_detach(detach || console.is_some())
                    .with_no_pivot(options.no_pivot)
            })
            .and_then(|b| b.build());
        let container = match built {
            Ok(container) => container,
            Err(e) => {
                self.clean_failed_create(id);
                return Err(create_error(id, &bundle, e));
            }
        };
        let note = Note {
            rootfs,
            init: options.init.is_some(),
        };
        Ok(Built {
            container,
            note,
            console,
        })
    }

    /// What runz changes in a bundle's configuration before libcontainer reads it: podinit
    /// injected for `--init`, and a cgroup under `/runz` when config.json names none
    /// (libcontainer's default would be `:youki:ID`).
    fn adapt(&self, id: &str, spec: &mut Spec, options: &CreateOptions) -> Result<()> {
        if let Some(podinit) = &options.init {
            init::inject(spec, podinit)?;
        }
        if let Some(linux) = spec.linux_mut().as_mut() {
            if linux.cgroups_path().is_none() {
                linux.set_cgroups_path(Some(PathBuf::from(format!("/runz/{id}"))));
            }
        }
        Ok(())
    }

    /// A create that failed part way may have left a process, a cgroup and a state directory:
    /// remove them all, so that the ID can be used again and nothing leaks.
    fn clean_failed_create(&self, id: &str) {
        let dir = self.container_dir(id);
        if dir.join("state.json").exists() {
            if let Ok(mut container) = Container::load(dir.clone()) {
                if let Err(e) = container.delete(true) {
                    tracing::warn!(id, error = %e, "cleaning up a failed create");
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }

    /// `start`: runs the user's process in a created container.
    pub fn start(&self, id: &str) -> Result<()> {
        let mut container = self.load(id)?;
        if container.status() != ContainerStatus::Created {
            return Err(wrong_status(id, container.status(), "start", ""));
        }
        container
            .start()
            .map_err(|e| Error::backend(id, "cannot start", e))
    }

    /// `run`: create and start; unless `detach`, wait for the container, pass signals on,
    /// delete it, and return its exit status (128+N when killed by signal N).
    pub fn run(
        &self,
        id: &str,
        bundle: Bundle,
        options: &CreateOptions,
        detach: bool,
        keep: bool,
    ) -> Result<i32> {
        let Built {
            mut container,
            note,
            console,
        } = self.build(id, bundle, options, detach)?;
        let relay = match console.map(|c| {
            c.receive().and_then(|master| {
                foreground::block_signals()?;
                Relay::start(master)
            })
        }) {
            Some(Ok(relay)) => Some(relay),
            Some(Err(e)) => {
                let _ = container.delete(true);
                self.clean_failed_create(id);
                return Err(e);
            }
            None => None,
        };
        // start() records the state, so only the note is left to write.
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            self.clean_failed_create(id);
            return Err(Error::backend(id, "cannot start", e));
        }
        note.write(&self.container_dir(id))?;
        if detach {
            return Ok(0);
        }
        let pid = container
            .pid()
            .ok_or_else(|| Error::Invalid(format!("container {id:?} started without a process")))?;
        let resize = relay.as_ref().map(|r| move || r.resize());
        let status = wait_foreground(pid.as_raw(), resize.as_ref().map(|f| f as &dyn Fn()));
        if let Some(relay) = relay {
            relay.finish();
        }
        if !keep {
            if let Err(e) = self.remove(id, &mut container, true) {
                tracing::error!(id, error = %e, "deleting the container after it ran");
            }
        }
        status
    }

    /// `state`: the runtime spec's state of one container.
    pub fn state(&self, id: &str) -> Result<StateReport> {
        let container = self.load(id)?;
        Ok(self.report(&container))
    }

    fn report(&self, container: &Container) -> StateReport {
        let status = status_of(container.status());
        let note = Note::read(&container.root).unwrap_or_default();
        let pid = match status {
            Status::Stopped => 0,
            _ => container.pid().map_or(0, |p| p.as_raw()),
        };
        StateReport {
            oci_version: container.state.oci_version.clone(),
            id: container.id().to_string(),
            pid,
            status,
            bundle: container.bundle().clone(),
            rootfs: note.rootfs,
            created: container
                .created()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default(),
            owner: String::new(),
            annotations: container
                .state
                .annotations
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        }
    }

    /// `list`: every container in the state directory, by ID.
    pub fn list(&self) -> Result<Vec<StateReport>> {
        let entries = fs::read_dir(&self.root).map_err(|source| Error::Io {
            what: "cannot read the state directory",
            path: self.root.clone(),
            source,
        })?;
        let mut reports = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.starts_with('.') || !entry.path().join("state.json").exists() {
                continue;
            }
            match Container::load(entry.path()) {
                Ok(container) => reports.push(self.report(&container)),
                Err(e) => tracing::warn!(id, error = %e, "skipping an unreadable container state"),
            }
        }
        reports.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(reports)
    }

    /// `kill`: sends `signal` to the container's init (or, with `all`, every process).
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let mut container = self.load(id)?;
        if !container.can_kill() {
            return Err(wrong_status(id, container.status(), "signal", ""));
        }
        let signal = libcontainer::signal::Signal::try_from(signal)
            .map_err(|e| Error::backend(id, "cannot signal", e))?;
        container
            .kill(signal, all)
            .map_err(|e| Error::backend(id, "cannot signal", e))
    }

    /// `delete`: removes a stopped (or created) container; `force` kills a running one first,
    /// and removes the container whatever is left of it (an unreadable state, a failed hook).
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut container = match self.load(id) {
            Ok(container) => container,
            // runc: `delete --force` of a container that is not there succeeds.
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) if force => {
                tracing::warn!(id, error = %e, "removing what is left of the container");
                return cleanup::force_remove(id, &self.container_dir(id), None);
            }
            Err(e) => return Err(e),
        };
        let status = container.status();
        if !force && matches!(status, ContainerStatus::Running | ContainerStatus::Paused) {
            return Err(wrong_status(
                id,
                status,
                "delete",
                " (stop it first, or use --force)",
            ));
        }
        self.remove(id, &mut container, force)
    }

    /// libcontainer's delete (process, cgroups, poststop hooks), then what runz keeps; with
    /// `force`, what libcontainer could not remove is removed by runz.
    fn remove(&self, id: &str, container: &mut Container, force: bool) -> Result<()> {
        // Without the configuration it recorded (cgroup, hooks) libcontainer's delete would
        // leave the processes and the cgroup behind, and succeed.
        if force {
            if let Err(e) = container.spec() {
                tracing::warn!(id, error = %e, "removing what is left of the container");
                return cleanup::force_remove(id, &self.container_dir(id), pid_of(container));
            }
        }
        if let Err(e) = container.delete(force) {
            if !force {
                return Err(Error::backend(id, "cannot delete", e));
            }
            tracing::warn!(id, error = %e, "removing what is left of the container");
            return cleanup::force_remove(id, &self.container_dir(id), pid_of(container));
        }
        // libcontainer leaves the directory when it had nothing to clean; runz owns it.
        let _ = fs::remove_dir_all(self.container_dir(id));
        Ok(())
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let mut container = self.load(id)?;
        if !container.can_pause() {
            return Err(wrong_status(id, container.status(), "pause", ""));
        }
        container
            .pause()
            .map_err(|e| Error::backend(id, "cannot pause", e))
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let mut container = self.load(id)?;
        if !container.can_resume() {
            return Err(wrong_status(id, container.status(), "resume", ""));
        }
        container
            .resume()
            .map_err(|e| Error::backend(id, "cannot resume", e))
    }

    /// `ps`: the host PIDs of every process in the container's cgroup.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let container = self.load(id)?;
        let manager = self.cgroup_manager(&container)?;
        use libcgroups::common::CgroupManager;
        let mut pids: Vec<i32> = manager
            .get_all_pids()
            .map_err(|e| Error::backend(id, "cannot list the processes of", e))?
            .into_iter()
            .map(|p| p.as_raw())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// `update`: applies new cgroup resources to a running container.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let container = self.load(id)?;
        if let Ok(setup) = libcgroups::common::get_cgroup_setup() {
            if let Some(why) = resources::unsupported_resources(resources, &setup) {
                return Err(Error::Invalid(format!(
                    "cannot update container {id:?}: {why}"
                )));
            }
        }
        let manager = self.cgroup_manager(&container)?;
        let created = self.created_spec(&container);
        use libcgroups::common::{CgroupManager, ControllerOpt};
        manager
            .apply(&ControllerOpt {
                resources,
                disable_oom_killer: resources::oom_killer_disabled(resources, created.as_ref()),
                oom_score_adj: None,
                freezer_state: None,
            })
            .map_err(|e| Error::backend(id, "cannot update the resources of", e))
    }

    /// The configuration the container was created from, read again from its bundle (runz
    /// adapts it only in memory, and never in what an update consults); None when it cannot
    /// be read any more.
    fn created_spec(&self, container: &Container) -> Option<Spec> {
        Bundle::load(container.bundle())
            .ok()
            .map(|bundle| bundle.into_parts().1)
    }

    /// The container's resource statistics (its cgroup's), as runc's `events` reports them
    /// under `data`.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let container = self.load(id)?;
        let manager = self.cgroup_manager(&container)?;
        use libcgroups::common::CgroupManager;
        let stats = manager
            .stats()
            .map_err(|e| Error::backend(id, "cannot read the statistics of", e))?;
        serde_json::to_value(stats)
            .map_err(|e| Error::backend(id, "cannot encode the statistics of", e))
    }

    /// Whether the container still has processes (created, running or paused).
    pub fn is_live(&self, id: &str) -> Result<bool> {
        let container = self.load(id)?;
        Ok(matches!(
            container.status(),
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Created
        ))
    }

    fn cgroup_manager(
        &self,
        container: &Container,
    ) -> Result<libcgroups::common::AnyCgroupManager> {
        let id = container.id();
        let config = container
            .spec()
            .map_err(|e| Error::backend(id, "cannot read the cgroup of", e))?;
        libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: container.systemd(),
            container_name: id.to_string(),
        })
        .map_err(|e| Error::backend(id, "cannot open the cgroup of", e))
    }

    /// `exec`: runs another process in a running container; returns its exit status unless
    /// detached.
    pub fn exec(&self, id: &str, options: &ExecOptions) -> Result<i32> {
        let container = self.load(id)?;
        let paused_ok = options.ignore_paused && container.status() == ContainerStatus::Paused;
        if container.status() != ContainerStatus::Running && !paused_ok {
            return Err(wrong_status(id, container.status(), "exec in", ""));
        }
        if options.args.is_empty() && options.process_file.is_none() {
            return Err(Error::Invalid(
                "exec needs a command, or --process FILE".to_string(),
            ));
        }
        check_exec_labels(id, options)?;
        let executor = runz_executor(id)?;
        let pid = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(&self.root)
            .and_then(|b| b.with_pid_file(options.pid_file.as_ref()))
            .map(|b| {
                b.with_console_socket(options.console_socket.as_ref())
                    .with_preserved_fds(options.preserve_fds)
                    .as_tenant()
                    .with_detach(options.detach)
                    .with_cwd(options.cwd.as_ref())
                    .with_env(options.env.iter().cloned().collect())
                    .with_process(options.process_file.as_ref())
                    .with_no_new_privs(options.no_new_privs)
                    .with_container_args(options.args.clone())
                    .with_additional_gids(options.additional_gids.clone())
                    .with_user(options.user.map(|(uid, _)| uid))
                    .with_group(options.user.and_then(|(_, gid)| gid))
                    .with_capabilities(options.capabilities.clone())
                    .with_ignore_paused(options.ignore_paused)
                    .with_sub_cgroup(options.cgroup.clone())
            })
            .and_then(|b| b.build())
            .map_err(|e| Error::backend(id, "cannot exec in", e))?;
        if options.detach {
            return Ok(0);
        }
        wait_foreground(pid.as_raw(), None)
    }
}

/// The configuration's SELinux labels: dropped where SELinux is disabled (libcontainer would
/// otherwise pass the mount label to the kernel, which refuses it), refused where it is
/// enabled (runz cannot apply them). Without labels the host is not even looked at.
fn drop_selinux_labels(id: &str, spec: &mut Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .and_then(|p| p.selinux_label().clone());
    let mount = spec.linux().as_ref().and_then(|l| l.mount_label().clone());
    let labels: Vec<Label> = [
        ("process.selinuxLabel", process.as_deref()),
        ("linux.mountLabel", mount.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, value)| value.map(|value| Label { field, value }))
    .collect();
    if labels.is_empty() {
        return Ok(());
    }
    match selinux::decide(selinux::host(), &labels) {
        Ok(Decision::Nothing) => {}
        Ok(Decision::Ignore) => {
            tracing::debug!(
                id,
                "SELinux is disabled: ignoring the configuration's labels"
            );
            if let Some(process) = spec.process_mut().as_mut() {
                process.set_selinux_label(None);
            }
            if let Some(linux) = spec.linux_mut().as_mut() {
                linux.set_mount_label(None);
            }
        }
        Err(e) => return Err(Error::backend(id, "cannot create", e)),
    }
    Ok(())
}

/// exec's SELinux label (`--process-label`, or a `--process` file's `selinuxLabel`), decided
/// as the container's are; the file is read for it only where SELinux is not disabled.
fn check_exec_labels(id: &str, options: &ExecOptions) -> Result<()> {
    if options.process_label.is_none() && options.process_file.is_none() {
        return Ok(());
    }
    let host = selinux::host();
    let from_file = match &options.process_file {
        Some(path) if host != selinux::Host::Disabled => fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<oci_spec::runtime::Process>(&bytes).ok())
            .and_then(|process| process.selinux_label().clone()),
        _ => None,
    };
    let labels: Vec<Label> = [
        ("exec --process-label", options.process_label.as_deref()),
        ("the --process file's selinuxLabel", from_file.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, value)| value.map(|value| Label { field, value }))
    .collect();
    selinux::decide(host, &labels)
        .map(|_| ())
        .map_err(|e| Error::backend(id, "cannot exec in", e))
}

/// The container's init, unless it has stopped (its PID may name another process by now).
fn pid_of(container: &Container) -> Option<i32> {
    match container.status() {
        ContainerStatus::Stopped => None,
        _ => container.pid().map(|p| p.as_raw()),
    }
}

fn runz_executor(id: &str) -> Result<RunzExecutor> {
    RunzExecutor::new()
        .map_err(|e| Error::backend(id, "cannot prepare the sealed exec helper for", e))
}

fn status_of(status: ContainerStatus) -> Status {
    match status {
        ContainerStatus::Creating => Status::Creating,
        ContainerStatus::Created => Status::Created,
        ContainerStatus::Running => Status::Running,
        ContainerStatus::Paused => Status::Paused,
        ContainerStatus::Stopped => Status::Stopped,
    }
}

fn wrong_status(
    id: &str,
    status: ContainerStatus,
    action: &'static str,
    hint: &'static str,
) -> Error {
    Error::WrongStatus {
        id: id.to_string(),
        status: status_of(status).to_string(),
        action,
        hint,
    }
}

fn create_error(id: &str, bundle: &Path, error: LibcontainerError) -> Error {
    match error {
        LibcontainerError::Exist => Error::Exists(id.to_string()),
        other => Error::Backend {
            id: id.to_string(),
            action: "cannot create",
            source: Box::new(BundleContext {
                bundle: bundle.to_path_buf(),
                source: other,
            }),
        },
    }
}

/// Keeps the bundle in the message of a create that failed inside libcontainer.
#[derive(Debug, thiserror::Error)]
#[error("from bundle {}", bundle.display())]
struct BundleContext {
    bundle: PathBuf,
    #[source]
    source: LibcontainerError,
}
