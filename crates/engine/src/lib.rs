//! podadm's container engine.

pub mod config;
pub mod copy;
pub mod spec;

pub use config::{ContainerConfig, MountRequest, NetworkMode, Resources, RestartPolicy};
pub use spec::{ResolvedMount, SpecContext, SpecError};
