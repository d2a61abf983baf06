//! `zoneadm list -cp` and `zoneadm -z NAME VERB`: the zone state machine.
//!
//! ```text
//! configured ──install / attach──▶ installed ──ready──▶ ready ──boot──▶ running
//!      ▲                              │  ▲                 │               │
//!      └──── uninstall -F / detach ───┘  └──── halt ───────┴───────────────┘
//!                                           (or the init exits: the zone halts)
//! ```
//!
//! `boot` starts a supervisor (the fake's zoneadmd) that runs the zone's init — bootargs'
//! `-i PATH`, chrooted into `ZONEPATH/root` — and halts the zone when it exits.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use aurora_zones::ZoneState;

use crate::store::{Store, Zone};
use crate::{zone_arg, Outcome, Refusal};

pub fn main(args: &[String]) -> Outcome {
    if args.first().is_some_and(|a| a == "list") {
        return list(&args[1..]);
    }
    let (name, rest) = zone_arg("zoneadm", args)?;
    let Some((verb, options)) = rest.split_first() else {
        return Err(Refusal::usage("zoneadm: a subcommand is needed"));
    };
    let store = Store::open()?;
    let Some(mut zone) = store.get(name)? else {
        return Err(Refusal::error(format!(
            "zoneadm: {name}: No such zone configured"
        )));
    };
    let state = zone.state();
    let invalid = || {
        Refusal::error(format!(
            "zoneadm: zone '{name}': {verb} operation is invalid for {state} zones."
        ))
    };
    let forced = options.iter().any(|o| o == "-F");
    let allowed = match verb.as_str() {
        "install" | "attach" => state == ZoneState::Configured,
        "uninstall" | "detach" => state == ZoneState::Installed,
        "ready" => matches!(state, ZoneState::Installed | ZoneState::Ready),
        "boot" => {
            if state == ZoneState::Configured {
                return Err(Refusal::error(format!(
                    "zoneadm: zone '{name}': must be installed before boot."
                )));
            }
            matches!(state, ZoneState::Installed | ZoneState::Ready)
        }
        "halt" | "shutdown" => matches!(state, ZoneState::Ready | ZoneState::Running),
        "unmount" => state == ZoneState::Mounted,
        other => {
            return Err(Refusal::usage(format!(
                "zoneadm: unknown subcommand {other}"
            )));
        }
    };
    if !allowed {
        return Err(invalid());
    }
    if store.injected_failure("zoneadm", verb) {
        return Err(Refusal::error(format!(
            "zoneadm: zone '{name}': {verb} failed (injected)."
        )));
    }
    match verb.as_str() {
        "install" => {
            check_zonepath(&zone)?;
            if zone.root().exists() {
                return Err(Refusal::error(format!(
                    "zoneadm: zone '{name}': {} already exists; install needs it absent.",
                    zone.root().display()
                )));
            }
            std::fs::create_dir(zone.root())
                .map_err(|e| Refusal::error(format!("zoneadm: zone '{name}': {e}")))?;
            zone.set_state(ZoneState::Installed);
        }
        "attach" => {
            check_zonepath(&zone)?;
            if !zone.root().is_dir() {
                return Err(Refusal::error(format!(
                    "zoneadm: zone '{name}': no zone root {} to attach.",
                    zone.root().display()
                )));
            }
            zone.set_state(ZoneState::Installed);
        }
        "uninstall" => {
            if !forced {
                return Err(Refusal::error(format!(
                    "zoneadm: zone '{name}': uninstall needs -F when not interactive."
                )));
            }
            let _ = std::fs::remove_dir_all(zone.root());
            zone.set_state(ZoneState::Configured);
        }
        "detach" => zone.set_state(ZoneState::Configured),
        "ready" => {
            if state == ZoneState::Installed {
                crate::mounts::mount_all(&zone)?;
            }
            if zone.zoneid.is_none() {
                zone.zoneid = Some(store.next_zoneid()?);
            }
            zone.set_state(ZoneState::Ready);
        }
        "boot" => {
            if state == ZoneState::Installed {
                crate::mounts::mount_all(&zone)?;
            }
            let mounted = state == ZoneState::Installed;
            return boot(store, zone, mounted);
        }
        "halt" | "shutdown" => halt(&mut zone),
        // unmount: the fake never mounts a zone for an administrator; nothing to undo.
        _ => zone.set_state(ZoneState::Installed),
    }
    store.put(&zone)?;
    Ok(0)
}

