//! podadm's container engine: containers of images in Aurora's store, their state in SQLite
//! beside it (`ROOT/podadm/state.db`), each run by an OCI runtime (runz by default, runc or
//! crun) under its own monitor (`aurora-monitor`), with volumes and networks. The podadm
//! binary is a thin command line over [`Engine`]; pods and the CRI server build on it.

pub mod clock;
pub mod config;
mod create;
mod engine;
pub mod error;
mod exec;
mod lock;
mod monitor;
mod names;
mod net;
pub mod paths;
pub mod pod;
pub mod pool;
mod process;
mod query;
mod reconcile;
mod remove;
pub mod runtime;
mod start;
pub mod state;
mod stats;
mod stop;
mod users;
mod warm;

pub mod copy;
pub mod spec;
pub mod volume;

/// What the CRI server reads of a pod's network: its ports and the recorded setup result.
pub use aurora_network::{PortMapping, Protocol, SetupResult};
pub use config::{
    CniMode, ContainerConfig, DnsConfig, MountRequest, NamespaceChoice, NetworkMode, Resources,
    RestartPolicy, Seccomp, SecurityOptions,
};
pub use copy::{copy_into, copy_out, CopyError};
pub use engine::{CniOptions, Engine, EngineOptions};
pub use error::{EngineError, Result};
pub use exec::{ExecOptions, PreparedExec};
pub use net::DEFAULT_NETWORK;
pub use pod::{
    PodConfig, PodRecord, PodResources, PodState, SharedNamespace, INIT_CONTAINER_ANNOTATION,
};
pub use pool::{PoolConfig, PoolStatus};
pub use spec::{ResolvedMount, SpecContext, SpecError};
pub use start::Started;
pub use state::{ContainerRecord, ContainerState, Event};
pub use stats::{NetBytes, ResourceUse};
pub use stop::DEFAULT_STOP_TIMEOUT;
pub use volume::{Volume, VolumeError, Volumes};
