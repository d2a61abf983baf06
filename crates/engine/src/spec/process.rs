//! The process: command, environment, user, terminal and working directory.

use std::path::Path;

use aurora_bundle::{env_entry_name, resolve_user, set_env, ResolvedUser};
use oci_spec::runtime::Spec;
use pathrs::Root;

use super::{SpecContext, SpecError};
use crate::config::ContainerConfig;

/// Set in every container's environment so that programs can tell they run in one (podman
/// sets `container=podman`).
pub const CONTAINER_ENV: &str = "container=aurora";

/// Sets args, env, user and terminal; returns the user the process runs as.
pub(super) fn apply(
    spec: &mut Spec,
    config: &ContainerConfig,
    ctx: &SpecContext,
    hostname: &str,
) -> Result<ResolvedUser, SpecError> {
    let args = command(config, ctx)?;
    let user = match &config.user {
        Some(user) => Some(
            resolve_user(&ctx.image, &ctx.rootfs, user).map_err(|source| SpecError::User {
                user: user.clone(),
                source: Box::new(source),
            })?,
        ),
        None => None,
    };
    let image_sets_home = ctx
        .image_config
        .env()
        .iter()
        .flatten()
        .any(|e| e.starts_with("HOME="));
    let Some(process) = spec.process_mut() else {
        return Err(SpecError::Invalid {
            field: "process",
            reason: "the image's runtime spec has no process".into(),
        });
    };
    process.set_args(Some(args));
    process.set_terminal(Some(config.terminal));
    // podman leaves no_new_privs off unless asked (`--security-opt no-new-privileges`);
    // runc's template turns it on, which would stop setuid programs in the image.
    process.set_no_new_privileges(None);

    let mut env = process.env().clone().unwrap_or_default();
    let mut set_default = |entry: &str| {
        let name = entry.split_once('=').map_or(entry, |(n, _)| n);
        if !env.iter().any(|e| e.starts_with(&format!("{name}="))) {
            env.push(entry.to_string());
        }
    };
    set_default(CONTAINER_ENV);
    // podman sets TERM with or without a terminal.
    set_default("TERM=xterm");
    if let Some(user) = &user {
        let u = process.user_mut();
        u.set_uid(user.uid);
        u.set_gid(user.gid);
        u.set_additional_gids(Some(user.additional_gids.clone()).filter(|g| !g.is_empty()));
        // HOME follows the user unless the image sets it.
        if !image_sets_home {
            env.retain(|e| !e.starts_with("HOME="));
            if let Some(home) = &user.home {
                env.push(format!("HOME={home}"));
            }
        }
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    for entry in &config.env {
        let name = env_name(entry)?;
        set_env(&mut env, name, entry);
    }
    process.set_env(Some(env));
    if !config.security.supplemental_groups.is_empty() {
        let u = process.user_mut();
        let mut gids = u.additional_gids().clone().unwrap_or_default();
        for gid in &config.security.supplemental_groups {
            if !gids.contains(gid) {
                gids.push(*gid);
            }
        }
        u.set_additional_gids(Some(gids));
    }
    let resolved = user.unwrap_or_else(|| ResolvedUser {
        uid: process.user().uid(),
        gid: process.user().gid(),
        additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
        home: None,
    });
    Ok(resolved)
}

/// podman's rules: `--entrypoint` replaces the image's Entrypoint and, unless a command is
/// given, clears its Cmd; a command replaces the Cmd.
fn command(config: &ContainerConfig, ctx: &SpecContext) -> Result<Vec<String>, SpecError> {
    let image = &ctx.image_config;
    let entrypoint = match &config.entrypoint {
        Some(entrypoint) => entrypoint.clone(),
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !config.command.is_empty() {
        config.command.clone()
    } else if config.entrypoint.is_some() {
        Vec::new()
    } else {
        image.cmd().clone().unwrap_or_default()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(SpecError::NoCommand {
            image: ctx.image.clone(),
        });
    }
    Ok(args)
}

fn env_name(entry: &str) -> Result<&str, SpecError> {
    env_entry_name(entry).map_err(|reason| SpecError::Env {
        entry: entry.to_string(),
        reason,
    })
}

/// `-w DIR` must exist (podman refuses it otherwise, unless a mount provides it); the image's
/// WorkingDir is created when missing, owned by root, as podman does.
pub(super) fn prepare_workdir(
    spec: &mut Spec,
    config: &ContainerConfig,
    ctx: &SpecContext,
) -> Result<(), SpecError> {
    if let Some(dir) = &config.workdir {
        if !dir.starts_with('/') {
            return Err(SpecError::RelativeWorkdir { dir: dir.clone() });
        }
        if let Some(process) = spec.process_mut() {
            process.set_cwd(dir.into());
        }
    }
    let Some(cwd) = spec.process().as_ref().map(|p| p.cwd().clone()) else {
        return Ok(());
    };
    let cwd_text = cwd.to_string_lossy().into_owned();
    if cwd_text == "/" || under_a_mount(&cwd, ctx) {
        return Ok(());
    }
    let root = open_root(&ctx.rootfs, &cwd_text)?;
    if root.resolve(&cwd).is_ok() {
        return Ok(());
    }
    if config.workdir.is_some() {
        return Err(SpecError::MissingWorkdir {
            image: ctx.image.clone(),
            dir: cwd_text,
        });
    }
    use std::os::unix::fs::PermissionsExt;
    root.mkdir_all(&cwd, &std::fs::Permissions::from_mode(0o755))
        .map(drop)
        .map_err(|source| SpecError::CreateWorkdir {
            dir: cwd_text,
            rootfs: ctx.rootfs.clone(),
            source,
        })
}

fn open_root(rootfs: &Path, dir: &str) -> Result<Root, SpecError> {
    Root::open(rootfs).map_err(|source| SpecError::CreateWorkdir {
        dir: dir.to_string(),
        rootfs: rootfs.to_path_buf(),
        source,
    })
}

fn under_a_mount(dir: &Path, ctx: &SpecContext) -> bool {
    ctx.resolved_mounts
        .iter()
        .any(|m| dir.starts_with(&m.destination))
}
