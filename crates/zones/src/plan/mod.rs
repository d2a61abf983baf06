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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use crate::name::ZoneName;
use crate::zonecfg::{
    Attr, AttrType, CappedCpu, CappedMemory, DedicatedCpu, Device, Fs, Global, IpType, Net, Text,
    UnwritableValue, ZoneConfig,
};

/// Annotation keys read by [`plan`].
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

/// What [`plan`] needs besides config.json.
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

/// A field of config.json that the zone does not honour, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field, as a JSON path (`linux.seccomp`, `mounts[3].options`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The paths podinit uses inside the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Podinit {
    pub init: PathBuf,
    pub config: PathBuf,
    pub status: PathBuf,
}

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

/// Why config.json cannot become a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Unwritable(#[from] UnwritableValue),
    #[error("config.json has no root: a zone needs its rootfs at {expected}")]
    NoRoot { expected: PathBuf },
    /// The rootfs must be the zone's root: zones have no pivot_root, the zone's root is always
    /// `<zonepath>/root`.
    #[error("root.path {root} is not the zone's root {expected}: the container dataset must be the zonepath with the rootfs under root/")]
    RootNotInZonepath { root: PathBuf, expected: PathBuf },
    /// runtime-spec: if `root.readonly` is true the root filesystem MUST be read-only. zonecfg
    /// cannot say so (it would take `readonly=on` on the dataset), so it is refused.
    #[error("root.readonly is true, and a zone's root cannot be made read-only by zonecfg")]
    ReadonlyRoot,
    #[error("config.json has a {section} section: that platform cannot run as a zone")]
    OtherPlatform { section: &'static str },
    /// runtime-spec: the runtime MUST map ids as given. Zones have no user namespaces.
    #[error("{field} maps user or group ids, and zones have no user namespaces to honour it")]
    IdMappings { field: String },
    /// runtime-spec: with a namespace path the runtime MUST join that namespace.
    #[error("linux.namespaces: the {namespace} namespace at {path} cannot be joined: zones have no namespaces to share")]
    JoinNamespace { namespace: String, path: PathBuf },
    #[error("brand {brand:?}: {reason}")]
    Brand { brand: String, reason: &'static str },
    #[error("annotation {key} = {value:?}: {reason}")]
    Annotation {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("attr {name:?}: {reason}")]
    AttrName { name: String, reason: &'static str },
    #[error("mounts[{index}] ({destination}): {reason}")]
    Mount {
        index: usize,
        destination: PathBuf,
        reason: String,
    },
    #[error("{field} = {value:?}: {reason}")]
    Value {
        field: String,
        value: String,
        reason: String,
    },
}

fn value_error(field: &str, value: impl fmt::Display, reason: impl Into<String>) -> PlanError {
    PlanError::Value {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn text(field: &str, value: impl Into<String>) -> Result<Text, PlanError> {
    Ok(Text::new(field, value)?)
}

fn path_text(field: &str, path: &Path) -> Result<Text, PlanError> {
    match path.to_str() {
        Some(s) => text(field, s),
        None => Err(value_error(
            field,
            path.display(),
            "is not UTF-8, which zonecfg files are written in",
        )),
    }
}

/// Lexically normalised absolute path: `.` dropped, `..` refused (we resolve no symlinks, so
/// `..` could mean anything).
fn clean_absolute(field: &str, path: &Path) -> Result<PathBuf, PlanError> {
    if !path.is_absolute() {
        return Err(value_error(
            field,
            path.display(),
            "must be an absolute path",
        ));
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                return Err(value_error(field, path.display(), "must not contain `..`"))
            }
            Component::Prefix(_) => {
                return Err(value_error(field, path.display(), "is not a Unix path"))
            }
        }
    }
    Ok(out)
}

struct Planner<'a> {
    spec: &'a Spec,
    options: &'a PlanOptions,
    warnings: Vec<Warning>,
}

impl Planner<'_> {
    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            field: field.into(),
            message: message.into(),
        });
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
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

fn check_root(spec: &Spec, options: &PlanOptions, zonepath: &Path) -> Result<(), PlanError> {
    let expected = zonepath.join("root");
    let root = spec.root().as_ref().ok_or_else(|| PlanError::NoRoot {
        expected: expected.clone(),
    })?;
    let given = if root.path().is_absolute() {
        root.path().clone()
    } else {
        options.bundle.join(root.path())
    };
    let matches = clean_absolute("root.path", &given).is_ok_and(|p| p == expected);
    if !matches {
        return Err(PlanError::RootNotInZonepath {
            root: given,
            expected,
        });
    }
    if root.readonly() == Some(true) {
        return Err(PlanError::ReadonlyRoot);
    }
    Ok(())
}

