//! Security contexts and resources of the CRI as the engine's options: the user (a group
//! needs a user), supplemental groups, seccomp (RuntimeDefault is the engine's default
//! profile, Localhost a profile file), no_new_privs, masked and read-only paths, the pod's
//! sysctls, PID and IPC namespaces (the container's own, the pod's, the host's or another
//! container's), and memory, CPU and OOM score limits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aurora_engine::{NamespaceChoice, Resources, Seccomp, SecurityOptions, SharedNamespace};
use k8s_cri::v1::security_profile::ProfileType;
use k8s_cri::v1::{
    LinuxContainerResources, LinuxContainerSecurityContext, NamespaceMode, NamespaceOption,
    PodSandboxConfig, SecurityProfile,
};

use crate::error::ApiError;

/// `-u` for the engine: a uid (with its gid when given) or a name. A group without a user is
/// refused, as the CRI requires.
pub(crate) fn user(security: &LinuxContainerSecurityContext) -> Result<Option<String>, ApiError> {
    match (
        &security.run_as_user,
        security.run_as_username.as_str(),
        &security.run_as_group,
    ) {
        (Some(uid), _, Some(gid)) => Ok(Some(format!("{}:{}", uid.value, gid.value))),
        (Some(uid), _, None) => Ok(Some(uid.value.to_string())),
        (None, "", Some(_)) => Err(ApiError::InvalidArgument(
            "run_as_group needs run_as_user or run_as_username".into(),
        )),
        (None, "", None) => Ok(None),
        (None, name, Some(gid)) => Ok(Some(format!("{name}:{}", gid.value))),
        (None, name, None) => Ok(Some(name.to_string())),
    }
}

