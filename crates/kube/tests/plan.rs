//! Translation: a file → pods, containers, volumes and files, compared whole; and every
//! refusal of a reference or value that cannot be honoured, with its path.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aurora_engine::{
    ContainerConfig, MountRequest, NetworkMode, PodConfig, Resources, RestartPolicy,
    INIT_CONTAINER_ANNOTATION,
};
use aurora_kube::{
    play, ContainerPlan, HostPathCheck, HostPathType, NamedVolume, PodPlan, RenderedFile,
};
use aurora_network::{PortMapping, Protocol};

const FILE: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  color: blue
  app.conf: "x=1\n"
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data:
  password: aHVudGVyMg==
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
  annotations: {note: hi}
spec:
  restartPolicy: OnFailure
  hostname: box
  terminationGracePeriodSeconds: 5
  securityContext: {runAsUser: 1000}
  initContainers:
  - name: prep
    image: busybox
    command: [sh, -c, "echo hi > /work/hello"]
    volumeMounts: [{name: scratch, mountPath: /work}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c]
    args: ["cat /work/hello"]
    workingDir: /srv
    envFrom:
    - configMapRef: {name: cfg}
      prefix: CFG_
    env:
    - {name: PLAIN, value: plain}
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: cfg, key: color}}
    - name: PW
      valueFrom: {secretKeyRef: {name: sec, key: password}}
    - name: GONE
      valueFrom: {secretKeyRef: {name: nosuch, key: x, optional: true}}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: NOTE
      valueFrom: {fieldRef: {fieldPath: 'metadata.annotations["note"]'}}
    - name: NOLABEL
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['nope']"}}
    - name: UID
      valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.uid}}
    - name: MEM
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    - name: CPU
      valueFrom: {resourceFieldRef: {containerName: main, resource: limits.cpu}}
    - name: MILLICPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    - name: REQMEM
      valueFrom: {resourceFieldRef: {resource: requests.memory}}
    ports:
    - {containerPort: 80, hostPort: 8080}
    - {containerPort: 53, protocol: UDP, hostIP: 127.0.0.1}
    resources:
      limits: {cpu: 500m, memory: 64Mi}
      requests: {memory: 32Mi}
    securityContext:
      runAsGroup: 100
      readOnlyRootFilesystem: true
      privileged: false
      capabilities: {add: [NET_ADMIN], drop: [CHOWN]}
    volumeMounts:
    - {name: scratch, mountPath: /work}
    - {name: cfgvol, mountPath: /etc/app}
    - {name: secvol, mountPath: /run/secret, readOnly: true}
    - {name: data, mountPath: /data}
    - {name: host, mountPath: /host, readOnly: true, subPath: sub/dir}
  volumes:
  - {name: scratch, emptyDir: {}}
  - name: cfgvol
    configMap:
      name: cfg
      defaultMode: 0640
      items:
      - {key: color, path: c/colour.txt}
      - {key: app.conf, path: app.conf, mode: 0600}
  - name: secvol
    secret: {secretName: sec}
  - name: data
    persistentVolumeClaim: {claimName: db}
  - name: host
    hostPath: {path: /srv/host, type: DirectoryOrCreate}
"#;