fn check_id_mappings(spec: &Spec) -> Result<(), PlanError> {
    let nonempty = |m: &Option<Vec<_>>| m.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
    if let Some(linux) = spec.linux() {
        if nonempty(linux.uid_mappings()) {
            return Err(PlanError::IdMappings {
                field: "linux.uidMappings".into(),
            });
        }
        if nonempty(linux.gid_mappings()) {
            return Err(PlanError::IdMappings {
                field: "linux.gidMappings".into(),
            });
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if nonempty(m.uid_mappings()) || nonempty(m.gid_mappings()) {
            return Err(PlanError::IdMappings {
                field: format!("mounts[{i}]"),
            });
        }
    }
    Ok(())
}

/// Brands that run virtual machines: an OCI rootfs is not a disk image.
const VM_BRANDS: [&str; 2] = ["bhyve", "kvm"];

/// The brand: the option, else the annotation, else `lx` when the spec is for Linux (it has a
/// `linux` section, or Linux-only process fields), else the native default.
fn choose_brand(p: &Planner) -> Result<(String, BrandKind), PlanError> {
    let spec = p.spec;
    let linux_process = spec.process().as_ref().is_some_and(|pr| {
        pr.capabilities().is_some()
            || pr.apparmor_profile().is_some()
            || pr.selinux_label().is_some()
            || pr.oom_score_adj().is_some()
    });
    let is_linux = spec.linux().is_some() || linux_process;
    let brand = match (&p.options.brand, p.annotation(annotations::BRAND)) {
        (Some(b), _) => b.clone(),
        (None, Some(b)) => b.to_string(),
        (None, None) if is_linux => "lx".to_string(),
        (None, None) => p.options.native_brand.clone(),
    };
    let well_formed = !brand.is_empty()
        && brand
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
    if !well_formed {
        return Err(PlanError::Brand {
            brand,
            reason: "a brand name is lower-case letters, digits, - and _",
        });
    }
    if VM_BRANDS.contains(&brand.as_str()) {
        return Err(PlanError::Brand {
            brand,
            reason: "this brand runs virtual machines, not a root filesystem",
        });
    }
    let kind = if brand == "lx" {
        BrandKind::Lx
    } else {
        BrandKind::Native
    };
    Ok((brand, kind))
}

fn has_network_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network))
}

/// `exclusive` when the container has its own network (a network namespace, `solaris.anet`, a
/// NIC annotation) or the brand is lx (which needs it); `shared` otherwise. A namespace with a
/// path is refused: the zone cannot join another container's namespace.
fn choose_ip_type(p: &mut Planner, kind: BrandKind) -> Result<IpType, PlanError> {
    let spec = p.spec;
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(path) = ns.path() {
            return Err(PlanError::JoinNamespace {
                namespace: ns.typ().to_string(),
                path: path.clone(),
            });
        }
        if ns.typ() == LinuxNamespaceType::User {
            p.warn(
                "linux.namespaces",
                "a user namespace has no zone equivalent: root in the zone is root limited by the zone's privileges",
            );
        }
    }
    let wants_net = spec
        .solaris()
        .as_ref()
        .and_then(|s| s.anet().as_ref())
        .is_some_and(|a| !a.is_empty())
        || p.annotation(annotations::PHYSICAL).is_some();
    match p.annotation(annotations::IP_TYPE) {
        Some("exclusive") => Ok(IpType::Exclusive),
        Some("shared") if kind == BrandKind::Lx => Err(PlanError::Annotation {
            key: annotations::IP_TYPE.into(),
            value: "shared".into(),
            reason: "lx zones need exclusive IP",
        }),
        Some("shared") if wants_net => Err(PlanError::Annotation {
            key: annotations::IP_TYPE.into(),
            value: "shared".into(),
            reason: "the zone's own network links (solaris.anet or a physical annotation) need exclusive IP",
        }),
        Some("shared") => Ok(IpType::Shared),
        Some(other) => Err(PlanError::Annotation {
            key: annotations::IP_TYPE.into(),
            value: other.into(),
            reason: "must be shared or exclusive",
        }),
        None => {
            let own_namespace = has_network_namespace(spec);
            if own_namespace || wants_net {
                Ok(IpType::Exclusive)
            } else if kind == BrandKind::Lx {
                p.warn(
                    "linux.namespaces",
                    "no network namespace (host networking), but lx zones need exclusive IP: the zone gets its own IP stack",
                );
                Ok(IpType::Exclusive)
            } else {
                if spec.linux().is_some() {
                    p.warn(
                        "linux.namespaces",
                        "no network namespace (host networking): the zone shares the global zone's IP stack (ip-type=shared) but sees only addresses given to it",
                    );
                }
                Ok(IpType::Shared)
            }
        }
    }
}

