//! aurora-build: `imageadm build`. A Containerfile's stages built in snapshot clones: each
//! RUN in a clone of the previous step's layer, run by the OCI runtime; each COPY and ADD
//! written into one through the kernel-resolved root; the changes packed by the storage
//! driver's diff into a layer and laid down as the next step's base. A layer cache keyed by
//! the chain of steps makes a repeated build a series of lookups.
//!
//! Entry point: [`build`].

mod build;
mod cache;
mod copy;
mod error;
mod options;
mod registry_cache;
mod run;
mod source;
mod stage;
mod stages;
mod steps;
mod work;

pub use build::build;
pub use error::{BuildError, Result};
pub use options::{
    parse_build_arg, BaseImages, BuildOptions, BuildProgress, BuildReport, Network, Quiet,
    StepReport,
};
pub use registry_cache::{cache_image, import_cache_image, CacheEntries, CacheImage, CACHE_LABEL};
