//! config.json → [`ZonePlan`]: the pure translation of an OCI runtime-spec bundle's
//! configuration into a zone configuration, with a warning for every field that has no zone
//! equivalent and a typed error for every field that cannot be honoured where the runtime-spec
//! says MUST.
//!
//! What each part of the spec becomes:
//!
//! | config.json | zone |
//! | --- | --- |
//! | `root.path` | must be `<zonepath>/root` (error otherwise); `root.readonly: true` is an error |
//! | `mounts` bind / rbind | `fs` type=lofs, options from the mount's (`ro`, `nosuid`, `noexec`) plus `nodevices` always |
//! | `mounts` tmpfs | `fs` type=tmpfs special=swap, `size=` and `mode=` kept |
//! | `mounts` proc, sysfs, devpts, mqueue, cgroup(2), tmpfs on `/dev` | dropped: the brand provides them |
//! | `mounts` of other types | error |
//! | `linux.resources.memory` limit / swap | `capped-memory` physical / swap (bytes) |
//! | `linux.resources.cpu` quota÷period | `capped-cpu` ncpus, rounded up to 0.01 |
//! | `linux.resources.cpu` cpus | `dedicated-cpu` ncpus = the number of CPUs listed (not which ones) |
//! | `linux.resources.cpu` shares | `cpu-shares`, at most 65535 |
//! | `linux.resources.pids` limit | `max-processes` (zonecfg then sets max-lwps to 10×) |
//! | `linux.devices` | `device` match=path (the global zone's node at that path) |
//! | `solaris` limitpriv / maxShmMemory / cappedCPU / cappedMemory | the zonecfg properties of those names; they win over `linux.resources` |
//! | `solaris.anet` | exclusive-IP `net`, per [`Distribution`] |
//! | `solaris.milestone` | native brands: `-m milestone=…` in bootargs, passed on to podinit |
//! | `hostname` | attr `hostname` (SmartOS applies it; elsewhere podinit sets it from config.json) |
//! | `process` | nothing: podinit, the zone's init (`-i` in bootargs), runs it |
//! | `hooks` | nothing: runz runs them in the global zone |
//!
//! Annotations read (all optional):
//! - `org.aurora.zone.brand`: the brand (the [`PlanOptions::brand`] option wins over it).
//! - `org.aurora.zone.ip-type`: `shared` or `exclusive`.
//! - `org.aurora.zone.physical`: a link for a `net` when the spec has no `solaris.anet`.
//! - `org.aurora.zone.global-nic`: that net's global-zone link (OmniOS, SmartOS; `auto` on OmniOS).
//! - `org.aurora.zone.kernel-version`: lx's emulated Linux version.
//! - `org.aurora.zone.attr.NAME`: a string `attr` NAME.
//!
//! Other `org.aurora.zone.*` annotations are reported as warnings (a typo should not pass silently).

mod brand;
mod devices;
mod error;
mod mounts;
mod net;
mod options;
mod planner;
mod resources;
mod root;
mod warnings;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::name::ZoneName;
use crate::zonecfg::{Global, ZoneConfig};

pub use error::PlanError;
pub use options::{annotations, BrandKind, Distribution, PlanOptions, Podinit};
pub use planner::Warning;

use brand::{choose_brand, choose_ip_type, milestone};
use devices::{attrs, devices};
use error::value_error;
use mounts::mounts;
use net::nets;
use planner::{clean_absolute, path_text, text, Planner};
pub(crate) use resources::quota_ncpus;
use resources::{resources, Resources};
use root::{check_id_mappings, check_root, zone_path_arg};
use warnings::other_warnings;

/// Everything decided about a zone for one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePlan {
    pub name: ZoneName,
    pub brand: BrandKind,
    /// The zonepath, as given.
    pub zonepath: PathBuf,
    /// What the zonecfg command file holds.
    pub config: ZoneConfig,
    pub podinit: Podinit,
    /// `solaris.milestone`, also in bootargs (native brands only).
    pub milestone: Option<String>,
    pub warnings: Vec<Warning>,
}

impl ZonePlan {
    /// The zonecfg command file for `zonecfg -z NAME -f FILE`.
    pub fn zonecfg(&self) -> String {
        self.config.render()
    }
}

/// Translates config.json into a zone plan. Pure: it reads nothing but its arguments.
pub fn plan(spec: &Spec, options: &PlanOptions) -> Result<ZonePlan, PlanError> {
    let mut p = Planner {
        spec,
        options,
        warnings: Vec::new(),
    };

    for (section, present) in [
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
    ] {
        if present {
            return Err(PlanError::OtherPlatform { section });
        }
    }

    let zonepath = clean_absolute("zonepath", &options.zonepath)?;
    if zonepath == Path::new("/") {
        return Err(value_error(
            "zonepath",
            "/",
            "must not be the global zone's root",
        ));
    }
    check_root(spec, options, &zonepath)?;
    check_id_mappings(spec)?;

    let (brand, kind) = choose_brand(&p)?;
    let ip_type = choose_ip_type(&mut p, kind)?;

    let podinit = Podinit {
        init: zone_path_arg("podinit", &options.podinit)?,
        config: zone_path_arg("podinit_config", &options.podinit_config)?,
        status: zone_path_arg("podinit_status", &options.podinit_status)?,
    };
    let milestone = milestone(&mut p, kind)?;
    let mut bootargs = format!("-i {}", podinit.init.display());
    if let Some(m) = &milestone {
        bootargs.push_str(&format!(" -m milestone={m}"));
    }

    let mut global = Global {
        brand: text("brand", brand)?,
        zonepath: path_text("zonepath", &zonepath)?,
        autoboot: false,
        ip_type,
        bootargs: Some(text("bootargs", bootargs)?),
        limitpriv: None,
        cpu_shares: None,
        max_lwps: None,
        max_processes: None,
        max_shm_memory: None,
    };
    let mut config_resources = Resources::default();
    resources(&mut p, &mut global, &mut config_resources)?;
    if kind == BrandKind::Lx && global.max_processes.is_none() {
        global.max_lwps = Some(options.lx_max_lwps);
    }

    let fs = mounts(&mut p)?;
    let net = nets(&mut p, kind, ip_type)?;
    let devices = devices(&mut p)?;
    let attrs = attrs(&mut p, kind, &podinit)?;
    other_warnings(&mut p);

    Ok(ZonePlan {
        name: options.name.clone(),
        brand: kind,
        zonepath: options.zonepath.clone(),
        config: ZoneConfig {
            global,
            capped_memory: config_resources.capped_memory,
            capped_cpu: config_resources.capped_cpu,
            dedicated_cpu: config_resources.dedicated_cpu,
            fs,
            net,
            devices,
            attrs,
        },
        podinit,
        milestone,
        warnings: p.warnings,
    })
}