/// A path inside the zone that goes into bootargs (split on blanks by zoneadmd) or is read
/// by the executor: absolute, no `..`, no blanks.
fn zone_path_arg(field: &str, path: &Path) -> Result<PathBuf, PlanError> {
    let clean = clean_absolute(field, path)?;
    let s = path_text(field, &clean)?;
    if s.as_str().chars().any(char::is_whitespace) || clean == Path::new("/") {
        return Err(value_error(
            field,
            path.display(),
            "must be a file path without blanks (it goes into bootargs)",
        ));
    }
    Ok(clean)
}

fn milestone(p: &mut Planner, kind: BrandKind) -> Result<Option<String>, PlanError> {
    let Some(m) = p
        .spec
        .solaris()
        .as_ref()
        .and_then(|s| s.milestone().clone())
    else {
        return Ok(None);
    };
    if kind == BrandKind::Lx {
        p.warn(
            "solaris.milestone",
            "lx zones have no SMF milestones; ignored",
        );
        return Ok(None);
    }
    let ok = !m.is_empty()
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/:._-".contains(c));
    if !ok {
        return Err(value_error(
            "solaris.milestone",
            &m,
            "must be an SMF FMRI (letters, digits and / : . _ -)",
        ));
    }
    Ok(Some(m))
}

#[derive(Default)]
struct Resources {
    capped_memory: Option<CappedMemory>,
    capped_cpu: Option<CappedCpu>,
    dedicated_cpu: Option<DedicatedCpu>,
}

/// A size as zonecfg reads it: digits, an optional fraction, an optional K/M/G/T suffix.
fn size(field: &str, value: &str) -> Result<Text, PlanError> {
    let (number, suffix) = match value.char_indices().last() {
        Some((i, c)) if "KMGTkmgt".contains(c) => (&value[..i], &value[i..]),
        _ => (value, ""),
    };
    let mut parts = number.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || frac.is_some_and(|f| !digits(f)) {
        return Err(value_error(
            field,
            value,
            "must be a size: a number with an optional K, M, G or T suffix",
        ));
    }
    text(field, format!("{number}{suffix}"))
}

/// A CPU count as zonecfg's capped-cpu reads it: a positive decimal, at most two places.
fn ncpus(field: &str, value: &str) -> Result<Text, PlanError> {
    let mut parts = value.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    let ok = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac
            .is_none_or(|f| !f.is_empty() && f.len() <= 2 && f.chars().all(|c| c.is_ascii_digit()))
        && value.chars().any(|c| c.is_ascii_digit() && c != '0');
    if !ok {
        return Err(value_error(
            field,
            value,
            "must be a positive number of CPUs with at most two decimals (1.5 = 150%)",
        ));
    }
    text(field, value)
}

/// quota÷period in hundredths of a CPU, rounded up, written as zonecfg reads it.
fn quota_ncpus(quota: u64, period: u64) -> String {
    let hundredths = (u128::from(quota) * 100).div_ceil(u128::from(period));
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// The number of CPUs in a Linux cpuset list (`0-3,6`).
fn cpuset_count(field: &str, list: &str) -> Result<u64, PlanError> {
    const MAX_CPUS: u64 = 65536;
    let bad = |reason: &str| value_error(field, list, reason.to_string());
    let mut cpus = BTreeSet::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        let lo: u64 = lo
            .parse()
            .map_err(|_| bad("is not a CPU list such as 0-3,6"))?;
        let hi: u64 = hi
            .parse()
            .map_err(|_| bad("is not a CPU list such as 0-3,6"))?;
        if lo > hi || hi >= MAX_CPUS {
            return Err(bad("has a range that is reversed or beyond 65535"));
        }
        cpus.extend(lo..=hi);
    }
    if cpus.is_empty() {
        return Err(bad("lists no CPUs"));
    }
    Ok(cpus.len() as u64)
}

