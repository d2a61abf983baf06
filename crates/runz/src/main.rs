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
    if enters_container(&cli.command) {
        // CVE-2019-5736: a process in the container must never be able to open runz's own
        // binary for writing through /proc/PID/exe. Re-run from a sealed in-memory copy
        // before any container exists; only the commands that run code inside one pay for it.
        #[cfg(target_os = "linux")]
        if let Err(e) = pentacle::ensure_sealed() {
            eprintln!("runz: cannot run from a sealed copy of itself: {e}");
            return ExitCode::from(1);
        }
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

fn enters_container(command: &Command) -> bool {
    matches!(
        command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    )
}
