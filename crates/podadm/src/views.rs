//! What podadm prints about containers: `ps` (podman's table and JSON), `inspect` (podman's
//! JSON field names for what Aurora keeps), `port`, `events`.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};
use aurora_engine::{ContainerRecord, ContainerState, Engine, MountRequest, NetworkMode};
use serde_json::{json, Value};

use crate::cli::{Format, PsArgs, PsSort};

/// `podadm ps`.
pub fn ps(engine: &Engine, args: &PsArgs) -> Result<u8> {
    let filters = Filters::parse(&args.filter)?;
    let last = if args.latest { Some(1) } else { args.last };
    let mut records: Vec<ContainerRecord> = engine
        .list()?
        .into_iter()
        .filter(|r| args.all || last.is_some() || r.state.is_active() || filters.wants_all())
        .filter(|r| filters.matches(r))
        .collect();
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    if let Some(last) = last {
        records.truncate(last);
    }
    sort_containers(engine, &mut records, args.sort);
    if args.quiet {
        for record in &records {
            println!(
                "{}",
                if args.no_trunc {
                    &record.id
                } else {
                    &record.id[..12]
                }
            );
        }
        return Ok(0);
    }
    let pod_names: HashMap<String, String> = engine
        .pod_list()?
        .into_iter()
        .map(|pod| (pod.id, pod.name))
        .collect();
    // As podman's: the pod's id always, its name with --pod.
    let pod_of = |record: &ContainerRecord| {
        let id = record.config.pod.clone().unwrap_or_default();
        let name = pod_names
            .get(&id)
            .filter(|_| args.pod)
            .cloned()
            .unwrap_or_default();
        (id, name)
    };
    if args.format == Format::Json {
        let list: Vec<Value> = records
            .iter()
            .map(|r| ps_json(engine, r, pod_of(r)))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            [
                if args.no_trunc {
                    r.id.clone()
                } else {
                    r.id[..12].to_string()
                },
                r.image.clone(),
                truncate(&command_of(engine, r).join(" "), 20, args.no_trunc),
                ago(&r.created_at),
                status_text(r),
                ports_text(r),
                r.name.clone(),
            ]
        })
        .collect();
    let headers = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    if !args.pod {
        print_columns(&headers, &rows, !args.noheading);
        return Ok(0);
    }
    // podman's --pod: the pod's short id and name after the names.
    let rows: Vec<[String; 9]> = records
        .iter()
        .zip(rows)
        .map(
            |(record, [id, image, command, created, status, ports, names])| {
                let (pod_id, pod_name) = pod_of(record);
                let pod_id = pod_id.chars().take(12).collect();
                [
                    id, image, command, created, status, ports, names, pod_id, pod_name,
                ]
            },
        )
        .collect();
    let [a, b, c, d, e, f, g] = headers;
    print_columns(
        &[a, b, c, d, e, f, g, "POD ID", "PODNAME"],
        &rows,
        !args.noheading,
    );
    Ok(0)
}

/// `ps --sort`: records come newest first; the other orders are ascending (stable).
fn sort_containers(engine: &Engine, records: &mut [ContainerRecord], sort: PsSort) {
    match sort {
        PsSort::Created | PsSort::Runningfor => {}
        PsSort::Command => records.sort_by_cached_key(|r| command_of(engine, r).join(" ")),
        PsSort::Id => records.sort_by(|a, b| a.id.cmp(&b.id)),
        PsSort::Image => records.sort_by(|a, b| a.image.cmp(&b.image)),
        PsSort::Names => records.sort_by(|a, b| a.name.cmp(&b.name)),
        PsSort::Status => records.sort_by_key(status_text),
    }
}

/// Prints rows under headers, columns two spaces apart (as podman's tables).
pub fn print_table<Row: AsRef<[String]>>(headers: &[&str], rows: &[Row]) {
    print_columns(headers, rows, true);
}

/// Prints rows in columns as wide as their headers' and cells' widest, the header line
/// first when `heading`.
pub fn print_columns<Row: AsRef<[String]>>(headers: &[&str], rows: &[Row], heading: bool) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", text.trim_end());
    };
    if heading {
        line(headers.to_vec());
    }
    for row in rows {
        line(row.as_ref().iter().map(String::as_str).collect());
    }
}

