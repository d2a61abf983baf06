//! `linux.devices` → `device` resources, and the zone's `attr`s (kernel version, hostname,
//! SmartOS's init attributes, annotations).

use std::path::Path;

use crate::plan::error::{value_error, PlanError};
use crate::plan::options::{annotations, BrandKind, Distribution, Podinit};
use crate::plan::planner::{clean_absolute, path_text, text, Planner};
use crate::zonecfg::{Attr, AttrType, Device, Text};

/// Devices every zone has already.
pub(super) const DEFAULT_DEVICES: [&str; 8] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/console",
    "/dev/ptmx",
];

pub(super) fn devices(p: &mut Planner) -> Result<Vec<Device>, PlanError> {
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

pub(super) fn attrs(
    p: &mut Planner,
    kind: BrandKind,
    podinit: &Podinit,
) -> Result<Vec<Attr>, PlanError> {
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
