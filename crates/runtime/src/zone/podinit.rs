//! podinit in a zone: the binary copied into the zone's root, and the bundle's process
//! written beside it as podinit's config (podinit applies it inside the zone, as its init).

use std::fs;
use std::path::Path;

use aurora_podinit::config::{InitConfig, Process as InitProcess, Rlimit, User};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// podinit and its config (the bundle's process) into the zone's root, where the plan's
/// bootargs name them.
pub(super) fn install(
    podinit: &Path,
    rootfs: &Path,
    spec: &Spec,
    paths: &aurora_zones::plan::Podinit,
) -> Result<()> {
    let inside = |p: &Path| rootfs.join(p.strip_prefix("/").unwrap_or(p));
    let (init, config) = (inside(&paths.init), inside(&paths.config));
    if let Some(dir) = init.parent() {
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "cannot create",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    fs::copy(podinit, &init).map_err(|source| Error::Io {
        what: "cannot copy podinit into the zone as",
        path: init.clone(),
        source,
    })?;
    let config_json = serde_json::to_vec_pretty(&init_config(spec, &paths.status)?)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    fs::write(&config, config_json).map_err(|source| Error::Io {
        what: "cannot write",
        path: config,
        source,
    })
}

/// The bundle's process as podinit's config (podinit applies it inside the zone).
pub(super) fn init_config(spec: &Spec, status_file: &Path) -> Result<InitConfig> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Invalid("config.json has no process for the zone to run".into()))?;
    let user = process.user();
    Ok(InitConfig {
        process: InitProcess {
            terminal: process.terminal().unwrap_or(false),
            user: Some(User {
                uid: user.uid(),
                gid: user.gid(),
                umask: user.umask(),
                additional_gids: user.additional_gids().clone().unwrap_or_default(),
            }),
            args: process.args().clone().unwrap_or_default(),
            env: process.env().clone().unwrap_or_default(),
            cwd: Some(process.cwd().to_string_lossy().into_owned()),
            rlimits: process
                .rlimits()
                .iter()
                .flatten()
                .map(|r| Rlimit {
                    kind: serde_json::to_value(r.typ())
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    hard: r.hard(),
                    soft: r.soft(),
                })
                .collect(),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
        },
        hostname: spec.hostname().clone(),
        config_maps: Vec::new(),
        status_file: Some(status_file.to_path_buf()),
    })
}