#[test]
fn a_pod_is_translated_whole() {
    let plan = play(FILE, "/run/kube".as_ref()).unwrap();
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let annotations = BTreeMap::from([("note".to_string(), "hi".to_string())]);
    let files = PathBuf::from("/run/kube/web");
    let common = ContainerConfig {
        image: "busybox".into(),
        labels: labels.clone(),
        annotations: annotations.clone(),
        pod: Some("web".into()),
        stop_timeout: Some(5),
        ..ContainerConfig::default()
    };
    let scratch = |destination: &str| MountRequest::Volume {
        name: Some("web-scratch".into()),
        destination: destination.into(),
        read_only: false,
    };
    let expected = PodPlan {
        name: "web".into(),
        config: PodConfig {
            hostname: Some("box".into()),
            ports: vec![
                PortMapping {
                    host_ip: None,
                    host_port: 8080,
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    range: 1,
                },
                PortMapping {
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 53,
                    container_port: 53,
                    protocol: Protocol::Udp,
                    range: 1,
                },
            ],
            network: NetworkMode::default(),
            labels: labels.clone(),
            annotations: annotations.clone(),
            ..PodConfig::default()
        },
        init_containers: vec![ContainerPlan {
            name: "web-prep".into(),
            config: ContainerConfig {
                entrypoint: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo hi > /work/hello".into(),
                ]),
                user: Some("1000".into()),
                mounts: vec![scratch("/work")],
                restart: RestartPolicy::No,
                // podman's mark: `pod start` runs it to its end first, then removes it.
                annotations: {
                    let mut annotations = common.annotations.clone();
                    annotations.insert(INIT_CONTAINER_ANNOTATION.into(), "once".into());
                    annotations
                },
                ..common.clone()
            },
            pod_id_env: Vec::new(),
        }],
        containers: vec![ContainerPlan {
            name: "web-main".into(),
            config: ContainerConfig {
                entrypoint: Some(vec!["sh".into(), "-c".into()]),
                command: vec!["cat /work/hello".into()],
                workdir: Some("/srv".into()),
                env: vec![
                    "CFG_app.conf=x=1\n".into(),
                    "CFG_color=blue".into(),
                    "PLAIN=plain".into(),
                    "COLOR=blue".into(),
                    "PW=hunter2".into(),
                    "POD=web".into(),
                    "APP=web".into(),
                    "NOTE=hi".into(),
                    "NOLABEL=".into(),
                    "MEM=64".into(),
                    "CPU=1".into(),
                    "MILLICPU=500".into(),
                    "REQMEM=33554432".into(),
                ],
                user: Some("1000:100".into()),
                read_only: true,
                cap_add: vec!["NET_ADMIN".into()],
                cap_drop: vec!["CHOWN".into()],
                resources: Resources {
                    memory: Some(64 << 20),
                    cpus: Some(0.5),
                    pids_limit: None,
                },
                mounts: vec![
                    scratch("/work"),
                    MountRequest::Bind {
                        source: files.join("cfgvol"),
                        destination: "/etc/app".into(),
                        options: vec![],
                        read_only: true,
                    },
                    MountRequest::Bind {
                        source: files.join("secvol"),
                        destination: "/run/secret".into(),
                        options: vec![],
                        read_only: true,
                    },
                    MountRequest::Volume {
                        name: Some("db".into()),
                        destination: "/data".into(),
                        read_only: false,
                    },
                    MountRequest::Bind {
                        source: "/srv/host/sub/dir".into(),
                        destination: "/host".into(),
                        options: vec![],
                        read_only: true,
                    },
                ],
                restart: RestartPolicy::OnFailure(None),
                ..common.clone()
            },
            pod_id_env: vec!["UID".into()],
        }],
        volumes: vec![
            NamedVolume {
                name: "web-scratch".into(),
                scratch: true,
            },
            NamedVolume {
                name: "db".into(),
                scratch: false,
            },
        ],
        host_paths: vec![HostPathCheck {
            path: "/srv/host".into(),
            kind: HostPathType::DirectoryOrCreate,
        }],
        files_dir: files.clone(),
        directories: vec![files.join("cfgvol"), files.join("secvol")],
        files: vec![
            RenderedFile {
                path: files.join("cfgvol/c/colour.txt"),
                content: b"blue".to_vec(),
                mode: 0o640,
            },
            RenderedFile {
                path: files.join("cfgvol/app.conf"),
                content: b"x=1\n".to_vec(),
                mode: 0o600,
            },
            RenderedFile {
                path: files.join("secvol/password"),
                content: b"hunter2".to_vec(),
                mode: 0o644,
            },
        ],
    };
    assert_eq!(plan.pods, vec![expected]);
}

#[test]
fn defaults_follow_kubernetes_and_podman() {
    let plan = play(
        "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n  containers:\n  - {name: c, image: i, ports: [{containerPort: 80}]}\n",
        "/f".as_ref(),
    )
    .unwrap();
    let pod = &plan.pods[0];
    assert_eq!(pod.containers[0].config.restart, RestartPolicy::Always);
    assert_eq!(pod.config.network, NetworkMode::Host);
    assert!(
        pod.config.ports.is_empty(),
        "no ports on the host's network"
    );
    assert_eq!(plan.warnings[0].path, "spec.hostNetwork");
    assert_eq!(pod.containers[0].config.entrypoint, None);
    assert!(pod.containers[0].config.command.is_empty());
}

