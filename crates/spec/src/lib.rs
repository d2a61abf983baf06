//! Spec strings as validated types, shared by every Aurora crate: image references with
//! docker's normalisation, digests and streaming verification, media types, platforms.

pub mod chain;
pub mod digest;
pub mod document;
#[doc(hidden)]
pub mod fuzzing;
pub mod idmap;
pub mod media;
pub mod platform;
pub mod reference;

pub use digest::{sha256_digest, verify_bytes, DigestError, Hasher};
pub use oci_spec::image::Digest;
pub use platform::Platform;
pub use reference::{ImageRef, ReferenceError};
