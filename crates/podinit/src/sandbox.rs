//! Sandbox mode (`podinit sandbox DIR`): the process of a warm pool's ready sandbox.
//!
//! The runtime has created and started the container with podinit as its process, with
//! CAP_SYS_ADMIN on top of the container's own capabilities and the engine's channel
//! directory bind-mounted at `DIR` (inside the container's `/dev`, a tmpfs, so the image's
//! tree is untouched). podinit blocks reading `DIR/process`, a FIFO, until the engine
//! claims the sandbox and writes the real process (the runtime-spec process section, JSON)
//! and closes it. podinit then detaches `DIR` and removes its mount point, applies the
//! process the way the runtime (youki's libcontainer, as runz runs it) applies it to a
//! fresh container — supplementary groups, uid/gid, capabilities (bounding, effective,
//! permitted, inheritable, ambient), working directory, `HOME` when the environment lacks
//! it, no_new_privs, rlimits — and execs the command, which becomes PID 1 as in a fresh
//! container. Nothing of podinit is left: no mount, no file, no process.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{self, Process};

/// The FIFO inside the channel directory.
pub const FIFO_NAME: &str = "process";

/// The process section the engine writes, with the capabilities podinit applies here.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxProcess {
    #[serde(flatten)]
    pub process: Process,
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
    /// The hostname to give the container's UTS namespace before the process starts (a
    /// pod's infra sandbox learns its pod's hostname only when claimed).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// The runtime-spec capability sets (absent set: left as it is, as the runtime does).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub bounding: Option<Vec<String>>,
    #[serde(default)]
    pub effective: Option<Vec<String>>,
    #[serde(default)]
    pub permitted: Option<Vec<String>>,
    #[serde(default)]
    pub inheritable: Option<Vec<String>>,
    #[serde(default)]
    pub ambient: Option<Vec<String>>,
}

/// Why the claimed process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("reading the process from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the process written to {path} is invalid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("removing the channel {path}: {source}")]
    Channel {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Apply {
        what: String,
        source: std::io::Error,
    },
    #[error("unknown capability {0:?}")]
    Capability(String),
    #[error("cannot execute {program:?}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
}

impl SandboxError {
    /// podinit's exit status for this failure (as a fresh container's would be).
    pub fn exit_code(&self) -> i32 {
        match self {
            SandboxError::Exec { source, .. } => match source.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => crate::EXIT_NOT_FOUND,
                _ => crate::EXIT_CANNOT_EXECUTE,
            },
            _ => crate::EXIT_INIT_FAILED,
        }
    }
}

/// Waits for the process, removes the channel and execs the process; returns only on
/// failure.
pub fn run(dir: &Path) -> SandboxError {
    let process = match receive(dir) {
        Ok(process) => process,
        Err(e) => return e,
    };
    if let Err(e) = remove_channel(dir) {
        return e;
    }
    if let Some(hostname) = &process.hostname {
        // Still with CAP_SYS_ADMIN, which the process's capabilities may lack.
        if let Err(e) = rustix::system::sethostname(hostname.as_bytes()) {
            return os(format!("setting the hostname {hostname:?}"))(e.into());
        }
    }
    match apply_and_exec(&process) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Reads the FIFO to its end (the engine closes it once written) and parses it.
pub fn receive(dir: &Path) -> Result<SandboxProcess, SandboxError> {
    let path = dir.join(FIFO_NAME);
    let bytes = std::fs::read(&path).map_err(|source| SandboxError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&bytes, &path)
}

/// Parses and checks the process the engine wrote.
pub fn parse(bytes: &[u8], path: &Path) -> Result<SandboxProcess, SandboxError> {
    let invalid = |reason: String| SandboxError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let process: SandboxProcess =
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let check = config::InitConfig {
        process: process.process.clone(),
        hostname: None,
        config_maps: Vec::new(),
        status_file: None,
    };
    check
        .validate()
        .map_err(|(field, reason)| invalid(format!("{field}: {reason}")))?;
    if let Some(hostname) = &process.hostname {
        // The kernel's limit (HOST_NAME_MAX); a NUL would cut it short.
        if hostname.is_empty() || hostname.len() > 64 || hostname.contains('\0') {
            return Err(invalid(format!(
                "hostname {hostname:?}: 1 to 64 bytes without NUL"
            )));
        }
    }
    Ok(process)
}

/// Detaches the channel's mount (the last thing CAP_SYS_ADMIN is kept for) and removes its
/// mount point, so the container shows no trace of it.
fn remove_channel(dir: &Path) -> Result<(), SandboxError> {
    let err = |source| SandboxError::Channel {
        path: dir.to_path_buf(),
        source,
    };
    rustix::mount::unmount(dir, rustix::mount::UnmountFlags::DETACH).map_err(|e| err(e.into()))?;
    std::fs::remove_dir(dir).map_err(err)
}

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Apply { what, source }
}

