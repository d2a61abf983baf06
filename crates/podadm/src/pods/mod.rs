//! `podadm pod …` over the engine's pods, with podman's outputs and exit statuses: ids
//! printed by the verbs that change pods, 125 for podadm's own failures, `pod rm` of a
//! missing pod 1 and `pod exists` 0 or 1.

mod views;

use anyhow::{bail, Result};
use aurora_engine::spec::flags as parse;
use aurora_engine::{Engine, EngineError, PodConfig, PodRecord, PodResources, SharedNamespace};

use crate::cli::{LogsArgs, PodCommand, PodCreateArgs};

/// Runs one `pod` verb.
pub fn pod(engine: &Engine, command: &PodCommand) -> Result<u8> {
    match command {
        PodCommand::Create(args) => create(engine, args),
        PodCommand::Start { pods } => each(pods, |p| engine.pod_start(p)),
        PodCommand::Stop { time, pods } => each(pods, |p| engine.pod_stop(p, *time)),
        PodCommand::Restart { pods } => each(pods, |p| engine.pod_restart(p)),
        PodCommand::Kill { signal, pods } => each(pods, |p| engine.pod_kill(p, signal)),
        PodCommand::Pause { pods } => each(pods, |p| engine.pod_set_paused(p, true)),
        PodCommand::Unpause { pods } => each(pods, |p| engine.pod_set_paused(p, false)),
        PodCommand::Rm { force, all, pods } => remove(engine, *force, *all, pods),
        PodCommand::Ps(args) => views::ps(engine, args),
        PodCommand::Inspect { pods, .. } => views::inspect(engine, pods),
        PodCommand::Top { pod } => top(engine, pod),
        PodCommand::Logs {
            container,
            tail,
            timestamps,
            pod,
        } => logs(engine, pod, container.as_deref(), *tail, *timestamps),
        PodCommand::Stats {
            no_stream,
            interval,
            format,
            pods,
        } => {
            let sampling = crate::stats::Sampling {
                stream: !no_stream,
                interval: std::time::Duration::from_secs(*interval),
                format: *format,
            };
            stats(engine, sampling, pods)
        }
        PodCommand::Exists { pod } => Ok(match engine.pod_find(pod) {
            Ok(_) => 0,
            Err(EngineError::NoSuchPod(_)) => 1,
            Err(e) => return Err(e.into()),
        }),
    }
}

