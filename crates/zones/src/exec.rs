//! The thin part: zonecfg, zoneadm and pkill run through a [`Runner`], with the decisions
//! (which command, in which zone state) made here in plain code that the fake runner tests.
//!
//! Lifecycle (runc's verbs):
//! - **create**: the zone must not exist; write the zonecfg file; make the zonepath mode 0700
//!   (zoneadm's verify requires it); `zonecfg -z NAME -f FILE`; `zoneadm -z NAME attach -F`;
//!   `zoneadm -z NAME ready`. A failed step undoes the earlier ones.
//! - **start**: from ready or installed; remove a stale podinit status file; `zoneadm -z NAME boot`
//!   (podinit is the init through bootargs in the configuration).
//! - **kill**: `pkill -SIG -z NAME -o -x podinit`: the oldest process named like podinit in the
//!   zone is the zone's init (unverified on illumos).
//! - **delete**: halt if running, ready or shutting down (unmount if mounted); `zoneadm detach`
//!   if installed; `zonecfg -z NAME delete -F`. A zone that does not exist is already deleted.
//! - **state**: `zoneadm list -cp`, and podinit's status file when the zone is down.
//!
//! Why `attach -F` and `detach`, not `install` and `uninstall`: the container's dataset
//! already holds the rootfs under `root/` (imageadm unpack cloned it), and `install` requires
//! `<zonepath>/root` to be absent, and would clone the image a second time. `attach -F` marks the
//! zone installed without the brand's validation, which is what a ready-made root needs. For
//! the same reason delete detaches: `uninstall` removes `<zonepath>/root`, and the runtime-spec
//! says resources not created by `create` MUST NOT be deleted — the bundle's rootfs is the
//! caller's.

use std::path::{Path, PathBuf};

use aurora_command::CommandFailure;

use crate::name::ZoneName;
use crate::plan::ZonePlan;
use crate::runner::Runner;
use crate::state::{self, InitExit, OciStatus, StatusError, ZoneEntry, ZoneState};
use crate::zlogin;

/// A signal for `kill`: a name (`TERM`, `SIGTERM`) or a number (`15`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal(String);

impl Signal {
    pub fn new(signal: &str) -> Result<Signal, ZoneError> {
        let s = signal.strip_prefix("SIG").unwrap_or(signal);
        let number_ok = s.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n));
        let name_ok = !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-');
        if number_ok || name_ok {
            Ok(Signal(s.to_string()))
        } else {
            Err(ZoneError::BadSignal(signal.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The operation an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Start,
    Kill,
    Delete,
    State,
    Exec,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Start => "start",
            Op::Kill => "kill",
            Op::Delete => "delete",
            Op::State => "state",
            Op::Exec => "exec",
        })
    }
}

/// Why a zone operation failed. Every variant names the zone.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("{op} zone {zone}: {source}")]
    Command {
        op: Op,
        zone: ZoneName,
        #[source]
        source: CommandFailure,
    },
    #[error("{op} zone {zone}: {path}: {source}")]
    Io {
        op: Op,
        zone: ZoneName,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} zone {zone}: no such zone")]
    NotFound { op: Op, zone: ZoneName },
    #[error("create zone {zone}: a zone of that name exists already ({state})")]
    Exists { zone: ZoneName, state: ZoneState },
    #[error("{op} zone {zone}: the zone is {state}; {needed}")]
    WrongState {
        op: Op,
        zone: ZoneName,
        state: ZoneState,
        needed: &'static str,
    },
    #[error("kill zone {zone}: no process named {init} runs in the zone")]
    NoInit { zone: ZoneName, init: String },
    #[error("{op} zone {zone}: {source}")]
    Status {
        op: Op,
        zone: ZoneName,
        #[source]
        source: StatusError,
    },
    #[error("invalid signal {0:?}")]
    BadSignal(String),
    #[error("exec in zone {zone}: {source}")]
    Zlogin {
        zone: ZoneName,
        #[source]
        source: crate::zlogin::ZloginError,
    },
}

/// A container's state as the zone shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub zone: ZoneEntry,
    pub status: OciStatus,
    /// podinit's record of the container process's end, once the zone is down.
    pub exit: Option<InitExit>,
}

/// Zone operations over a [`Runner`].
#[derive(Debug)]
pub struct Zones<R: Runner> {
    runner: R,
    work_dir: PathBuf,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

impl<R: Runner> Zones<R> {
    /// `work_dir` holds the zonecfg files written by create (`NAME.zonecfg`, kept for reading).
    pub fn new(runner: R, work_dir: impl Into<PathBuf>) -> Self {
        Zones {
            runner,
            work_dir: work_dir.into(),
        }
    }

