//! `up` starts a keeper, a detached copy of this binary that makes the resource, reports it,
//! and holds it until `down` asks over a Unix socket; its drop of the testkit value is the
//! teardown. Nothing polls: `up` reads the keeper's report until it says READY (or ends), and
//! `down` reads the keeper's answer until it says DOWN (or the keeper is gone).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::resource::{self, Kind, Options};

/// The keeper's last line on its report once the resource is there.
const READY: &str = "READY";
/// The keeper's answer once the resource is gone.
const DOWN: &str = "DOWN";
/// A hang guard for `down` only: destroying a busy zfs-fuse pool is retried for a while.
const TEARDOWN_PATIENCE: Duration = Duration::from_secs(900);

/// The keeper's files in DIR: `.sock` (where `down` asks), `.env` (the facts), `.log`.
fn file(dir: &Path, kind: Kind, extension: &str) -> PathBuf {
    dir.join(format!("{}.{extension}", kind.name()))
}

/// `up`: reuse what is there, or start a keeper and relay its report.
pub fn up(kind: Kind, options: &Options) -> Result<(), String> {
    fs::create_dir_all(&options.dir)
        .map_err(|e| format!("cannot create {}: {e}", options.dir.display()))?;
    let env = file(&options.dir, kind, "env");
    if UnixStream::connect(file(&options.dir, kind, "sock")).is_ok() {
        // Up already (an earlier `up` on this DIR): the same facts, but STARTED=0, so that
        // this caller leaves the teardown to whoever started it.
        let facts = fs::read_to_string(&env)
            .map_err(|e| format!("a keeper answers but {} is unreadable: {e}", env.display()))?;
        print!("{}", facts.replace("STARTED=1", "STARTED=0"));
        return Ok(());
    }
    if let Some(facts) = resource::already_there(kind, options)? {
        print!("{}", render(&facts));
        return Ok(());
    }
    let log_path = file(&options.dir, kind, "log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let myself = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut command = Command::new(myself);
    command
        .arg("keep")
        .arg(kind.name())
        .arg("--dir")
        .arg(&options.dir);
    match kind {
        Kind::Registry => {
            if let Some(port) = options.port {
                command.arg("--port").arg(port.to_string());
            }
        }
        Kind::ZfsPool | Kind::Btrfs => {
            command.arg("--size").arg(options.size.to_string());
        }
    }
    // Its own process group: a Ctrl-C meant for the calling script does not take the
    // resource away from under the script's cleanup (which calls `down`).
    let mut keeper = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start the keeper: {e}"))?;
    let report = keeper.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(report).lines() {
        let line = line.map_err(|e| format!("reading the keeper's report: {e}"))?;
        if line == READY {
            for line in &lines {
                println!("{line}");
            }
            return Ok(());
        }
        lines.push(line);
    }
    // No READY: the keeper failed, and said why in its log.
    let status = keeper
        .wait()
        .map_err(|e| format!("waiting for the keeper: {e}"))?;
    let mut said = String::new();
    if let Ok(mut log) = File::open(&log_path) {
        let _ = std::io::Seek::seek(&mut log, std::io::SeekFrom::Start(log_start));
        let _ = log.read_to_string(&mut said);
    }
    Err(format!(
        "{} up in {} failed (keeper {status}): {}",
        kind.name(),
        options.dir.display(),
        said.trim()
    ))
}

/// The keeper: make the resource, report it, hold it until `down` asks.
pub fn keep(kind: Kind, options: &Options) -> Result<(), String> {
    let socket = file(&options.dir, kind, "sock");
    let env = file(&options.dir, kind, "env");
    let _ = fs::remove_file(&socket); // a keeper that died left it
    let listener = UnixListener::bind(&socket)
        .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    let live = resource::create(kind, options)?;
    let mut facts = live.facts.clone();
    facts.push(("STARTED", "1".to_string()));
    facts.push(("KEEPER_PID", std::process::id().to_string()));
    let text = render(&facts);
    write_atomically(&env, &text)?;
    eprintln!("{} up: {}", kind.name(), text.replace('\n', " ").trim());
    {
        let mut report = std::io::stdout().lock();
        report
            .write_all(format!("{text}{READY}\n").as_bytes())
            .and_then(|()| report.flush())
            .map_err(|e| format!("cannot report to `up`: {e}"))?;
    }
    // `up` has what it needs and exits; let go of its pipe.
    close_stdout();
    let mut asker = loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let mut request = String::new();
                let _ = BufReader::new(&mut stream).read_line(&mut request);
                if request.trim() == "down" {
                    break stream;
                }
                // Anything else (a probe by `up`): the keeper stays.
            }
            Err(e) => eprintln!("accept on {}: {e}", socket.display()),
        }
    };
    drop(live.guard);
    let _ = fs::remove_file(&env);
    let _ = fs::remove_file(&socket);
    eprintln!("{} down", kind.name());
    let _ = writeln!(asker, "{DOWN}");
    Ok(())
}