/// A comma-separated privilege set as limitpriv takes it (`default,dtrace_proc,-net_access`).
fn limitpriv(value: &str) -> Result<Text, PlanError> {
    let ok = value.split(',').all(|item| {
        let name = item.strip_prefix(['-', '!']).unwrap_or(item);
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if !ok {
        return Err(value_error(
            "solaris.limitpriv",
            value,
            "must be a comma-separated list of privilege names, each optionally prefixed by - or !",
        ));
    }
    text("solaris.limitpriv", value)
}

fn resources(p: &mut Planner, global: &mut Global, out: &mut Resources) -> Result<(), PlanError> {
    let spec = p.spec;
    let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());

    let mut physical = None;
    let mut swap = None;
    if let Some(mem) = res.and_then(|r| r.memory().as_ref()) {
        const F: &str = "linux.resources.memory";
        let limit = match mem.limit() {
            Some(l) if l > 0 => Some(l),
            Some(0) | Some(-1) | None => None,
            Some(l) => {
                return Err(value_error(
                    &format!("{F}.limit"),
                    l,
                    "must be positive or -1",
                ))
            }
        };
        let swap_limit = match mem.swap() {
            Some(s) if s > 0 => Some(s),
            Some(0) | Some(-1) | None => None,
            Some(s) => {
                return Err(value_error(
                    &format!("{F}.swap"),
                    s,
                    "must be positive or -1",
                ))
            }
        };
        if let (Some(l), Some(s)) = (limit, swap_limit) {
            if s < l {
                return Err(value_error(
                    &format!("{F}.swap"),
                    s,
                    format!("memory+swap must be at least the memory limit {l}"),
                ));
            }
        }
        physical = limit.map(|l| l.to_string());
        swap = swap_limit.map(|s| s.to_string());
        let unmapped = [
            ("reservation", mem.reservation().is_some()),
            ("kernel", mem.kernel().is_some()),
            ("kernelTCP", mem.kernel_tcp().is_some()),
            ("swappiness", mem.swappiness().is_some()),
            ("disableOOMKiller", mem.disable_oom_killer().is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                p.warn(format!("{F}.{name}"), "no zone equivalent; ignored");
            }
        }
    }
    let solaris = spec.solaris().as_ref();
    if let Some(cm) = solaris.and_then(|s| s.capped_memory().as_ref()) {
        if cm.physical().is_some() || cm.swap().is_some() {
            if physical.is_some() || swap.is_some() {
                p.warn(
                    "linux.resources.memory",
                    "solaris.cappedMemory is used instead",
                );
            }
            physical = cm.physical().clone();
            swap = cm.swap().clone();
        }
    }
    if physical.is_some() || swap.is_some() {
        out.capped_memory = Some(CappedMemory {
            physical: physical
                .map(|v| size("capped-memory.physical", &v))
                .transpose()?,
            swap: swap.map(|v| size("capped-memory.swap", &v)).transpose()?,
        });
    }

    let mut cpuset = None;
    if let Some(cpu) = res.and_then(|r| r.cpu().as_ref()) {
        const F: &str = "linux.resources.cpu";
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            const MAX_SHARES: u64 = 65535;
            if shares > MAX_SHARES {
                p.warn(
                    format!("{F}.shares"),
                    format!("{shares} is above zonecfg's maximum; cpu-shares={MAX_SHARES}"),
                );
            }
            global.cpu_shares = Some(shares.min(MAX_SHARES));
        }
        if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
            let period = cpu.period().unwrap_or(100_000);
            if period == 0 {
                return Err(value_error(&format!("{F}.period"), 0, "must be positive"));
            }
            out.capped_cpu = Some(CappedCpu {
                ncpus: text("capped-cpu.ncpus", quota_ncpus(quota as u64, period))?,
            });
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.trim().is_empty()) {
            cpuset = Some(cpuset_count(&format!("{F}.cpus"), cpus)?);
        }
        let unmapped = [
            ("mems", cpu.mems().is_some()),
            ("realtimeRuntime", cpu.realtime_runtime().is_some()),
            ("realtimePeriod", cpu.realtime_period().is_some()),
            ("idle", cpu.idle().is_some()),
            ("burst", cpu.burst().is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                p.warn(format!("{F}.{name}"), "no zone equivalent; ignored");
            }
        }
    }
    if let Some(n) = solaris
        .and_then(|s| s.capped_cpu().as_ref())
        .and_then(|c| c.ncpus().as_deref())
    {
        if out.capped_cpu.is_some() {
            p.warn(
                "linux.resources.cpu.quota",
                "solaris.cappedCPU is used instead",
            );
        }
        out.capped_cpu = Some(CappedCpu {
            ncpus: ncpus("solaris.cappedCPU.ncpus", n)?,
        });
    }
    if let Some(count) = cpuset {
        if out.capped_cpu.is_some() {
            p.warn(
                "linux.resources.cpu.cpus",
                "zonecfg cannot combine dedicated-cpu with capped-cpu; only the cap is kept",
            );
        } else {
            p.warn(
                "linux.resources.cpu.cpus",
                format!(
                    "dedicated-cpu gives the zone {count} CPUs of its own, not the ones listed"
                ),
            );
            out.dedicated_cpu = Some(DedicatedCpu { ncpus: count });
        }
    }

    if let Some(pids) = res.and_then(|r| r.pids().as_ref()) {
        if pids.limit() > 0 {
            global.max_processes = Some(pids.limit() as u64);
        }
    }

    if let Some(r) = res {
        const F: &str = "linux.resources";
        let unmapped = [
            ("blockIO", r.block_io().is_some()),
            (
                "hugepageLimits",
                r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            ("network", r.network().is_some()),
            ("rdma", r.rdma().as_ref().is_some_and(|v| !v.is_empty())),
            (
                "unified",
                r.unified().as_ref().is_some_and(|v| !v.is_empty()),
            ),
        ];
        for (name, set) in unmapped {
            if set {
                p.warn(format!("{F}.{name}"), "no zone equivalent; ignored");
            }
        }
        if r.devices().iter().flatten().any(|d| d.allow()) {
            p.warn(
                format!("{F}.devices"),
                "device cgroup rules are not applied: a zone sees only the default devices and linux.devices",
            );
        }
    }

    if let Some(s) = solaris {
        if let Some(v) = s.limitpriv() {
            global.limitpriv = Some(limitpriv(v)?);
        }
        if let Some(v) = s.max_shm_memory() {
            global.max_shm_memory = Some(size("solaris.maxShmMemory", v)?);
        }
    }
    Ok(())
}