/// `pod create`: prints the pod's id.
fn create(engine: &Engine, args: &PodCreateArgs) -> Result<u8> {
    if args.replace {
        let Some(name) = args.name.as_deref() else {
            bail!("cannot replace pod without --name being set");
        };
        match engine.pod_find(name) {
            Ok(pod) if pod.name == name => {
                engine.pod_remove(&pod.id, true)?;
            }
            Ok(_) | Err(EngineError::NoSuchPod(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut ports = Vec::new();
    for text in &args.publish {
        ports.extend(aurora_network::PortMapping::parse(text)?);
    }
    let network = crate::flags::network(args.network.as_deref())?;
    let (dns, extra_hosts) = crate::flags::resolver(&args.resolver, &network)?;
    let config = PodConfig {
        hostname: args.hostname.clone(),
        ports,
        network,
        dns,
        extra_hosts,
        share: match &args.share {
            Some(text) => share(text)?,
            None => SharedNamespace::DEFAULT.to_vec(),
        },
        labels: crate::flags::labels(&args.label)?,
        resources: PodResources {
            memory: args
                .memory
                .as_deref()
                .map(parse::parse_memory)
                .transpose()?,
            cpus: args.cpus.as_deref().map(parse::parse_cpus).transpose()?,
        },
        ..Default::default()
    };
    let pod = engine.pod_create_with_infra_name(
        config,
        args.name.as_deref(),
        args.infra_name.as_deref(),
    )?;
    println!("{}", pod.id);
    Ok(0)
}

/// `--share net,ipc,uts[,pid]` (`""` shares nothing; `+pid` adds to the default set).
fn share(text: &str) -> Result<Vec<SharedNamespace>> {
    let (mut shared, list) = match text.strip_prefix('+') {
        Some(rest) => (SharedNamespace::DEFAULT.to_vec(), rest),
        None => (Vec::new(), text),
    };
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let Some(namespace) = SharedNamespace::parse(word) else {
            bail!(
                "--share {text:?}: {word:?} is not a namespace a pod shares (net, ipc, uts, pid)"
            );
        };
        if !shared.contains(&namespace) {
            shared.push(namespace);
        }
    }
    shared.sort();
    Ok(shared)
}

/// Runs `work` on each pod, printing its id; every one is tried, 125 if any failed.
fn each(pods: &[String], work: impl Fn(&str) -> aurora_engine::Result<PodRecord>) -> Result<u8> {
    let mut status = 0;
    for pod in pods {
        match work(pod) {
            Ok(record) => println!("{}", record.id),
            Err(e) => {
                eprintln!("Error: {e}");
                status = crate::PODADM_FAILED;
            }
        }
    }
    Ok(status)
}

/// `pod rm [-f] [-a]`: a missing pod is status 1 (not an error with -f), as podman's.
fn remove(engine: &Engine, force: bool, all: bool, pods: &[String]) -> Result<u8> {
    let targets: Vec<String> = if all {
        engine.pod_list()?.into_iter().map(|p| p.id).collect()
    } else {
        if pods.is_empty() {
            bail!("pod rm needs at least one pod, or --all");
        }
        pods.to_vec()
    };
    let mut status = 0;
    for target in &targets {
        match engine.pod_remove(target, force) {
            Ok(pod) => println!("{}", pod.id),
            Err(EngineError::NoSuchPod(_)) if force => {}
            Err(e) => {
                eprintln!("Error: {e}");
                status = match e {
                    EngineError::NoSuchPod(_) => 1,
                    _ => crate::PODADM_FAILED,
                };
            }
        }
    }
    Ok(status)
}

/// `pod top`: the processes of its running containers, as `top` shows one's.
fn top(engine: &Engine, key: &str) -> Result<u8> {
    let pod = engine.pod_find(key)?;
    let mut pids = Vec::new();
    for container in engine.pod_containers(&pod.id)? {
        if container.state.is_active() {
            pids.extend(engine.top(&container.id)?);
        }
    }
    if pids.is_empty() {
        bail!("pod {} has no running containers", pod.name);
    }
    crate::containers::show_processes(&pids)
}

/// `pod logs`: each container's log in creation order (the infra, which writes none, aside).
fn logs(
    engine: &Engine,
    key: &str,
    only: Option<&str>,
    tail: Option<i64>,
    timestamps: bool,
) -> Result<u8> {
    let pod = engine.pod_find(key)?;
    let containers = engine.pod_containers(&pod.id)?;
    for container in containers.iter().filter(|c| !c.config.infra) {
        if only.is_some_and(|o| o != container.name && !container.id.starts_with(o)) {
            continue;
        }
        crate::logs::logs(
            engine,
            &LogsArgs {
                follow: false,
                since: None,
                until: None,
                tail,
                timestamps,
                container: container.id.clone(),
            },
        )?;
    }
    Ok(0)
}

/// `pod stats`: samples of each running container of the pods (every pod's when none is
/// named).
fn stats(engine: &Engine, sampling: crate::stats::Sampling, keys: &[String]) -> Result<u8> {
    let running = || -> Result<Vec<String>> {
        let pods = if keys.is_empty() {
            engine.pod_list()?
        } else {
            keys.iter()
                .map(|k| engine.pod_find(k))
                .collect::<aurora_engine::Result<Vec<_>>>()?
        };
        let mut running = Vec::new();
        for pod in &pods {
            for container in engine.pod_containers(&pod.id)? {
                if container.state.is_active() {
                    running.push(container.id);
                }
            }
        }
        Ok(running)
    };
    if !sampling.stream && running()?.is_empty() {
        bail!("no running containers in the pods asked for");
    }
    crate::stats::pod_stats(engine, sampling, !keys.is_empty(), running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SharedNamespace::*;

    #[test]
    fn share_lists_parse_as_podman_takes_them() {
        assert_eq!(share("net,ipc").unwrap(), [Net, Ipc]);
        assert_eq!(share("pid,net").unwrap(), [Net, Pid]);
        assert_eq!(share("").unwrap(), []);
        assert_eq!(share("+pid").unwrap(), [Net, Ipc, Uts, Pid]);
        let err = share("net,user").unwrap_err().to_string();
        assert!(err.contains("\"user\""), "{err}");
    }
}
