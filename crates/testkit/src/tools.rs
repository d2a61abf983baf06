//! Host tool discovery, so a missing tool fails a test with an actionable
//! message instead of an obscure "No such file or directory".

use std::path::PathBuf;
use std::process::{Command, Output};

/// Debian package that provides each tool the testkit (or its users) runs.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("busybox", "busybox-static"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
    ("curl", "curl"),
];

/// Panics unless every tool is an executable on `PATH`, naming the missing
/// tool and the apt package that provides it.
pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        if find_tool(tool).is_none() {
            panic!(
                "required tool `{tool}` was not found on PATH; \
                 install it with `apt-get install {}`",
                apt_package(tool)
            );
        }
    }
}

/// The Debian package providing `tool` (the tool's own name if unknown).
fn apt_package(tool: &str) -> &str {
    APT_PACKAGES
        .iter()
        .find(|(name, _)| *name == tool)
        .map_or(tool, |(_, package)| package)
}

/// Full path of `tool` if it is on `PATH` (or in the sbin directories, which
/// root's PATH sometimes lacks in CI).
pub(crate) fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `command` to completion, panicking (with stderr) if it cannot be
/// started or exits unsuccessfully. `what` says what the command was for.
pub(crate) fn run_checked(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: could not run {command:?}: {err}"));
    if !output.status.success() {
        panic!(
            "{what}: {command:?} failed with {}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh() {
        assert!(find_tool("sh").is_some());
        require_tools(&["sh"]);
    }

    #[test]
    fn maps_tools_to_packages() {
        assert_eq!(apt_package("htpasswd"), "apache2-utils");
        assert_eq!(apt_package("busybox"), "busybox-static");
    }

    #[test]
    #[should_panic(expected = "`aurora-no-such-tool` was not found on PATH")]
    fn panics_naming_a_missing_tool() {
        require_tools(&["sh", "aurora-no-such-tool"]);
    }
}