fn truncate(text: &str, width: usize, no_trunc: bool) -> String {
    if no_trunc || text.chars().count() <= width {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(width - 3).collect::<String>())
    }
}

/// The process the container runs, from its bundle.
fn command_of(engine: &Engine, record: &ContainerRecord) -> Vec<String> {
    engine
        .spec_of(record)
        .ok()
        .and_then(|spec| spec.process().clone())
        .and_then(|process| process.args().clone())
        .unwrap_or_default()
}

fn seconds_since(time: &str) -> Option<i64> {
    let then = aurora_engine::clock::parse(time)?;
    Some((chrono::Utc::now() - then).num_seconds().max(0))
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} seconds"),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 86400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

pub fn ago(time: &str) -> String {
    seconds_since(time).map_or_else(String::new, |s| format!("{} ago", human_duration(s)))
}

/// podman's status column: `Up 3 seconds`, `Exited (1) 2 minutes ago`, `Created`, `Paused`.
fn status_text(record: &ContainerRecord) -> String {
    match record.state {
        ContainerState::Running => format!(
            "Up {}",
            record
                .started_at
                .as_deref()
                .and_then(seconds_since)
                .map_or_else(String::new, human_duration)
        ),
        ContainerState::Paused => "Paused".into(),
        ContainerState::Exited => format!(
            "Exited ({}) {}",
            record.exit_code.unwrap_or(-1),
            record.finished_at.as_deref().map(ago).unwrap_or_default()
        ),
        ContainerState::Created => "Created".into(),
        ContainerState::Creating => "Creating".into(),
        ContainerState::Removing => "Removing".into(),
    }
}