    pub fn runner(&self) -> &R {
        &self.runner
    }

    fn run(
        &self,
        op: Op,
        zone: &ZoneName,
        program: &str,
        args: &[&str],
    ) -> Result<String, ZoneError> {
        self.runner
            .run(program, &s(args))
            .map_err(|source| ZoneError::Command {
                op,
                zone: zone.clone(),
                source,
            })
    }

    fn zoneadm(&self, op: Op, zone: &ZoneName, verb: &[&str]) -> Result<String, ZoneError> {
        let mut args = vec!["-z", zone.as_str()];
        args.extend_from_slice(verb);
        self.run(op, zone, "zoneadm", &args)
    }

    /// Every zone, from `zoneadm list -cp`.
    fn list(&self, op: Op, zone: &ZoneName) -> Result<Vec<ZoneEntry>, ZoneError> {
        Ok(state::parse_list(&self.run(
            op,
            zone,
            "zoneadm",
            &["list", "-cp"],
        )?))
    }

    fn find(&self, op: Op, zone: &ZoneName) -> Result<Option<ZoneEntry>, ZoneError> {
        Ok(self
            .list(op, zone)?
            .into_iter()
            .find(|e| e.name == zone.as_str()))
    }

    fn entry(&self, op: Op, zone: &ZoneName) -> Result<ZoneEntry, ZoneError> {
        self.find(op, zone)?.ok_or_else(|| ZoneError::NotFound {
            op,
            zone: zone.clone(),
        })
    }

