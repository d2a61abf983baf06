//! The objects of a file → a [`Plan`]: Kubernetes' fields as podman's flags would give them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use aurora_engine::{
    ContainerConfig, DnsConfig, NetworkMode, PodConfig, Resources, RestartPolicy,
    INIT_CONTAINER_ANNOTATION,
};
use aurora_network::etc_files::{self, HostEntry};
use aurora_network::{PortMapping, Protocol};

use crate::error::{KubeError, Location, Result, Warning};
use crate::model::{Container, PodRestartPolicy, PortProtocol};
use crate::parse::{Manifest, PodSource};
use crate::plan::{ContainerPlan, Plan, PodPlan};
use crate::volumes::{self, PodVolume};

/// The plan for a file's pods; rendered files go under `files_root/POD/VOLUME/`.
pub fn plan(manifest: &Manifest, files_root: &Path) -> Result<Plan> {
    let mut warnings = manifest.warnings.clone();
    let mut pods = Vec::new();
    for pod in &manifest.pods {
        pods.push(pod_plan(manifest, pod, files_root, &mut warnings)?);
    }
    if pods.is_empty() && manifest.config_maps.is_empty() && manifest.secrets.is_empty() {
        return Err(KubeError::NoWorkload);
    }
    Ok(Plan { pods, warnings })
}

/// Parses `text` and plans it.
pub fn play(text: &str, files_root: &Path) -> Result<Plan> {
    plan(&crate::parse::parse(text)?, files_root)
}

