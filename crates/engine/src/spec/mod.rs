//! A container's configuration → its runtime spec.
//!
//! [`apply`] edits the spec that `aurora_bundle::convert` made from the image (the image's
//! env, cwd, user, args and annotations over runc's defaults) into the one the container
//! runs with, following podman's choices where a user would notice a difference: the
//! command (`--entrypoint` clears the image's Cmd unless a command is given), podman's
//! default capabilities and `--cap-add`/`--cap-drop`/`--privileged`, the environment
//! (`container=aurora`, `TERM`, `HOSTNAME`), the user and working directory, mounts
//! (volumes and binds as resolved by the engine, tmpfs, the hosts/resolv.conf/hostname
//! files), limits, the network namespace, labels and the stop signal, and `--init`.
//!
//! It reads the container's root (the user's passwd and group files, and whether the working
//! directory exists) and creates only the image's working directory when it is missing, as
//! podman does; everything else comes from its arguments, so the result is golden-tested.
//!
//! Deliberate differences from podman (podman 4.3's config.json for the same flags):
//! - tmpfs mounts carry no `tmpcopyup` (a crun extension that runc and runz refuse);
//! - labels are written as annotations (podman keeps them to itself);
//! - the stop signal annotation keeps the name given (`SIGKILL`), where podman writes its number;
//! - no seccomp profile is added unless asked for (runz's and runc's default: none); podman
//!   adds its own; the engine's default profile (`security`) is a deny list;
//! - `RLIMIT_NOFILE` stays runc's 1024 (podman raises it to 1048576, which this host refuses);
//! - the cgroup namespace of the image spec is kept.

mod caps;
mod error;
pub mod flags;
mod linux;
mod mounts;
mod process;
mod security;

use std::path::PathBuf;

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{LinuxDevice, Spec};

use crate::config::ContainerConfig;

pub use caps::{
    host_capabilities, normalize as normalize_capability, ALL_CAPABILITIES, DEFAULT_CAPABILITIES,
};
pub use error::SpecError;
pub use linux::{host_devices, DEFAULT_PIDS_LIMIT, STOP_SIGNAL_ANNOTATION};
pub use mounts::{MountSource, ResolvedMount, READ_ONLY_TMPFS};
pub use process::CONTAINER_ENV;
pub use security::default_profile as default_seccomp_profile;

/// The files podadm writes for a container and bind-mounts over the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserdataFiles {
    /// Mounted on `/etc/hosts`.
    pub hosts: Option<PathBuf>,
    /// Mounted on `/etc/resolv.conf`.
    pub resolv_conf: Option<PathBuf>,
    /// Mounted on `/etc/hostname`.
    pub hostname: Option<PathBuf>,
}

/// What the engine knows besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct SpecContext {
    /// The container's ID (64 hex digits); its first 12 are the default hostname.
    pub container_id: String,
    /// The image as the user named it, for messages.
    pub image: String,
    /// The image configuration's `config` section (Entrypoint, Cmd, …).
    pub image_config: ImageConfig,
    /// The container's root filesystem on the host.
    pub rootfs: PathBuf,
    /// Volumes, binds and tmpfs, in the order of `config.mounts` followed by the image's
    /// anonymous volumes; volume paths already resolved by the engine.
    pub resolved_mounts: Vec<ResolvedMount>,
    pub userdata: UserdataFiles,
    /// The network namespace to join (a bind-mounted nsfs file, or another container's);
    /// `None` keeps the spec's new namespace (`--network none`, or set up later). With
    /// `--network host` the namespace is removed whatever this says.
    pub netns: Option<PathBuf>,
    /// podinit on the host, for `--init`.
    pub init_binary: Option<PathBuf>,
    /// The capabilities `--privileged` and `--cap-add ALL` give ([`host_capabilities`]);
    /// every capability Linux defines when `None`.
    pub host_capabilities: Option<Vec<String>>,
    /// The devices `--privileged` gives ([`host_devices`]).
    pub host_devices: Vec<LinuxDevice>,
    /// `linux.cgroupsPath`; the runtime's default when `None`.
    pub cgroups_path: Option<String>,
}

/// Edits `spec` (made by `aurora_bundle::convert` from the container's image) for `config`.
/// Returns warnings for the user (what was asked for but cannot be done as asked).
pub fn apply(
    spec: &mut Spec,
    config: &ContainerConfig,
    ctx: &SpecContext,
) -> Result<Vec<String>, SpecError> {
    let mut warnings = Vec::new();
    let hostname = config
        .hostname
        .clone()
        .unwrap_or_else(|| ctx.container_id.chars().take(12).collect());
    spec.set_hostname(Some(hostname.clone()));
    let user = process::apply(spec, config, ctx, &hostname)?;
    let all_caps: Vec<String> = ctx
        .host_capabilities
        .clone()
        .unwrap_or_else(|| ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect());
    let bounding = caps::bounding_set(
        config.privileged,
        &config.cap_add,
        &config.cap_drop,
        &all_caps,
    )?;
    let capabilities = caps::process_capabilities(
        &bounding,
        user.uid,
        config.privileged,
        &config.cap_add,
        &all_caps,
    )?;
    if let Some(process) = spec.process_mut() {
        process.set_capabilities(Some(capabilities));
    }
    mounts::apply(spec, config, ctx)?;
    process::prepare_workdir(spec, config, ctx)?;
    linux::apply(spec, config, ctx, &mut warnings)?;
    let bounding: Vec<String> = bounding.iter().cloned().collect();
    security::apply(spec, config, &bounding)?;
    if config.init {
        let podinit = ctx.init_binary.as_deref().ok_or_else(|| {
            SpecError::Init("podinit was not found (install it beside podadm)".into())
        })?;
        aurora_bundle::init::inject(spec, podinit).map_err(|e| SpecError::Init(e.to_string()))?;
    }
    Ok(warnings)
}

/// The limits alone (memory, CPUs, pids) as [`apply`] sets them: for `update`.
pub fn apply_resources(
    spec: &mut Spec,
    config: &ContainerConfig,
) -> Result<Vec<String>, SpecError> {
    linux::apply_limits(spec, config)
}
