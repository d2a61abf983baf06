//! Image configuration → runtime configuration, as the image-spec's `conversion.md` says.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use oci_spec::image::{ImageConfiguration, Os};
use oci_spec::runtime::Spec;

use crate::defaults::{default_spec, DEFAULT_HOSTNAME, DEFAULT_PATH};
use crate::user::resolve_user;
use crate::BundleError;

/// Runtime annotation listing the image's `Config.Volumes`: the paths sorted and joined
/// with `,`. The runtime spec has no field for them; the storage layer reads this to give
/// each path its own sub-volume.
pub const VOLUMES_ANNOTATION: &str = "org.aurora.image.volumes";

/// Label keys that are not copied into the runtime annotations, because runtimes act on
/// them: crun's `run.oci.*` (hook output files on the host, krun/wasm handlers, group
/// handling), runc's and crun's `org.systemd.property.*` (systemd unit properties of the
/// container's scope), crun's `module.wasm.image/*`, and Aurora's own `org.aurora.*`
/// (so an image cannot forge what the converter records). The conversion document allows
/// this ("if the annotations are considered to be unsafe") and asks for feedback: the
/// dropped keys are returned in [`Converted::dropped_labels`].
pub const UNSAFE_LABEL_PREFIXES: &[&str] = &[
    "run.oci.",
    "org.systemd.property.",
    "module.wasm.image/",
    "org.aurora.",
];

/// What the caller changes on top of the image configuration (the conversion document's
/// "externally provided inputs").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces the whole `process.args` (Entrypoint and Cmd both).
    pub args: Option<Vec<String>>,
    /// `NAME=VALUE` entries added to the environment, replacing an entry of the same name.
    pub env: Vec<String>,
    /// `process.terminal`; with a terminal, `TERM=xterm` is added unless the image or the
    /// overrides set `TERM`.
    pub terminal: bool,
    /// The container's hostname; [`DEFAULT_HOSTNAME`] if not given.
    pub hostname: Option<String>,
}

/// The result of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The runtime configuration, to be written with [`crate::write_bundle_config`].
    pub spec: Spec,
    /// Label keys of the image that were not copied into the annotations (see
    /// [`UNSAFE_LABEL_PREFIXES`]), sorted; the caller should tell the user.
    pub dropped_labels: Vec<String>,
}

const OS_ANNOTATION: &str = "org.opencontainers.image.os";
const ARCH_ANNOTATION: &str = "org.opencontainers.image.architecture";
const VARIANT_ANNOTATION: &str = "org.opencontainers.image.variant";
const OS_VERSION_ANNOTATION: &str = "org.opencontainers.image.os.version";
const OS_FEATURES_ANNOTATION: &str = "org.opencontainers.image.os.features";
const AUTHOR_ANNOTATION: &str = "org.opencontainers.image.author";
const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";
const EXPOSED_PORTS_ANNOTATION: &str = "org.opencontainers.image.exposedPorts";

/// Parse an image configuration blob; `image` names the image in the error.
pub fn parse_image_config(image: &str, bytes: &[u8]) -> Result<ImageConfiguration, BundleError> {
    serde_json::from_slice(bytes).map_err(|source| BundleError::InvalidImageConfig {
        image: image.to_string(),
        source,
    })
}

