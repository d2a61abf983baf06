//! `create`: the bundle's configuration, adapted in memory, handed to libcontainer; a create
//! that fails part way leaves nothing behind.

use std::fs;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use crate::backend::CreateOptions;
use crate::bundle::{rootfs_of, Bundle};
use crate::error::{Error, Result};
use crate::id;
use crate::init;
use crate::linux::note::Note;
use crate::linux::state_dir::{runz_executor, Runtime};
use crate::linux::terminal::Console;
use crate::linux::{resources, stdio};
use crate::selinux::{self, Decision, Label};

/// A container just made, before runz has written its note.
pub(super) struct Built {
    pub container: Container,
    pub note: Note,
    /// runz's own console socket, when it relays the container's terminal itself.
    pub console: Option<Console>,
}

/// `create`: sets the container up and leaves its process waiting for `start`.
pub(super) fn create(
    runtime: &Runtime,
    id: &str,
    bundle: Bundle,
    options: &CreateOptions,
) -> Result<()> {
    let built = build(runtime, id, bundle, options, true)?;
    built.note.write(&runtime.container_dir(id))
}

/// Creates the container from the configuration parsed once (adapted in memory: no copy
/// of config.json is written), so that its state and every hook name the caller's bundle;
/// the note is for the caller to write.
pub(super) fn build(
    runtime: &Runtime,
    id: &str,
    bundle: Bundle,
    options: &CreateOptions,
    detach: bool,
) -> Result<Built> {
    id::validate(id)?;
    if runtime.container_dir(id).exists() {
        return Err(Error::Exists(id.to_string()));
    }
    aurora_cgroups::start_grace_period();
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
        Some(Console::listen(runtime.root())?)
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
    adapt(id, &mut spec, options)?;
    let built = builder
        .with_executor(executor)
        .with_root_path(runtime.root())
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
            clean_failed_create(runtime, id);
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
fn adapt(id: &str, spec: &mut Spec, options: &CreateOptions) -> Result<()> {
    if let Some(podinit) = &options.init {
        init::inject(spec, podinit).map_err(|e| Error::Invalid(e.to_string()))?;
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
pub(super) fn clean_failed_create(runtime: &Runtime, id: &str) {
    let dir = runtime.container_dir(id);
    if dir.join("state.json").exists() {
        if let Ok(mut container) = Container::load(dir.clone()) {
            if let Err(e) = container.delete(true) {
                tracing::warn!(id, error = %e, "cleaning up a failed create");
            }
        }
    }
    let _ = fs::remove_dir_all(&dir);
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
