//! Running the services of a [`ServicesFile`]: start in dependency order, reap, restart by
//! policy with the monitor's back-off, record each service's status, stop in reverse order.
//!
//! Single-threaded, as the one-process mode is: every signal is blocked and taken with
//! `sigwait`, or `sigtimedwait` while a restart is pending (its timeout is the back-off).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora_monitor::{back_off_delay, decide_restart, BACK_OFF_RESET_AFTER};

use crate::fsutil::{write_atomic, FileAttrs};
use crate::init::{self, InitError};
use crate::services::{ServiceState, ServiceStatus, ServicesFile};
use crate::status::ExitRecord;
use crate::supervise::{self, Launch, LaunchSpec, Signals};

/// One service and what podinit knows of it.
struct Slot {
    name: String,
    policy: aurora_monitor::RestartPolicyArg,
    launch: Launch,
    status_path: PathBuf,
    pid: Option<libc::pid_t>,
    started: Instant,
    restarts: u32,
    /// Consecutive runs shorter than [`BACK_OFF_RESET_AFTER`]: the back-off grows with them.
    quick_exits: u32,
    restart_at: Option<Instant>,
    last_exit: Option<i32>,
    /// The status last written.
    status: Option<ServiceStatus>,
    /// How its last run ended (the main process's is podinit's own exit).
    last_record: Option<ExitRecord>,
}

impl Slot {
    /// A service not started yet.
    fn new(
        file: &ServicesFile,
        name: &str,
        policy: aurora_monitor::RestartPolicyArg,
        launch: Launch,
    ) -> Slot {
        Slot {
            name: name.to_string(),
            policy,
            launch,
            status_path: file.status_path(name),
            pid: None,
            started: Instant::now(),
            restarts: 0,
            quick_exits: 0,
            restart_at: None,
            last_exit: None,
            status: None,
            last_record: None,
        }
    }
}

/// Services mode: runs the services of the file at `path` until none is left or a
/// `SIGTERM`/`SIGINT` stops them all.
pub fn run_services(path: &Path) -> Result<ExitRecord, InitError> {
    run(path, None)
}

/// A container whose image defines services (buildhelper's `/etc/aurora/services.json`):
/// the services start first, in their order, then `command` with podinit's own environment,
/// working directory and standard input; when it ends the services are stopped and its
/// status is podinit's. A TERM or INT stops them all, the command last.
pub fn run_services_with_main(
    path: &Path,
    command: Vec<OsString>,
) -> Result<ExitRecord, InitError> {
    run(path, Some(command))
}

fn run(path: &Path, main: Option<Vec<OsString>>) -> Result<ExitRecord, InitError> {
    let signals = init::prepare()?;
    let file = ServicesFile::load(path)?;
    if let Some(h) = &file.hostname {
        init::apply_hostname(h)?;
    }
    if main.is_none() {
        detach_stdin();
    }
    // validate() has checked the order.
    let mut order = file.start_order().unwrap_or_default();
    let mut slots = Vec::with_capacity(file.services.len() + 1);
    for s in &file.services {
        let p = &s.process;
        let launch = Launch::new(LaunchSpec {
            args: p.args.iter().map(OsString::from).collect(),
            env: p.env.iter().map(OsString::from).collect(),
            search_path: p.search_path().into(),
            cwd: p.cwd.as_ref().map(PathBuf::from),
            root: s.root.clone(),
            user: p.user.clone(),
            rlimits: rlimits(p),
            no_new_privileges: p.no_new_privileges,
        })?;
        slots.push(Slot::new(&file, &s.name, s.restart, launch));
    }
    let primary = match main {
        Some(command) => {
            slots.push(main_slot(&file, command)?);
            order.push(slots.len() - 1);
            Some(slots.len() - 1)
        }
        None => None,
    };
    let mut pod = Pod {
        file: &file,
        slots,
        order,
        signals,
        primary,
    };
    Ok(pod.run())
}

/// The container's own process as the last service: never restarted by podinit (the
/// monitor's policy restarts the container).
fn main_slot(file: &ServicesFile, command: Vec<OsString>) -> Result<Slot, InitError> {
    let env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut entry = k;
            entry.push("=");
            entry.push(v);
            entry
        })
        .collect();
    let search_path =
        std::env::var_os("PATH").unwrap_or_else(|| crate::config::DEFAULT_PATH.into());
    let launch = Launch::new(LaunchSpec {
        args: command,
        env,
        search_path,
        cwd: None,
        root: None,
        user: None,
        rlimits: Vec::new(),
        no_new_privileges: false,
    })?;
    Ok(Slot::new(
        file,
        MAIN_SERVICE,
        aurora_monitor::RestartPolicyArg::default(),
        launch,
    ))
}