fn check(r: libc::c_int, what: &str) -> Result<(), SandboxError> {
    if r == 0 {
        Ok(())
    } else {
        Err(os(what)(std::io::Error::last_os_error()))
    }
}

/// Applies the process in the runtime's order and execs it.
fn apply_and_exec(sandbox: &SandboxProcess) -> Result<std::convert::Infallible, SandboxError> {
    let p = &sandbox.process;
    for r in &p.rlimits {
        let Some(resource) = config::rlimit_resource(&r.kind) else {
            continue;
        };
        let limit = libc::rlimit {
            rlim_cur: r.soft as libc::rlim_t,
            rlim_max: r.hard as libc::rlim_t,
        };
        // SAFETY: a valid rlimit pointer.
        check(
            unsafe { libc::setrlimit(resource as _, &limit) },
            &format!("setting {}", r.kind),
        )?;
    }
    let uid = p.user.as_ref().map_or(0, |u| u.uid);
    if let Some(user) = &p.user {
        if let Some(umask) = user.umask {
            // SAFETY: umask has no preconditions.
            unsafe { libc::umask(umask as libc::mode_t) };
        }
        set_ids(user)?;
    }
    if let Some(caps) = &sandbox.capabilities {
        apply_capabilities(caps)?;
    }
    if let Some(cwd) = &p.cwd {
        std::env::set_current_dir(cwd).map_err(os(format!("changing to {cwd}")))?;
    }
    let mut env = p.env.clone();
    add_home(&mut env, uid);
    if p.no_new_privileges {
        // SAFETY: prctl with integer arguments.
        check(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            "setting no_new_privs",
        )?;
    }
    exec(&p.args, &env)
}

/// As the runtime: supplementary groups when some are given, then gid and uid with the
/// capabilities kept across the switch.
fn set_ids(user: &config::User) -> Result<(), SandboxError> {
    if !user.additional_gids.is_empty() {
        let groups: Vec<libc::gid_t> = user.additional_gids.iter().map(|g| *g as _).collect();
        // SAFETY: a valid array of its length.
        check(
            unsafe { libc::setgroups(groups.len() as _, groups.as_ptr()) },
            "setting supplementary groups",
        )?;
    }
    // SAFETY: prctl and the set*id calls take integers only; podinit has one thread.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
            "keeping capabilities",
        )?;
        check(
            libc::setresgid(user.gid, user.gid, user.gid),
            &format!("switching to gid {}", user.gid),
        )?;
        check(
            libc::setresuid(user.uid, user.uid, user.uid),
            &format!("switching to uid {}", user.uid),
        )?;
        check(
            libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0),
            "clearing keep-capabilities",
        )?;
    }
    Ok(())
}

/// The effective set reset to the permitted one, then every set given replaced, in the
/// runtime's order (bounding, effective, permitted, inheritable, ambient).
fn apply_capabilities(wanted: &Capabilities) -> Result<(), SandboxError> {
    use caps::CapSet;
    let fail = |what: &str| {
        let what = what.to_string();
        move |e: caps::errors::CapsError| SandboxError::Apply {
            what,
            source: std::io::Error::other(e.to_string()),
        }
    };
    let permitted = caps::read(None, CapSet::Permitted).map_err(fail("reading capabilities"))?;
    caps::set(None, CapSet::Effective, &permitted).map_err(fail("resetting capabilities"))?;
    if let Some(bounding) = &wanted.bounding {
        let keep = cap_set(bounding)?;
        for cap in caps::read(None, CapSet::Bounding).map_err(fail("reading bounding set"))? {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(fail(&format!("dropping {cap} from the bounding set")))?;
            }
        }
    }
    let sets = [
        (CapSet::Effective, &wanted.effective, "effective"),
        (CapSet::Permitted, &wanted.permitted, "permitted"),
        (CapSet::Inheritable, &wanted.inheritable, "inheritable"),
        (CapSet::Ambient, &wanted.ambient, "ambient"),
    ];
    for (set, names, label) in sets {
        if let Some(names) = names {
            caps::set(None, set, &cap_set(names)?)
                .map_err(fail(&format!("setting the {label} capabilities")))?;
        }
    }
    Ok(())
}

fn cap_set(names: &[String]) -> Result<caps::CapsHashSet, SandboxError> {
    names
        .iter()
        .map(|n| {
            n.parse::<caps::Capability>()
                .map_err(|_| SandboxError::Capability(n.clone()))
        })
        .collect()
}

