//! RUN: the command run by the OCI runtime in the step's working container, with the
//! stage's user, working directory and environment (ARGs included), the host's network or
//! none, and buildhelper mounted read-only on its PATH; its output streamed to ours.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use aurora_containerfile::{Command, Run};
use oci_spec::runtime::{LinuxNamespaceType, Mount, MountBuilder, Spec};

use crate::error::{io, step, BuildError, Result};
use crate::options::Network;
use crate::stage::StageState;

/// Where buildhelper appears inside a RUN container: under /dev, a tmpfs of the container's
/// own, so the mount point never lands in the image's layer.
const HELPER_DIR: &str = "/dev/.aurora-build";

/// What a RUN step needs from the build.
pub(crate) struct RunContext<'a> {
    pub runtime: &'a Path,
    pub run_dir: &'a Path,
    pub network: Network,
    pub buildhelper: Option<&'a Path>,
    /// The predefined proxy ARGs the build was given: in RUN's environment, never in the image.
    pub proxy_env: Vec<String>,
}

/// Where a heredoc with a `#!` line is mounted to be run by its interpreter.
const SCRIPT: &str = "/dev/.aurora-build/script";

/// What a RUN step runs.
pub(crate) struct StepCommand {
    pub args: Vec<String>,
    /// A heredoc script with its own interpreter (`#!`), mounted at [`SCRIPT`] and run.
    pub script: Option<String>,
}

impl StepCommand {
    /// What the cache key says of the command.
    pub fn key_text(&self) -> String {
        let mut text = self.args.join("\0");
        if let Some(script) = &self.script {
            text.push('\0');
            text.push_str(script);
        }
        text
    }
}

/// The process's arguments: shell form through the stage's SHELL; a heredoc that is the
/// whole command becomes the script (run by its own interpreter when it starts with `#!`,
/// as docker runs it), else the shell reads the heredocs itself.
pub(crate) fn run_command(stage: &StageState, run: &Run) -> StepCommand {
    match &run.command {
        Command::Exec(args) => StepCommand {
            args: args.clone(),
            script: None,
        },
        Command::Shell(text) => {
            let script = match run.heredocs.as_slice() {
                [only] if is_bare_heredoc(text, &only.name) && only.content.starts_with("#!") => {
                    return StepCommand {
                        args: vec![SCRIPT.to_string()],
                        script: Some(only.content.clone()),
                    }
                }
                [only] if is_bare_heredoc(text, &only.name) => only.content.clone(),
                heredocs => {
                    let mut script = text.clone();
                    for doc in heredocs {
                        script.push('\n');
                        script.push_str(&doc.content);
                        if !doc.content.ends_with('\n') {
                            script.push('\n');
                        }
                        script.push_str(&doc.name);
                    }
                    script
                }
            };
            let mut args = stage.shell.clone();
            args.push(script);
            StepCommand { args, script: None }
        }
    }
}

fn is_bare_heredoc(text: &str, name: &str) -> bool {
    let rest = text.trim();
    let Some(rest) = rest.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    rest.trim_matches(|c| c == '"' || c == '\'') == name
}

/// Runs `args` in the container rooted at `rootfs`; an exit other than 0 fails the step.
pub(crate) fn run_step(
    cx: &RunContext<'_>,
    stage: &StageState,
    rootfs: &Path,
    name: &str,
    command: &StepCommand,
    line: usize,
) -> Result<()> {
    let bundle = cx.run_dir.join(name);
    std::fs::create_dir_all(&bundle).map_err(io(&bundle))?;
    let cleanup = BundleDir(bundle.clone());
    let mut spec = step_spec(cx, stage, rootfs, command.args.clone(), line)?;
    add_network_files(cx, &bundle, &mut spec)?;
    if let Some(script) = &command.script {
        let path = bundle.join("script");
        std::fs::write(&path, script).map_err(io(&path))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io(&path))?;
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        mounts.push(bind(&path, SCRIPT, true)?);
        spec.set_mounts(Some(mounts));
    }
    aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
    let state_root = cx.run_dir.join("runtime");
    let status = std::process::Command::new(cx.runtime)
        .arg("--root")
        .arg(&state_root)
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(name)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| step(line, format!("running {}: {e}", cx.runtime.display())))?;
    drop(cleanup);
    if !status.success() {
        let code = status
            .code()
            .map_or_else(|| "was killed".to_string(), |c| format!("exited with {c}"));
        return Err(step(line, format!("the command {code}")));
    }
    Ok(())
}

/// Removes a step's bundle directory when the step ends, however it ends.
struct BundleDir(PathBuf);