fn refusal(from: &str, to: &str) -> String {
    assert!(FILE.contains(from), "{from}");
    match play(&FILE.replace(from, to), "/f".as_ref()) {
        Ok(_) => panic!("accepted with {to:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn references_to_nothing_are_refused_with_their_paths() {
    let pod = "document 3 (Pod web): ";
    for (from, to, expected) in [
        (
            "{configMapKeyRef: {name: cfg, key: color}}",
            "{configMapKeyRef: {name: cfg, key: colour}}",
            "spec.containers[0].env[1].valueFrom.configMapKeyRef.key: the ConfigMap \"cfg\" has no key \"colour\"",
        ),
        (
            "{secretKeyRef: {name: sec, key: password}}",
            "{secretKeyRef: {name: other, key: password}}",
            "spec.containers[0].env[2].valueFrom.secretKeyRef.name: no Secret named \"other\" in the file",
        ),
        (
            "configMapRef: {name: cfg}",
            "configMapRef: {name: nope}",
            "spec.containers[0].envFrom[0].configMapRef.name: no ConfigMap named \"nope\" in the file",
        ),
        (
            "{name: data, mountPath: /data}",
            "{name: dta, mountPath: /data}",
            "spec.containers[0].volumeMounts[3].name: no volume named \"dta\" in the pod's volumes",
        ),
        (
            "secret: {secretName: sec}",
            "secret: {secretName: sec2}",
            "spec.volumes[2].secret.secretName: no Secret named \"sec2\" in the file",
        ),
        (
            "{key: color, path: c/colour.txt}",
            "{key: colr, path: c/colour.txt}",
            "spec.volumes[1].configMap.items[0].key: the ConfigMap \"cfg\" has no key \"colr\"",
        ),
    ] {
        assert_eq!(refusal(from, to), format!("{pod}{expected}"));
    }
}

#[test]
fn values_that_cannot_be_honoured_are_refused_with_their_paths() {
    for (from, to, expected) in [
        ("cpu: 500m", "cpu: lots", "spec.containers[0].resources.limits.cpu: \"lots\" is not a CPU quantity"),
        ("memory: 64Mi", "memory: 64MB", "spec.containers[0].resources.limits.memory: \"64MB\" is not a memory quantity"),
        ("path: c/colour.txt", "path: ../escape", "spec.volumes[1].configMap.items[0].path: \"../escape\" must be a relative path"),
        ("subPath: sub/dir", "subPath: /abs", "spec.containers[0].volumeMounts[4].subPath: \"/abs\" must be a relative path"),
        ("{path: /srv/host, type: DirectoryOrCreate}", "{path: srv/host}", "spec.volumes[4].hostPath.path: \"srv/host\" is not an absolute path"),
        ("{path: /srv/host, type: DirectoryOrCreate}", "{path: /srv, type: Dir}", "spec.volumes[4].hostPath.type: unknown variant `Dir`"),
        ("hostIP: 127.0.0.1", "hostIP: localhost", "spec.containers[0].ports[1].hostIP: \"localhost\" is not an IP address"),
        ("protocol: UDP", "protocol: SCTP", "spec.containers[0].ports[1].protocol: unknown variant `SCTP`"),
        ("{name: scratch, emptyDir: {}}", "{name: scratch}", "spec.volumes[0]: no source"),
        ("{name: scratch, emptyDir: {}}", "{name: scratch, emptyDir: {}, hostPath: {path: /x}}", "spec.volumes[0]: more than one source"),
        ("{name: data, mountPath: /data}", "{name: scratch, mountPath: /data, subPath: x}", "spec.containers[0].volumeMounts[3].subPath: subPath is supported for hostPath, configMap and secret volumes only"),
        ("  - name: main\n", "  - name: prep\n", "spec.containers[0].name: \"prep\": a container name must be unique"),
        ("defaultMode: 0640", "defaultMode: 0999", "spec.volumes[1].configMap.defaultMode: invalid value: string \"0999\""),
        ("{name: PLAIN, value: plain}", "{name: PLAIN, value: plain, valueFrom: {configMapKeyRef: {name: cfg, key: color}}}", "spec.containers[0].env[0]: value and valueFrom are exclusive"),
        // As podman 4.3 refuses it.
        ("fieldPath: metadata.name}", "fieldPath: metadata.namespace}", "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: \"metadata.namespace\" is not a field given here"),
        ("{resource: limits.memory, divisor: 1Mi}", "{resource: limits.storage}", "spec.containers[0].env[9].valueFrom.resourceFieldRef.resource: \"limits.storage\" is not limits.cpu"),
        ("{resource: requests.memory}", "{resource: requests.cpu}", "spec.containers[0].env[12].valueFrom.resourceFieldRef.resource: the container sets no requests.cpu"),
        ("{containerName: main, resource: limits.cpu}", "{containerName: other, resource: limits.cpu}", "spec.containers[0].env[10].valueFrom.resourceFieldRef.containerName: \"other\": an environment variable reads its own container's resources"),
        ("requests: {memory: 32Mi}", "requests: {memory: lots}", "spec.containers[0].env[12].valueFrom.resourceFieldRef.resource: the container's requests.memory is \"lots\", not a memory quantity"),
        ("{resource: limits.cpu, divisor: 1m}", "{resource: limits.cpu, divisor: 0}", "spec.containers[0].env[11].valueFrom.resourceFieldRef.divisor: \"0\" is not a positive cpu quantity"),
    ] {
        let message = refusal(from, to);
        assert!(
            message.starts_with(&format!("document 3 (Pod web): {expected}")),
            "{to:?}: {message}"
        );
    }
}

#[test]
fn unsupported_limits_and_a_group_without_a_user_are_warned_about() {
    let text = FILE
        .replace("memory: 64Mi}", "memory: 64Mi, nvidia.com/gpu: 1}")
        .replace("  securityContext: {runAsUser: 1000}\n", "");
    let plan = play(&text, "/f".as_ref()).unwrap();
    let paths: Vec<&str> = plan.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.containers[0].securityContext.runAsGroup",
            "spec.containers[0].resources.limits.nvidia.com/gpu",
        ]
    );
}