/// `down`: ask the keeper and wait for its answer; when there is none, clean what is known.
pub fn down(kind: Kind, dir: &Path) -> Result<(), String> {
    let socket = file(dir, kind, "sock");
    let env = file(dir, kind, "env");
    let Ok(mut stream) = UnixStream::connect(&socket) else {
        return keeper_gone(kind, dir, &env, &socket);
    };
    stream
        .set_read_timeout(Some(TEARDOWN_PATIENCE))
        .and_then(|()| stream.write_all(b"down\n"))
        .map_err(|e| format!("cannot ask the keeper on {}: {e}", socket.display()))?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if answer.is_empty() {
        // The connection closed without a word: the keeper was dying as it was asked (a
        // SIGKILL is delivered after kill(2) returns). Clean up as for a keeper gone.
        return keeper_gone(kind, dir, &env, &socket);
    }
    if answer.trim() == DOWN {
        eprintln!("{} in {} is down", kind.name(), dir.display());
        Ok(())
    } else {
        Err(format!(
            "the keeper of {} in {} did not confirm the teardown; see {}",
            kind.name(),
            dir.display(),
            file(dir, kind, "log").display()
        ))
    }
}

/// No keeper answers: it was killed (or never ran). What it left is cleaned where that is
/// safe; a zfs pool is destroyed by the next pool's creation (testkit removes test pools
/// whose process is gone).
fn keeper_gone(kind: Kind, dir: &Path, env: &Path, socket: &Path) -> Result<(), String> {
    let Ok(facts) = fs::read_to_string(env) else {
        eprintln!("no {} running in {}", kind.name(), dir.display());
        return Ok(());
    };
    let fact = |key: &str| {
        facts
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    match kind {
        Kind::Btrfs => {
            if let Some(mountpoint) = fact("MOUNTPOINT") {
                let _ = Command::new("umount").arg("-l").arg(&mountpoint).status();
            }
        }
        Kind::Registry => {
            let pid = fact("PID").and_then(|p| p.parse::<i32>().ok());
            let comm = pid.and_then(|p| fs::read_to_string(format!("/proc/{p}/comm")).ok());
            if let (Some(pid), Some("docker-registry")) = (pid, comm.as_deref().map(str::trim)) {
                // SAFETY: kill has no memory-safety preconditions; the pid was checked to
                // be a docker-registry.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                wait_until_dead(pid);
            }
        }
        Kind::ZfsPool => {}
    }
    let _ = fs::remove_file(env);
    let _ = fs::remove_file(socket);
    eprintln!(
        "the keeper of {} in {} was gone; cleaned what it left",
        kind.name(),
        dir.display()
    );
    Ok(())
}

/// Waits until `pid` is gone or a zombie: SIGKILL is delivered after kill(2) returns, and
/// the process is no child of ours to wait for. Ten seconds is only a hang guard.
fn wait_until_dead(pid: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']));
        if !alive {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// KEY=VALUE lines. Values are paths, names and numbers; a newline would break the format.
fn render(facts: &[(&'static str, String)]) -> String {
    facts
        .iter()
        .map(|(key, value)| format!("{key}={}\n", value.replace('\n', " ")))
        .collect()
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let partial = path.with_extension("env.partial");
    fs::write(&partial, text)
        .and_then(|()| fs::rename(&partial, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn close_stdout() {
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto fd 1 replaces the pipe with /dev/null; both descriptors are
        // valid, and nothing else writes to stdout from here on.
        unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) };
    }
}