/// The runtime sets `HOME` from the container's passwd file when the environment has none
/// (or an empty one).
fn add_home(env: &mut Vec<String>, uid: u32) {
    if env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()))
    {
        return;
    }
    let Some(home) = passwd_home(
        &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
        uid,
    ) else {
        return;
    };
    env.retain(|e| !e.starts_with("HOME="));
    env.push(format!("HOME={home}"));
}

/// The home directory of `uid` in a passwd file's text.
pub fn passwd_home(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2].parse::<u32>().ok() == Some(uid))
            .then(|| fields[5].to_string())
    })
}

/// execve along the environment's PATH (the default one when it has none).
fn exec(args: &[String], env: &[String]) -> Result<std::convert::Infallible, SandboxError> {
    use std::ffi::CString;
    let program = args[0].clone();
    let cstr =
        |s: &str| CString::new(s).map_err(|e| os(format!("{s:?}"))(std::io::Error::other(e)));
    let argv: Vec<CString> = args.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|e| cstr(e)).collect::<Result<_, _>>()?;
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv_ptrs, envp_ptrs) = (ptrs(&argv), ptrs(&envp));
    let candidates: Vec<String> = if program.contains('/') {
        vec![program.clone()]
    } else {
        let path = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(config::DEFAULT_PATH);
        path.split(':')
            .map(|dir| {
                if dir.is_empty() {
                    program.clone()
                } else {
                    format!("{dir}/{program}")
                }
            })
            .collect()
    };
    // The Rust runtime ignores SIGPIPE; the program gets the default, as from the runtime.
    // SAFETY: resetting a signal disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut last = std::io::Error::from_raw_os_error(libc::ENOENT);
    let mut denied = false;
    for candidate in &candidates {
        let c = cstr(candidate)?;
        // SAFETY: NUL-terminated arrays of valid C strings.
        unsafe { libc::execve(c.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
        last = std::io::Error::last_os_error();
        match last.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) => denied = true,
            _ => break,
        }
    }
    if denied
        && matches!(
            last.raw_os_error(),
            Some(libc::ENOENT) | Some(libc::ENOTDIR)
        )
    {
        last = std::io::Error::from_raw_os_error(libc::EACCES);
    }
    Err(SandboxError::Exec {
        program,
        source: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_spec_process_section_is_read() {
        let json =
            br#"{"terminal": false, "user": {"uid": 1000, "gid": 100, "additionalGids": [10]},
            "args": ["sh", "-c", "exit 3"], "env": ["PATH=/bin", "HOSTNAME=abc"], "cwd": "/",
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "oomScoreAdj": 0, "noNewPrivileges": true}"#;
        let p = parse(json, Path::new("/dev/.aurora-sandbox/process")).unwrap();
        assert_eq!(p.process.args, ["sh", "-c", "exit 3"]);
        assert_eq!(p.process.user.as_ref().unwrap().additional_gids, [10]);
        let caps = p.capabilities.unwrap();
        assert_eq!(caps.bounding.unwrap(), ["CAP_CHOWN"]);
        assert!(caps.ambient.is_none());
        assert!(p.process.no_new_privileges);
        assert!(cap_set(&["CAP_SYS_ADMIN".into()]).is_ok());
        assert!(matches!(
            cap_set(&["CAP_BOGUS".into()]),
            Err(SandboxError::Capability(_))
        ));
    }

    #[test]
    fn a_bad_process_is_refused_naming_the_field() {
        let err = parse(br#"{"args": []}"#, Path::new("/c/process"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the process written to /c/process is invalid: process.args: must not be empty"
        );
        assert!(parse(b"{", Path::new("/c/process")).is_err());
    }

    #[test]
    fn a_hostname_comes_with_the_process_and_is_checked() {
        let path = Path::new("/c/process");
        let p = parse(br#"{"args": ["pause"], "hostname": "pod-a"}"#, path).unwrap();
        assert_eq!(p.hostname.as_deref(), Some("pod-a"));
        assert!(parse(br#"{"args": ["pause"]}"#, path)
            .unwrap()
            .hostname
            .is_none());
        let long = format!(r#"{{"args": ["pause"], "hostname": "{}"}}"#, "h".repeat(65));
        for bad in [r#"{"args": ["pause"], "hostname": ""}"#, long.as_str()] {
            let err = parse(bad.as_bytes(), path).unwrap_err().to_string();
            assert!(err.contains("hostname"), "{err}");
        }
    }

    #[test]
    fn home_comes_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/home:/bin/false\n";
        assert_eq!(passwd_home(passwd, 0).as_deref(), Some("/root"));
        assert_eq!(passwd_home(passwd, 65534).as_deref(), Some("/home"));
        assert_eq!(passwd_home(passwd, 5), None);
    }
}
