//! One function per command: arguments in, the runtime called, output printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aurora_runtime::{Backend, Bundle, CreateOptions, ExecOptions, RunMode, Status};
use oci_spec::runtime::LinuxResources;

use crate::cli::{Cli, Command, CreateFlags, ListFormat, Update};

/// The bundle of a `create` or `run`, read once (None for other commands).
pub type LoadedBundle = Option<aurora_runtime::Result<Bundle>>;

pub fn load_bundle(command: &Command) -> LoadedBundle {
    match command {
        Command::Create(c) => Some(Bundle::load(&c.flags.bundle)),
        Command::Run(r) => Some(Bundle::load(&r.flags.bundle)),
        _ => None,
    }
}

fn take_bundle(bundle: LoadedBundle, flags: &CreateFlags) -> Result<Bundle> {
    Ok(bundle.unwrap_or_else(|| Bundle::load(&flags.bundle))?)
}

/// Runs the command; `bundle` is what [`load_bundle`] read for it.
pub fn dispatch(cli: &Cli, bundle: LoadedBundle) -> Result<i32> {
    match &cli.command {
        Command::Spec(spec) => write_spec(&spec.bundle).map(|()| 0),
        Command::Features => print_json(&features()).map(|()| 0),
        command => {
            let runtime =
                crate::backend::open(cli.backend, &state_root(cli), cli.zone_tools.clone())?;
            run_command(runtime.as_ref(), command, bundle)
        }
    }
}

/// One of runc's container verbs, through whichever backend runs the containers.
fn run_command(runtime: &dyn Backend, command: &Command, bundle: LoadedBundle) -> Result<i32> {
    match command {
        Command::Create(c) => {
            let bundle = take_bundle(bundle, &c.flags)?;
            runtime.create(&c.id, bundle, &create_options(&c.flags)?)?;
            Ok(0)
        }
        Command::Start(c) => runtime.start(&c.id).map(|()| 0).map_err(Into::into),
        Command::Run(r) => {
            let bundle = take_bundle(bundle, &r.flags)?;
            let options = create_options(&r.flags)?;
            let mode = RunMode {
                detach: r.detach,
                keep: r.keep,
            };
            Ok(runtime.run(&r.id, bundle, &options, mode)?)
        }
        Command::State(c) => print_json(&runtime.state(&c.id)?).map(|()| 0),
        Command::Kill(k) => {
            let signal = aurora_runtime::signal::parse(&k.signal)?;
            runtime.kill(&k.id, signal, k.all)?;
            Ok(0)
        }
        Command::Delete(d) => runtime
            .delete(&d.id, d.force)
            .map(|()| 0)
            .map_err(Into::into),
        Command::Exec(e) => {
            if e.tty && e.console_socket.is_none() {
                bail!("exec --tty needs --console-socket (runz does not relay a terminal itself)");
            }
            let options = ExecOptions {
                args: e.command.clone(),
                process_file: e.process.clone(),
                env: e.env.clone(),
                cwd: e.cwd.clone(),
                user: e.user,
                additional_gids: e.additional_gids.clone(),
                capabilities: e.cap.clone(),
                no_new_privs: e.no_new_privs,
                console_socket: e.console_socket.clone(),
                pid_file: e.pid_file.clone(),
                preserve_fds: e.preserve_fds,
                detach: e.detach,
                ignore_paused: e.ignore_paused,
                cgroup: e.cgroup.clone(),
                process_label: e.process_label.clone(),
            };
            Ok(runtime.exec(&e.id, &options)?)
        }
        Command::List(l) => print_list(&runtime.list()?, l.format, l.quiet).map(|()| 0),
        Command::Ps(p) => print_ps(&runtime.ps(&p.id)?, p.format, &p.ps_options).map(|()| 0),
        Command::Pause(c) => runtime.pause(&c.id).map(|()| 0).map_err(Into::into),
        Command::Resume(c) => runtime.resume(&c.id).map(|()| 0).map_err(Into::into),
        Command::Events(e) => events(runtime, &e.id, e.interval, e.stats).map(|()| 0),
        Command::Update(u) => runtime
            .update(&u.id, &resources(u)?)
            .map(|()| 0)
            .map_err(Into::into),
        Command::Spec(_) | Command::Features => unreachable!("handled before the backend"),
    }
}

/// runc's default: /run/runc for root, $XDG_RUNTIME_DIR/runc otherwise.
fn state_root(cli: &Cli) -> PathBuf {
    if let Some(root) = &cli.root {
        return root.clone();
    }
    // SAFETY: geteuid cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if euid != 0 => PathBuf::from(dir).join("runz"),
        _ => PathBuf::from("/run/runz"),
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `spec`: runc's default config.json, refusing to overwrite one.
fn write_spec(bundle: &std::path::Path) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists; remove it first", path.display());
    }
    aurora_bundle::write_bundle_config(bundle, &aurora_bundle::default_spec())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `features`: the runtime spec's features document for what runz implements.
fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec",
            "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid",
            "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime",
            "remount", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime",
            "rnostrictatime", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro",
            "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable",
            "rw", "shared", "silent", "slave", "strictatime", "suid", "symfollow", "sync",
            "tmpcopyup", "unbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": capability_names(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                          "SCMP_ARCH_ARM"]
            },
            "apparmor": {"enabled": false},
            // runz applies no labels (see the annotation below).
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false}
        },
        "annotations": {
            "org.aurora.runz.init": "podinit is injected with --init",
            "org.aurora.runz.selinux": aurora_runtime::selinux::features_note(aurora_runtime::selinux::host()),
            // No standard field says either; runtimes differ on both (runc ignores the first
            // on v2 and loads the filter earlier), so users can tell what runz does.
            "org.aurora.runz.linux.resources.memory.disableOOMKiller":
                "cgroup v1 (and hybrid): memory.oom_control; cgroup v2 has no such control: refused at create, as crun does",
            "org.aurora.runz.linux.seccomp":
                "loaded as the last step before exec (a notifying profile: before create returns)",
        }
    })
}

