mod confine;
mod context;
pub mod error;
pub mod process;
#[cfg(feature = "libseccomp")]
mod seccomp_last;

pub use process::container_init_process;

type Result<T> = std::result::Result<T, error::InitProcessError>;
