//! On illumos a pod is **one zone**: the zone is the pod's infra role (its network, host name
//! and resource caps), podinit is its init, and each container of the pod is a podinit
//! *service* inside it — started in its own root, with its own process, restarted by its
//! policy, stopped in reverse dependency order.
//!
//! [`plan_pod`] is pure: a [`PodDescription`] becomes a [`PodPlan`], that is
//!
//! - the zone's [`ZonePlan`] (its zonecfg command file), planned by the bundle planner
//!   ([`crate::plan()`]) from a runtime-spec document for the infra role: `hostname`,
//!   `solaris.anet` for the network, `solaris.cappedCPU` / `cappedMemory` for the caps, and a
//!   bind mount (lofs) per container whose root is a global-zone directory. A container whose
//!   root is a ZFS dataset gets an `fs` of type zfs (the dataset must have
//!   `mountpoint=legacy`; unverified on illumos);
//! - podinit's services file ([`ServicesFile`]): one service per container, rooted at
//!   `/containers/NAME` inside the zone, written at [`SERVICES_PATH`] in the zone's root.
//!
//! [`exec::PodZones`] runs the plan through the zone tools. None of it has run on illumos:
//! it is tested against golden files and the stateful fakes (crates/zones-fake).

pub mod exec;

use std::path::{Path, PathBuf};

use aurora_podinit::services::{Service, ServicesFile, DEFAULT_STATUS_DIR};
use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};

use crate::name::ZoneName;
use crate::plan::{plan, quota_ncpus, Distribution, PlanError, PlanOptions, ZonePlan};
use crate::zonecfg::{Fs, Text};

pub use aurora_podinit::config::{Process, User};
pub use aurora_podinit::services::RestartPolicyArg as RestartPolicy;

/// Where podinit finds the services file inside the pod's zone.
pub const SERVICES_PATH: &str = aurora_podinit::services::DEFAULT_SERVICES_PATH;
/// The directory inside the zone under which each container's root is mounted.
pub const CONTAINERS_DIR: &str = "/containers";

/// A pod, as the engine describes it to the zone planner.
#[derive(Debug, Clone, PartialEq)]
pub struct PodDescription {
    pub name: ZoneName,
    /// The pod's dataset mountpoint in the global zone; the zone's root is `<zonepath>/root`.
    pub zonepath: PathBuf,
    /// The node name every container sees (default: the zone's name).
    pub hostname: Option<String>,
    /// The zone's brand (default: the planner's native brand); `lx` for Linux images.
    pub brand: Option<String>,
    pub distribution: Distribution,
    /// An exclusive-IP link; `None`: the zone shares the global zone's IP stack.
    pub network: Option<PodNetwork>,
    /// The pod's CPU cap, in CPUs (1.5 = 150% of one CPU).
    pub cpus: Option<f64>,
    /// The pod's memory cap, in bytes.
    pub memory: Option<u64>,
    pub containers: Vec<PodContainer>,
}

/// The pod's data link (a VNIC), as `solaris.anet` says it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodNetwork {
    /// The link's name inside the zone (`net0`).
    pub link: String,
    /// The global-zone link the VNIC is created over (OmniOS, SmartOS; `auto` on OmniOS).
    pub lower_link: Option<String>,
    /// `ADDRESS/PREFIX` the zone may use.
    pub address: Option<String>,
    pub gateway: Option<String>,
    pub mac_address: Option<String>,
}

/// Where a container's root filesystem comes from, in the global zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerRoot {
    /// A ZFS dataset (the container's clone), mounted as an `fs` of type zfs.
    Dataset(String),
    /// A directory, lofs-mounted.
    Path(PathBuf),
}

/// One container of the pod: a podinit service inside the zone.
#[derive(Debug, Clone, PartialEq)]
pub struct PodContainer {
    /// Also its directory under [`CONTAINERS_DIR`] and its status file's name.
    pub name: String,
    pub root: ContainerRoot,
    /// args, env, cwd, user (the runtime-spec process section, as podinit applies it).
    pub process: Process,
    pub restart: RestartPolicy,
    /// Containers started before this one and stopped after it.
    pub depends_on: Vec<String>,
}

/// Everything decided about a pod's zone.
#[derive(Debug, Clone, PartialEq)]
pub struct PodPlan {
    pub zone: ZonePlan,
    pub services: ServicesFile,
}

impl PodPlan {
    /// The zonecfg command file for `zonecfg -z NAME -f FILE`.
    pub fn zonecfg(&self) -> String {
        self.zone.zonecfg()
    }

    /// The services file's bytes (pretty JSON and a newline).
    pub fn services_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.services).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Each container's root inside the zone, by name.
    pub fn container_dirs(&self) -> impl Iterator<Item = (&str, PathBuf)> {
        self.services
            .services
            .iter()
            .map(|s| (s.name.as_str(), container_dir(&s.name)))
    }
}

/// Why a pod cannot become a zone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PodError {
    #[error("pod {pod}: {source}")]
    Plan {
        pod: ZoneName,
        #[source]
        source: PlanError,
    },
    #[error("pod {pod}: {field}: {reason}")]
    Invalid {
        pod: ZoneName,
        field: String,
        reason: String,
    },
}

