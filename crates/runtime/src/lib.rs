//! The OCI runtime behind `runz`: it executes a runtime-spec bundle and nothing else.
//!
//! The portable core (container IDs, signals, the state report, the podinit injection) compiles
//! everywhere; the Linux backend ([`linux`]) runs bundles with namespaces and cgroups through
//! youki's `libcontainer`, and on illumos bundles become zones through `aurora-zones`.
//! `runz` owns its state directory (`--root`, one directory per container), its command line
//! and its error messages; this crate returns typed errors that name the container.

pub mod backend;
pub mod bundle;
pub mod error;
pub mod hooks;
pub mod id;
pub mod selinux;
pub mod signal;
pub mod state;
pub mod zone;

#[cfg(target_os = "linux")]
pub mod linux;

/// `--init`: podinit injected into a bundle's configuration (one implementation, shared with
/// podadm, in `aurora-bundle`).
pub use aurora_bundle::init;
pub use backend::{Backend, CreateOptions, ExecOptions, RunMode};
pub use bundle::Bundle;
pub use error::{Error, Result};
pub use state::{StateReport, Status};
