//! `kube play` beside podman on the same YAML: the downward API (`fieldRef` to the pod's name,
//! id, a label, an annotation) and `resourceFieldRef` (limits and requests over divisors)
//! as environment variables, `--network`, and `hostAliases` and `dnsConfig`.

mod support;

use support::{stderr, stdout, World};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: fr
  labels: {app: web}
  annotations: {note: hello}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "env | grep '^F_' | sort"]
    resources:
      limits: {memory: 64Mi, cpu: 500m}
      requests: {memory: 32Mi}
    env:
    - name: F_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: F_UID
      valueFrom: {fieldRef: {fieldPath: metadata.uid}}
    - name: F_LABEL
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: F_ANN
      valueFrom: {fieldRef: {fieldPath: "metadata.annotations['note']"}}
    - name: F_MISSING
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['nope']"}}
    - name: F_MEM
      valueFrom: {resourceFieldRef: {resource: limits.memory}}
    - name: F_CPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu}}
    - name: F_MCPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    - name: F_REQ
      valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Mi}}
"#;

/// Plays `yaml` with podman, then with podadm (each with `flags`), and returns each one's
/// log of `fr-c` after it exited, the pod's id (which differs) written `POD_ID`.
fn logs_of_both(world: &World, yaml: &str, flags: &[&str]) -> [String; 2] {
    let file = world.dir.path().join("fr.yaml");
    std::fs::write(&file, yaml.replace("IMAGE", &world.image)).expect("write the YAML");
    let file = file.to_str().expect("a UTF-8 path");
    [true, false].map(|podman| {
        let run = |args: &[&str]| {
            if podman {
                world.podman(args)
            } else {
                world.podadm(args)
            }
        };
        let ok = |args: &[&str]| {
            let out = run(args);
            let status = out.status.code();
            assert_eq!(
                status,
                Some(0),
                "podman={podman} {args:?}: {}",
                stderr(&out)
            );
            stdout(&out)
        };
        ok(&[&["kube", "play"], flags, &[file]].concat());
        world.wait_until("the container's exit", || {
            let inspected: serde_json::Value =
                serde_json::from_str(&stdout(&run(&["inspect", "fr-c"]))).unwrap_or_default();
            inspected[0]["State"]["Status"] == "exited"
        });
        let log = ok(&["logs", "fr-c"]);
        let inspected: serde_json::Value =
            serde_json::from_str(&ok(&["pod", "inspect", "fr"])).expect("JSON");
        // podman 4.3 prints one object for one pod; an array would hold it first.
        let pod_id = inspected
            .get(0)
            .unwrap_or(&inspected)
            .get("Id")
            .and_then(|id| id.as_str())
            .filter(|id| id.len() == 64)
            .expect("the pod's id")
            .to_string();
        ok(&["kube", "play", "--down", file]);
        log.replace(&pod_id, "POD_ID")
    })
}

#[test]
fn the_downward_api_gives_the_pods_fields_as_podmans_does() {
    let Some(world) = World::new("the_downward_api_gives_the_pods_fields_as_podmans_does") else {
        return;
    };
    world.podman_pull();
    let [podman, podadm] = logs_of_both(&world, POD, &[]);
    assert_eq!(podman, podadm, "podman, then podadm");
    assert_eq!(
        podadm,
        "F_ANN=hello\nF_CPU=1\nF_LABEL=web\nF_MCPU=500\nF_MEM=67108864\nF_MISSING=\n\
         F_NAME=fr\nF_REQ=32\nF_UID=POD_ID\n"
    );
}

#[test]
fn kube_play_network_gives_the_pods_the_network_asked_for() {
    let Some(world) = World::new("kube_play_network_gives_the_pods_the_network_asked_for") else {
        return;
    };
    world.podman_pull();
    let yaml = POD.replace("env | grep '^F_' | sort", "ls /sys/class/net");
    let [podman, podadm] = logs_of_both(&world, &yaml, &["--network", "none"]);
    assert_eq!(podman, podadm, "podman, then podadm");
    assert_eq!(podadm, "lo\n");
    let file = world.dir.path().join("fr.yaml");
    let out = world.podadm(&["kube", "play", "--network", "host", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("hostNetwork"), "{}", stderr(&out));
    assert_eq!(
        world.ok(&["pod", "ps", "-q"]),
        "",
        "a refused play makes no pod"
    );
}

#[test]
fn host_aliases_and_dns_config_reach_the_containers_as_podmans() {
    let Some(world) = World::new("host_aliases_and_dns_config_reach_the_containers_as_podmans")
    else {
        return;
    };
    world.podman_pull();
    let yaml = POD
        .replace(
            "env | grep '^F_' | sort",
            "grep -e db.local -e v6.local /etc/hosts; cat /etc/resolv.conf",
        )
        .replace(
            "  restartPolicy: Never\n",
            "  restartPolicy: Never\n  hostAliases:\n  - {ip: 192.0.2.5, hostnames: [db.local]}\n  \
             - {ip: \"2001:db8::1\", hostnames: [v6.local]}\n  dnsConfig:\n    \
             nameservers: [192.0.2.53]\n    searches: [corp.example]\n    \
             options: [{name: ndots, value: \"2\"}]\n",
        );
    assert_ne!(yaml, POD);
    let [podman, podadm] = logs_of_both(&world, &yaml, &[]);
    assert_eq!(podman, podadm, "podman, then podadm");
    assert_eq!(
        podadm,
        "192.0.2.5\tdb.local\n2001:db8::1\tv6.local\n\
         search corp.example\nnameserver 192.0.2.53\noptions ndots:2\n"
    );
}
