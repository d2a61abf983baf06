//! illumos: a pod is one zone (see `aurora_zones::pod`): the zone holds the pod's network,
//! hostname and caps, podinit is its init, and each member is a podinit service in its own
//! root. [`zone_description`] maps what the engine knows of a pod and its members to the zone
//! planner's [`PodDescription`]. Pure, and golden-tested below; `aurora_zones::pod::exec`
//! runs the plan (tested against the stateful fakes). Not yet run on illumos.
//!
//! What a zone cannot be, the mapping refuses by name rather than approximate: published
//! ports (an exclusive-IP zone is reached at its own address), a `--share` without net, ipc
//! or uts (one zone shares them all, and its pid namespace too), and init containers (a
//! podinit service does not run to completion before the others).

use std::path::PathBuf;

use aurora_zones::pod::{ContainerRoot, PodContainer, PodNetwork, Process};
use aurora_zones::{Distribution, PodDescription, ZoneName};

use super::{pod_hostname, PodRecord, SharedNamespace, INIT_CONTAINER_ANNOTATION};
use crate::error::{EngineError, Result};
use crate::state::ContainerRecord;

/// A member of the pod as its zone gets it.
pub struct ZoneMember<'a> {
    pub record: &'a ContainerRecord,
    /// The process its bundle holds (what `spec::apply` made of the image and the flags).
    pub process: &'a oci_spec::runtime::Process,
    /// Its root in the global zone: the container's clone.
    pub root: ContainerRoot,
}

/// Where the zone is made and how it is wired: the host's choices, not the pod's.
#[derive(Debug, Clone, Default)]
pub struct ZoneSite {
    /// The pod's dataset mountpoint in the global zone.
    pub zonepath: PathBuf,
    /// `None`: the native brand; `lx` for Linux images.
    pub brand: Option<String>,
    pub distribution: Distribution,
    /// The pod's VNIC; `None`: the global zone's IP stack.
    pub network: Option<PodNetwork>,
}

