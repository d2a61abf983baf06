//! Keeping the host's runz binary out of reach of containers (CVE-2019-5736).
//!
//! A process runz sets up inside a container is a fork of runz: until it executes the
//! container's program, `/proc/self/exe` is runz's own binary on the host. Two things could
//! let a container reach it: another container process opening `/proc/PID/exe` of that fork,
//! and a program that is a script whose interpreter is `/proc/self/exe` (the kernel would run
//! the host's runz inside the container). runz closes both:
//!
//! - runz is not dumpable while it sets containers up ([`forbid_ptrace_access`]), so container
//!   processes cannot open its `/proc/PID/exe` (the kernel's ptrace access check);
//! - the container's program is not executed by the fork itself but by `runz-exec`, a static
//!   helper of a few kilobytes (no C library) run from a sealed memfd ([`SealedExecutor`]), so whatever the
//!   program's interpreter, `/proc/self/exe` is then the sealed helper.
//!
//! startContainer hooks are executed by libcontainer from the fork, with paths inside the
//! container, so for a bundle that has them (and when the helper could not be built) runz
//! falls back to running from a sealed copy of its whole binary, as runc 1.1 and youki do:
//! safe, but each create pays for copying runz (milliseconds) instead of the helper
//! (microseconds).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

#[cfg(runz_exec_helper)]
const HELPER: Option<&[u8]> = Some(include_bytes!(concat!(env!("OUT_DIR"), "/runz-exec")));
#[cfg(not(runz_exec_helper))]
const HELPER: Option<&[u8]> = None;

/// Whether runz was built with runz-exec.
pub fn helper_available() -> bool {
    HELPER.is_some()
}

/// Whether creating a container from `spec` needs runz itself to run from a sealed copy:
/// when it has startContainer hooks, or runz has no helper. Decided from the parsed
/// configuration that the create then uses (see [`super::Bundle`]): however config.json
/// spells the key (a JSON escape is the same key to the parser), the decision and the
/// container see the same hooks.
pub fn needs_sealed_binary(spec: &Spec) -> bool {
    !helper_available()
        || spec
            .hooks()
            .as_ref()
            .and_then(|h| h.start_container().as_ref())
            .is_some_and(|hooks| !hooks.is_empty())
}

/// Makes this process (and the forks that become container processes) non-dumpable.
pub fn forbid_ptrace_access() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Executes the container's program through runz-exec in a sealed memfd. The memfd is opened
/// once per runz process and inherited by its forks.
#[derive(Clone)]
pub struct SealedExecutor {
    helper: RawFd,
    /// The program as `validate` found it in the container's `$PATH`: looked up before the
    /// seccomp filter is loaded, so that `exec`, which runs under it, makes no call but the
    /// exec itself (a profile may deny the stat and access calls of a lookup).
    program: std::sync::OnceLock<PathBuf>,
}

impl SealedExecutor {
    /// The executor, or None when runz has no helper.
    pub fn new() -> std::io::Result<Option<Self>> {
        let Some(bytes) = HELPER else { return Ok(None) };
        let memfd = sealed_memfd(bytes)?;
        // The descriptor must outlive every fork: it is left open for the life of the process.
        let helper = memfd.as_raw_fd();
        std::mem::forget(memfd);
        Ok(Some(SealedExecutor {
            helper,
            program: std::sync::OnceLock::new(),
        }))
    }
}

fn sealed_memfd(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    use std::io::Write;
    let name = c"runz-exec";
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(memfd);
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(OwnedFd::from(file))
}

