//! Capabilities as podman gives them: its default set, `--cap-add`/`--cap-drop` (names
//! normalised, `ALL`), and `--privileged` (every capability the host has).

use std::collections::BTreeSet;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use super::SpecError;

pub use aurora_bundle::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES};

/// `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `all` → `ALL`; `None` for
/// a name Linux does not define.
pub fn normalize(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Some(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    ALL_CAPABILITIES.contains(&full.as_str()).then_some(full)
}

/// The capabilities this process may hand on (its bounding set, `CapBnd` in
/// /proc/self/status): what `--privileged` and `--cap-add ALL` give, as podman does, since a
/// runtime cannot raise a capability the host withholds. `None` when it cannot be read.
pub fn host_capabilities() -> Option<Vec<String>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(
        ALL_CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1u64 << bit) != 0)
            .map(|(_, name)| name.to_string())
            .collect(),
    )
}

/// The bounding set: podman's defaults (or everything with `privileged`), then
/// `--cap-drop`, then `--cap-add` (podman's order: an added capability wins over a drop, and
/// `--cap-drop ALL --cap-add X` leaves only X).
pub(crate) fn bounding_set(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
    all: &[String],
) -> Result<BTreeSet<String>, SpecError> {
    let add = normalized_list(cap_add, "--cap-add")?;
    let drop = normalized_list(cap_drop, "--cap-drop")?;
    let mut set: BTreeSet<String> = if privileged {
        all.iter().cloned().collect()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if drop.iter().any(|c| c == "ALL") {
        set.clear();
    } else {
        for cap in &drop {
            set.remove(cap);
        }
    }
    if add.iter().any(|c| c == "ALL") {
        set.extend(all.iter().cloned());
    } else {
        set.extend(add);
    }
    Ok(set)
}

fn normalized_list(names: &[String], flag: &'static str) -> Result<Vec<String>, SpecError> {
    names
        .iter()
        .map(|name| {
            normalize(name).ok_or_else(|| SpecError::UnknownCapability {
                flag,
                name: name.clone(),
            })
        })
        .collect()
}

/// The process's capability sets, as podman writes them: root gets the bounding set as
/// effective and permitted too; another user only what `--cap-add` named, in every set
/// (inheritable and ambient too, so that it survives the change of user).
pub(crate) fn process_capabilities(
    bounding: &BTreeSet<String>,
    uid: u32,
    privileged: bool,
    cap_add: &[String],
    all: &[String],
) -> Result<LinuxCapabilities, SpecError> {
    let bounding_caps = to_caps(bounding.iter())?;
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(bounding_caps.clone()));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    if uid == 0 || privileged {
        caps.set_effective(Some(bounding_caps.clone()));
        caps.set_permitted(Some(bounding_caps));
        return Ok(caps);
    }
    let added: BTreeSet<String> = if cap_add.iter().any(|c| c.eq_ignore_ascii_case("all")) {
        all.iter().cloned().collect()
    } else {
        normalized_list(cap_add, "--cap-add")?.into_iter().collect()
    };
    let granted = to_caps(added.iter().filter(|c| bounding.contains(*c)))?;
    let non_empty = Some(granted).filter(|g| !g.is_empty());
    caps.set_effective(non_empty.clone());
    caps.set_permitted(non_empty.clone());
    if non_empty.is_some() {
        caps.set_inheritable(non_empty.clone());
        caps.set_ambient(non_empty);
    }
    Ok(caps)
}

fn to_caps<'a>(names: impl Iterator<Item = &'a String>) -> Result<Capabilities, SpecError> {
    names
        .map(|name| {
            serde_json::from_value::<Capability>(serde_json::Value::String(name.clone())).map_err(
                |_| SpecError::UnknownCapability {
                    flag: "--cap-add",
                    name: name.clone(),
                },
            )
        })
        .collect()
}
