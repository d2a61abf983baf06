//! Images between the local store, registries and archives: pull, push, copy (OCI layouts,
//! oci-archive, docker-archive). The only image crate that needs tokio and the registry
//! client; what it reads from or writes to the store goes through `aurora-images`.

mod copy;
mod docker_archive;
mod docker_to_oci;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod pull;
mod push;
mod sink;

pub use copy::{copy, CopyReport, Location};
pub use error::{Result, TransferError};
pub use pull::{pull, PullOptions, PullReport};
pub use push::{push, PushOptions, PushReport};