/// The zone planner's description of `pod` with `members` (its infra, if given, is left
/// out: the zone is the infra).
pub fn zone_description(
    pod: &PodRecord,
    site: ZoneSite,
    members: &[ZoneMember<'_>],
) -> Result<PodDescription> {
    let refuse = |message: String| EngineError::Pod {
        name: pod.name.clone(),
        message: format!("as an illumos zone: {message}"),
    };
    let name = ZoneName::new(pod.name.clone()).map_err(|e| refuse(e.to_string()))?;
    if !pod.config.ports.is_empty() {
        return Err(refuse(
            "published ports (-p) are not planned for zones: an exclusive-IP zone is reached \
             at its own address"
                .into(),
        ));
    }
    for needed in [
        SharedNamespace::Net,
        SharedNamespace::Ipc,
        SharedNamespace::Uts,
    ] {
        if !pod.config.share.contains(&needed) {
            return Err(refuse(format!(
                "--share without {}: the containers of one zone share net, ipc, uts and pid",
                needed.as_str()
            )));
        }
    }
    let mut containers = Vec::new();
    for member in members.iter().filter(|m| !m.record.config.infra) {
        containers.push(zone_container(pod, member).map_err(&refuse)?);
    }
    Ok(PodDescription {
        name,
        zonepath: site.zonepath,
        hostname: Some(pod_hostname(pod)),
        brand: site.brand,
        distribution: site.distribution,
        network: site.network,
        cpus: pod.config.resources.cpus,
        memory: pod.config.resources.memory,
        containers,
    })
}

/// One member as a podinit service: its process (capabilities are the zone's privileges,
/// not a service's), its root and its restart policy.
fn zone_container(
    pod: &PodRecord,
    member: &ZoneMember<'_>,
) -> std::result::Result<PodContainer, String> {
    let record = member.record;
    if record.config.pod.as_deref() != Some(pod.id.as_str()) {
        return Err(format!(
            "container {} is not a member of the pod",
            record.name
        ));
    }
    if record
        .config
        .annotations
        .contains_key(INIT_CONTAINER_ANNOTATION)
    {
        return Err(format!(
            "init container {}: a podinit service does not run to its end before the others",
            record.name
        ));
    }
    let process: Process = serde_json::to_value(member.process)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("the process of {}: {e}", record.name))?;
    Ok(PodContainer {
        name: record.name.clone(),
        root: member.root.clone(),
        process,
        restart: aurora_monitor::RestartPolicyArg::from(record.config.restart),
        depends_on: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aurora_zones::pod::User;
    use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, UserBuilder};

    use super::*;
    use crate::config::{ContainerConfig, RestartPolicy};
    use crate::pod::{PodConfig, PodResources};

    const POD_ID: &str = "4f0c5a0e1b2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccdd";

    fn pod() -> PodRecord {
        PodRecord {
            id: POD_ID.into(),
            name: "web".into(),
            config: PodConfig {
                hostname: Some("web-host".into()),
                resources: PodResources {
                    memory: Some(256 << 20),
                    cpus: Some(1.5),
                },
                ..Default::default()
            },
            infra_id: Some("i".repeat(64)),
            created_at: "2026-12-03T00:00:00Z".into(),
            cgroup_parent: "/aurora/pod-4f0c5a0e1b2d".into(),
        }
    }

    fn member(name: &str, restart: RestartPolicy, infra: bool) -> ContainerRecord {
        let mut record = ContainerRecord::creating(
            format!("{name:a<64}"),
            name.into(),
            ("docker.io/library/busybox:latest".into(), "sha256:0".into()),
            ContainerConfig {
                pod: Some(POD_ID.into()),
                restart,
                infra,
                ..Default::default()
            },
            "/usr/bin/runz".into(),
        );
        record.config.annotations = BTreeMap::new();
        record
    }

    fn process(args: &[&str]) -> oci_spec::runtime::Process {
        ProcessBuilder::default()
            .args(args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/srv")
            .user(
                UserBuilder::default()
                    .uid(1000u32)
                    .gid(1000u32)
                    .additional_gids(vec![10u32])
                    .build()
                    .unwrap(),
            )
            .rlimits(vec![PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(1024u64)
                .soft(1024u64)
                .build()
                .unwrap()])
            .no_new_privileges(true)
            .build()
            .unwrap()
    }

    fn site() -> ZoneSite {
        ZoneSite {
            zonepath: "/zones/web".into(),
            network: Some(PodNetwork {
                link: "net0".into(),
                lower_link: Some("e1000g0".into()),
                address: Some("10.0.0.5/24".into()),
                gateway: Some("10.0.0.1".into()),
                mac_address: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_pod_and_its_members_become_the_zone_description() {
        let pod = pod();
        let (infra, app, sidecar) = (
            member("web-infra", RestartPolicy::No, true),
            member("app", RestartPolicy::Always, false),
            member("sidecar", RestartPolicy::OnFailure(Some(3)), false),
        );
        let (pause, serve, tail) = (
            process(&["pause"]),
            process(&["httpd", "-f"]),
            process(&["tail", "-f", "/log"]),
        );
        let members = [
            ZoneMember {
                record: &infra,
                process: &pause,
                root: ContainerRoot::Path("/unused".into()),
            },
            ZoneMember {
                record: &app,
                process: &serve,
                root: ContainerRoot::Dataset("rpool/aurora/containers/app".into()),
            },
            ZoneMember {
                record: &sidecar,
                process: &tail,
                root: ContainerRoot::Path("/var/aurora/containers/sidecar/root".into()),
            },
        ];
        let description = zone_description(&pod, site(), &members).unwrap();
        let expected_process = |args: &[&str]| Process {
            terminal: false,
            user: Some(User {
                uid: 1000,
                gid: 1000,
                umask: None,
                additional_gids: vec![10],
            }),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec!["PATH=/bin".into()],
            cwd: Some("/srv".into()),
            rlimits: serde_json::from_value(serde_json::json!(
                [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
            ))
            .unwrap(),
            no_new_privileges: true,
        };
        assert_eq!(
            description,
            PodDescription {
                name: ZoneName::new("web").unwrap(),
                zonepath: "/zones/web".into(),
                hostname: Some("web-host".into()),
                brand: None,
                distribution: Distribution::OmniOs,
                network: site().network,
                cpus: Some(1.5),
                memory: Some(256 << 20),
                containers: vec![
                    PodContainer {
                        name: "app".into(),
                        root: ContainerRoot::Dataset("rpool/aurora/containers/app".into()),
                        process: expected_process(&["httpd", "-f"]),
                        restart: aurora_monitor::RestartPolicyArg::Always,
                        depends_on: Vec::new(),
                    },
                    PodContainer {
                        name: "sidecar".into(),
                        root: ContainerRoot::Path("/var/aurora/containers/sidecar/root".into()),
                        process: expected_process(&["tail", "-f", "/log"]),
                        restart: aurora_monitor::RestartPolicyArg::OnFailure(Some(3)),
                        depends_on: Vec::new(),
                    },
                ],
            }
        );
        // And the planner takes it: the services file, golden.
        let plan = aurora_zones::plan_pod(&description).unwrap();
        let services: serde_json::Value = serde_json::from_str(&plan.services_json()).unwrap();
        assert_eq!(services["hostname"], "web-host");
        let names: Vec<_> = services["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].clone(), s["root"].clone(), s["restart"].clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("app".into(), "/containers/app".into(), "always".into()),
                (
                    "sidecar".into(),
                    "/containers/sidecar".into(),
                    "on-failure:3".into()
                ),
            ]
        );
        let zonecfg = plan.zonecfg();
        for line in [
            "set zonepath=/zones/web",
            "set physical=net0",
            "set special=rpool/aurora/containers/app",
        ] {
            assert!(zonecfg.contains(line), "{line} is not in:\n{zonecfg}");
        }
    }

    #[test]
    fn what_a_zone_cannot_be_is_refused_by_name() {
        let app = member("app", RestartPolicy::No, false);
        let serve = process(&["httpd"]);
        let refused = |pod: &PodRecord, members: &[ZoneMember<'_>]| {
            zone_description(pod, site(), members)
                .unwrap_err()
                .to_string()
        };

        let mut ports = pod();
        ports.config.ports = aurora_network::PortMapping::parse("8080:80").unwrap();
        assert!(refused(&ports, &[]).contains("published ports"));

        let mut unshared = pod();
        unshared.config.share = vec![SharedNamespace::Net, SharedNamespace::Uts];
        assert!(refused(&unshared, &[]).contains("--share without ipc"));

        let mut bad_name = pod();
        bad_name.name = "global".into();
        assert!(refused(&bad_name, &[]).contains("global"));

        let mut init = member("setup", RestartPolicy::No, false);
        init.config
            .annotations
            .insert(INIT_CONTAINER_ANNOTATION.into(), "once".into());
        assert!(refused(&pod(), &[with(&init, &serve)]).contains("init container setup"));

        let mut stranger = app.clone();
        stranger.config.pod = Some("f".repeat(64));
        assert!(refused(&pod(), &[with(&stranger, &serve)]).contains("not a member"));
        assert!(zone_description(&pod(), site(), &[with(&app, &serve)]).is_ok());
    }

    fn with<'a>(
        record: &'a ContainerRecord,
        process: &'a oci_spec::runtime::Process,
    ) -> ZoneMember<'a> {
        ZoneMember {
            record,
            process,
            root: ContainerRoot::Path("/r".into()),
        }
    }
}
