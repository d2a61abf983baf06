//! Starting the child and supervising it: the part that talks to the kernel.
//!
//! Before forking, podinit blocks every signal except the synchronous ones
//! ([`crate::signals::SYNCHRONOUS`]), so that a signal arriving at any time is queued rather
//! than lost, and waits for them with `sigwait` (POSIX; Linux and illumos alike). The child
//! restores the mask podinit started with just before `exec`. Everything the child does
//! between `fork` and `exec` is a plain system call on data prepared before the fork; a
//! failing step is reported to the parent through a close-on-exec pipe as (step, errno).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::status::ExitRecord;

/// What to start, before it is turned into C strings.
#[derive(Debug, Clone, Default)]
pub struct LaunchSpec {
    /// `args[0]` is the program, looked up in `search_path` unless it contains `/`.
    pub args: Vec<OsString>,
    /// The complete environment, `NAME=VALUE` each.
    pub env: Vec<OsString>,
    /// Colon-separated directories to find `args[0]` in.
    pub search_path: OsString,
    pub cwd: Option<PathBuf>,
    /// A directory to chroot into before the working directory is changed (a pod's
    /// service runs in its container's root); `None`: podinit's own root.
    pub root: Option<PathBuf>,
    pub user: Option<crate::config::User>,
    /// (resource, soft, hard)
    pub rlimits: Vec<(i32, u64, u64)>,
    pub no_new_privileges: bool,
}

/// A step of the child's set-up, as reported through the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    ProcessGroup = 1,
    Terminal,
    Rlimit,
    Chroot,
    Setgroups,
    Setgid,
    Setuid,
    Chdir,
    NoNewPrivileges,
    SignalMask,
    Exec,
}

impl Step {
    fn from_u32(v: u32) -> Option<Step> {
        use Step::*;
        [
            ProcessGroup,
            Terminal,
            Rlimit,
            Chroot,
            Setgroups,
            Setgid,
            Setuid,
            Chdir,
            NoNewPrivileges,
            SignalMask,
            Exec,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }
}

/// The child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start {program:?}: {reason}")]
    Prepare { program: String, reason: String },
    #[error("cannot fork: {0}")]
    Fork(std::io::Error),
    #[error("{message}")]
    Child {
        step: Step,
        errno: i32,
        message: String,
    },
}

impl SpawnError {
    /// podinit's exit status for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::Child {
                step: Step::Exec,
                errno,
                ..
            } => {
                if *errno == libc::ENOENT || *errno == libc::ENOTDIR {
                    crate::EXIT_NOT_FOUND
                } else {
                    crate::EXIT_CANNOT_EXECUTE
                }
            }
            _ => crate::EXIT_INIT_FAILED,
        }
    }
}

struct UserPlan {
    uid: libc::uid_t,
    gid: libc::gid_t,
    /// `None`: leave the supplementary groups alone (not root and none asked for).
    groups: Option<Vec<libc::gid_t>>,
}

/// A [`LaunchSpec`] in the form the child needs: nothing is allocated after the fork.
pub struct Launch {
    spec: LaunchSpec,
    program: String,
    searched: bool,
    candidates: Vec<CString>,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    root: Option<CString>,
    user: Option<UserPlan>,
    umask: Option<libc::mode_t>,
}

fn cstring(program: &str, what: &str, bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::Prepare {
        program: program.to_string(),
        reason: format!("{what} contains a NUL byte"),
    })
}