/// The main process's name among the services (status file `main.json`).
const MAIN_SERVICE: &str = "main";

fn rlimits(p: &crate::config::Process) -> Vec<(i32, u64, u64)> {
    p.rlimits
        .iter()
        .filter_map(|r| crate::config::rlimit_resource(&r.kind).map(|res| (res, r.soft, r.hard)))
        .collect()
}

/// Services get /dev/null as their standard input: several of them cannot share a terminal,
/// and none must take it from the others.
fn detach_stdin() {
    // SAFETY: open and dup2 on descriptors podinit owns.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

struct Pod<'a> {
    file: &'a ServicesFile,
    slots: Vec<Slot>,
    /// Indices into `slots`, in start order.
    order: Vec<usize>,
    signals: Signals,
    /// The container's main process, whose end ends podinit.
    primary: Option<usize>,
}

impl Pod<'_> {
    fn run(&mut self) -> ExitRecord {
        for i in self.order.clone() {
            self.start(i);
        }
        loop {
            self.restart_due();
            if let Some(main) = self.primary {
                let slot = &self.slots[main];
                if slot.pid.is_none() && slot.restart_at.is_none() {
                    let record = slot
                        .last_record
                        .clone()
                        .unwrap_or_else(|| ExitRecord::exited(1));
                    self.stop_all();
                    return record;
                }
            }
            if self
                .slots
                .iter()
                .all(|s| s.pid.is_none() && s.restart_at.is_none())
            {
                let all_zero = self.slots.iter().all(|s| s.last_exit == Some(0));
                return ExitRecord::exited(if all_zero { 0 } else { 1 });
            }
            match wait_signal(&self.signals, self.next_restart()) {
                None => {}
                Some(libc::SIGCHLD) => self.reap(false),
                Some(libc::SIGTERM | libc::SIGINT) => {
                    self.stop_all();
                    return ExitRecord::exited(0);
                }
                Some(sig) => self.forward(sig),
            }
        }
    }

    fn start(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.restart_at = None;
        slot.started = Instant::now();
        match supervise::spawn(&slot.launch, &self.signals) {
            Ok(pid) => {
                slot.pid = Some(pid);
                eprintln!("podinit: service {} started (pid {pid})", slot.name);
                let status = ServiceStatus {
                    state: ServiceState::Running,
                    pid: Some(pid),
                    exit_code: None,
                    signal: None,
                    error: None,
                    restarts: slot.restarts,
                    will_restart: false,
                };
                write_status(&slot.status_path, &status);
                slot.status = Some(status);
            }
            Err(e) => {
                eprintln!("podinit: service {}: {e}", slot.name);
                let record = ExitRecord::failed(e.exit_code(), e.to_string());
                self.ended(i, record, false);
            }
        }
    }

    /// Records how service `i` ended and schedules its restart if its policy says so.
    fn ended(&mut self, i: usize, record: ExitRecord, stopping: bool) {
        let slot = &mut self.slots[i];
        let policy = slot.policy;
        slot.pid = None;
        slot.last_exit = Some(record.exit_code);
        slot.last_record = Some(record.clone());
        let delay = if slot.started.elapsed() >= BACK_OFF_RESET_AFTER {
            slot.quick_exits = 0;
            back_off_delay(0)
        } else {
            let d = back_off_delay(slot.quick_exits);
            slot.quick_exits = slot.quick_exits.saturating_add(1);
            d
        };
        let restart = decide_restart(policy, record.exit_code, slot.restarts, stopping).is_some();
        slot.restart_at = restart.then(|| Instant::now() + delay);
        eprintln!(
            "podinit: service {} exited with {}{}",
            slot.name,
            record.exit_code,
            if restart { "; restarting" } else { "" }
        );
        let status = ServiceStatus {
            state: ServiceState::Exited,
            pid: None,
            exit_code: Some(record.exit_code),
            signal: record.signal,
            error: record.error,
            restarts: slot.restarts,
            will_restart: restart,
        };
        write_status(&slot.status_path, &status);
        slot.status = Some(status);
    }

    fn restart_due(&mut self) {
        let now = Instant::now();
        for i in self.order.clone() {
            if self.slots[i].restart_at.is_some_and(|at| at <= now) {
                self.slots[i].restarts += 1;
                self.start(i);
            }
        }
    }

    fn next_restart(&self) -> Option<Duration> {
        let now = Instant::now();
        self.slots
            .iter()
            .filter_map(|s| s.restart_at)
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Reaps every child that has ended (orphans too); services' ends are recorded.
    fn reap(&mut self, stopping: bool) {
        loop {
            let mut st = 0;
            // SAFETY: valid out pointer.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            if pid <= 0 {
                return;
            }
            if let Some(i) = self.slots.iter().position(|s| s.pid == Some(pid)) {
                self.ended(i, supervise::record(st), stopping);
            }
        }
    }

    /// Other signals (`SIGHUP`, `SIGUSR1`, …) go to every running service's process group.
    fn forward(&self, sig: i32) {
        for pid in self.slots.iter().filter_map(|s| s.pid) {
            // SAFETY: kill has no memory preconditions; a group already gone is fine.
            unsafe { libc::kill(-pid, sig) };
        }
    }

    /// Stops every service in reverse start order: `SIGTERM` to its process group, `SIGKILL`
    /// after the stop timeout, and the next one only once it has been reaped.
    fn stop_all(&mut self) {
        for slot in &mut self.slots {
            // A restart that was due is off: its status must not promise it.
            if slot.restart_at.take().is_some() {
                if let Some(status) = slot.status.as_mut() {
                    status.will_restart = false;
                    write_status(&slot.status_path, status);
                }
            }
        }
        let grace = Duration::from_secs(u64::from(self.file.stop_timeout_seconds));
        for i in self.order.clone().into_iter().rev() {
            let Some(pid) = self.slots[i].pid else {
                continue;
            };
            eprintln!("podinit: stopping service {}", self.slots[i].name);
            // SAFETY: signalling the service's own process group.
            unsafe { libc::kill(-pid, libc::SIGTERM) };
            let deadline = Instant::now() + grace;
            let mut killed = false;
            while self.slots[i].pid.is_some() {
                let left = deadline.saturating_duration_since(Instant::now());
                match wait_signal(&self.signals, (!killed).then_some(left)) {
                    Some(libc::SIGCHLD) => self.reap(true),
                    None => {
                        eprintln!(
                            "podinit: service {} did not stop in {}s: killing it",
                            self.slots[i].name,
                            grace.as_secs()
                        );
                        // SAFETY: as above.
                        unsafe { libc::kill(-pid, libc::SIGKILL) };
                        killed = true;
                    }
                    // Stopping already: other signals change nothing.
                    Some(_) => {}
                }
            }
        }
    }
}