#[test]
fn optional_sources_that_are_missing_give_nothing() {
    let text = FILE
        .replace(
            "secret: {secretName: sec}",
            "secret: {secretName: gone, optional: true}",
        )
        .replace(
            "configMapRef: {name: cfg}",
            "configMapRef: {name: gone, optional: true}",
        );
    let plan = play(&text, "/f".as_ref()).unwrap();
    let pod = &plan.pods[0];
    assert!(pod.directories.contains(&PathBuf::from("/f/web/secvol")));
    assert!(!pod
        .files
        .iter()
        .any(|f| f.path.starts_with("/f/web/secvol")));
    assert!(!pod.containers[0]
        .config
        .env
        .iter()
        .any(|e| e.starts_with("CFG_")));
}

const RESOLVER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: named}
spec:
  hostAliases:
  - {ip: 192.0.2.5, hostnames: [db.local, db]}
  - {ip: "2001:db8::1", hostnames: [v6.local]}
  dnsConfig:
    nameservers: [192.0.2.53]
    searches: [corp.example]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  containers:
  - {name: main, image: busybox}
"#;

#[test]
fn host_aliases_and_dns_config_are_the_pods() {
    let plan = play(RESOLVER, "/f".as_ref()).unwrap();
    let config = &plan.pods[0].config;
    let hosts: Vec<(String, Vec<String>)> = config
        .extra_hosts
        .iter()
        .map(|e| (e.address.to_string(), e.names.clone()))
        .collect();
    assert_eq!(
        hosts,
        [
            (
                "192.0.2.5".to_string(),
                vec!["db.local".to_string(), "db".into()]
            ),
            ("2001:db8::1".into(), vec!["v6.local".into()]),
        ]
    );
    assert_eq!(
        config.dns.servers,
        ["192.0.2.53".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(config.dns.search, ["corp.example"]);
    assert_eq!(config.dns.options, ["ndots:2", "edns0"]);
    for (from, to, expected) in [
        (
            "ip: 192.0.2.5,",
            "ip: db-host,",
            "spec.hostAliases[0].ip: \"db-host\" is not an IP address",
        ),
        (
            "hostnames: [v6.local]",
            "hostnames: []",
            "spec.hostAliases[1].hostnames: no names",
        ),
        (
            "hostnames: [v6.local]",
            "hostnames: [\"two words\"]",
            "spec.hostAliases[1].hostnames: \"two words\" is not a host name",
        ),
        (
            "nameservers: [192.0.2.53]",
            "nameservers: [dns.example]",
            "spec.dnsConfig.nameservers[0]: \"dns.example\" is not an IP address",
        ),
        (
            "searches: [corp.example]",
            "searches: [\"a b\"]",
            "spec.dnsConfig.searches[0]: a search domain is one word",
        ),
        (
            "{name: edns0}",
            "{name: \"edns 0\"}",
            "spec.dnsConfig.options[1]: \"edns 0\" is not one resolver option",
        ),
    ] {
        let text = RESOLVER.replace(from, to);
        assert_ne!(text, RESOLVER, "{from:?} is not in the file");
        let message = play(&text, "/f".as_ref()).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("document 1 (Pod named): {expected}")),
            "{to:?}: {message}"
        );
    }
}