impl Executor for SealedExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let path = match self.program.get() {
            Some(path) => path.clone(),
            None => resolve(&args[0], std::env::var_os("PATH")).ok_or_else(|| {
                ExecutorError::Other(format!("executable {:?} not found in $PATH", args[0]))
            })?,
        };
        let cstring = |bytes: &[u8]| CString::new(bytes).map_err(|_| ExecutorError::InvalidArg);
        let mut argv = vec![
            cstring(b"runz-exec")?,
            cstring(path.as_os_str().as_bytes())?,
        ];
        for arg in args {
            argv.push(cstring(arg.as_bytes())?);
        }
        let envp = std::env::vars_os()
            .map(|(k, v)| {
                let mut pair = k.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(v.as_bytes());
                cstring(&pair)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        // SAFETY: both arrays are NULL-terminated and point into CStrings alive across the call.
        unsafe { libc::fexecve(self.helper, argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
        let err = std::io::Error::last_os_error();
        Err(ExecutorError::Execution(
            format!("cannot execute {} through runz-exec: {err}", path.display()).into(),
        ))
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)?;
        let process = spec.process().as_ref();
        let program = process
            .and_then(|p| p.args().as_ref())
            .and_then(|args| args.first());
        // The environment exec will have: the process's, which sets PATH as the spec says.
        let path_var = process
            .and_then(|p| p.env().as_ref())
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
            .map(std::ffi::OsString::from);
        if let Some(found) = program.and_then(|program| resolve(program, path_var)) {
            let _ = self.program.set(found);
        }
        Ok(())
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `execvp`'s search: a name with a slash is used as it is, otherwise the first executable
/// file of that name in the container's `$PATH`.
fn resolve(program: &str, path: Option<std::ffi::OsString>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = path.unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(c) = CString::new(OsStr::as_bytes(path.as_os_str())) else {
        return false;
    };
    // SAFETY: access takes a NUL-terminated path.
    let executable = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    executable && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_is_built_small_and_static() {
        let bytes = HELPER.expect("runz-exec is built on Linux with a C compiler");
        assert_eq!(&bytes[..4], b"\x7fELF");
        assert!(bytes.len() < 64 << 10, "{} bytes", bytes.len());
    }

    #[test]
    fn the_helper_execs_its_first_argument_with_the_rest_as_argv() {
        let memfd = sealed_memfd(HELPER.unwrap()).unwrap();
        let path = format!("/proc/self/fd/{}", memfd.as_raw_fd());
        let out = std::process::Command::new(&path)
            .args([
                "/bin/sh",
                "argv0-given",
                "-c",
                "tr '\\0' ' ' < /proc/$$/cmdline; echo \"$0\"",
            ])
            .arg("one")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("argv0-given -c "), "{text}");
        assert!(text.ends_with(" one one\n"), "{text}");
        let out = std::process::Command::new(&path)
            .args(["/nonexistent", "x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "runz-exec: cannot execute /nonexistent: No such file or directory\n"
        );
        // Sealed: not even root can change it.
        let write = std::fs::OpenOptions::new().write(true).open(&path);
        assert!(write.is_err() || std::io::Write::write(&mut write.unwrap(), b"x").is_err());
    }

    #[test]
    fn path_search_follows_execvp() {
        let path = || std::env::var_os("PATH");
        assert_eq!(resolve("/x/y", path()), Some(PathBuf::from("/x/y")));
        assert_eq!(
            resolve("sh", path()).map(|p| p.file_name().unwrap().to_owned()),
            Some("sh".into())
        );
        assert_eq!(resolve("no-such-program-anywhere", path()), None);
        assert_eq!(resolve("sh", Some("/nonexistent-dir".into())), None);
    }
}

/// The executor runz gives libcontainer: through runz-exec when runz has it, else
/// libcontainer's own (runz then runs from a sealed copy of itself).
#[derive(Clone)]
pub enum RunzExecutor {
    Sealed(SealedExecutor),
    Plain(DefaultExecutor),
}

impl RunzExecutor {
    pub fn new() -> std::io::Result<Self> {
        Ok(match SealedExecutor::new()? {
            Some(sealed) => RunzExecutor::Sealed(sealed),
            None => RunzExecutor::Plain(DefaultExecutor {}),
        })
    }
}

impl Executor for RunzExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        match self {
            RunzExecutor::Sealed(e) => e.exec(spec),
            RunzExecutor::Plain(e) => e.exec(spec),
        }
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        match self {
            RunzExecutor::Sealed(e) => e.validate(spec),
            RunzExecutor::Plain(e) => e.validate(spec),
        }
    }
}