/// Filesystem types the brand provides by itself.
const BRAND_PROVIDED: [&str; 6] = ["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"];

fn mounts(p: &mut Planner) -> Result<Vec<Fs>, PlanError> {
    let mut fs = Vec::new();
    let mut seen = BTreeMap::new();
    for (index, m) in p.spec.mounts().iter().flatten().enumerate() {
        if let Some(f) = mount(p, index, m)? {
            if let Some(first) = seen.insert(f.dir.clone(), index) {
                return Err(PlanError::Mount {
                    index,
                    destination: m.destination().clone(),
                    reason: format!("mounts[{first}] has the same destination, and zonecfg allows one fs per dir"),
                });
            }
            fs.push(f);
        }
    }
    Ok(fs)
}

fn mount(p: &mut Planner, index: usize, m: &Mount) -> Result<Option<Fs>, PlanError> {
    let field = format!("mounts[{index}]");
    let dest = m.destination();
    let mount_error = |reason: &str| PlanError::Mount {
        index,
        destination: dest.clone(),
        reason: reason.to_string(),
    };
    let typ = m.typ().as_deref().unwrap_or("");
    let options: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
    let is_bind = typ == "bind" || options.iter().any(|o| *o == "bind" || *o == "rbind");

    if BRAND_PROVIDED.contains(&typ) && !is_bind {
        return Ok(None);
    }
    let dir = clean_absolute(&format!("{field}.destination"), dest)?;
    if dir == Path::new("/") {
        return Err(mount_error("cannot mount over the zone's root"));
    }
    if typ == "tmpfs" && dir == Path::new("/dev") {
        // The zone has its own /dev.
        return Ok(None);
    }
    let dir_text = path_text(&format!("{field}.destination"), &dir)?;

    if is_bind {
        let source = m
            .source()
            .as_ref()
            .ok_or_else(|| mount_error("a bind mount needs a source"))?;
        let source = if source.is_absolute() {
            source.clone()
        } else {
            p.options.bundle.join(source)
        };
        let source = clean_absolute(&format!("{field}.source"), &source)?;
        let mut opts = Vec::new();
        for o in &options {
            match *o {
                "bind" | "rbind" | "rw" => {}
                "ro" => opts.push("ro"),
                "nosuid" => opts.push("nosuid"),
                "noexec" => opts.push("noexec"),
                "nodev" => {}
                other => p.warn(
                    format!("{field}.options"),
                    format!("{other:?} has no lofs equivalent; ignored"),
                ),
            }
        }
        opts.push("nodevices");
        return Ok(Some(Fs {
            dir: dir_text,
            special: path_text(&format!("{field}.source"), &source)?,
            fs_type: text("fs.type", "lofs")?,
            options: opts
                .into_iter()
                .map(|o| text(&format!("{field}.options"), o))
                .collect::<Result<_, _>>()?,
        }));
    }

    if typ == "tmpfs" {
        let mut opts = Vec::new();
        for o in &options {
            match *o {
                "rw" => {}
                "ro" | "nosuid" | "noexec" => opts.push(o.to_string()),
                "nodev" => opts.push("nodevices".to_string()),
                o if o.starts_with("size=") => {
                    opts.push(format!("size={}", tmpfs_size(&field, &o[5..])?));
                }
                o if o.starts_with("mode=") => {
                    let mode = &o[5..];
                    if mode.is_empty() || !mode.chars().all(|c| c.is_digit(8)) || mode.len() > 4 {
                        return Err(value_error(
                            &format!("{field}.options"),
                            o,
                            "mode must be octal",
                        ));
                    }
                    opts.push(o.to_string());
                }
                other => p.warn(
                    format!("{field}.options"),
                    format!("{other:?} has no tmpfs equivalent; ignored"),
                ),
            }
        }
        return Ok(Some(Fs {
            dir: dir_text,
            special: text("fs.special", "swap")?,
            fs_type: text("fs.type", "tmpfs")?,
            options: opts
                .into_iter()
                .map(|o| text(&format!("{field}.options"), o))
                .collect::<Result<_, _>>()?,
        }));
    }

    Err(mount_error(&format!(
        "type {typ:?} cannot be mounted in a zone (bind and tmpfs can)"
    )))
}