/// Convert an image configuration into a runtime configuration for a bundle whose root
/// filesystem is `rootfs` (read only for `/etc/passwd` and `/etc/group`; `root.path` is
/// always `"rootfs"`, relative to the bundle). `image` names the image in errors.
///
/// The rules: `process.args` = Entrypoint + Cmd (or [`Overrides::args`]); `process.env` =
/// the image's Env, after a default `PATH` if the image sets none, then `HOME` from the
/// passwd entry if not set, then the overrides; `process.cwd` = WorkingDir or `/`;
/// `process.user` from User (see [`crate::user`]); the annotations from os, architecture,
/// variant, os.version, os.features, author, created, StopSignal, ExposedPorts and Volumes
/// ([`VOLUMES_ANNOTATION`]), with Labels taking precedence; everything else is runc's
/// `spec` defaults ([`crate::default_spec`]).
pub fn convert(
    image: &str,
    config: &ImageConfiguration,
    rootfs: &Path,
    overrides: &Overrides,
) -> Result<Converted, BundleError> {
    if config.os() != &Os::Linux {
        return Err(BundleError::UnsupportedOs {
            image: image.to_string(),
            os: config.os().to_string(),
        });
    }
    let empty = Default::default();
    let c = config.config().as_ref().unwrap_or(&empty);

    // process.args
    let args = match &overrides.args {
        Some(args) => {
            if args.first().is_none_or(|a| a.is_empty()) {
                return Err(BundleError::EmptyArgs {
                    image: image.to_string(),
                });
            }
            args.clone()
        }
        None => {
            let mut args = c.entrypoint().clone().unwrap_or_default();
            args.extend(c.cmd().clone().unwrap_or_default());
            if args.is_empty() {
                return Err(BundleError::NoCommand {
                    image: image.to_string(),
                });
            }
            args
        }
    };

    // process.cwd
    let cwd = match c.working_dir().as_deref() {
        None | Some("") => "/".to_string(),
        Some(dir) if dir.starts_with('/') => dir.to_string(),
        Some(dir) => {
            return Err(BundleError::InvalidWorkingDir {
                image: image.to_string(),
                dir: dir.to_string(),
            })
        }
    };

    // process.user
    let user_spec = c.user().as_deref().unwrap_or("");
    let user = resolve_user(image, rootfs, user_spec)?;

    // process.env: implementation defaults first, replaced in place by the image's
    // entries of the same name (the spec: a default SHOULD NOT change an image variable).
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if overrides.terminal {
        env.push("TERM=xterm".to_string());
    }
    for entry in c.env().as_deref().unwrap_or_default() {
        let name = env_name(image, "the image configuration's Env", entry)?;
        set_env(&mut env, name, entry);
    }
    if let Some(home) = &user.home {
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={home}"));
        }
    }
    for entry in &overrides.env {
        let name = env_name(image, "the --env overrides", entry)?;
        set_env(&mut env, name, entry);
    }

    // annotations: implicit ones first, Labels override them (conversion.md, Annotations).
    let mut annotations = BTreeMap::new();
    annotations.insert(OS_ANNOTATION.to_string(), config.os().to_string());
    annotations.insert(
        ARCH_ANNOTATION.to_string(),
        config.architecture().to_string(),
    );
    let optional = [
        (VARIANT_ANNOTATION, config.variant().clone()),
        (OS_VERSION_ANNOTATION, config.os_version().clone()),
        (
            OS_FEATURES_ANNOTATION,
            config
                .os_features()
                .as_ref()
                .filter(|f| !f.is_empty())
                .map(|f| f.join(",")),
        ),
        (AUTHOR_ANNOTATION, config.author().clone()),
        (CREATED_ANNOTATION, config.created().clone()),
        (STOP_SIGNAL_ANNOTATION, c.stop_signal().clone()),
        (
            EXPOSED_PORTS_ANNOTATION,
            sorted_ports(c.exposed_ports().as_deref()),
        ),
        (VOLUMES_ANNOTATION, sorted_joined(c.volumes().as_deref())),
    ];
    for (key, value) in optional {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            annotations.insert(key.to_string(), value);
        }
    }
    let mut dropped_labels = Vec::new();
    for (key, value) in c.labels().iter().flatten() {
        if UNSAFE_LABEL_PREFIXES.iter().any(|p| key.starts_with(p)) {
            dropped_labels.push(key.clone());
        } else {
            annotations.insert(key.clone(), value.clone());
        }
    }
    dropped_labels.sort();

    let mut spec = default_spec();
    spec.set_hostname(Some(
        overrides
            .hostname
            .clone()
            .unwrap_or_else(|| DEFAULT_HOSTNAME.to_string()),
    ));
    spec.set_annotations(Some(annotations.into_iter().collect::<HashMap<_, _>>()));
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(overrides.terminal));
        process.set_args(Some(args));
        process.set_env(Some(env));
        process.set_cwd(cwd.into());
        let u = process.user_mut();
        u.set_uid(user.uid);
        u.set_gid(user.gid);
        u.set_additional_gids(Some(user.additional_gids).filter(|g| !g.is_empty()));
    }
    Ok(Converted {
        spec,
        dropped_labels,
    })
}

fn sorted_joined(items: Option<&[String]>) -> Option<String> {
    let mut items = items?.to_vec();
    items.sort();
    items.dedup();
    Some(items.join(","))
}

/// Exposed ports (`80/tcp`, `53/udp`, `8080`) sorted by port number, then protocol, and
/// joined with `,`.
fn sorted_ports(ports: Option<&[String]>) -> Option<String> {
    let mut ports = ports?.to_vec();
    ports.sort_by_key(|p| {
        let (num, proto) = p.split_once('/').unwrap_or((p.as_str(), ""));
        (
            num.parse::<u32>().unwrap_or(u32::MAX),
            proto.to_string(),
            p.clone(),
        )
    });
    ports.dedup();
    Some(ports.join(","))
}

/// The name of a `NAME=VALUE` entry, or an error naming the entry.
fn env_name<'e>(image: &str, origin: &'static str, entry: &'e str) -> Result<&'e str, BundleError> {
    env_entry_name(entry).map_err(|reason| BundleError::InvalidEnv {
        image: image.to_string(),
        origin,
        entry: entry.to_string(),
        reason,
    })
}

/// The name of a `NAME=VALUE` environment entry, or why it is not one.
pub fn env_entry_name(entry: &str) -> Result<&str, &'static str> {
    if entry.contains('\0') {
        return Err("contains a NUL character");
    }
    match entry.split_once('=') {
        None => Err("must be NAME=VALUE"),
        Some(("", _)) => Err("the name is empty"),
        Some((name, _)) => Ok(name),
    }
}

/// Set `entry` (`name=…`), replacing the first entry of the same name in place and
/// removing any later duplicates.
pub fn set_env(env: &mut Vec<String>, name: &str, entry: &str) {
    let prefix = format!("{name}=");
    let mut found = false;
    env.retain_mut(|e| {
        if !e.starts_with(&prefix) {
            return true;
        }
        if found {
            return false;
        }
        found = true;
        *e = entry.to_string();
        true
    });
    if !found {
        env.push(entry.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_env_replaces_in_place() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "PATH", "PATH=/x");
        set_env(&mut env, "B", "B=2");
        set_env(&mut env, "A", "A=3");
        assert_eq!(env, vec!["PATH=/x", "A=3", "B=2"]);
        // A name that is a prefix of another is not confused with it.
        set_env(&mut env, "P", "P=p");
        assert_eq!(env, vec!["PATH=/x", "A=3", "B=2", "P=p"]);
    }

    #[test]
    fn env_entries_are_checked() {
        assert_eq!(env_name("i", "o", "A=b=c").unwrap(), "A");
        assert_eq!(env_name("i", "o", "A=").unwrap(), "A");
        assert!(env_name("i", "o", "A").is_err());
        assert!(env_name("i", "o", "=x").is_err());
        assert!(env_name("i", "o", "A=\0").is_err());
    }
}