impl Launch {
    /// Prepares `spec` for [`spawn`].
    pub fn new(spec: LaunchSpec) -> Result<Self, SpawnError> {
        let first = spec.args.first().ok_or_else(|| SpawnError::Prepare {
            program: String::new(),
            reason: "no command".into(),
        })?;
        let program = first.to_string_lossy().into_owned();
        if first.is_empty() {
            return Err(SpawnError::Prepare {
                program,
                reason: "the command is empty".into(),
            });
        }
        let argv = spec
            .args
            .iter()
            .map(|a| cstring(&program, "an argument", a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = spec
            .env
            .iter()
            .map(|e| cstring(&program, "the environment", e.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let searched = !first.as_bytes().contains(&b'/');
        let candidates = if searched {
            spec.search_path
                .as_bytes()
                .split(|b| *b == b':')
                .map(|dir| {
                    let mut c = dir.to_vec();
                    if !c.is_empty() {
                        c.push(b'/');
                    }
                    c.extend_from_slice(first.as_bytes());
                    cstring(&program, "PATH", &c)
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![argv[0].clone()]
        };
        let cwd = spec
            .cwd
            .as_ref()
            .map(|c| cstring(&program, "the working directory", c.as_os_str().as_bytes()))
            .transpose()?;
        let root_dir = spec
            .root
            .as_ref()
            .map(|r| cstring(&program, "the root directory", r.as_os_str().as_bytes()))
            .transpose()?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let user = spec.user.as_ref().map(|u| UserPlan {
            uid: u.uid as libc::uid_t,
            gid: u.gid as libc::gid_t,
            groups: (root || !u.additional_gids.is_empty()).then(|| {
                u.additional_gids
                    .iter()
                    .map(|g| *g as libc::gid_t)
                    .collect()
            }),
        });
        let umask = spec
            .user
            .as_ref()
            .and_then(|u| u.umask)
            .map(|m| m as libc::mode_t);
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Ok(Launch {
            argv_ptrs: ptrs(&argv),
            envp_ptrs: ptrs(&envp),
            _argv: argv,
            _envp: envp,
            program,
            searched,
            candidates,
            cwd,
            root: root_dir,
            user,
            umask,
            spec,
        })
    }

    fn describe(&self, step: Step, errno: i32) -> String {
        let os = std::io::Error::from_raw_os_error(errno);
        let user = self.spec.user.as_ref();
        match step {
            Step::Exec if self.searched && (errno == libc::ENOENT || errno == libc::ENOTDIR) => {
                format!(
                    "cannot execute {:?}: not found in PATH {}",
                    self.program,
                    self.spec.search_path.to_string_lossy()
                )
            }
            Step::Exec => format!("cannot execute {:?}: {os}", self.program),
            Step::ProcessGroup => {
                format!("cannot give {:?} its own process group: {os}", self.program)
            }
            Step::Terminal => format!("cannot give the terminal to {:?}: {os}", self.program),
            Step::Rlimit => format!("cannot set resource limits: {os}"),
            Step::Chroot => format!(
                "cannot change the root to {}: {os}",
                self.spec.root.as_deref().unwrap_or("/".as_ref()).display()
            ),
            Step::Setgroups => format!(
                "cannot set supplementary groups {:?}: {os}",
                user.map(|u| u.additional_gids.clone()).unwrap_or_default()
            ),
            Step::Setgid => format!("cannot switch to gid {}: {os}", user.map_or(0, |u| u.gid)),
            Step::Setuid => format!("cannot switch to uid {}: {os}", user.map_or(0, |u| u.uid)),
            Step::Chdir => format!(
                "cannot change to working directory {}: {os}",
                self.spec.cwd.as_deref().unwrap_or("/".as_ref()).display()
            ),
            Step::NoNewPrivileges => format!("cannot set no_new_privs: {os}"),
            Step::SignalMask => format!("cannot restore the signal mask: {os}"),
        }
    }
}

/// podinit's signal set-up: the mask it started with and the set it waits for.
pub struct Signals {
    pub(crate) original: libc::sigset_t,
    pub(crate) wait: libc::sigset_t,
}

impl Signals {
    /// Blocks all signals but the synchronous ones and makes sure `SIGCHLD` is not ignored
    /// (an ignored `SIGCHLD` would have the kernel reap children behind podinit's back).
    pub fn block() -> std::io::Result<Signals> {
        // SAFETY: sigset_t is plain data; the sig* calls get valid pointers.
        unsafe {
            let mut wait: libc::sigset_t = std::mem::zeroed();
            let mut original: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut wait);
            for s in crate::signals::SYNCHRONOUS {
                libc::sigdelset(&mut wait, *s);
            }
            let r = libc::pthread_sigmask(libc::SIG_SETMASK, &wait, &mut original);
            if r != 0 {
                return Err(std::io::Error::from_raw_os_error(r));
            }
            libc::sigdelset(&mut wait, libc::SIGKILL);
            libc::sigdelset(&mut wait, libc::SIGSTOP);
            if libc::signal(libc::SIGCHLD, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Signals { original, wait })
        }
    }

    /// Waits for the next signal of the set; `None` when the wait failed.
    pub fn wait(&self) -> Option<libc::c_int> {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: valid set and out pointer.
            match unsafe { libc::sigwait(&self.wait, &mut sig) } {
                0 => return Some(sig),
                libc::EINTR => continue,
                _ => return None,
            }
        }
    }
}

/// On Linux, when podinit is not PID 1, makes it the child subreaper so that orphaned
/// descendants are reparented to it (and reaped by it) instead of the host's init.
pub fn become_subreaper() -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: getpid and prctl(PR_SET_CHILD_SUBREAPER) have no memory preconditions.
    unsafe {
        if libc::getpid() != 1 && libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Forks and execs the child; returns its pid once `exec` has succeeded.
pub fn spawn(launch: &Launch, signals: &Signals) -> Result<libc::pid_t, SpawnError> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SpawnError::Fork(std::io::Error::last_os_error()));
    }
    let [read_fd, write_fd] = fds;
    // SAFETY: podinit is single-threaded; the child only makes system calls on data prepared
    // before the fork and ends in exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: closing descriptors we own.
        unsafe {
            libc::close(read_fd);
            libc::close(write_fd);
        }
        return Err(SpawnError::Fork(e));
    }
    if pid == 0 {
        // SAFETY: in the child, see above.
        unsafe { child(launch, signals, write_fd) }
    }
    // SAFETY: descriptors we own; setpgid on our own child (repeated by the child itself so
    // neither order of the two races matters; an error after exec is expected).
    unsafe {
        libc::close(write_fd);
        libc::setpgid(pid, pid);
    }
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the rest of buf.
        let n = unsafe { libc::read(read_fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    // SAFETY: closing our descriptor.
    unsafe { libc::close(read_fd) };
    if got < buf.len() {
        return Ok(pid);
    }
    // The child failed before exec: reap it and report.
    let mut st = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 && errno() == libc::EINTR {}
    let step = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let err = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let step = Step::from_u32(step).unwrap_or(Step::Exec);
    Err(SpawnError::Child {
        step,
        errno: err,
        message: launch.describe(step, err),
    })
}

/// The child between fork and exec.
///
/// # Safety
/// Only to be called in a freshly forked child of a single-threaded process.
unsafe fn child(launch: &Launch, signals: &Signals, report: libc::c_int) -> ! {
    let fail = |step: Step, e: i32| -> ! {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(step as u32).to_ne_bytes());
        buf[4..].copy_from_slice(&e.to_ne_bytes());
        libc::write(report, buf.as_ptr().cast(), buf.len());
        libc::_exit(crate::EXIT_INIT_FAILED)
    };
    if libc::setpgid(0, 0) != 0 {
        fail(Step::ProcessGroup, errno());
    }
    // SIGTTOU is blocked here, so a background group may take the terminal.
    if libc::isatty(0) == 1 && libc::tcsetpgrp(0, libc::getpid()) != 0 {
        let e = errno();
        if e != libc::ENOTTY && e != libc::ENXIO {
            fail(Step::Terminal, e);
        }
    }
    for (resource, soft, hard) in &launch.spec.rlimits {
        let lim = libc::rlimit {
            rlim_cur: *soft as libc::rlim_t,
            rlim_max: *hard as libc::rlim_t,
        };
        if libc::setrlimit(*resource as _, &lim) != 0 {
            fail(Step::Rlimit, errno());
        }
    }
    if let Some(m) = launch.umask {
        libc::umask(m);
    }
    if let Some(root) = &launch.root {
        if libc::chroot(root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
            fail(Step::Chroot, errno());
        }
    }
    let early_chdir = match &launch.cwd {
        Some(c) => libc::chdir(c.as_ptr()) == 0,
        None => true,
    };
    if let Some(u) = &launch.user {
        if let Some(groups) = &u.groups {
            if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0 {
                fail(Step::Setgroups, errno());
            }
        }
        if libc::setgid(u.gid) != 0 {
            fail(Step::Setgid, errno());
        }
        if libc::setuid(u.uid) != 0 {
            fail(Step::Setuid, errno());
        }
    }
    if let (Some(c), false) = (&launch.cwd, early_chdir) {
        if libc::chdir(c.as_ptr()) != 0 {
            fail(Step::Chdir, errno());
        }
    }
    if launch.spec.no_new_privileges {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(Step::NoNewPrivileges, errno());
        }
    }
    // The Rust runtime ignores SIGPIPE; the program gets the default.
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    let r = libc::pthread_sigmask(libc::SIG_SETMASK, &signals.original, std::ptr::null_mut());
    if r != 0 {
        fail(Step::SignalMask, r);
    }
    let mut last = libc::ENOENT;
    let mut denied = false;
    for c in &launch.candidates {
        libc::execve(
            c.as_ptr(),
            launch.argv_ptrs.as_ptr(),
            launch.envp_ptrs.as_ptr(),
        );
        last = errno();
        match last {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => denied = true,
            _ => break,
        }
    }
    if denied && (last == libc::ENOENT || last == libc::ENOTDIR) {
        last = libc::EACCES;
    }
    fail(Step::Exec, last)
}

/// Waits for signals until the child `pid` has exited: forwards every signal but `SIGCHLD`
/// to it (or to its process group when `process_group`), reaps every child that ends, and
/// returns how `pid` ended.
pub fn supervise(pid: libc::pid_t, signals: &Signals, process_group: bool) -> ExitRecord {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: valid set and out pointer.
        let r = unsafe { libc::sigwait(&signals.wait, &mut sig) };
        if r == libc::EINTR {
            continue;
        }
        if r != 0 || sig == libc::SIGCHLD {
            if let Some(record) = reap(pid, r != 0) {
                return record;
            }
            continue;
        }
        let target = if process_group { -pid } else { pid };
        // SAFETY: kill has no memory preconditions; ESRCH (already gone) is fine.
        unsafe { libc::kill(target, sig) };
    }
}

