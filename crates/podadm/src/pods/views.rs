//! What podadm prints about pods: `pod ps` (podman's table and JSON) and `pod inspect`
//! (podman 4.3's field names).

use anyhow::{bail, Result};
use aurora_engine::{ContainerRecord, Engine, NetworkMode, PodRecord, PodState};
use serde_json::{json, Value};

use crate::cli::{Format, PodPsArgs, PodSort};

/// A pod with what `ps` and `inspect` show of it.
struct Shown {
    pod: PodRecord,
    state: PodState,
    containers: Vec<ContainerRecord>,
}

fn shown(engine: &Engine, pod: PodRecord) -> Result<Shown> {
    let containers = engine.pod_containers(&pod.id)?;
    let states: Vec<_> = containers.iter().map(|c| c.state).collect();
    Ok(Shown {
        state: PodState::of(&states),
        pod,
        containers,
    })
}

/// `pod ps`.
pub fn ps(engine: &Engine, args: &PodPsArgs) -> Result<u8> {
    let filters = parse_filters(&args.filter)?;
    let mut pods = Vec::new();
    for pod in engine.pod_list()? {
        let shown = shown(engine, pod)?;
        if filters.iter().all(|(k, v)| matches(&shown, k, v)) {
            pods.push(shown);
        }
    }
    match args.sort {
        PodSort::Created => pods.sort_by(|a, b| b.pod.created_at.cmp(&a.pod.created_at)),
        PodSort::Id => pods.sort_by(|a, b| a.pod.id.cmp(&b.pod.id)),
        PodSort::Name => pods.sort_by(|a, b| a.pod.name.cmp(&b.pod.name)),
        PodSort::Number => pods.sort_by_key(|s| s.containers.len()),
    }
    let short = |id: &str| {
        if args.no_trunc {
            id.to_string()
        } else {
            id[..12.min(id.len())].to_string()
        }
    };
    if args.quiet {
        for shown in &pods {
            println!("{}", short(&shown.pod.id));
        }
        return Ok(0);
    }
    if args.format == Format::Json {
        let list: Vec<Value> = pods.iter().map(ps_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    // The containers' ids, names or states replace their number, as podman's --ctr-* do,
    // in the order of their ids as podman lists them.
    let listed = |containers: &[&ContainerRecord], each: &dyn Fn(&ContainerRecord) -> String| {
        containers
            .iter()
            .map(|c| each(c))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut headers = vec!["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID"];
    let by_container = args.ctr_ids || args.ctr_names || args.ctr_status;
    if args.ctr_ids {
        headers.push("IDS");
    }
    if args.ctr_names {
        headers.push("NAMES");
    }
    if args.ctr_status {
        headers.push("STATUS");
    }
    if !by_container {
        headers.push("# OF CONTAINERS");
    }
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|s| {
            let mut by_id: Vec<&ContainerRecord> = s.containers.iter().collect();
            by_id.sort_by(|a, b| a.id.cmp(&b.id));
            let mut row = vec![
                short(&s.pod.id),
                s.pod.name.clone(),
                s.state.to_string(),
                crate::views::ago(&s.pod.created_at),
                s.pod.infra_id.as_deref().map(short).unwrap_or_default(),
            ];
            if args.ctr_ids {
                row.push(listed(&by_id, &|c| short(&c.id)));
            }
            if args.ctr_names {
                row.push(listed(&by_id, &|c| c.name.clone()));
            }
            if args.ctr_status {
                row.push(listed(&by_id, &|c| c.state.as_str().to_string()));
            }
            if !by_container {
                row.push(s.containers.len().to_string());
            }
            row
        })
        .collect();
    crate::views::print_columns(&headers, &rows, !args.noheading);
    Ok(0)
}

fn parse_filters(texts: &[String]) -> Result<Vec<(String, String)>> {
    let mut filters = Vec::new();
    for text in texts {
        let Some((key, value)) = text.split_once('=') else {
            bail!("--filter {text:?}: expected KEY=VALUE");
        };
        if !["name", "id", "status", "label"].contains(&key) {
            bail!("--filter {text:?}: unknown filter {key:?} (name, id, status, label)");
        }
        filters.push((key.to_string(), value.to_string()));
    }
    Ok(filters)
}

fn matches(shown: &Shown, key: &str, value: &str) -> bool {
    let pod = &shown.pod;
    match key {
        "name" => pod.name.contains(value),
        "id" => pod.id.starts_with(value),
        "status" => shown.state.as_str().eq_ignore_ascii_case(value),
        "label" => match value.split_once('=') {
            Some((k, v)) => pod.config.labels.get(k).is_some_and(|l| l == v),
            None => pod.config.labels.contains_key(value),
        },
        _ => true,
    }
}

/// The networks podman lists for a pod.
fn networks(pod: &PodRecord) -> Vec<String> {
    match &pod.config.network {
        NetworkMode::Bridge(names) if names.is_empty() => {
            vec![aurora_engine::DEFAULT_NETWORK.to_string()]
        }
        NetworkMode::Bridge(names) => names.clone(),
        _ => Vec::new(),
    }
}

fn ps_json(shown: &Shown) -> Value {
    let pod = &shown.pod;
    json!({
        "Cgroup": cgroup_base(pod),
        "Containers": shown.containers.iter().map(|c| json!({
            "Id": c.id,
            "Names": c.name,
            "Status": c.state.as_str(),
        })).collect::<Vec<_>>(),
        "Created": pod.created_at,
        "Id": pod.id,
        "InfraId": pod.infra_id.clone().unwrap_or_default(),
        "Name": pod.name,
        "Namespace": "",
        "Networks": networks(pod),
        "Status": shown.state.as_str(),
        "Labels": pod.config.labels,
    })
}

/// The directory pods' cgroups sit in (podman's `CgroupParent`: `/libpod_parent`).
fn cgroup_base(pod: &PodRecord) -> String {
    pod.cgroup_parent
        .rsplit_once('/')
        .map(|(base, _)| base.to_string())
        .unwrap_or_default()
}

/// `pod inspect`: one JSON object for one pod (as podman 4.3), an array for several.
pub fn inspect(engine: &Engine, keys: &[String]) -> Result<u8> {
    let mut all = Vec::new();
    for key in keys {
        all.push(inspect_json(&shown(engine, engine.pod_find(key)?)?));
    }
    let value = if all.len() == 1 {
        all.remove(0)
    } else {
        Value::Array(all)
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(0)
}

fn inspect_json(shown: &Shown) -> Value {
    let pod = &shown.pod;
    let infra = shown.containers.iter().find(|c| c.config.infra);
    // Alphabetical, as podman lists them.
    let mut shared: Vec<&str> = pod.config.share.iter().map(|s| s.as_str()).collect();
    shared.sort();
    let mut value = json!({
        "Id": pod.id,
        "Name": pod.name,
        "Created": pod.created_at,
        "ExitPolicy": "continue",
        "State": shown.state.as_str(),
        "Hostname": pod.config.hostname.clone().unwrap_or_default(),
        "Labels": pod.config.labels,
        "CreateCgroup": true,
        "CgroupParent": cgroup_base(pod),
        "CgroupPath": pod.cgroup_parent,
        "CreateInfra": true,
        "InfraContainerID": pod.infra_id.clone().unwrap_or_default(),
        "InfraConfig": {
            "PortBindings": infra.map(|i| crate::views::port_bindings(&i.config)).unwrap_or_default(),
            "HostNetwork": pod.config.network == NetworkMode::Host,
            "StaticIP": "",
            "StaticMAC": "",
            "NoManageResolvConf": false,
            "DNSServer": null,
            "DNSSearch": null,
            "DNSOption": null,
            "NoManageHosts": false,
            "HostAdd": null,
            "Networks": networks(pod),
            "NetworkOptions": null,
            // The infra container's own namespaces (a new PID and UTS namespace).
            "pid_ns": "private",
            "userns": "host",
            "uts_ns": "private",
        },
        "SharedNamespaces": shared,
        "NumContainers": shown.containers.len(),
        "Containers": shown.containers.iter().map(|c| json!({
            "Id": c.id,
            "Name": c.name,
            "State": c.state.as_str(),
        })).collect::<Vec<_>>(),
    });
    if let Some(memory) = pod.config.resources.memory {
        value["MemoryLimit"] = json!(memory);
    }
    if let Some(cpus) = pod.config.resources.cpus {
        value["CPUPeriod"] = json!(100_000);
        value["CPUQuota"] = json!((cpus * 100_000.0).round() as i64);
    }
    value
}