    /// Configures, attaches and readies the zone of `plan`: afterwards its state is `created`.
    pub fn create(&self, plan: &ZonePlan) -> Result<(), ZoneError> {
        let op = Op::Create;
        let zone = &plan.name;
        if let Some(e) = self.find(op, zone)? {
            return Err(ZoneError::Exists {
                zone: zone.clone(),
                state: e.state,
            });
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ZoneError::Io {
                op,
                zone: zone.clone(),
                path,
                source,
            }
        };
        let file = self.work_dir.join(format!("{zone}.zonecfg"));
        std::fs::write(&file, plan.zonecfg()).map_err(io(&file))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&plan.zonepath, std::fs::Permissions::from_mode(0o700))
                .map_err(io(&plan.zonepath))?;
        }
        let file_arg = file.to_string_lossy();
        self.run(op, zone, "zonecfg", &["-z", zone.as_str(), "-f", &file_arg])?;
        if let Err(e) = self.zoneadm(op, zone, &["attach", "-F"]) {
            self.undo(zone, &[&["delete", "-F"]], &[]);
            return Err(e);
        }
        if let Err(e) = self.zoneadm(op, zone, &["ready"]) {
            self.undo(zone, &[&["delete", "-F"]], &[&["detach"]]);
            return Err(e);
        }
        tracing::info!(zone = %zone, "zone created");
        Ok(())
    }

    /// Best-effort undo of a half-done create: zoneadm verbs first, then zonecfg's.
    fn undo(&self, zone: &ZoneName, zonecfg: &[&[&str]], zoneadm: &[&[&str]]) {
        for verb in zoneadm {
            if let Err(e) = self.zoneadm(Op::Create, zone, verb) {
                tracing::warn!(zone = %zone, error = %e, "undoing create");
            }
        }
        for verb in zonecfg {
            let mut args = vec!["-z", zone.as_str()];
            args.extend_from_slice(verb);
            if let Err(e) = self.run(Op::Create, zone, "zonecfg", &args) {
                tracing::warn!(zone = %zone, error = %e, "undoing create");
            }
        }
    }

    /// Boots the zone; podinit (the init named in bootargs) starts the container process.
    /// `status` is podinit's status file inside the zone: a stale one is removed first.
    pub fn start(&self, zone: &ZoneName, status: &Path) -> Result<(), ZoneError> {
        let op = Op::Start;
        let e = self.entry(op, zone)?;
        if !matches!(e.state, ZoneState::Ready | ZoneState::Installed) {
            return Err(ZoneError::WrongState {
                op,
                zone: zone.clone(),
                state: e.state,
                needed: "it must be ready or installed (created)",
            });
        }
        let stale = state::zone_file(&e.zonepath, status).map_err(|source| ZoneError::Status {
            op,
            zone: zone.clone(),
            source,
        })?;
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ZoneError::Io {
                    op,
                    zone: zone.clone(),
                    path: stale,
                    source,
                })
            }
        }
        self.zoneadm(op, zone, &["boot"])?;
        Ok(())
    }

    /// The zone's entry, unless it is not running (then `needed` says why it must be).
    fn running(
        &self,
        op: Op,
        zone: &ZoneName,
        needed: &'static str,
    ) -> Result<ZoneEntry, ZoneError> {
        let e = self.entry(op, zone)?;
        if e.state != ZoneState::Running {
            return Err(ZoneError::WrongState {
                op,
                zone: zone.clone(),
                state: e.state,
                needed,
            });
        }
        Ok(e)
    }

    /// Sends `signal` to the zone's init, the oldest process in the zone named like `init`
    /// (podinit's path). Unverified on illumos: pkill's `-z` and `-o` are documented in
    /// pkill(1); that the oldest match is the init holds because podinit is started first.
    pub fn kill(&self, zone: &ZoneName, init: &Path, signal: &Signal) -> Result<(), ZoneError> {
        let op = Op::Kill;
        self.running(op, zone, "only a running zone has an init to signal")?;
        let name = init
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "podinit".to_string());
        let sig = format!("-{}", signal.as_str());
        match self.run(
            op,
            zone,
            "pkill",
            &[&sig, "-z", zone.as_str(), "-o", "-x", &name],
        ) {
            Ok(_) => Ok(()),
            // pkill: 1 means nothing matched.
            Err(ZoneError::Command { source, .. }) if source.status == Some(1) => {
                Err(ZoneError::NoInit {
                    zone: zone.clone(),
                    init: name,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `signal` to every process in the zone (runc's `kill --all`).
    pub fn kill_all(&self, zone: &ZoneName, signal: &Signal) -> Result<(), ZoneError> {
        let op = Op::Kill;
        self.running(op, zone, "only a running zone has processes to signal")?;
        let sig = format!("-{}", signal.as_str());
        match self.run(op, zone, "pkill", &[&sig, "-z", zone.as_str()]) {
            // pkill: 1 means nothing matched: nothing was left to signal.
            Err(ZoneError::Command { source, .. }) if source.status == Some(1) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Runs `args` in the running zone through zlogin (the environment and working
    /// directory said in the one shell string zlogin runs), with runz's standard streams, and
    /// returns its exit status.
    pub fn exec(
        &self,
        zone: &ZoneName,
        args: &[String],
        env: &[String],
        cwd: Option<&Path>,
    ) -> Result<i32, ZoneError> {
        let op = Op::Exec;
        let script = zlogin::script(args, env, cwd).map_err(|source| ZoneError::Zlogin {
            zone: zone.clone(),
            source,
        })?;
        self.running(op, zone, "zlogin needs a running zone")?;
        let argv = zlogin::argv(zone, &script);
        self.runner
            .run_attached(&argv[0], &argv[1..])
            .map_err(|source| ZoneError::Command {
                op,
                zone: zone.clone(),
                source,
            })
    }

    /// Removes the zone: halt, detach, delete the configuration, as far as its state needs.
    /// The zonepath and its rootfs are left alone (they belong to the bundle).
    pub fn delete(&self, zone: &ZoneName) -> Result<(), ZoneError> {
        let op = Op::Delete;
        let Some(e) = self.find(op, zone)? else {
            return Ok(());
        };
        match e.state {
            ZoneState::Running | ZoneState::Ready | ZoneState::ShuttingDown | ZoneState::Down => {
                self.zoneadm(op, zone, &["halt"])?;
                self.zoneadm(op, zone, &["detach"])?;
            }
            ZoneState::Mounted => {
                self.zoneadm(op, zone, &["unmount"])?;
                self.zoneadm(op, zone, &["detach"])?;
            }
            ZoneState::Installed => {
                self.zoneadm(op, zone, &["detach"])?;
            }
            ZoneState::Configured => {}
            ZoneState::Incomplete | ZoneState::Other(_) => {
                return Err(ZoneError::WrongState {
                    op,
                    zone: zone.clone(),
                    state: e.state,
                    needed: "only `zoneadm uninstall -F` leaves this state, and it deletes the zone's root: run it by hand if the root may go",
                });
            }
        }
        self.run(op, zone, "zonecfg", &["-z", zone.as_str(), "delete", "-F"])?;
        Ok(())
    }

    /// The container's state; `status` is podinit's status file inside the zone.
    pub fn state(&self, zone: &ZoneName, status: &Path) -> Result<ContainerState, ZoneError> {
        let op = Op::State;
        let e = self.entry(op, zone)?;
        let exit = match e.state {
            ZoneState::Installed | ZoneState::Ready => state::read_init_exit(&e.zonepath, status)
                .map_err(|source| ZoneError::Status {
                op,
                zone: zone.clone(),
                source,
            })?,
            _ => None,
        };
        Ok(ContainerState {
            status: e.state.oci_status(exit.is_some()),
            zone: e,
            exit,
        })
    }
}
