//! `create`/`run` flags → the engine's `ContainerConfig`: every flag parsed once, here, with
//! errors that quote the flag and its text.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use aurora_engine::spec::flags as parse;
use aurora_engine::{ContainerConfig, DnsConfig, NetworkMode, Resources, RestartPolicy};
use aurora_network::etc_files::{self, HostEntry};

use crate::cli::{CreateFlags, ResolverFlags};

/// The configuration `flags` ask for, for `image` running `command`.
pub fn container_config(
    flags: &CreateFlags,
    image: &str,
    command: &[String],
) -> Result<ContainerConfig> {
    let mut env = Vec::new();
    for file in &flags.env_file {
        env.extend(parse::parse_env_file(file)?);
    }
    for entry in &flags.env {
        // `-e NAME` takes NAME's value from podadm's environment (dropped if unset).
        env.extend(parse::parse_env(entry)?);
    }
    let mut mounts = Vec::new();
    for text in &flags.volume {
        mounts.push(parse::parse_volume_flag(text)?);
    }
    for text in &flags.mount {
        mounts.push(parse::parse_mount_flag(text)?);
    }
    for text in &flags.tmpfs {
        mounts.push(parse::parse_tmpfs_flag(text)?);
    }
    let mut ports = Vec::new();
    for text in &flags.publish {
        ports.extend(aurora_network::PortMapping::parse(text)?);
    }
    let network = network(flags.network.as_deref())?;
    let (dns, extra_hosts) = resolver(&flags.resolver, &network)?;
    Ok(ContainerConfig {
        image: image.to_string(),
        command: command.to_vec(),
        entrypoint: flags
            .entrypoint
            .as_deref()
            .map(parse::parse_entrypoint)
            .transpose()?,
        env,
        workdir: flags.workdir.clone(),
        user: flags.user.clone(),
        terminal: flags.tty,
        interactive: flags.interactive,
        init: flags.init,
        hostname: flags.hostname.clone(),
        read_only: flags.read_only,
        privileged: flags.privileged,
        cap_add: flags.cap_add.clone(),
        cap_drop: flags.cap_drop.clone(),
        resources: resources(
            flags.memory.as_deref(),
            flags.cpus.as_deref(),
            flags.pids_limit,
        )?,
        mounts,
        ports,
        network,
        dns,
        extra_hosts,
        restart: restart(flags.restart.as_deref())?,
        stop_signal: flags.stop_signal.clone(),
        stop_timeout: flags.stop_timeout,
        labels: labels(&flags.label)?,
        auto_remove: flags.rm,
        pod: flags.pod.clone(),
        ..Default::default()
    })
}

/// The limits of `--memory`, `--cpus` and `--pids-limit`.
pub fn resources(memory: Option<&str>, cpus: Option<&str>, pids: Option<i64>) -> Result<Resources> {
    Ok(Resources {
        memory: memory.map(parse::parse_memory).transpose()?,
        cpus: cpus.map(parse::parse_cpus).transpose()?,
        pids_limit: pids,
    })
}

/// The resolver flags of a container or pod on `network`: its resolv.conf and its more
/// lines of /etc/hosts, refused where podman refuses them.
pub fn resolver(
    flags: &ResolverFlags,
    network: &NetworkMode,
) -> Result<(DnsConfig, Vec<HostEntry>)> {
    let dns = dns(flags)?;
    let extra_hosts = extra_hosts(flags)?;
    check_resolver_fits(&dns, &extra_hosts, network)?;
    Ok((dns, extra_hosts))
}

/// `--dns`, `--dns-search`, `--dns-option`: addresses must be addresses; a search domain or
/// an option must be one word (each becomes a word of a resolv.conf line).
fn dns(flags: &ResolverFlags) -> Result<DnsConfig> {
    let mut servers = Vec::new();
    for text in &flags.servers {
        servers.push(
            text.parse()
                .with_context(|| format!("--dns {text:?}: not an IP address"))?,
        );
    }
    for (flag, words) in [
        ("--dns-search", &flags.search),
        ("--dns-option", &flags.options),
    ] {
        if let Some(bad) = words.iter().find(|w| !etc_files::is_one_word(w)) {
            bail!("{flag} {bad:?}: expected one word");
        }
    }
    Ok(DnsConfig {
        servers,
        search: flags.search.clone(),
        options: flags.options.clone(),
    })
}

/// `--add-host NAME[;NAME…]:IP`.
fn extra_hosts(flags: &ResolverFlags) -> Result<Vec<HostEntry>> {
    flags
        .add_host
        .iter()
        .map(|text| HostEntry::parse(text).map_err(anyhow::Error::msg))
        .collect()
}

/// As podman: a resolver to set needs a network of the container's own (not none for
/// `--dns`, not another container's for either).
fn check_resolver_fits(
    dns: &DnsConfig,
    extra_hosts: &[HostEntry],
    network: &NetworkMode,
) -> Result<()> {
    match network {
        NetworkMode::None if !dns.is_empty() => {
            bail!("conflicting options: dns and the network mode: none")
        }
        NetworkMode::Container(_) if !dns.is_empty() => {
            bail!("conflicting options: dns and the network mode: container")
        }
        NetworkMode::Container(_) if !extra_hosts.is_empty() => bail!(
            "conflicting options: cannot set extra host entries when the network mode is container"
        ),
        _ => Ok(()),
    }
}

pub fn network(text: Option<&str>) -> Result<NetworkMode> {
    Ok(match text {
        None | Some("bridge") | Some("default") => NetworkMode::Bridge(Vec::new()),
        Some("none") => NetworkMode::None,
        Some("host") => NetworkMode::Host,
        Some(text) if text.starts_with("container:") => {
            let name = &text["container:".len()..];
            if name.is_empty() {
                bail!("--network {text:?}: container:NAME needs a name");
            }
            NetworkMode::Container(name.to_string())
        }
        Some("") => bail!("--network needs a value: none, host, bridge, NAME or container:NAME"),
        Some(text) => NetworkMode::Bridge(text.split(',').map(str::to_string).collect()),
    })
}

pub fn restart(text: Option<&str>) -> Result<RestartPolicy> {
    let Some(text) = text else {
        return Ok(RestartPolicy::No);
    };
    // The monitor's parser: one reading of the policy text for both.
    let policy: aurora_monitor::RestartPolicyArg = text
        .parse()
        .with_context(|| format!("--restart {text:?}"))?;
    Ok(policy.into())
}

/// `--label KEY=VALUE` (and `KEY` alone, an empty value), as podman takes them.
pub fn labels(texts: &[String]) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for text in texts {
        let (key, value) = parse::parse_label(text)?;
        labels.insert(key, value);
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_as_podman_writes_them() {
        assert_eq!(
            restart(Some("on-failure:3")).unwrap(),
            RestartPolicy::OnFailure(Some(3))
        );
        assert_eq!(
            restart(Some("on-failure")).unwrap(),
            RestartPolicy::OnFailure(None)
        );
        assert_eq!(
            restart(Some("unless-stopped")).unwrap(),
            RestartPolicy::UnlessStopped
        );
        let err = restart(Some("sometimes")).unwrap_err().to_string();
        assert!(err.contains("\"sometimes\""), "{err}");
        assert!(restart(Some("always:2")).is_err());
    }

    #[test]
    fn network_modes() {
        assert_eq!(network(Some("none")).unwrap(), NetworkMode::None);
        assert_eq!(
            network(Some("a,b")).unwrap(),
            NetworkMode::Bridge(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            network(Some("container:web")).unwrap(),
            NetworkMode::Container("web".into())
        );
        assert!(network(Some("container:")).is_err());
    }
}
