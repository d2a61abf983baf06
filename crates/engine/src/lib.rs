//! podadm's container engine.

pub mod config;
pub mod copy;
pub mod spec;
pub mod volume;

pub use config::{ContainerConfig, MountRequest, NetworkMode, Resources, RestartPolicy};
pub use copy::{copy_into, copy_out, CopyError};
pub use spec::{ResolvedMount, SpecContext, SpecError};
pub use volume::{Volume, VolumeError, Volumes};
