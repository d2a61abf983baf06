//! `kube generate`: a pod's records → a Pod document shaped as podman's, which played back
//! gives the same pod.

use aurora_engine::{ContainerConfig, ContainerRecord, ContainerState, PodRecord};
use aurora_kube::{generate, generate::generate_container, play, PodPlan};

const FILE: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
  annotations: {note: hi}
spec:
  restartPolicy: Never
  hostname: box
  hostAliases:
  - {ip: 192.0.2.5, hostnames: [db.local, db]}
  dnsConfig:
    nameservers: [192.0.2.53]
    searches: [corp.example]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c]
    args: ["httpd -f -p 80"]
    workingDir: /srv
    env:
    - {name: A, value: "b=c"}
    - {name: EMPTY, value: ""}
    ports:
    - {containerPort: 80, hostPort: 8080}
    - {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}
    resources:
      limits: {cpu: 1500m, memory: 64Mi}
    securityContext:
      runAsUser: 1000
      runAsGroup: 100
      readOnlyRootFilesystem: true
      capabilities: {add: [NET_ADMIN], drop: [CHOWN]}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: host, mountPath: /host, readOnly: true}
  - name: side
    image: busybox
    args: [sleep, "1000"]
    tty: true
    stdin: true
    volumeMounts:
    - {name: data, mountPath: /shared}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: db}
  - name: host
    hostPath: {path: /srv/Host Data}
"#;

/// The records the engine would keep for a played pod.
fn records(pod: &PodPlan) -> (PodRecord, Vec<ContainerRecord>) {
    let record = PodRecord {
        id: "a".repeat(64),
        name: pod.name.clone(),
        config: pod.config.clone(),
        infra_id: Some("f".repeat(64)),
        created_at: "2026-12-03T07:00:00Z".into(),
        cgroup_parent: "/aurora/pod".into(),
    };
    let mut containers: Vec<ContainerRecord> = pod
        .containers
        .iter()
        .enumerate()
        .map(|(index, c)| container(&format!("{index}").repeat(64), &c.name, c.config.clone()))
        .collect();
    // The infra container is not written.
    containers.push(container(
        &"f".repeat(64),
        "aaaaaaaaaaaa-infra",
        ContainerConfig::default(),
    ));
    (record, containers)
}

fn container(id: &str, name: &str, config: ContainerConfig) -> ContainerRecord {
    ContainerRecord {
        id: id.into(),
        name: name.into(),
        image: config.image.clone(),
        image_id: "sha256:0".into(),
        config,
        state: ContainerState::Running,
        pid: None,
        exit_code: None,
        created_at: "2026-12-03T07:00:00Z".into(),
        started_at: None,
        finished_at: None,
        restarts: 0,
        runtime: "runz".into(),
        owner_pid: None,
        stopped_by_user: false,
        anonymous_volumes: Vec::new(),
        network_status: None,
    }
}

#[test]
fn a_generated_pod_plays_back_as_the_same_pod() {
    let first = play(FILE, "/f".as_ref()).unwrap();
    let (pod, containers) = records(&first.pods[0]);
    let yaml = generate(&pod, &containers);
    let again = play(&yaml, "/f".as_ref()).unwrap();
    assert!(again.warnings.is_empty(), "{:?}\n{yaml}", again.warnings);
    let (before, after) = (&first.pods[0], &again.pods[0]);
    assert_eq!(after.name, before.name);
    assert_eq!(after.config, before.config, "{yaml}");
    assert_eq!(after.containers, before.containers, "{yaml}");
    assert_eq!(after.volumes, before.volumes);
}

#[test]
fn the_document_is_shaped_as_podmans() {
    let first = play(FILE, "/f".as_ref()).unwrap();
    let (pod, containers) = records(&first.pods[0]);
    let yaml = generate(&pod, &containers);
    let expected = r#"# Save the output of this file and use kubectl create -f to import
# it into Kubernetes.
#
# Created with podadm-0.1.0
apiVersion: v1
kind: Pod
metadata:
  annotations:
    note: hi
  creationTimestamp: 2026-12-03T07:00:00Z
  labels:
    app: web
  name: web
spec:
  automountServiceAccountToken: false
  containers:
  - args:
    - httpd -f -p 80
    command:
    - sh
    - -c
    env:
    - name: A
      value: b=c
    - name: EMPTY
      value: ''
    image: busybox
    name: main
    ports:
    - containerPort: 80
      hostPort: 8080
    - containerPort: 53
      hostIP: 127.0.0.1
      hostPort: 5353
      protocol: UDP
    resources:
      limits:
        cpu: 1500m
        memory: 64Mi
    securityContext:
      capabilities:
        add:
        - NET_ADMIN
        drop:
        - CHOWN
      readOnlyRootFilesystem: true
      runAsGroup: 100
      runAsUser: 1000
    volumeMounts:
    - mountPath: /data
      name: db-pvc
    - mountPath: /host
      name: srv-host-data-host
      readOnly: true
    workingDir: /srv
  - args:
    - sleep
    - '1000'
    image: busybox
    name: side
    stdin: true
    tty: true
    volumeMounts:
    - mountPath: /shared
      name: db-pvc
  dnsConfig:
    nameservers:
    - 192.0.2.53
    options:
    - name: ndots
      value: '2'
    - name: edns0
    searches:
    - corp.example
  enableServiceLinks: false
  hostAliases:
  - hostnames:
    - db.local
    - db
    ip: 192.0.2.5
  hostname: box
  restartPolicy: Never
  volumes:
  - name: db-pvc
    persistentVolumeClaim:
      claimName: db
  - hostPath:
      path: /srv/Host Data
    name: srv-host-data-host
status: {}
"#;
    assert_eq!(yaml, expected);
}

#[test]
fn a_lone_container_becomes_a_pod_of_its_own() {
    let config = ContainerConfig {
        image: "busybox".into(),
        command: vec!["true".into()],
        ..ContainerConfig::default()
    };
    let yaml = generate_container(&container(&"1".repeat(64), "job", config.clone()));
    let plan = play(&yaml, "/f".as_ref()).unwrap();
    assert_eq!(plan.pods[0].name, "job-pod");
    assert_eq!(plan.pods[0].containers[0].name, "job-pod-job");
    assert_eq!(plan.pods[0].containers[0].config.command, config.command);
    assert_eq!(plan.pods[0].containers[0].config.image, "busybox");
}