fn capability_names() -> Vec<&'static str> {
    aurora_bundle::ALL_CAPABILITIES.to_vec()
}

/// runc's `list` table: ID, PID, STATUS, BUNDLE, CREATED, OWNER.
fn print_list(
    reports: &[aurora_runtime::StateReport],
    format: ListFormat,
    quiet: bool,
) -> Result<()> {
    if quiet {
        let mut out = std::io::stdout().lock();
        for r in reports {
            writeln!(out, "{}", r.id)?;
        }
        return Ok(());
    }
    if format == ListFormat::Json {
        return print_json(&reports);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12} {:<8} {:<10} {:<40} {:<31} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    )?;
    for r in reports {
        writeln!(
            out,
            "{:<12} {:<8} {:<10} {:<40} {:<31} {}",
            r.id,
            r.pid,
            r.status.as_str(),
            r.bundle.display(),
            r.created,
            r.owner
        )?;
    }
    Ok(())
}

/// runc's `ps` table: ps(1)'s output for the container's PIDs only.
fn print_ps(pids: &[i32], format: ListFormat, options: &[String]) -> Result<()> {
    if format == ListFormat::Json {
        return print_json(&pids);
    }
    let options: Vec<String> = if options.is_empty() {
        vec!["-ef".to_string()]
    } else {
        options.to_vec()
    };
    let output = std::process::Command::new("ps")
        .args(&options)
        .output()
        .context("cannot run ps")?;
    if !output.status.success() {
        bail!(
            "ps {} failed: {}",
            options.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(column) = header.split_whitespace().position(|c| c == "PID") else {
        bail!("ps {} printed no PID column", options.join(" "));
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{header}")?;
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// runc's `events`: one `{"type":"stats","id":…,"data":…}` line now (`--stats`), or every
/// `interval` seconds until the container stops.
fn events(runtime: &dyn Backend, id: &str, interval: u32, once: bool) -> Result<()> {
    use std::io::Write;
    loop {
        let line = serde_json::json!({"type": "stats", "id": id, "data": runtime.stats(id)?});
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        drop(out);
        if once {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(u64::from(interval.max(1))));
        let status = runtime.state(id)?.status;
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            return Ok(());
        }
    }
}

fn create_options(flags: &CreateFlags) -> Result<CreateOptions> {
    let init = if flags.init {
        Some(podinit_path(flags.init_path.as_deref())?)
    } else {
        None
    };
    Ok(CreateOptions {
        console_socket: flags.console_socket.clone(),
        pid_file: flags.pid_file.clone(),
        no_pivot: flags.no_pivot,
        preserve_fds: flags.preserve_fds,
        init,
    })
}

/// `--init-path`, else podinit beside runz's own binary, else on PATH.
fn podinit_path(given: Option<&Path>) -> Result<PathBuf> {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p)
            .with_context(|| format!("the init binary {} cannot be found", p.display()))
    };
    if let Some(path) = given {
        return absolute(path);
    }
    // Our own path from argv[0] (the sealed copy's /proc/self/exe is a memfd).
    let beside = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|me| which(&me))
        .and_then(|me| me.parent().map(|dir| dir.join("podinit")))
        .filter(|p| p.is_file());
    if let Some(path) = beside {
        return absolute(&path);
    }
    which(Path::new("podinit"))
        .context("--init needs podinit: none beside runz or on PATH (give --init-path)")
}

fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return std::fs::canonicalize(program).ok();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

fn resources(update: &Update) -> Result<LinuxResources> {
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder};
    let mut resources: LinuxResources = match &update.resources {
        Some(path) if path == Path::new("-") => serde_json::from_reader(std::io::stdin().lock())
            .context("the resources on stdin are not linux.resources JSON")?,
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not linux.resources JSON", path.display()))?
        }
        None => LinuxResources::default(),
    };
    if update.memory.is_some() || update.memory_swap.is_some() {
        let mut memory = (*resources.memory()).unwrap_or_else(|| {
            LinuxMemoryBuilder::default()
                .build()
                .expect("an empty memory section")
        });
        if let Some(limit) = update.memory {
            memory.set_limit(Some(limit));
        }
        if let Some(swap) = update.memory_swap {
            memory.set_swap(Some(swap));
        }
        resources.set_memory(Some(memory));
    }
    if update.cpu_shares.is_some()
        || update.cpu_quota.is_some()
        || update.cpu_period.is_some()
        || update.cpuset_cpus.is_some()
        || update.cpuset_mems.is_some()
    {
        let mut cpu = resources.cpu().clone().unwrap_or_else(|| {
            LinuxCpuBuilder::default()
                .build()
                .expect("an empty cpu section")
        });
        if let Some(shares) = update.cpu_shares {
            cpu.set_shares(Some(shares));
        }
        if let Some(quota) = update.cpu_quota {
            cpu.set_quota(Some(quota));
        }
        if let Some(period) = update.cpu_period {
            cpu.set_period(Some(period));
        }
        if let Some(cpus) = &update.cpuset_cpus {
            cpu.set_cpus(Some(cpus.clone()));
        }
        if let Some(mems) = &update.cpuset_mems {
            cpu.set_mems(Some(mems.clone()));
        }
        resources.set_cpu(Some(cpu));
    }
    if let Some(limit) = update.pids_limit {
        resources.set_pids(Some(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .context("pids limit")?,
        ));
    }
    Ok(resources)
}