/// `spec.hostAliases`: each an address and its names.
fn host_aliases(pod: &PodSource, location: &Location) -> Result<Vec<HostEntry>> {
    let mut entries = Vec::new();
    for (index, alias) in pod.spec.host_aliases.iter().enumerate() {
        let entry = HostEntry::new(alias.hostnames.clone(), &alias.ip).map_err(|e| {
            let field = if e.in_names { "hostnames" } else { "ip" };
            let path = format!("{}.hostAliases[{index}].{field}", pod.spec_path);
            KubeError::invalid(location, path, e.message)
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// `spec.dnsConfig`: name servers (addresses), search domains and options.
fn dns_config(pod: &PodSource, location: &Location) -> Result<DnsConfig> {
    let Some(config) = &pod.spec.dns_config else {
        return Ok(DnsConfig::default());
    };
    let path = format!("{}.dnsConfig", pod.spec_path);
    let mut servers = Vec::new();
    for (index, server) in config.nameservers.iter().enumerate() {
        servers.push(server.parse().map_err(|_| {
            KubeError::invalid(
                location,
                format!("{path}.nameservers[{index}]"),
                format!("{server:?} is not an IP address"),
            )
        })?);
    }
    let mut options = Vec::new();
    for (index, option) in config.options.iter().enumerate() {
        let text = match &option.value {
            Some(value) => format!("{}:{value}", option.name),
            None => option.name.clone(),
        };
        if !etc_files::is_one_word(&text) {
            return Err(KubeError::invalid(
                location,
                format!("{path}.options[{index}]"),
                format!("{text:?} is not one resolver option"),
            ));
        }
        options.push(text);
    }
    if let Some(index) = config
        .searches
        .iter()
        .position(|s| !etc_files::is_one_word(s))
    {
        return Err(KubeError::invalid(
            location,
            format!("{path}.searches[{index}]"),
            "a search domain is one word",
        ));
    }
    Ok(DnsConfig {
        servers,
        search: config.searches.clone(),
        options,
    })
}

fn pod_plan(
    manifest: &Manifest,
    pod: &PodSource,
    files_root: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<PodPlan> {
    let spec = &pod.spec;
    let location = &pod.location;
    if spec.containers.is_empty() {
        return Err(KubeError::invalid(
            location,
            format!("{}.containers", pod.spec_path),
            "a pod needs at least one container",
        ));
    }
    let mut plan = PodPlan {
        name: pod.name.clone(),
        config: PodConfig {
            hostname: spec.hostname.clone(),
            network: if spec.host_network {
                NetworkMode::Host
            } else {
                NetworkMode::default()
            },
            labels: pod.metadata.labels.clone(),
            annotations: pod.metadata.annotations.clone(),
            extra_hosts: host_aliases(pod, location)?,
            dns: dns_config(pod, location)?,
            ..PodConfig::default()
        },
        init_containers: Vec::new(),
        containers: Vec::new(),
        volumes: Vec::new(),
        host_paths: Vec::new(),
        files_dir: files_root.join(&pod.name),
        directories: Vec::new(),
        files: Vec::new(),
    };
    let volumes = volumes::pod_volumes(manifest, pod, &mut plan, warnings)?;
    let restart = match spec.restart_policy.unwrap_or(PodRestartPolicy::Always) {
        PodRestartPolicy::Always => RestartPolicy::Always,
        PodRestartPolicy::OnFailure => RestartPolicy::OnFailure(None),
        PodRestartPolicy::Never => RestartPolicy::No,
    };
    let mut names = BTreeSet::new();
    let translator = Translator {
        manifest,
        pod,
        volumes: &volumes,
    };
    for (index, container) in spec.init_containers.iter().enumerate() {
        let path = format!("{}.initContainers[{index}]", pod.spec_path);
        check_container_name(&mut names, container, location, &path)?;
        // Init containers run once: no restart, and their ports are not the pod's.
        let (mut config, pod_id_env) =
            translator.container(container, &path, RestartPolicy::No, warnings)?;
        // As podman marks them: `pod start` runs such containers to their end, in order,
        // before the others, and removes them ("once").
        config
            .annotations
            .insert(INIT_CONTAINER_ANNOTATION.into(), "once".into());
        plan.init_containers.push(ContainerPlan {
            name: format!("{}-{}", pod.name, container.name),
            config,
            pod_id_env,
        });
    }
    for (index, container) in spec.containers.iter().enumerate() {
        let path = format!("{}.containers[{index}]", pod.spec_path);
        check_container_name(&mut names, container, location, &path)?;
        let (config, pod_id_env) = translator.container(container, &path, restart, warnings)?;
        plan.config.ports.extend(ports(container, location, &path)?);
        plan.containers.push(ContainerPlan {
            name: format!("{}-{}", pod.name, container.name),
            config,
            pod_id_env,
        });
    }
    if spec.host_network && !plan.config.ports.is_empty() {
        // The host's own ports are the containers' ports: nothing to publish.
        plan.config.ports.clear();
        warnings.push(Warning {
            location: location.clone(),
            path: format!("{}.hostNetwork", pod.spec_path),
            message: "ports are not published on the host's network".into(),
        });
    }
    Ok(plan)
}

fn check_container_name(
    names: &mut BTreeSet<String>,
    container: &Container,
    location: &Location,
    path: &str,
) -> Result<()> {
    crate::parse::check_dns_name(&container.name, location, &format!("{path}.name"))?;
    if container.name.contains('.') || !names.insert(container.name.clone()) {
        return Err(KubeError::invalid(
            location,
            format!("{path}.name"),
            format!(
                "{:?}: a container name must be unique in its pod and have no '.'",
                container.name
            ),
        ));
    }
    if container.image.trim().is_empty() {
        return Err(KubeError::invalid(
            location,
            format!("{path}.image"),
            "empty",
        ));
    }
    Ok(())
}

/// What every container of one pod is translated with.
struct Translator<'a> {
    manifest: &'a Manifest,
    pod: &'a PodSource,
    volumes: &'a BTreeMap<String, PodVolume>,
}

impl Translator<'_> {
    fn container(
        &self,
        container: &Container,
        path: &str,
        restart: RestartPolicy,
        warnings: &mut Vec<Warning>,
    ) -> Result<(ContainerConfig, Vec<String>)> {
        let location = &self.pod.location;
        let security = container.security_context.clone().unwrap_or_default();
        let capabilities = security.capabilities.clone().unwrap_or_default();
        let mut mounts = Vec::new();
        for (index, mount) in container.volume_mounts.iter().enumerate() {
            let field = format!("{path}.volumeMounts[{index}]");
            mounts.push(volumes::mount(self.volumes, mount, location, &field)?);
        }
        let user = self.user(container, path, warnings);
        let resources = self.resources(container, path, warnings)?;
        // After the limits, which `resourceFieldRef` reads, are checked with their own paths.
        let environment = crate::env::environment(self.manifest, self.pod, container, path)?;
        let config = ContainerConfig {
            image: container.image.clone(),
            // Kubernetes' command is the Entrypoint, its args the Cmd.
            entrypoint: container.command.clone(),
            command: container.args.clone().unwrap_or_default(),
            env: environment.values,
            workdir: container.working_dir.clone().filter(|dir| !dir.is_empty()),
            user,
            terminal: container.tty,
            interactive: container.stdin,
            read_only: security.read_only_root_filesystem.unwrap_or(false),
            privileged: security.privileged.unwrap_or(false),
            cap_add: capabilities.add,
            cap_drop: capabilities.drop,
            resources,
            mounts,
            restart,
            stop_timeout: self.pod.spec.termination_grace_period_seconds,
            labels: self.pod.metadata.labels.clone(),
            annotations: self.pod.metadata.annotations.clone(),
            pod: Some(self.pod.name.clone()),
            ..ContainerConfig::default()
        };
        Ok((config, environment.pod_id))
    }

    /// `runAsUser[:runAsGroup]`, the container's over the pod's.
    fn user(
        &self,
        container: &Container,
        path: &str,
        warnings: &mut Vec<Warning>,
    ) -> Option<String> {
        let pod = self.pod.spec.security_context.clone().unwrap_or_default();
        let own = container.security_context.clone().unwrap_or_default();
        let uid = own.run_as_user.or(pod.run_as_user);
        let gid = own.run_as_group.or(pod.run_as_group);
        match (uid, gid) {
            (Some(uid), Some(gid)) => Some(format!("{uid}:{gid}")),
            (Some(uid), None) => Some(uid.to_string()),
            (None, Some(_)) => {
                warnings.push(Warning {
                    location: self.pod.location.clone(),
                    path: format!("{path}.securityContext.runAsGroup"),
                    message: "ignored without runAsUser".into(),
                });
                None
            }
            (None, None) => None,
        }
    }

    fn resources(
        &self,
        container: &Container,
        path: &str,
        warnings: &mut Vec<Warning>,
    ) -> Result<Resources> {
        let location = &self.pod.location;
        let mut resources = Resources::default();
        let Some(requirements) = &container.resources else {
            return Ok(resources);
        };
        for (name, quantity) in &requirements.limits {
            let field = format!("{path}.resources.limits.{name}");
            match name.as_str() {
                "cpu" => {
                    resources.cpus = Some(crate::quantity::cpus(&quantity.0).ok_or_else(|| {
                        KubeError::invalid(
                            location,
                            &field,
                            format!("{:?} is not a CPU quantity (500m, 1, 0.5)", quantity.0),
                        )
                    })?)
                }
                "memory" => {
                    resources.memory =
                        Some(crate::quantity::bytes(&quantity.0).ok_or_else(|| {
                            KubeError::invalid(
                                location,
                                &field,
                                format!("{:?} is not a memory quantity (64Mi, 1G)", quantity.0),
                            )
                        })?)
                }
                _ => warnings.push(Warning {
                    location: location.clone(),
                    path: field,
                    message: "not supported (cpu and memory are), ignored".into(),
                }),
            }
        }
        Ok(resources)
    }
}

/// A container's ports, published at its pod; a port without `hostPort` is published on the
/// same host port, as podman 4 does.
fn ports(container: &Container, location: &Location, path: &str) -> Result<Vec<PortMapping>> {
    let mut mappings = Vec::new();
    for (index, port) in container.ports.iter().enumerate() {
        let field = format!("{path}.ports[{index}]");
        if port.container_port == 0 {
            return Err(KubeError::invalid(
                location,
                format!("{field}.containerPort"),
                "must be between 1 and 65535",
            ));
        }
        let host_ip = match port.host_ip.as_deref().filter(|ip| !ip.is_empty()) {
            None => None,
            Some(text) => Some(text.parse::<IpAddr>().map_err(|_| {
                KubeError::invalid(
                    location,
                    format!("{field}.hostIP"),
                    format!("{text:?} is not an IP address"),
                )
            })?),
        };
        mappings.push(PortMapping {
            host_ip,
            host_port: port
                .host_port
                .filter(|p| *p != 0)
                .unwrap_or(port.container_port),
            container_port: port.container_port,
            protocol: match port.protocol.unwrap_or(PortProtocol::Tcp) {
                PortProtocol::Tcp => Protocol::Tcp,
                PortProtocol::Udp => Protocol::Udp,
            },
            range: 1,
        });
    }
    Ok(mappings)
}