/// zoneadm's verify: the zonepath exists, is a directory and not a link, mode 0700.
fn check_zonepath(zone: &Zone) -> Result<(), Refusal> {
    let meta = std::fs::symlink_metadata(&zone.zonepath).map_err(|e| {
        Refusal::error(format!(
            "zoneadm: zone '{}': zonepath {}: {e}",
            zone.name,
            zone.zonepath.display()
        ))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_dir() || mode != 0o700 {
        return Err(Refusal::error(format!(
            "zoneadm: zone '{}': {} must be a directory of mode 700, not a link (it is {mode:o}).",
            zone.name,
            zone.zonepath.display()
        )));
    }
    Ok(())
}

/// Everything in the zone stops.
fn halt(zone: &mut Zone) {
    crate::procs::kill_all(&zone.root());
    crate::mounts::unmount_all(zone);
    zone.init_pid = None;
    zone.zoneid = None;
    zone.generation += 1;
    zone.set_state(ZoneState::Installed);
}

/// Starts the supervisor and waits until it says the init runs (or why it does not).
/// `mounted`: boot mounted the zone's fs itself (it was installed), to be undone on failure.
fn boot(store: Store, mut zone: Zone, mounted: bool) -> Outcome {
    if zone.zoneid.is_none() {
        zone.zoneid = Some(store.next_zoneid()?);
    }
    zone.generation += 1;
    store.put(&zone)?;
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.console(&zone.name))?;
    let me = std::env::current_exe()?;
    let mut supervisor = Command::new(me)
        .args(["zoneadmd", &zone.name, &zone.generation.to_string()])
        // It is not called through a link: tell it where the zones are.
        .env(crate::store::STATE_VAR, store.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(console)
        .process_group(0)
        .spawn()?;
    // The supervisor takes the lock to record the init: let it go.
    drop(store);
    let mut line = String::new();
    if let Some(out) = supervisor.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    match line.trim() {
        "running" => Ok(0),
        why => {
            let _ = supervisor.wait();
            if mounted {
                crate::mounts::unmount_all(&zone);
            }
            Err(Refusal::error(format!(
                "zoneadm: zone '{}': boot failed: {why}",
                zone.name
            )))
        }
    }
}

/// The fake's zoneadmd for one boot: runs the init, says `running` on stdout once it is
/// recorded, and halts the zone when the init exits (unless the zone was halted or booted
/// again meanwhile).
pub fn zoneadmd(args: &[String]) -> Outcome {
    let [name, generation] = args else {
        return Err(Refusal::usage("zoneadmd NAME GENERATION"));
    };
    let generation: u64 = generation
        .parse()
        .map_err(|_| Refusal::usage("zoneadmd: GENERATION is a number"))?;
    let mut out = std::io::stdout();
    let store = Store::open()?;
    let Some(mut zone) = store.get(name)?.filter(|z| z.generation == generation) else {
        let _ = writeln!(out, "the zone changed before it booted");
        return Ok(1);
    };
    let mut bootargs = zone.bootargs.split_whitespace();
    let mut init = "/sbin/init".to_string();
    let mut init_args = Vec::new();
    while let Some(arg) = bootargs.next() {
        match arg {
            "-i" => init = bootargs.next().unwrap_or_default().to_string(),
            other => init_args.push(other.to_string()),
        }
    }
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.console(name))?;
    let child = in_zone(&init, &zone.root(), NodeName::Own)
        .args(&init_args)
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console)
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(out, "cannot run its init {init}: {e}");
            return Ok(1);
        }
    };
    zone.init_pid = Some(child.id() as i32);
    zone.set_state(ZoneState::Running);
    store.put(&zone)?;
    drop(store);
    // One line, flushed by stdout's line buffering: boot reads it and returns.
    let _ = writeln!(out, "running");
    let _ = child.wait();
    let store = Store::open()?;
    if let Some(mut zone) = store.get(name)?.filter(|z| z.generation == generation) {
        if zone.state() == ZoneState::Running {
            // init exited and is not restarted: the zone halts.
            halt(&mut zone);
            store.put(&zone)?;
        }
    }
    Ok(0)
}

/// Whose node name (UTS namespace) a process in the zone has. A zone has its own node name
/// on illumos: the fake's init gets a UTS namespace of its own, and what zlogin runs joins it,
/// so a zone that sets its host name changes neither the host's nor another zone's.
pub enum NodeName {
    /// A new UTS namespace (the zone's init, at boot).
    Own,
    /// The UTS namespace open at this descriptor (`/proc/INIT/ns/uts`); kept open by the
    /// caller until the command has started.
    Join(std::os::fd::RawFd),
    /// The caller's.
    Host,
}

/// `program`, to be run chrooted into the zone's root (the fakes' stand-in for entering
/// the zone) with the zone's node name.
pub fn in_zone(program: &str, root: &Path, node: NodeName) -> Command {
    let mut zoned = Command::new(program);
    let root = root.to_path_buf();
    // SAFETY: unshare, setns, chroot and chdir are async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        zoned.pre_exec(move || {
            let joined = match node {
                NodeName::Own => libc::unshare(libc::CLONE_NEWUTS),
                NodeName::Join(fd) => libc::setns(fd, libc::CLONE_NEWUTS),
                NodeName::Host => 0,
            };
            if joined != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::os::unix::fs::chroot(&root)?;
            std::env::set_current_dir("/")
        });
    }
    zoned
}

/// `zoneadm list -cp`: the global zone, then every zone, in zoneadm's parsable format.
fn list(options: &[String]) -> Outcome {
    if !options.iter().any(|o| o.contains('p')) {
        return Err(Refusal::usage("zoneadm list: the fake prints only -cp"));
    }
    let store = Store::open()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "0:global:running:/::ipkg:shared")?;
    for zone in store.all()? {
        let id = zone.zoneid.map_or("-".to_string(), |id| id.to_string());
        let zonepath = zone.zonepath.to_string_lossy().replace(':', "\\:");
        writeln!(
            out,
            "{id}:{}:{}:{zonepath}:{}:{}:{}",
            zone.name, zone.state, zone.uuid, zone.brand, zone.ip_type
        )?;
    }
    Ok(0)
}
