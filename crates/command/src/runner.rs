//! The seam between a driver's logic and the programs it runs: drivers hold a [`Runner`], the
//! system's in production ([`SystemRunner`]), a stateful fake of the program in tests, so that
//! the logic is tested against behaviour, not against recorded command lines.

use std::ffi::OsString;

use crate::CommandFailure;

/// Runs an external program: `program args…` → its standard output, or the failure.
/// Arguments are `OsString`s: paths need not be UTF-8.
pub trait Runner: Send + Sync + std::fmt::Debug {
    fn run(&self, program: &str, args: &[OsString]) -> Result<String, CommandFailure>;
}

/// The real thing: [`crate::run`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[OsString]) -> Result<String, CommandFailure> {
        crate::run(program, args)
    }
}