/// A Linux tmpfs size (`65536k`, `64m`, `1g`, bytes) as illumos tmpfs takes it (k, m, g
/// suffixes; bytes without one). Percentages are refused: illumos tmpfs has none (unverified).
fn tmpfs_size(field: &str, value: &str) -> Result<String, PlanError> {
    let lower = value.to_ascii_lowercase();
    let (digits, suffix) = match lower.char_indices().last() {
        Some((i, c)) if "kmg".contains(c) => (&lower[..i], &lower[i..]),
        _ => (lower.as_str(), ""),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(value_error(
            &format!("{field}.options"),
            format!("size={value}"),
            "tmpfs size must be a number of bytes or have a k, m or g suffix",
        ));
    }
    Ok(format!("{digits}{suffix}"))
}

/// Exclusive-IP links. `solaris.anet` entries first; without any, the `physical` annotation.
fn nets(p: &mut Planner, kind: BrandKind, ip_type: IpType) -> Result<Vec<Net>, PlanError> {
    let distribution = p.options.distribution;
    let mut nets = Vec::new();
    let anets = p
        .spec
        .solaris()
        .as_ref()
        .and_then(|s| s.anet().clone())
        .unwrap_or_default();
    for (i, a) in anets.iter().enumerate() {
        let field = format!("solaris.anet[{i}]");
        let physical = match a.linkname() {
            Some(l) => link_name(&format!("{field}.linkname"), l)?,
            None => text(&format!("{field}.linkname"), format!("net{i}"))?,
        };
        let global_nic = match (a.lower_link(), distribution) {
            (None, _) => None,
            (Some(l), Distribution::OmniOs | Distribution::SmartOs) => {
                Some(link_name(&format!("{field}.lowerLink"), l)?)
            }
            (Some(l), Distribution::Illumos) => {
                p.warn(
                    format!("{field}.lowerLink"),
                    format!("illumos does not create VNICs for zones: create {physical} over {l} with dladm first"),
                );
                None
            }
        };
        if a.link_protection().is_some() {
            p.warn(
                format!("{field}.linkProtection"),
                "Oracle Solaris only; on illumos allowed-address implies IP spoofing protection",
            );
        }
        if a.configure_allowed_address()
            .as_deref()
            .is_some_and(|v| v != "true")
        {
            p.warn(
                format!("{field}.configureAllowedAddress"),
                "Oracle Solaris only; the zone configures its own address",
            );
        }
        let allowed = a
            .allowed_address()
            .as_deref()
            .map(|v| text(&format!("{field}.allowedAddress"), v))
            .transpose()?;
        let defrouter = a
            .defrouter()
            .as_deref()
            .map(|v| text(&format!("{field}.defrouter"), v))
            .transpose()?;
        if defrouter.is_some() && allowed.is_none() {
            return Err(value_error(
                &format!("{field}.defrouter"),
                a.defrouter().as_deref().unwrap_or_default(),
                "zonecfg needs an allowedAddress with a defrouter",
            ));
        }
        let mut properties = Vec::new();
        if kind == BrandKind::Lx {
            if let Some(ips) = &allowed {
                properties.push((text("net.property", "ips")?, ips.clone()));
            }
            if let Some(gw) = &defrouter {
                properties.push((text("net.property", "gateway")?, gw.clone()));
            }
            if i == 0 && (allowed.is_some() || defrouter.is_some()) {
                properties.push((
                    text("net.property", "primary")?,
                    text("net.property", "true")?,
                ));
            }
        }
        nets.push(Net {
            physical,
            global_nic,
            allowed_address: allowed,
            defrouter,
            mac_addr: a
                .mac_address()
                .as_deref()
                .map(|v| mac_addr(&format!("{field}.macAddress"), v))
                .transpose()?,
            properties,
        });
    }
    if let Some(phys) = p.annotation(annotations::PHYSICAL) {
        if nets.is_empty() {
            let physical = link_name(annotations::PHYSICAL, phys)?;
            let global_nic = match p.annotation(annotations::GLOBAL_NIC) {
                None => None,
                Some(g) if distribution == Distribution::Illumos => {
                    p.warn(
                        annotations::GLOBAL_NIC,
                        format!("illumos does not create VNICs for zones: create {phys} over {g} with dladm first"),
                    );
                    None
                }
                Some(g) => Some(link_name(annotations::GLOBAL_NIC, g)?),
            };
            nets.push(Net {
                physical,
                global_nic,
                allowed_address: None,
                defrouter: None,
                mac_addr: None,
                properties: Vec::new(),
            });
        } else {
            p.warn(annotations::PHYSICAL, "solaris.anet is used instead");
        }
    }
    debug_assert!(nets.is_empty() || ip_type == IpType::Exclusive);
    Ok(nets)
}

