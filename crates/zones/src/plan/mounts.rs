//! `mounts` → `fs` resources (lofs for binds, tmpfs), the brand's own filesystems dropped.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::Mount;

use crate::plan::error::{value_error, PlanError};
use crate::plan::planner::{clean_absolute, path_text, text, Planner};
use crate::zonecfg::Fs;

/// Filesystem types the brand provides by itself.
pub(super) const BRAND_PROVIDED: [&str; 6] =
    ["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"];

pub(super) fn mounts(p: &mut Planner) -> Result<Vec<Fs>, PlanError> {
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

pub(super) fn mount(p: &mut Planner, index: usize, m: &Mount) -> Result<Option<Fs>, PlanError> {
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
pub(super) fn tmpfs_size(field: &str, value: &str) -> Result<String, PlanError> {
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