/// Plans the zone of a pod. Pure: it reads nothing but its argument.
pub fn plan_pod(pod: &PodDescription) -> Result<PodPlan, PodError> {
    let invalid = |field: String, reason: String| PodError::Invalid {
        pod: pod.name.clone(),
        field,
        reason,
    };
    let services = services_file(pod);
    // The services are the containers, one for one and in order: name the pod's field.
    services.validate().map_err(|(field, reason)| {
        let field = match field.strip_prefix("services") {
            Some(rest) => format!("containers{rest}"),
            None => field,
        };
        invalid(field, reason)
    })?;

    let spec = infra_spec(pod).map_err(|(f, r)| invalid(f, r))?;
    let mut options = PlanOptions::new(pod.name.clone(), &pod.zonepath, &pod.zonepath);
    options.brand = pod.brand.clone();
    options.distribution = pod.distribution;
    let mut zone = plan(&spec, &options).map_err(|source| PodError::Plan {
        pod: pod.name.clone(),
        source,
    })?;
    for (i, c) in pod.containers.iter().enumerate() {
        if let ContainerRoot::Dataset(dataset) = &c.root {
            let field = format!("containers[{i}].root");
            check_dataset(dataset).map_err(|r| invalid(field.clone(), r))?;
            let dir = container_dir(&c.name);
            zone.config.fs.push(Fs {
                dir: text(&field, &dir.to_string_lossy()).map_err(|r| invalid(field.clone(), r))?,
                special: text(&field, dataset).map_err(|r| invalid(field.clone(), r))?,
                fs_type: text(&field, "zfs").map_err(|r| invalid(field.clone(), r))?,
                options: Vec::new(),
            });
        }
    }
    Ok(PodPlan { zone, services })
}

fn text(field: &str, value: &str) -> Result<Text, String> {
    Text::new(field, value).map_err(|e| e.reason.to_string())
}

/// `/containers/NAME`.
pub fn container_dir(name: &str) -> PathBuf {
    Path::new(CONTAINERS_DIR).join(name)
}

fn services_file(pod: &PodDescription) -> ServicesFile {
    ServicesFile {
        hostname: Some(hostname(pod)),
        status_dir: PathBuf::from(DEFAULT_STATUS_DIR),
        stop_timeout_seconds: 10,
        services: pod
            .containers
            .iter()
            .map(|c| Service {
                name: c.name.clone(),
                root: Some(container_dir(&c.name)),
                process: c.process.clone(),
                restart: c.restart,
                depends_on: c.depends_on.clone(),
            })
            .collect(),
    }
}

fn hostname(pod: &PodDescription) -> String {
    pod.hostname
        .clone()
        .unwrap_or_else(|| pod.name.as_str().to_string())
}

/// The runtime-spec document of the pod's infra role: what the bundle planner makes a zone of.
fn infra_spec(pod: &PodDescription) -> Result<Spec, (String, String)> {
    let mut solaris = Map::new();
    if let Some(cpus) = pod.cpus {
        if !(cpus.is_finite() && cpus > 0.0 && cpus <= 65536.0) {
            return Err((
                "cpus".into(),
                format!("{cpus} is not a positive number of CPUs"),
            ));
        }
        let quota = (cpus * 100_000.0).ceil() as u64;
        solaris.insert(
            "cappedCPU".into(),
            json!({"ncpus": quota_ncpus(quota, 100_000)}),
        );
    }
    if let Some(bytes) = pod.memory {
        if bytes == 0 {
            return Err(("memory".into(), "0 is not a memory cap".into()));
        }
        solaris.insert(
            "cappedMemory".into(),
            json!({"physical": bytes.to_string()}),
        );
    }
    if let Some(n) = &pod.network {
        let mut anet = json!({"linkname": n.link});
        for (key, value) in [
            ("lowerLink", &n.lower_link),
            ("allowedAddress", &n.address),
            ("defrouter", &n.gateway),
            ("macAddress", &n.mac_address),
        ] {
            if let Some(v) = value {
                anet[key] = json!(v);
            }
        }
        solaris.insert("anet".into(), json!([anet]));
    }
    let mounts: Vec<Value> = pod
        .containers
        .iter()
        .filter_map(|c| match &c.root {
            ContainerRoot::Path(source) => Some(json!({
                "destination": container_dir(&c.name),
                "type": "bind",
                "source": source,
                "options": ["rbind"],
            })),
            ContainerRoot::Dataset(_) => None,
        })
        .collect();
    let spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": pod.zonepath.join("root")},
        "hostname": hostname(pod),
        "mounts": mounts,
        "solaris": solaris,
    });
    serde_json::from_value(spec).map_err(|e| ("pod".into(), e.to_string()))
}

/// A dataset name as ZFS takes it: `/`-separated components of `[A-Za-z0-9-_.:]`, not a
/// snapshot, under 256 characters.
fn check_dataset(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() < 256
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.:".contains(ch))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a ZFS dataset name (components of letters, digits, - _ . :, separated by /)"
        ))
    }
}
