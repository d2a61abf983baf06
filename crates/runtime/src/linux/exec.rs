//! `exec`: another process in a running container, through libcontainer's tenant builder
//! and the sealed runz-exec helper.

use std::fs;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::ContainerStatus;
use libcontainer::syscall::syscall::SyscallType;

use crate::backend::ExecOptions;
use crate::error::{Error, Result};
use crate::linux::foreground::wait_foreground;
use crate::linux::state_dir::{runz_executor, wrong_status, Runtime};
use crate::selinux::{self, Label};

/// `exec`: runs another process in a running container; returns its exit status unless
/// detached.
pub(super) fn exec(runtime: &Runtime, id: &str, options: &ExecOptions) -> Result<i32> {
    let container = runtime.load(id)?;
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
        .with_root_path(runtime.root())
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

/// exec's SELinux label (`--process-label`, or a `--process` file's `selinuxLabel`), decided
/// as the container's are; the file is read for it only where SELinux is not disabled.
pub(super) fn check_exec_labels(id: &str, options: &ExecOptions) -> Result<()> {
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