/// Reaps every child that has ended; returns the main child's record once it has.
fn reap(main: libc::pid_t, block: bool) -> Option<ExitRecord> {
    let mut found = None;
    let mut flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut st = 0;
        // SAFETY: valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut st, flags) };
        if pid < 0 && errno() == libc::EINTR {
            continue;
        }
        if pid <= 0 {
            break;
        }
        flags = libc::WNOHANG;
        if pid == main {
            found = Some(record(st));
        }
    }
    found
}

pub(crate) fn record(st: libc::c_int) -> ExitRecord {
    if libc::WIFSIGNALED(st) {
        ExitRecord::signaled(libc::WTERMSIG(st), libc::WCOREDUMP(st))
    } else {
        ExitRecord::exited(libc::WEXITSTATUS(st))
    }
}

/// The current environment as `NAME=VALUE` entries.
pub fn current_env() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k;
            e.push("=");
            e.push(v);
            e
        })
        .collect()
}

/// The `PATH` of an environment, or `default`.
pub fn env_path(env: &[OsString], default: &str) -> OsString {
    env.iter()
        .rev()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH=").map(OsStr::from_bytes))
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| default.into())
}

/// `base` with `overrides` (`NAME=VALUE`) replacing entries of the same name or appended.
pub fn merge_env(base: Vec<OsString>, overrides: &[String]) -> Vec<OsString> {
    let name = |e: &[u8]| e.split(|b| *b == b'=').next().unwrap_or(e).to_vec();
    let mut out = base;
    for o in overrides {
        let n = name(o.as_bytes());
        match out.iter_mut().find(|e| name(e.as_bytes()) == n) {
            Some(e) => *e = o.into(),
            None => out.push(o.into()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merging() {
        let base = vec!["A=1".into(), "PATH=/bin".into(), "B=2".into()];
        let merged = merge_env(base, &["PATH=/x".into(), "C=3".into()]);
        assert_eq!(merged, ["A=1", "PATH=/x", "B=2", "C=3"]);
        assert_eq!(env_path(&merged, "/d"), "/x");
        assert_eq!(env_path(&[], "/d"), "/d");
    }

    #[test]
    fn candidates_from_path() {
        let l = Launch::new(LaunchSpec {
            args: vec!["sh".into()],
            search_path: "/usr/bin::/bin".into(),
            ..Default::default()
        })
        .unwrap();
        let c: Vec<_> = l.candidates.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(c, ["/usr/bin/sh", "sh", "/bin/sh"]);
        let l = Launch::new(LaunchSpec {
            args: vec!["./run".into()],
            search_path: "/bin".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(l.candidates.len(), 1);
        assert_eq!(l.candidates[0].to_str().unwrap(), "./run");
    }
}
