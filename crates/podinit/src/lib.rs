//! podinit: the init inside an Aurora container or zone.
//!
//! podinit starts one process, forwards the signals it receives to it, reaps every zombie
//! that is reparented to it, exits with the process's status and can record that status in
//! a file that the host reads after the container or zone has stopped.
//!
//! # Command line
//!
//! ```text
//! podinit [-g|--process-group] [--status-file FILE] [--] CMD [ARGS...]
//! podinit [-g|--process-group] [--status-file FILE] --config FILE
//! podinit [--status-file FILE] --services FILE
//! podinit action NAME [--actions FILE]
//! podinit pause
//! podinit sandbox DIR
//! podinit [-s] [-m MILESTONE]
//! podinit --help | --version
//! ```
//!
//! * The first form is the tini-like mode: the runtime (`runz --init`) has already applied
//!   env, cwd, user and limits; podinit only supervises `CMD`.
//! * `--config FILE` is the zone-init mode: FILE is an [`config::InitConfig`] (JSON) that
//!   carries the bundle's process section; podinit applies it, renders the config maps
//!   ([`configmap`]) and starts the process.
//! * Without a command or `--config` (a zone booting podinit as its init: zoneadmd passes it
//!   only `-s` or `-m milestone=…`, which podinit ignores), podinit reads
//!   [`cli::DEFAULT_CONFIG_PATH`] and writes its status to the config's `statusFile` or
//!   [`cli::DEFAULT_STATUS_PATH`].
//! * `--services FILE` is the services mode: FILE is a [`services::ServicesFile`], the
//!   containers of a pod, each started in its own root and supervised by its restart policy.
//!   A zone booting podinit without arguments gets this mode when
//!   [`services::DEFAULT_SERVICES_PATH`] exists and [`cli::DEFAULT_CONFIG_PATH`] does not.
//! * `sandbox DIR` is a warm pool's ready sandbox: it waits for the process on the FIFO
//!   `DIR/process`, removes `DIR` and execs the process as the runtime would ([`sandbox`]).
//! * `action NAME` runs one named action of an [`actions::ActionsFile`]
//!   (default [`actions::DEFAULT_ACTIONS_PATH`]).
//! * `pause` is a pod's infra container: it sleeps, reaps zombies and exits 0 on `SIGTERM`
//!   or `SIGINT` ([`pause`]).
//!
//! # Exit status
//!
//! | status | meaning |
//! | --- | --- |
//! | the child's code | the child exited normally |
//! | 128 + N | the child was killed by signal N |
//! | 2 | usage error: bad command line, unknown action |
//! | 125 | podinit failed before the command ran: unreadable or invalid config, config map, limits, user |
//! | 126 | the command was found but could not be executed |
//! | 127 | the command was not found |
//!
//! The status file format is [`status::ExitRecord`].
//!
//! # Process groups and signals
//!
//! As tini does, the child is put in its own process group (and made the terminal's
//! foreground group when stdin is a terminal). podinit forwards every signal it receives
//! except `SIGCHLD` (and the synchronous ones, which it does not block) to the child alone,
//! or, with `-g`, to the child's whole process group. podinit exits as soon as the main child
//! has exited; processes left behind are reaped until then.

pub mod actions;
pub mod cli;
pub mod config;
pub mod configmap;
pub mod fsutil;
pub mod image_maps;
#[cfg(unix)]
pub mod init;
#[cfg(unix)]
pub mod pause;
#[cfg(target_os = "linux")]
pub mod sandbox;
pub mod services;
pub mod signals;
pub mod status;
#[cfg(unix)]
pub mod supervise;

/// Exit status for a usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit status when podinit itself failed before the command ran.
pub const EXIT_INIT_FAILED: i32 = 125;
/// Exit status when the command exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status when the command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;