impl Drop for BundleDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn step_spec(
    cx: &RunContext<'_>,
    stage: &StageState,
    rootfs: &Path,
    args: Vec<String>,
    line: usize,
) -> Result<Spec> {
    let bytes =
        serde_json::to_vec(&stage.config).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let config = aurora_bundle::parse_image_config(&stage.base_name, &bytes)?;
    let mut env = stage.run_env();
    for entry in &cx.proxy_env {
        let name = entry.split('=').next().unwrap_or_default();
        if !env.iter().any(|e| e.split('=').next() == Some(name)) {
            env.push(entry.clone());
        }
    }
    if cx.buildhelper.is_some() {
        add_helper_to_path(&mut env);
    }
    let overrides = aurora_bundle::Overrides {
        args: Some(args),
        env,
        terminal: false,
        hostname: None,
    };
    let mut spec = aurora_bundle::convert(&stage.base_name, &config, rootfs, &overrides)
        .map_err(|e| step(line, e.to_string()))?
        .spec;
    if let Some(mut root) = spec.root().clone() {
        root.set_path(rootfs.to_path_buf());
        root.set_readonly(Some(false));
        spec.set_root(Some(root));
    }
    set_default_capabilities(&mut spec);
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if let Some(helper) = cx.buildhelper {
        mounts.push(bind(helper, &format!("{HELPER_DIR}/buildhelper"), true)?);
    }
    if cx.network == Network::Host {
        if let Some(linux) = spec.linux_mut() {
            if let Some(namespaces) = linux.namespaces_mut() {
                namespaces.retain(|n| n.typ() != LinuxNamespaceType::Network);
            }
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(spec)
}

/// /etc/hosts, /etc/resolv.conf and /etc/hostname for the step, bind-mounted read-only as
/// buildah does (so a `RUN` on the host's network resolves names as the host does): the
/// host's files with the host's network, loopback only without one.
fn add_network_files(cx: &RunContext<'_>, bundle: &Path, spec: &mut Spec) -> Result<()> {
    let hostname = spec.hostname().clone().unwrap_or_else(|| "build".into());
    let (hosts, resolv) = match cx.network {
        Network::Host => (
            std::fs::read("/etc/hosts").unwrap_or_default(),
            std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        ),
        Network::None => (
            format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost\n").into_bytes(),
            Vec::new(),
        ),
    };
    make_mount_points(spec, &["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"])?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (file, content) in [
        ("hosts", hosts),
        ("resolv.conf", resolv),
        ("hostname", format!("{hostname}\n").into_bytes()),
    ] {
        let path = bundle.join(file);
        std::fs::write(&path, content).map_err(io(&path))?;
        mounts.push(bind(&path, &format!("/etc/{file}"), true)?);
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// The files bind-mounted over, made where the image lacks them, empty and 0755 as buildah
/// makes them (the runtime would make them 0644): the layers of both tools then agree.
fn make_mount_points(spec: &Spec, files: &[&str]) -> Result<()> {
    let Some(rootfs) = spec.root().as_ref().map(|r| r.path().clone()) else {
        return Ok(());
    };
    let root = pathrs::Root::open(&rootfs)
        .map_err(|e| BuildError::Invalid(format!("the build root: {e}")))?;
    for file in files {
        if root.resolve_nofollow(file).is_ok() {
            continue;
        }
        let parent = Path::new(file).parent().unwrap_or(Path::new("/"));
        let perm = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        let made = root.mkdir_all(parent, &perm).and_then(|_| {
            root.create_file(
                file,
                pathrs::flags::OpenFlags::O_WRONLY | pathrs::flags::OpenFlags::O_EXCL,
                &perm,
            )
        });
        if let Err(e) = made {
            // The runtime makes it then; only the mode differs.
            tracing::debug!("making the mount point {file}: {e}");
        }
    }
    Ok(())
}

/// buildah's capabilities for a step (containers.conf's defaults: a root step may chown,
/// setuid, bind low ports); runc's `spec` defaults are narrower.
fn set_default_capabilities(spec: &mut Spec) {
    let caps: std::collections::HashSet<oci_spec::runtime::Capability> =
        aurora_bundle::DEFAULT_CAPABILITIES
            .iter()
            // The spec's own spelling ("CAP_CHOWN"), as serde reads it from a config.json.
            .filter_map(|name| {
                serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
            })
            .collect();
    let Some(process) = spec.process_mut() else {
        return;
    };
    let mut set = process.capabilities().clone().unwrap_or_default();
    set.set_bounding(Some(caps.clone()));
    set.set_effective(Some(caps.clone()));
    set.set_permitted(Some(caps));
    set.set_inheritable(None);
    set.set_ambient(None);
    process.set_capabilities(Some(set));
}

/// buildhelper's directory last on PATH: the image's own programs come first.
fn add_helper_to_path(env: &mut Vec<String>) {
    match env.iter_mut().find(|e| e.starts_with("PATH=")) {
        Some(path) => {
            path.push(':');
            path.push_str(HELPER_DIR);
        }
        None => env.push(format!("PATH={}:{HELPER_DIR}", aurora_bundle::DEFAULT_PATH)),
    }
}

fn bind(source: &Path, destination: &str, readonly: bool) -> Result<Mount> {
    let mut options = vec!["rbind".to_string(), "nosuid".into(), "nodev".into()];
    if readonly {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(|e| BuildError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_heredocs_are_the_script() {
        assert!(is_bare_heredoc("<<EOF", "EOF"));
        assert!(is_bare_heredoc("<<-EOF", "EOF"));
        assert!(is_bare_heredoc("<<\"EOF\"", "EOF"));
        assert!(!is_bare_heredoc("python3 <<EOF", "EOF"));
    }

    #[test]
    fn buildhelper_comes_after_the_image_path() {
        let mut env = vec!["PATH=/bin".to_string()];
        add_helper_to_path(&mut env);
        assert_eq!(env, [format!("PATH=/bin:{HELPER_DIR}")]);
    }
}