/// A data-link name: letters, digits, `_` and `.`, ending in a digit (dladm's rule; `auto` is
/// OmniOS's word for "pick the link" in global-nic).
fn link_name(field: &str, value: &str) -> Result<Text, PlanError> {
    let ok = value == "auto"
        || (value.len() <= 31
            && value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && value.chars().last().is_some_and(|c| c.is_ascii_digit())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c)));
    if !ok {
        return Err(value_error(
            field,
            value,
            "must be a data-link name (letters, digits, _ and ., ending in a digit)",
        ));
    }
    text(field, value)
}

fn mac_addr(field: &str, value: &str) -> Result<Text, PlanError> {
    let octets: Vec<&str> = value.split(':').collect();
    let ok = octets.len() == 6
        && octets
            .iter()
            .all(|o| (1..=2).contains(&o.len()) && o.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(value_error(
            field,
            value,
            "must be a MAC address like 2:8:20:ab:cd:ef",
        ));
    }
    text(field, value)
}

/// Devices every zone has already.
const DEFAULT_DEVICES: [&str; 8] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/console",
    "/dev/ptmx",
];

fn devices(p: &mut Planner) -> Result<Vec<Device>, PlanError> {
    let mut out = Vec::new();
    let list = p
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for (i, d) in list.iter().enumerate() {
        let field = format!("linux.devices[{i}].path");
        let path = clean_absolute(&field, d.path())?;
        if !path.starts_with("/dev") || path == Path::new("/dev") {
            return Err(value_error(
                &field,
                path.display(),
                "a zone's devices live under /dev",
            ));
        }
        if DEFAULT_DEVICES.iter().any(|d| path == Path::new(d)) {
            continue;
        }
        p.warn(
            field.clone(),
            "major/minor numbers are not used: the global zone's device at the same path is given to the zone",
        );
        out.push(Device {
            matches: path_text(&field, &path)?,
        });
    }
    Ok(out)
}

fn attrs(p: &mut Planner, kind: BrandKind, podinit: &Podinit) -> Result<Vec<Attr>, PlanError> {
    let mut attrs = Vec::new();
    let string = |name: &str, value: Text| -> Result<Attr, PlanError> {
        Ok(Attr {
            name: text("attr.name", name)?,
            attr_type: AttrType::String,
            value,
        })
    };
    if kind == BrandKind::Lx {
        let (field, version) = match p.annotation(annotations::KERNEL_VERSION) {
            Some(v) => (annotations::KERNEL_VERSION, v.to_string()),
            None => ("lx_kernel_version", p.options.lx_kernel_version.clone()),
        };
        let parts: Vec<&str> = version.split('.').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(value_error(
                field,
                &version,
                "must be a Linux version like 4.4 or 5.10.0",
            ));
        }
        attrs.push(string("kernel-version", text(field, version)?)?);
    }
    if let Some(h) = p.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        attrs.push(string("hostname", text("hostname", h)?)?);
    }
    if p.options.distribution == Distribution::SmartOs {
        attrs.push(string("init-name", path_text("podinit", &podinit.init)?)?);
        attrs.push(Attr {
            name: text("attr.name", "restart-init")?,
            attr_type: AttrType::Boolean,
            value: text("attr.value", "false")?,
        });
    }

    let mut extra: Vec<(&String, &String)> = p
        .spec
        .annotations()
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(annotations::ATTR_PREFIX))
        .collect();
    extra.sort();
    for (key, value) in extra {
        let name = &key[annotations::ATTR_PREFIX.len()..];
        let reason = if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            Some("an attr name is letters, digits, - _ and .")
        } else if name.to_ascii_lowercase().starts_with("zone") {
            Some("names starting with \"zone\" are reserved by zonecfg")
        } else if attrs.iter().any(|a| a.name.as_str() == name) {
            Some("Aurora sets this attr itself")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(PlanError::AttrName {
                name: name.to_string(),
                reason,
            });
        }
        attrs.push(string(name, text(key, value.as_str())?)?);
    }
    Ok(attrs)
}

