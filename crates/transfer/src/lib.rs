//! Images between the local store, registries and archives: pull, push, copy (OCI layouts,
//! oci-archive, docker-archive). The only image crate that needs tokio and the registry
//! client. Images reach the store through its image API (`Store::resolve`, `put_image`,
//! `import_blob` and the one `walk` of the manifest graph); the store's errors reach a transfer
//! through `aurora-images`' error.

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