fn write_status(path: &Path, status: &ServiceStatus) {
    let mut bytes = serde_json::to_vec(status).unwrap_or_default();
    bytes.push(b'\n');
    let attrs = FileAttrs {
        mode: 0o644,
        uid: None,
        gid: None,
    };
    if let Err(e) = write_atomic(path, &bytes, attrs, true) {
        eprintln!("podinit: {e}");
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
extern "C" {
    // POSIX; the libc crate does not declare it for illumos.
    fn sigtimedwait(
        set: *const libc::sigset_t,
        info: *mut libc::siginfo_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}
#[cfg(any(target_os = "linux", target_os = "android"))]
use libc::sigtimedwait;

/// The next signal, or `None` when `timeout` passed first (`None` timeout: wait for ever).
fn wait_signal(signals: &Signals, timeout: Option<Duration>) -> Option<i32> {
    loop {
        let Some(t) = timeout else {
            let mut sig = 0;
            // SAFETY: valid set and out pointer.
            match unsafe { libc::sigwait(&signals.wait, &mut sig) } {
                0 => return Some(sig),
                libc::EINTR => continue,
                // sigwait fails only on a bad set: treat it as a child event so podinit reaps.
                _ => return Some(libc::SIGCHLD),
            }
        };
        let ts = libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos() as _,
        };
        // SAFETY: valid set and timespec; siginfo may be null.
        let sig = unsafe { sigtimedwait(&signals.wait, std::ptr::null_mut(), &ts) };
        if sig > 0 {
            return Some(sig);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            _ => return None,
        }
    }
}
