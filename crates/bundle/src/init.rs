//! `--init`: run podinit as the container's first process, for images that have no init of
//! their own to reap zombies and pass signals on. The host's podinit binary is bind-mounted
//! read-only into the container's `/dev` (a tmpfs in every runtime bundle, so the image's own
//! tree is not touched) and the process arguments are moved behind it. One implementation
//! for runz's `--init` (re-exported as `aurora_runtime::init`) and podadm's `--init`.

use std::path::Path;

use oci_spec::runtime::{Mount, MountBuilder, Spec};

use crate::BundleError;

/// Where podinit appears inside the container.
pub const INIT_IN_CONTAINER: &str = "/dev/.aurora-init";

/// Rewrites `spec` so that podinit (at `host_podinit` on the host) runs the process.
/// Does nothing when the process already starts with podinit.
pub fn inject(spec: &mut Spec, host_podinit: &Path) -> Result<(), BundleError> {
    if !host_podinit.is_absolute() {
        return Err(init_error(
            host_podinit,
            "it must be given by absolute path",
        ));
    }
    let process = spec.process_mut().as_mut().ok_or_else(|| {
        init_error(
            host_podinit,
            "the configuration has no process to run under it",
        )
    })?;
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(init_error(
            host_podinit,
            "the configuration's process has no args to run under it",
        ));
    }
    if args[0] == INIT_IN_CONTAINER {
        return Ok(());
    }
    let wrapped = [INIT_IN_CONTAINER.to_string(), "--".to_string()]
        .into_iter()
        .chain(args)
        .collect();
    process.set_args(Some(wrapped));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(init_mount(host_podinit)?);
    spec.set_mounts(Some(mounts));
    Ok(())
}

fn init_error(host_podinit: &Path, reason: impl Into<String>) -> BundleError {
    BundleError::Init {
        podinit: host_podinit.to_path_buf(),
        reason: reason.into(),
    }
}

fn init_mount(host_podinit: &Path) -> Result<Mount, BundleError> {
    MountBuilder::default()
        .destination(INIT_IN_CONTAINER)
        .source(host_podinit)
        .typ("bind")
        .options(["bind", "ro", "nosuid", "nodev"].map(String::from).to_vec())
        .build()
        .map_err(|e| init_error(host_podinit, format!("cannot build its mount: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;

    fn spec_running(args: &[&str]) -> Spec {
        let mut spec = Spec::default();
        let process = ProcessBuilder::default()
            .args(args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap();
        spec.set_process(Some(process));
        spec
    }

    #[test]
    fn args_move_behind_podinit_and_the_binary_is_mounted() {
        let mut spec = spec_running(&["sh", "-c", "echo hi"]);
        let before = spec.mounts().as_ref().map_or(0, Vec::len);
        inject(&mut spec, Path::new("/usr/libexec/aurora/podinit")).unwrap();
        let args = spec.process().as_ref().unwrap().args().clone().unwrap();
        assert_eq!(args, [INIT_IN_CONTAINER, "--", "sh", "-c", "echo hi"]);
        let mounts = spec.mounts().as_ref().unwrap();
        assert_eq!(mounts.len(), before + 1);
        let mount = mounts.last().unwrap();
        assert_eq!(mount.destination(), Path::new(INIT_IN_CONTAINER));
        assert_eq!(
            mount.source().as_deref(),
            Some(Path::new("/usr/libexec/aurora/podinit"))
        );
        assert_eq!(
            mount.options().as_deref(),
            Some(&["bind", "ro", "nosuid", "nodev"].map(String::from)[..])
        );
    }

    #[test]
    fn injecting_twice_changes_nothing_more() {
        let mut spec = spec_running(&["true"]);
        inject(&mut spec, Path::new("/p")).unwrap();
        let once = spec.clone();
        inject(&mut spec, Path::new("/p")).unwrap();
        assert_eq!(spec, once);
    }

    #[test]
    fn nothing_to_run_or_a_relative_binary_is_refused() {
        let mut empty = spec_running(&[]);
        assert!(inject(&mut empty, Path::new("/p")).is_err());
        let mut spec = spec_running(&["true"]);
        assert!(inject(&mut spec, Path::new("podinit")).is_err());
    }
}
