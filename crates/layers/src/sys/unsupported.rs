//! Platforms without an implementation yet (illumos comes next): a clear error.

use std::path::Path;

use super::Target;
use crate::{ApplyOptions, ErrorKind};

pub(crate) fn open(_root: &Path, _options: &ApplyOptions) -> Result<Box<dyn Target>, ErrorKind> {
    Err(ErrorKind::Unsupported(format!(
        "applying layers on {} (only Linux is implemented)",
        std::env::consts::OS
    )))
}