fn ports_text(record: &ContainerRecord) -> String {
    record
        .config
        .ports
        .iter()
        .map(|p| {
            let ip = p
                .host_ip
                .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string());
            let proto = match p.protocol {
                aurora_network::Protocol::Tcp => "tcp",
                aurora_network::Protocol::Udp => "udp",
            };
            format!("{ip}:{}->{}/{proto}", p.host_port, p.container_port)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn unix_time(time: Option<&str>) -> i64 {
    time.and_then(aurora_engine::clock::parse)
        .map_or(0, |t| t.timestamp())
}

fn ps_json(engine: &Engine, record: &ContainerRecord, (pod, pod_name): (String, String)) -> Value {
    json!({
        "Id": record.id,
        "Names": [record.name],
        "Image": record.image,
        "ImageID": record.image_id,
        "Command": command_of(engine, record),
        "Created": unix_time(Some(&record.created_at)),
        "CreatedAt": record.created_at,
        "State": record.state.as_str(),
        "Status": status_text(record),
        "Exited": record.state == ContainerState::Exited,
        "ExitCode": record.exit_code.unwrap_or(0),
        "ExitedAt": unix_time(record.finished_at.as_deref()),
        "StartedAt": unix_time(record.started_at.as_deref()),
        "Pid": record.pid.unwrap_or(0),
        "Ports": record.config.ports,
        "Labels": record.config.labels,
        "AutoRemove": record.config.auto_remove,
        "Restarts": record.restarts,
        "Networks": network_names(record),
        "Pod": pod,
        "PodName": pod_name,
    })
}

pub fn network_names(record: &ContainerRecord) -> Vec<String> {
    match &record.config.network {
        NetworkMode::Bridge(names) if names.is_empty() => {
            vec![aurora_engine::DEFAULT_NETWORK.to_string()]
        }
        NetworkMode::Bridge(names) => names.clone(),
        _ => Vec::new(),
    }
}

/// `podadm inspect`: podman's field names for what podadm keeps.
pub fn inspect(engine: &Engine, containers: &[String]) -> Result<u8> {
    let mut all = Vec::new();
    let mut failed = false;
    for key in containers {
        match engine.find(key) {
            Ok(record) => all.push(inspect_json(engine, &record)),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&all)?);
    Ok(if failed { crate::PODADM_FAILED } else { 0 })
}

fn inspect_json(engine: &Engine, record: &ContainerRecord) -> Value {
    let spec = engine.spec_of(record).ok();
    let process = spec.as_ref().and_then(|s| s.process().clone());
    let args = process
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let env = process
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    let cwd = process.as_ref().map(|p| p.cwd().display().to_string());
    let c = &record.config;
    json!({
        "Id": record.id,
        "Created": record.created_at,
        "Path": args.first(),
        "Args": args.get(1..).unwrap_or_default(),
        "State": {
            "Status": record.state.as_str(),
            "Running": record.state == ContainerState::Running,
            "Paused": record.state == ContainerState::Paused,
            "Restarting": false,
            "Dead": false,
            "Pid": record.pid.unwrap_or(0),
            "ExitCode": record.exit_code.unwrap_or(0),
            "OOMKilled": engine.oom_killed(record),
            "StartedAt": record.started_at.clone().unwrap_or_default(),
            "FinishedAt": record.finished_at.clone().unwrap_or_default(),
        },
        "Image": record.image_id,
        "ImageName": record.image,
        "Name": record.name,
        "RestartCount": record.restarts,
        "Pod": record.config.pod.clone().unwrap_or_default(),
        "IsInfra": record.config.infra,
        "OCIRuntime": record.runtime,
        "LogPath": engine.log_path(record),
        "Mounts": mounts_json(c),
        "Config": {
            "Hostname": c.hostname.clone().unwrap_or_else(|| record.id[..12].to_string()),
            "User": c.user.clone().unwrap_or_default(),
            "Env": env,
            "Cmd": c.command,
            "Entrypoint": c.entrypoint,
            "WorkingDir": cwd,
            "Labels": c.labels,
            "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout.unwrap_or(aurora_engine::DEFAULT_STOP_TIMEOUT),
            "Tty": c.terminal,
            "OpenStdin": c.interactive,
            "Image": record.image,
        },
        "HostConfig": {
            "AutoRemove": c.auto_remove,
            "Privileged": c.privileged,
            "ReadonlyRootfs": c.read_only,
            "CapAdd": c.cap_add,
            "CapDrop": c.cap_drop,
            "Memory": c.resources.memory.unwrap_or(0),
            "NanoCpus": c.resources.cpus.map_or(0, |cpus| (cpus * 1e9) as i64),
            "PidsLimit": c.resources.pids_limit.unwrap_or(0),
            "RestartPolicy": restart_json(c.restart),
            "NetworkMode": network_mode_text(&c.network),
            "PortBindings": port_bindings(c),
            "Init": c.init,
        },
        "NetworkSettings": {
            "Networks": record.network_status,
            "Ports": port_bindings(c),
        },
    })
}

fn mounts_json(config: &aurora_engine::ContainerConfig) -> Vec<Value> {
    config
        .mounts
        .iter()
        .map(|m| match m {
            MountRequest::Volume {
                name,
                destination,
                read_only,
            } => json!({"Type": "volume", "Name": name, "Destination": destination, "RW": !read_only}),
            MountRequest::Bind {
                source,
                destination,
                read_only,
                ..
            } => json!({"Type": "bind", "Source": source, "Destination": destination, "RW": !read_only}),
            MountRequest::Tmpfs { destination, .. } => {
                json!({"Type": "tmpfs", "Destination": destination, "RW": true})
            }
        })
        .collect()
}

fn restart_json(policy: aurora_engine::RestartPolicy) -> Value {
    use aurora_engine::RestartPolicy::*;
    let (name, count) = match policy {
        No => ("no", 0),
        OnFailure(n) => ("on-failure", n.unwrap_or(0)),
        Always => ("always", 0),
        UnlessStopped => ("unless-stopped", 0),
    };
    json!({"Name": name, "MaximumRetryCount": count})
}

pub fn network_mode_text(mode: &NetworkMode) -> String {
    match mode {
        NetworkMode::None => "none".into(),
        NetworkMode::Host => "host".into(),
        NetworkMode::Bridge(names) if names.is_empty() => "bridge".into(),
        NetworkMode::Bridge(names) => names.join(","),
        NetworkMode::Container(name) => format!("container:{name}"),
        // A CRI pod's (podadm makes none): `cni` or `cni:NAME,…`.
        NetworkMode::Cni(mode) if mode.networks.is_empty() => "cni".into(),
        NetworkMode::Cni(mode) => format!("cni:{}", mode.networks.join(",")),
    }
}

/// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`, as podman shows them.
pub fn port_bindings(config: &aurora_engine::ContainerConfig) -> BTreeMap<String, Vec<Value>> {
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &config.ports {
        let proto = match p.protocol {
            aurora_network::Protocol::Tcp => "tcp",
            aurora_network::Protocol::Udp => "udp",
        };
        for i in 0..p.range.max(1) {
            bindings
                .entry(format!("{}/{proto}", p.container_port + i))
                .or_default()
                .push(json!({
                    "HostIp": p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    "HostPort": (p.host_port + if p.host_port == 0 { 0 } else { i }).to_string(),
                }));
        }
    }
    bindings
}

/// `podadm port CONTAINER [PORT[/PROTO]]`.
pub fn port(engine: &Engine, container: &str, only: Option<&str>) -> Result<u8> {
    let record = engine.find(container)?;
    let only = only.map(|o| {
        if o.contains('/') {
            o.to_string()
        } else {
            format!("{o}/tcp")
        }
    });
    for (port, hosts) in port_bindings(&record.config) {
        if only.as_ref().is_some_and(|o| *o != port) {
            continue;
        }
        for host in hosts {
            let ip = host["HostIp"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("0.0.0.0");
            let host_port = host["HostPort"].as_str().unwrap_or_default();
            if only.is_some() {
                println!("{ip}:{host_port}");
            } else {
                println!("{port} -> {ip}:{host_port}");
            }
        }
    }
    Ok(0)
}

/// `podadm events`.
pub fn events(engine: &Engine, no_stream: bool, format: Format, filters: &[String]) -> Result<u8> {
    let filters = Filters::parse(filters)?;
    let mut after = 0;
    loop {
        for event in engine.events_after(after)? {
            after = event.seq;
            if !filters.matches_event(&event) {
                continue;
            }
            if format == Format::Json {
                println!("{}", serde_json::to_string(&event)?);
            } else {
                println!(
                    "{} {} {} {} (image={}, name={})",
                    event.time, event.kind, event.action, event.id, event.image, event.name
                );
            }
        }
        if no_stream {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `--filter KEY=VALUE` of ps and events.
#[derive(Default)]
struct Filters(Vec<(String, String)>);

impl Filters {
    fn parse(texts: &[String]) -> Result<Filters> {
        let mut filters = Vec::new();
        for text in texts {
            let Some((key, value)) = text.split_once('=') else {
                bail!("--filter {text:?}: expected KEY=VALUE");
            };
            if ![
                "status",
                "name",
                "id",
                "label",
                "ancestor",
                "exited",
                "container",
                "event",
            ]
            .contains(&key)
            {
                bail!("--filter {text:?}: unknown filter {key:?}");
            }
            filters.push((key.to_string(), value.to_string()));
        }
        Ok(Filters(filters))
    }

    /// A status or exited filter looks at stopped containers too.
    fn wants_all(&self) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k == "exited" || (k == "status" && v != "running"))
    }

    fn matches(&self, record: &ContainerRecord) -> bool {
        self.0.iter().all(|(key, value)| match key.as_str() {
            "status" => record.state.as_str() == value,
            "name" => record.name.contains(value.as_str()),
            "id" => record.id.starts_with(value.as_str()),
            "label" => match value.split_once('=') {
                Some((k, v)) => record.config.labels.get(k).is_some_and(|l| l == v),
                None => record.config.labels.contains_key(value),
            },
            "ancestor" => {
                record.image.contains(value.as_str()) || record.image_id.contains(value.as_str())
            }
            "exited" => {
                record.state == ContainerState::Exited
                    && record.exit_code.map(|c| c.to_string()).as_deref() == Some(value)
            }
            _ => true,
        })
    }

    fn matches_event(&self, event: &aurora_engine::Event) -> bool {
        self.0.iter().all(|(key, value)| match key.as_str() {
            "container" => event.name == *value || event.id.starts_with(value.as_str()),
            "event" => event.action == *value,
            _ => true,
        })
    }
}
