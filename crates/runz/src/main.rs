//! runz: executes OCI runtime-spec bundles with runc's command line. The work is done by
//! `aurora-runtime`; this binary parses the command line, seals itself, logs, prints, and
//! turns errors into runc's messages and exit codes.

mod backend;
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
    // The bundle of a create is read once, here: whether runz must seal itself is decided
    // from the same parsed configuration the create then uses. A bundle that cannot be
    // read creates no container, so it needs no protection; its error is reported below.
    let bundle = commands::load_bundle(&cli.command);
    // Only the Linux backend sets processes up in the container from runz itself; a zone's
    // processes are started by the zone's own init and by zlogin.
    #[cfg(target_os = "linux")]
    if cli.backend == cli::BackendKind::Linux {
        if let Err(e) = protect_binary(&cli.command, bundle.as_ref().and_then(|b| b.as_ref().ok()))
        {
            eprintln!("runz: {e}");
            return ExitCode::from(1);
        }
    }
    let log = log::Log::init(cli.log.as_deref(), cli.log_format, cli.debug);
    match commands::dispatch(&cli, bundle) {
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
fn protect_binary(
    command: &Command,
    bundle: Option<&aurora_runtime::Bundle>,
) -> Result<(), String> {
    use aurora_runtime::linux::sealed;
    let whole_binary = match command {
        Command::Create(_) | Command::Run(_) => match bundle {
            Some(bundle) => sealed::needs_sealed_binary(bundle.spec()),
            None => return Ok(()),
        },
        Command::Exec(_) => !sealed::helper_available(),
        _ => return Ok(()),
    };
    sealed::forbid_ptrace_access().map_err(|e| format!("cannot make runz non-dumpable: {e}"))?;
    if whole_binary {
        seal_self().map_err(|e| format!("cannot run from a sealed copy of itself: {e}"))?;
    }
    Ok(())
}

/// Re-executes runz from a sealed copy of itself (it returns only on failure). Sealing the
/// copy against writes can be refused with EBUSY while the kernel still holds references to
/// the pages just copied into it; that passes, so a few more tries are made before giving up.
fn seal_self() -> std::io::Result<()> {
    let mut tries_left = 5;
    loop {
        match pentacle::ensure_sealed() {
            Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy && tries_left > 0 => {
                tries_left -= 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}