/// What the container's security context (and its sandbox's sysctls) ask of the engine.
pub(crate) fn options(
    security: &LinuxContainerSecurityContext,
    resources: Option<&LinuxContainerResources>,
    sandbox: Option<&PodSandboxConfig>,
) -> Result<SecurityOptions, ApiError> {
    let groups = security
        .supplemental_groups
        .iter()
        .map(|&gid| {
            u32::try_from(gid)
                .map_err(|_| ApiError::InvalidArgument(format!("{gid} is not a group id")))
        })
        .collect::<Result<Vec<u32>, ApiError>>()?;
    let sysctls: BTreeMap<String, String> = sandbox
        .and_then(|s| s.linux.as_ref())
        .map(|l| {
            l.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let namespaces = security.namespace_options.clone().unwrap_or_default();
    Ok(SecurityOptions {
        seccomp: match &security.seccomp {
            Some(profile) => Some(seccomp(profile)?),
            // critest v1.32 still sends the deprecated field (its SeccompProfilePath specs).
            #[allow(deprecated)]
            None => seccomp_path(&security.seccomp_profile_path)?,
        },
        no_new_privileges: security.no_new_privs,
        masked_paths: (!security.masked_paths.is_empty()).then(|| security.masked_paths.clone()),
        readonly_paths: (!security.readonly_paths.is_empty())
            .then(|| security.readonly_paths.clone()),
        supplemental_groups: groups,
        sysctls,
        pid: Some(choice(namespaces.pid, &namespaces)),
        ipc: Some(choice(namespaces.ipc, &namespaces)),
        oom_score_adj: resources.and_then(oom_score_adj),
    })
}

fn seccomp(profile: &SecurityProfile) -> Result<Seccomp, ApiError> {
    match ProfileType::try_from(profile.profile_type) {
        Ok(ProfileType::RuntimeDefault) => Ok(Seccomp::RuntimeDefault),
        Ok(ProfileType::Unconfined) => Ok(Seccomp::Unconfined),
        Ok(ProfileType::Localhost) => {
            let path = PathBuf::from(&profile.localhost_ref);
            if path.is_absolute() {
                Ok(Seccomp::Profile(path))
            } else {
                Err(ApiError::InvalidArgument(format!(
                    "the seccomp profile {:?} is not an absolute path on the node",
                    profile.localhost_ref
                )))
            }
        }
        Err(_) => Err(ApiError::InvalidArgument(format!(
            "{} is not a seccomp profile type",
            profile.profile_type
        ))),
    }
}

/// The deprecated `seccomp_profile_path` form: `runtime/default` (or docker's name for it),
/// `unconfined`, or `localhost/` and an absolute path; anything else is refused.
fn seccomp_path(path: &str) -> Result<Option<Seccomp>, ApiError> {
    match path {
        "" => Ok(None),
        "runtime/default" | "docker/default" => Ok(Some(Seccomp::RuntimeDefault)),
        "unconfined" => Ok(Some(Seccomp::Unconfined)),
        other => match other.strip_prefix("localhost/") {
            Some(file) if file.starts_with('/') => Ok(Some(Seccomp::Profile(file.into()))),
            _ => Err(ApiError::InvalidArgument(format!(
                "the seccomp profile {other:?} is none of runtime/default, unconfined or \
                 localhost/ and an absolute path"
            ))),
        },
    }
}

/// A namespace mode as the engine's choice (`TARGET` names a container of the pod).
fn choice(mode: i32, options: &NamespaceOption) -> NamespaceChoice {
    match NamespaceMode::try_from(mode) {
        Ok(NamespaceMode::Container) => NamespaceChoice::Private,
        Ok(NamespaceMode::Node) => NamespaceChoice::Host,
        Ok(NamespaceMode::Target) if !options.target_id.is_empty() => {
            NamespaceChoice::Container(options.target_id.clone())
        }
        _ => NamespaceChoice::Pod,
    }
}

/// The pod's shared namespaces and those it takes from the host, from its sandbox config:
/// UTS always shared; network shared (the host's is `network: Host`); IPC shared (the
/// host's when NODE); PID shared when POD (the host's when NODE), else each its own.
pub(crate) fn pod_namespaces(
    sandbox: &PodSandboxConfig,
) -> (Vec<SharedNamespace>, Vec<SharedNamespace>) {
    let options = sandbox
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone())
        .unwrap_or_default();
    let mut share = vec![
        SharedNamespace::Net,
        SharedNamespace::Ipc,
        SharedNamespace::Uts,
    ];
    let mut host = Vec::new();
    if options.ipc == NamespaceMode::Node as i32 {
        host.push(SharedNamespace::Ipc);
    }
    match NamespaceMode::try_from(options.pid) {
        Ok(NamespaceMode::Pod) => share.push(SharedNamespace::Pid),
        Ok(NamespaceMode::Node) => {
            share.push(SharedNamespace::Pid);
            host.push(SharedNamespace::Pid);
        }
        _ => {}
    }
    (share, host)
}

/// Memory and CPU limits (a quota over its period as a number of CPUs); 0 means unset.
pub(crate) fn resources(limits: Option<&LinuxContainerResources>) -> Resources {
    let Some(limits) = limits else {
        return Resources::default();
    };
    Resources {
        memory: u64::try_from(limits.memory_limit_in_bytes)
            .ok()
            .filter(|&m| m > 0),
        cpus: (limits.cpu_quota > 0 && limits.cpu_period > 0)
            .then(|| limits.cpu_quota as f64 / limits.cpu_period as f64),
        pids_limit: None,
    }
}

/// The OOM score asked for, raised to this server's own when lower: lowering it needs
/// CAP_SYS_RESOURCE, which a runtime may not hold (kubelet asks -997 for guaranteed pods).
fn oom_score_adj(limits: &LinuxContainerResources) -> Option<i32> {
    let wanted = i32::try_from(limits.oom_score_adj).ok()?;
    if wanted == 0 {
        return None;
    }
    let own: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Some(wanted.max(own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::Int64Value;

    #[test]
    fn a_group_needs_a_user() {
        let mut security = LinuxContainerSecurityContext {
            run_as_group: Some(Int64Value { value: 5 }),
            ..Default::default()
        };
        assert!(user(&security).is_err());
        security.run_as_user = Some(Int64Value { value: 7 });
        assert_eq!(user(&security).unwrap().as_deref(), Some("7:5"));
        security.run_as_user = None;
        security.run_as_username = "nobody".into();
        assert_eq!(user(&security).unwrap().as_deref(), Some("nobody:5"));
        assert_eq!(user(&Default::default()).unwrap(), None);
    }

    #[test]
    fn security_contexts_become_engine_options() {
        let security = LinuxContainerSecurityContext {
            supplemental_groups: vec![1234, 5678],
            no_new_privs: true,
            masked_paths: vec!["/bin/ls".into()],
            seccomp: Some(SecurityProfile {
                profile_type: ProfileType::Localhost as i32,
                localhost_ref: "/var/lib/profiles/p.json".into(),
            }),
            namespace_options: Some(NamespaceOption {
                pid: NamespaceMode::Target as i32,
                ipc: NamespaceMode::Node as i32,
                target_id: "abc".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sandbox = PodSandboxConfig {
            linux: Some(k8s_cri::v1::LinuxPodSandboxConfig {
                sysctls: [("kernel.shm_rmid_forced".to_string(), "1".to_string())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = options(&security, None, Some(&sandbox)).unwrap();
        assert_eq!(options.supplemental_groups, vec![1234, 5678]);
        assert!(options.no_new_privileges);
        assert_eq!(options.masked_paths, Some(vec!["/bin/ls".to_string()]));
        assert_eq!(options.readonly_paths, None);
        assert_eq!(
            options.seccomp,
            Some(Seccomp::Profile("/var/lib/profiles/p.json".into()))
        );
        assert_eq!(options.pid, Some(NamespaceChoice::Container("abc".into())));
        assert_eq!(options.ipc, Some(NamespaceChoice::Host));
        assert_eq!(options.sysctls["kernel.shm_rmid_forced"], "1");

        let relative = LinuxContainerSecurityContext {
            seccomp: Some(SecurityProfile {
                profile_type: ProfileType::Localhost as i32,
                localhost_ref: "p.json".into(),
            }),
            ..Default::default()
        };
        assert!(super::options(&relative, None, None).is_err());
        let negative = LinuxContainerSecurityContext {
            supplemental_groups: vec![-1],
            ..Default::default()
        };
        assert!(super::options(&negative, None, None).is_err());
    }

    #[test]
    fn deprecated_profile_paths_are_read() {
        assert_eq!(seccomp_path("").unwrap(), None);
        assert_eq!(
            seccomp_path("runtime/default").unwrap(),
            Some(Seccomp::RuntimeDefault)
        );
        assert_eq!(
            seccomp_path("unconfined").unwrap(),
            Some(Seccomp::Unconfined)
        );
        assert_eq!(
            seccomp_path("localhost//etc/p.json").unwrap(),
            Some(Seccomp::Profile("/etc/p.json".into()))
        );
        for bad in ["/etc/p.json", "localhost/p.json", "docker/other"] {
            assert!(seccomp_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pods_share_what_their_namespace_options_say() {
        let mut sandbox = PodSandboxConfig::default();
        let (share, host) = pod_namespaces(&sandbox);
        assert!(share.contains(&SharedNamespace::Pid), "POD is the default");
        assert!(host.is_empty());
        sandbox.linux = Some(k8s_cri::v1::LinuxPodSandboxConfig {
            security_context: Some(k8s_cri::v1::LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        let (share, host) = pod_namespaces(&sandbox);
        assert!(!share.contains(&SharedNamespace::Pid));
        assert_eq!(host, vec![SharedNamespace::Ipc]);
    }

    #[test]
    fn limits_become_resources() {
        let limits = LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_quota: 50_000,
            cpu_period: 100_000,
            ..Default::default()
        };
        let resources = resources(Some(&limits));
        assert_eq!(resources.memory, Some(64 << 20));
        assert_eq!(resources.cpus, Some(0.5));
        assert_eq!(super::resources(None), Resources::default());
    }
}
