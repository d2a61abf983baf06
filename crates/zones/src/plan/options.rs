//! What the planner is told besides config.json: the zone's name and paths, the brand and the
//! illumos distribution, and the annotation keys it reads.

use std::path::PathBuf;

use crate::name::ZoneName;

/// Annotation keys read by `plan()`.
pub mod annotations {
    pub const PREFIX: &str = "org.aurora.zone.";
    pub const BRAND: &str = "org.aurora.zone.brand";
    pub const IP_TYPE: &str = "org.aurora.zone.ip-type";
    pub const PHYSICAL: &str = "org.aurora.zone.physical";
    pub const GLOBAL_NIC: &str = "org.aurora.zone.global-nic";
    pub const KERNEL_VERSION: &str = "org.aurora.zone.kernel-version";
    pub const ATTR_PREFIX: &str = "org.aurora.zone.attr.";
}

/// The illumos distribution the zone is for: they differ in how an exclusive-IP zone's
/// network is configured, and SmartOS has its own init attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distribution {
    /// Upstream illumos and OpenIndiana: `physical` names a VNIC that must already exist.
    Illumos,
    /// OmniOS: `global-nic` makes zoneadmd create the VNIC at boot (`auto` picks the link).
    #[default]
    OmniOs,
    /// SmartOS: `global-nic` as on OmniOS, and the zone attrs `init-name` and `restart-init`.
    SmartOs,
}

/// Whether the brand runs Linux binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrandKind {
    /// `lx`: Linux system-call emulation.
    Lx,
    /// An illumos userland (`sparse`, `pkgsrc`, `ipkg`, `nlipkg`, `joyent-minimal`, …), which
    /// must match the host's.
    Native,
}

/// What `plan()` needs besides config.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    pub name: ZoneName,
    /// The container dataset's mountpoint, in the global zone; the rootfs is `<zonepath>/root`.
    pub zonepath: PathBuf,
    /// The bundle directory: relative `root.path` and bind sources are resolved against it.
    pub bundle: PathBuf,
    /// podinit's path inside the zone; it becomes the zone's init through `-i` in bootargs.
    pub podinit: PathBuf,
    /// Where podinit reads its configuration, inside the zone. zoneadmd passes only `-m` and
    /// `-s` on to init (unverified), so podinit must look here by itself.
    pub podinit_config: PathBuf,
    /// Where podinit writes the container process's exit status, inside the zone.
    pub podinit_status: PathBuf,
    /// The brand, overriding the annotation and the guess.
    pub brand: Option<String>,
    /// The brand for images without a `linux` section, when nothing names one.
    pub native_brand: String,
    pub distribution: Distribution,
    /// lx's `kernel-version` attr when the annotation does not give one.
    pub lx_kernel_version: String,
    /// lx zones need a `max-lwps`; this one is set when the spec has no pids limit.
    pub lx_max_lwps: u64,
}

impl PlanOptions {
    /// Options with Aurora's defaults: podinit at `/.aurora/podinit` with its config and status
    /// beside it, native brand `sparse`, OmniOS, lx kernel 4.4 with 2000 LWPs.
    pub fn new(name: ZoneName, zonepath: impl Into<PathBuf>, bundle: impl Into<PathBuf>) -> Self {
        PlanOptions {
            name,
            zonepath: zonepath.into(),
            bundle: bundle.into(),
            podinit: PathBuf::from("/.aurora/podinit"),
            podinit_config: PathBuf::from("/.aurora/podinit.json"),
            podinit_status: PathBuf::from("/.aurora/status.json"),
            brand: None,
            native_brand: "sparse".to_string(),
            distribution: Distribution::default(),
            lx_kernel_version: "4.4".to_string(),
            lx_max_lwps: 2000,
        }
    }
}

/// The paths podinit uses inside the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Podinit {
    pub init: PathBuf,
    pub config: PathBuf,
    pub status: PathBuf,
}
