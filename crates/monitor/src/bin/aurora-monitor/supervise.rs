//! The container's life under the monitor: create (`--run`: created and started by one
//! runtime call), report, start (`--start`), relay, record each exit, restart as the policy
//! says, and at the end run the exit command.

use std::process::{Command, Stdio};
use std::time::Instant;

use aurora_crilog::{format_timestamp, LogWriter};
use aurora_monitor::{
    back_off_delay, decide_restart, write_json_atomic, Exit, MonitorDir, Status,
    BACK_OFF_RESET_AFTER,
};

use crate::args::Args;
use crate::clients::AttachServer;
use crate::daemon::ChildSignals;
use crate::oom::OomCounter;
use crate::relay::Relay;
use crate::runtime::Runtime;
use crate::sync_pipe::SyncPipe;

/// How long a container started with `--await-attach` waits for its first attach client
/// (podadm connects at once; this bounds the wait when podadm died in between).
const AWAIT_ATTACH: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the container to its last exit; the monitor's exit status.
pub fn supervise(args: &Args, sync: Option<SyncPipe>) -> i32 {
    let dir = MonitorDir::new(&args.dir);
    let setup = (|| {
        let signals = ChildSignals::install().map_err(|e| format!("cannot catch SIGCHLD: {e}"))?;
        let server = AttachServer::bind()
            .map_err(|e| format!("cannot listen on {}: {e}", dir.attach().display()))?;
        let log = LogWriter::open(&args.log_path, args.log_max_size).map_err(|e| e.to_string())?;
        Ok::<_, String>((signals, server, log))
    })();
    let (signals, mut server, mut log) = match setup {
        Ok(parts) => parts,
        Err(message) => {
            if let Some(sync) = sync {
                sync.failed(&message);
            }
            return 1;
        }
    };
    let runtime = Runtime::new(args);
    let mut sync = sync;
    let mut restarts = 0;
    // Exits in a row that came sooner than BACK_OFF_RESET_AFTER after their start.
    let mut quick_exits = 0;
    loop {
        // `--run`: the first run created and started by one runtime call.
        let one_call = args.run && restarts == 0;
        let created = match runtime.create(one_call) {
            Ok(created) => created,
            Err(message) => {
                if one_call {
                    // Perhaps created but not started: gone, so that nothing is left.
                    runtime.delete_force();
                }
                if let Some(sync) = sync.take() {
                    sync.failed(&message);
                    server.remove();
                    return 1;
                }
                // A restart that failed: the last exit stays recorded.
                break;
            }
        };
        let status = Status {
            pid: created.pid,
            restarts,
            started_at: format_timestamp(chrono::Utc::now()),
        };
        let _ = write_json_atomic(&dir.status(), &status);
        // Found while the init lives (a zombie's /proc entry names the root cgroup).
        let oom = OomCounter::of_process(created.pid);
        if let Some(sync) = sync.take() {
            sync.created(created.pid);
            if (args.run || args.start) && args.await_attach {
                // Its output waits in the pipes, its exit as a zombie, for podadm's client.
                server.await_first_client(AWAIT_ATTACH);
            }
        }
        if !one_call && (args.start || restarts > 0) {
            if let Err(_message) = runtime.start() {
                // Not started: killed, so that its exit is recorded like any other.
                runtime.delete_force();
            }
        }
        let started = Instant::now();
        let mut relay = Relay {
            log: &mut log,
            server: &mut server,
            signals: &signals,
            buf: Vec::new(),
        };
        let exit_code = relay.run(created.pid, created.io);
        let exit = Exit {
            exit_code,
            finished_at: format_timestamp(chrono::Utc::now()),
            restarts,
            oom_killed: oom.is_some_and(|counter| counter.killed()),
        };
        // Written before the clients hear of the exit: podadm reads it when they do.
        let _ = write_json_atomic(&dir.exit(), &exit);
        server.farewell(exit_code);
        if started.elapsed() >= BACK_OFF_RESET_AFTER {
            quick_exits = 0;
        }
        if decide_restart(args.restart, exit_code, restarts, dir.is_stopped()).is_none() {
            break;
        }
        std::thread::sleep(back_off_delay(quick_exits));
        quick_exits += 1;
        // A stop during the back-off wins.
        if dir.is_stopped() {
            break;
        }
        runtime.delete_force();
        restarts += 1;
    }
    run_exit_command(args);
    server.remove();
    0
}

/// `PATH ARGS…` with stdio on /dev/null (podadm's `container cleanup ID`), waited for.
fn run_exit_command(args: &Args) {
    let Some(path) = &args.exit_command else {
        return;
    };
    let _ = Command::new(path)
        .args(&args.exit_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
