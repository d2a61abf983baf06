//! aurora-monitor: one per container, started by podadm (see contracts in the crate's
//! library docs). Daemonizes, then supervises the container until its last exit.

mod args;
mod clients;
mod daemon;
mod oom;
mod relay;
mod runtime;
mod supervise;
mod sync_pipe;

use aurora_monitor::MonitorDir;

fn main() {
    let args = match args::parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("aurora-monitor: {error}");
            std::process::exit(1);
        }
    };
    daemon::close_inherited_on_exec();
    let sync = match args.sync_fd.map(sync_pipe::SyncPipe::adopt).transpose() {
        Ok(sync) => sync,
        Err(error) => {
            eprintln!("aurora-monitor: {error}");
            std::process::exit(1);
        }
    };
    if let Err(error) = daemon::daemonize(&args.dir) {
        let message = format!("cannot daemonize in {}: {error}", args.dir.display());
        eprintln!("aurora-monitor: {message}");
        if let Some(sync) = sync {
            sync.failed(&message);
        }
        std::process::exit(1);
    }
    let monitor_pid = MonitorDir::new(&args.dir).monitor_pid();
    if let Err(error) = std::fs::write(&monitor_pid, std::process::id().to_string()) {
        if let Some(sync) = sync {
            sync.failed(&format!("cannot write {}: {error}", monitor_pid.display()));
        }
        std::process::exit(1);
    }
    std::process::exit(supervise::supervise(&args, sync));
}
