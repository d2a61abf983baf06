//! podadm's container engine.

pub mod config;

pub use config::{ContainerConfig, MountRequest, NetworkMode, Resources, RestartPolicy};
