//! The backend a command goes to: Linux namespaces (youki's libcontainer) or illumos zones.
//! Only here does runz know which exist on this host; everything else speaks
//! [`aurora_runtime::Backend`].

use std::path::{Path, PathBuf};

use anyhow::Result;
use aurora_runtime::zone::ZoneRuntime;
use aurora_runtime::Backend;
use aurora_zones::{Programs, SystemRunner};

use crate::cli::BackendKind;

/// Where the zones backend finds the podinit it copies into each zone, unless `--init-path`
/// names one: `$RUNZ_PODINIT`, else the installed one.
const PODINIT_VAR: &str = "RUNZ_PODINIT";
const INSTALLED_PODINIT: &str = "/usr/lib/aurora/podinit";

/// The backend over the state directory `root`.
pub fn open(
    kind: BackendKind,
    root: &Path,
    zone_tools: Option<PathBuf>,
) -> Result<Box<dyn Backend>> {
    match kind {
        BackendKind::Linux => linux(root),
        BackendKind::Zones => {
            let podinit = std::env::var_os(PODINIT_VAR)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(INSTALLED_PODINIT));
            let runner = SystemRunner::new(Programs::from_env(zone_tools));
            Ok(Box::new(ZoneRuntime::new(root, runner, podinit)?))
        }
    }
}

#[cfg(target_os = "linux")]
fn linux(root: &Path) -> Result<Box<dyn Backend>> {
    Ok(Box::new(aurora_runtime::linux::Runtime::open(root)?))
}

#[cfg(not(target_os = "linux"))]
fn linux(_root: &Path) -> Result<Box<dyn Backend>> {
    anyhow::bail!("the linux backend runs on Linux only (use --backend zones)")
}
