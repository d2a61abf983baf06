//! runz: executes OCI runtime-spec bundles with runc's command line. The work is done by
//! `aurora-runtime`; this binary parses the command line, seals itself, logs, prints, and
//! turns errors into runc's messages and exit codes.

mod cli;
mod commands;
mod log;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    #[cfg(target_os = "linux")]
    if let Err(e) = protect_binary(&cli.command) {
        eprintln!("runz: {e}");
        return ExitCode::from(1);
    }
    let log = log::Log::init(cli.log.as_deref(), cli.log_format, cli.debug);
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            log.error(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

/// CVE-2019-5736: a container must never reach runz's own binary on the host. The commands
/// that set up processes inside a container make runz non-dumpable, and its container processes
/// start their programs through the sealed runz-exec helper; only where that is not enough
/// (see aurora_runtime::linux::sealed) does runz re-run itself from a sealed in-memory copy.
#[cfg(target_os = "linux")]
fn protect_binary(command: &Command) -> Result<(), String> {
    use aurora_runtime::linux::sealed;
    let whole_binary = match command {
        Command::Create(c) => sealed::needs_sealed_binary(&c.flags.bundle),
        Command::Run(r) => sealed::needs_sealed_binary(&r.flags.bundle),
        Command::Exec(_) => !sealed::helper_available(),
        _ => return Ok(()),
    };
    sealed::forbid_ptrace_access().map_err(|e| format!("cannot make runz non-dumpable: {e}"))?;
    if whole_binary {
        pentacle::ensure_sealed()
            .map_err(|e| format!("cannot run from a sealed copy of itself: {e}"))?;
    }
    Ok(())
}
