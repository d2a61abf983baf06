//! illumos zones for OCI bundles.
//!
//! **None of this has run on illumos yet.** It is compiled and tested on Linux only: the
//! translation against golden files, the executor against a fake runner that records the
//! commands it would run, and runz's zone backend end to end against stateful fakes of
//! zonecfg, zoneadm, zlogin and pkill (crates/zones-fake). Facts marked "unverified" in the docs are guesses from man pages and
//! sources, to be checked on a real OmniOS/SmartOS host.
//!
//! `runz` on illumos turns a runtime-spec bundle into a zone whose init is `podinit`. This
//! crate is the part that decides and a thin part that executes:
//!
//! - [`mod@plan`] — pure: config.json ([`oci_spec::runtime::Spec`]) plus [`PlanOptions`] →
//!   [`ZonePlan`] (brand, zonepath, fs, net, resource controls, attrs, bootargs), with a
//!   [`Warning`] for each field that has no zone equivalent and a [`PlanError`] for each that
//!   must be honoured and cannot be.
//! - [`zonecfg`] — the only place that knows zonecfg's resource and property names and its
//!   quoting; [`ZonePlan::zonecfg`] renders the command file.
//! - [`exec`] — create/start/kill/delete/state/exec as zonecfg/zoneadm/pkill/zlogin commands
//!   through a narrow [`Runner`] trait.
//! - [`pod`] — on illumos a pod is one zone: [`plan_pod`] (pure) gives its zonecfg file and
//!   podinit's services file (one service per container); [`pod::exec::PodZones`] runs it.
//! - [`runner`] — the only platform-specific part: [`SystemRunner`] runs the [`Programs`]
//!   configured (the system's on illumos; stateful fakes in runz's tests on Linux),
//!   [`FakeRunner`] answers from canned replies in unit tests.
//! - [`state`] — `zoneadm list -cp` parsing and zone state → OCI status.
//! - [`zlogin`] — quoting a process into the single shell string zlogin runs.
//!
//! Nothing here is gated on `target_os = "illumos"`: the commands are only run when a real
//! runner is used on a host that has them.

pub mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod name;
pub mod plan;
pub mod pod;
pub mod runner;
pub mod state;
pub mod zlogin;
pub mod zonecfg;

pub use exec::{ContainerState, Signal, ZoneError, Zones};
pub use name::{ZoneName, ZoneNameError};
pub use plan::{plan, BrandKind, Distribution, PlanError, PlanOptions, Warning, ZonePlan};
pub use pod::{plan_pod, PodDescription, PodError, PodPlan};
pub use runner::{FakeRunner, Programs, Runner, SystemRunner};
pub use state::{parse_list, InitExit, OciStatus, ZoneEntry, ZoneState};
