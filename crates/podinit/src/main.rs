//! podinit: the init inside an Aurora container or zone. See the library docs for the
//! command line, file formats and exit statuses.

use std::path::Path;

use anyhow::Context as _;
use aurora_podinit::cli::{self, Invocation};
use aurora_podinit::init::{self, InitError};
use aurora_podinit::status::ExitRecord;

fn main() {
    let invocation = match cli::parse(std::env::args_os().skip(1)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("podinit: {e}\n{}", cli::USAGE);
            std::process::exit(aurora_podinit::EXIT_USAGE);
        }
    };
    let (result, status_file) = match invocation {
        Invocation::Help => {
            print!("{}", cli::USAGE);
            return;
        }
        Invocation::Version => {
            println!("podinit {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Invocation::Run { command, options } => {
            let image_services = Path::new(aurora_podinit::services::IMAGE_SERVICES_PATH);
            let result = if let Err(e) = init::write_image_config_maps() {
                Err(e)
            } else if image_services.is_file() {
                // The image defines services: they run beside the command.
                aurora_podinit::services::run_services_with_main(image_services, command)
            } else {
                init::run_command(command, &options)
            };
            (result, options.status_file)
        }
        Invocation::Services { services, options } => {
            (run_services(&services), options.status_file)
        }
        Invocation::Config {
            config,
            options,
            implicit,
        } => {
            let services = std::path::Path::new(aurora_podinit::services::DEFAULT_SERVICES_PATH);
            if implicit && !config.exists() && services.exists() {
                // A pod's zone: podinit runs its containers as services.
                let status = std::path::PathBuf::from(cli::DEFAULT_STATUS_PATH);
                std::process::exit(finish(run_services(services), Some(&status)));
            }
            if implicit && !config.exists() {
                eprintln!(
                    "podinit: no command given and no {} (use `podinit -- CMD ARGS...` or `--config FILE`)\n{}",
                    config.display(),
                    cli::USAGE
                );
                std::process::exit(aurora_podinit::EXIT_USAGE);
            }
            let mut status_file = options
                .status_file
                .clone()
                .or_else(|| implicit.then(|| std::path::PathBuf::from(cli::DEFAULT_STATUS_PATH)));
            let result = init::run_config(&config, &options, &mut status_file);
            (result, status_file)
        }
        Invocation::Action { name, actions } => (init::run_action(&name, &actions), None),
        Invocation::Pause => std::process::exit(aurora_podinit::pause::run()),
        Invocation::Sandbox { dir } => sandbox(&dir),
    };
    std::process::exit(finish(result, status_file.as_deref()));
}

fn run_services(path: &Path) -> Result<ExitRecord, InitError> {
    aurora_podinit::services::run_services(path)
}

/// Sandbox mode: returns only when the process could not be started.
#[cfg(target_os = "linux")]
fn sandbox(dir: &Path) -> ! {
    let error = aurora_podinit::sandbox::run(dir);
    eprintln!("podinit: {error}");
    std::process::exit(error.exit_code());
}

#[cfg(not(target_os = "linux"))]
fn sandbox(_dir: &Path) -> ! {
    eprintln!("podinit: sandbox mode runs on Linux only");
    std::process::exit(aurora_podinit::EXIT_USAGE);
}

/// Reports a failure, writes the status file and returns the exit status.
fn finish(result: Result<ExitRecord, InitError>, status_file: Option<&Path>) -> i32 {
    let record = result.unwrap_or_else(|e| {
        eprintln!("podinit: {e}");
        ExitRecord::failed(e.exit_code(), e.to_string())
    });
    if let Some(path) = status_file {
        if let Err(e) = record
            .write(path)
            .context("the child's status was not recorded")
        {
            eprintln!("podinit: {e:#}");
        }
    }
    record.exit_code
}