/// Warnings for the fields that nothing above looks at and that have no zone equivalent.
fn other_warnings(p: &mut Planner) {
    let spec = p.spec;
    const KNOWN: [&str; 5] = [
        annotations::BRAND,
        annotations::IP_TYPE,
        annotations::PHYSICAL,
        annotations::GLOBAL_NIC,
        annotations::KERNEL_VERSION,
    ];
    let mut unknown: Vec<&String> = spec
        .annotations()
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with(annotations::PREFIX)
                && !k.starts_with(annotations::ATTR_PREFIX)
                && !KNOWN.contains(&k.as_str())
        })
        .collect();
    unknown.sort();
    for k in unknown {
        p.warn(
            format!("annotations.{k}"),
            "unknown zone annotation; ignored",
        );
    }

    if let Some(pr) = spec.process() {
        if pr.oom_score_adj().is_some() {
            p.warn(
                "process.oomScoreAdj",
                "zones have no OOM killer score; ignored",
            );
        }
        if pr.apparmor_profile().is_some() {
            p.warn("process.apparmorProfile", "no AppArmor in zones; ignored");
        }
        if pr.selinux_label().is_some() {
            p.warn("process.selinuxLabel", "no SELinux in zones; ignored");
        }
        if pr.scheduler().is_some() {
            p.warn("process.scheduler", "no zone equivalent; ignored");
        }
        if pr.io_priority().is_some() {
            p.warn("process.ioPriority", "no zone equivalent; ignored");
        }
        if pr.exec_cpu_affinity().is_some() {
            p.warn("process.execCPUAffinity", "no zone equivalent; ignored");
        }
    }

    let Some(linux) = spec.linux() else {
        return;
    };
    if let Some(sysctl) = linux.sysctl().as_ref().filter(|s| !s.is_empty()) {
        let mut keys: Vec<&String> = sysctl.keys().collect();
        keys.sort();
        let keys: Vec<&str> = keys.into_iter().map(String::as_str).collect();
        p.warn(
            "linux.sysctl",
            format!("zones have no sysctls; ignored: {}", keys.join(", ")),
        );
    }
    let nonempty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let fields = [
        (
            "linux.seccomp",
            linux.seccomp().is_some(),
            "no seccomp in zones; the zone's privileges (limitpriv) limit what it may do",
        ),
        (
            "linux.maskedPaths",
            nonempty(linux.masked_paths()),
            "not masked: the brand's /proc and /sys show only the zone's own",
        ),
        (
            "linux.readonlyPaths",
            nonempty(linux.readonly_paths()),
            "not made read-only: the brand's /proc and /sys are the zone's own",
        ),
        (
            "linux.rootfsPropagation",
            linux.rootfs_propagation().is_some(),
            "zones have no mount propagation; ignored",
        ),
        (
            "linux.mountLabel",
            linux.mount_label().is_some(),
            "no SELinux in zones; ignored",
        ),
        (
            "linux.intelRdt",
            linux.intel_rdt().is_some(),
            "no zone equivalent; ignored",
        ),
        (
            "linux.personality",
            linux.personality().is_some(),
            "no zone equivalent; ignored",
        ),
        (
            "linux.timeOffsets",
            linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()),
            "zones share the host's clocks; ignored",
        ),
        (
            "linux.memoryPolicy",
            linux.memory_policy().is_some(),
            "no zone equivalent; ignored",
        ),
        (
            "linux.netDevices",
            linux.net_devices().as_ref().is_some_and(|n| !n.is_empty()),
            "use solaris.anet or the org.aurora.zone.physical annotation; ignored",
        ),
    ];
    for (field, present, message) in fields {
        if present {
            p.warn(field, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rounds_up_to_hundredths() {
        assert_eq!(quota_ncpus(50_000, 100_000), "0.5");
        assert_eq!(quota_ncpus(150_000, 100_000), "1.5");
        assert_eq!(quota_ncpus(200_000, 100_000), "2");
        assert_eq!(quota_ncpus(1, 100_000), "0.01");
        assert_eq!(quota_ncpus(33_333, 100_000), "0.34");
        assert_eq!(quota_ncpus(12_345, 10_000), "1.24");
    }

    #[test]
    fn cpuset_counts() {
        assert_eq!(cpuset_count("f", "0-3,6").unwrap(), 5);
        assert_eq!(cpuset_count("f", "1").unwrap(), 1);
        assert_eq!(cpuset_count("f", "0-1,1-2").unwrap(), 3);
        for bad in ["", "a", "3-1", "0-99999", "-", ","] {
            assert!(cpuset_count("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        for ok in ["512m", "1G", "1073741824", "1.5g"] {
            assert!(size("f", ok).is_ok(), "{ok}");
        }
        for bad in ["", "m", "1x", "-1", "1.m", "1 g"] {
            assert!(size("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ncpus_values() {
        for ok in ["1", "0.5", "1.25", "16"] {
            assert!(ncpus("f", ok).is_ok(), "{ok}");
        }
        for bad in ["", "0", "0.0", "1.234", "-1", "1.", ".5", "x"] {
            assert!(ncpus("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limitpriv_values() {
        assert!(limitpriv("default,dtrace_proc,-net_access,!proc_info").is_ok());
        for bad in ["", "default,", "de fault", "a;b"] {
            assert!(limitpriv(bad).is_err(), "{bad}");
        }
    }
}
