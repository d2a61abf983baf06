//! Pushing and inspecting images with skopeo, an independent client, so
//! test fixtures reach the registry through a path Aurora doesn't own.

use std::path::Path;
use std::process::{Command, Output};

use crate::tools::require_tools;

/// Options for [`skopeo_push`].
#[derive(Clone, Debug, Default)]
pub struct PushOpts {
    /// Push every image of an index (`--all`), not just the host's.
    pub all_platforms: bool,
    /// Convert to Docker schema 2 manifests (`--format v2s2`).
    pub docker_v2s2: bool,
    /// Credentials for the destination; `None` pushes anonymously.
    pub creds: Option<(String, String)>,
}

/// Pushes `oci:LAYOUT_DIR:TAG` to `docker://DEST` (`DEST` like
/// `127.0.0.1:PORT/repo:tag`, plain HTTP) and returns the digest of the
/// manifest as pushed. Panics with skopeo's stderr on failure.
pub fn skopeo_push(layout_dir: &Path, tag: &str, dest: &str, opts: &PushOpts) -> String {
    try_skopeo_push(layout_dir, tag, dest, opts)
        .unwrap_or_else(|stderr| panic!("skopeo push of {tag} to {dest} failed:\n{stderr}"))
}

/// Like [`skopeo_push`], returning skopeo's stderr on failure (to test that
/// a registry refuses a push).
pub fn try_skopeo_push(
    layout_dir: &Path,
    tag: &str,
    dest: &str,
    opts: &PushOpts,
) -> Result<String, String> {
    require_tools(&["skopeo"]);
    let scratch = tempfile::tempdir().expect("creating a temp dir for skopeo's digest file");
    let digest_file = scratch.path().join("digest");
    let mut command = skopeo();
    command.args(["copy", "--quiet", "--dest-tls-verify=false"]);
    if opts.all_platforms {
        command.arg("--all");
    }
    if opts.docker_v2s2 {
        command.args(["--format", "v2s2"]);
    }
    match &opts.creds {
        Some((user, password)) => command.arg(format!("--dest-creds={user}:{password}")),
        None => command.arg("--dest-no-creds"),
    };
    command
        .arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("oci:{}:{tag}", layout_dir.display()))
        .arg(format!("docker://{dest}"));
    run(&mut command)?;
    let digest = std::fs::read_to_string(&digest_file).expect("reading skopeo's digest file");
    Ok(digest.trim().to_string())
}

/// The raw manifest (or index) of `image` (`127.0.0.1:PORT/repo:tag` or
/// `…@sha256:…`), as the registry serves it. Panics on failure.
pub fn skopeo_inspect_raw(image: &str, creds: Option<&(String, String)>) -> Vec<u8> {
    try_skopeo_inspect_raw(image, creds)
        .unwrap_or_else(|stderr| panic!("skopeo inspect of {image} failed:\n{stderr}"))
}

/// Like [`skopeo_inspect_raw`], returning skopeo's stderr on failure (to
/// test that a registry refuses a pull).
pub fn try_skopeo_inspect_raw(
    image: &str,
    creds: Option<&(String, String)>,
) -> Result<Vec<u8>, String> {
    require_tools(&["skopeo"]);
    let mut command = skopeo();
    command.args(["inspect", "--raw", "--tls-verify=false"]);
    match creds {
        Some((user, password)) => command.arg(format!("--creds={user}:{password}")),
        None => command.arg("--no-creds"),
    };
    command.arg(format!("docker://{image}"));
    run(&mut command).map(|output| output.stdout)
}

/// skopeo without trust-policy checks, so tests don't depend on the host's
/// /etc/containers/policy.json.
fn skopeo() -> Command {
    let mut command = Command::new("skopeo");
    command.arg("--insecure-policy");
    command
}

fn run(command: &mut Command) -> Result<Output, String> {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("could not run {command:?}: {err}"));
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{command:?} exited with {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
