//! `kube play` beside podman on the same YAML: the downward API (`fieldRef` to the pod's name,
//! id, a label, an annotation) and `resourceFieldRef` (limits and requests over divisors)
//! as environment variables, and `--network`.

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

#[test]
fn the_downward_api_gives_the_pods_fields_as_podmans_does() {
    let Some(world) = World::new("the_downward_api_gives_the_pods_fields_as_podmans_does") else {
        return;
    };
    world.podman_pull();
    let file = world.dir.path().join("fr.yaml");
    std::fs::write(&file, POD.replace("IMAGE", &world.image)).expect("write the YAML");
    let file = file.to_str().expect("a UTF-8 path");

    let mut outputs = Vec::new();
    for podman in [true, false] {
        let run = |args: &[&str]| {
            if podman {
                world.podman(args)
            } else {
                world.podadm(args)
            }
        };
        let out = run(&["kube", "play", file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "podman={podman}: {}",
            stderr(&out)
        );
        world.wait_until("the container's exit", || {
            let inspected: serde_json::Value =
                serde_json::from_str(&stdout(&run(&["inspect", "fr-c"]))).unwrap_or_default();
            inspected[0]["State"]["Status"] == "exited"
        });
        let log = stdout(&run(&["logs", "fr-c"]));
        let inspected: serde_json::Value =
            serde_json::from_str(&stdout(&run(&["pod", "inspect", "fr"]))).expect("JSON");
        // podman 4.3 prints one object for one pod; an array would hold it first.
        let pod_id = inspected
            .get(0)
            .unwrap_or(&inspected)
            .get("Id")
            .and_then(|id| id.as_str())
            .filter(|id| id.len() == 64)
            .expect("the pod's id")
            .to_string();
        // The pod's id differs between the tools: each must be its own.
        let log = log.replace(&pod_id, "POD_ID");
        outputs.push(log);
        let out = run(&["kube", "play", "--down", file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "podman={podman}: {}",
            stderr(&out)
        );
    }
    assert_eq!(outputs[0], outputs[1], "podman, then podadm");
    assert_eq!(
        outputs[1],
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
    let yaml = POD
        .replace("IMAGE", &world.image)
        .replace("env | grep '^F_' | sort", "ls /sys/class/net");
    let file = world.dir.path().join("net.yaml");
    std::fs::write(&file, yaml).expect("write the YAML");
    let file = file.to_str().expect("a UTF-8 path");
    let mut outputs = Vec::new();
    for podman in [true, false] {
        let run = |args: &[&str]| {
            if podman {
                world.podman(args)
            } else {
                world.podadm(args)
            }
        };
        let out = run(&["kube", "play", "--network", "none", file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "podman={podman}: {}",
            stderr(&out)
        );
        world.wait_until("the container's exit", || {
            let inspected: serde_json::Value =
                serde_json::from_str(&stdout(&run(&["inspect", "fr-c"]))).unwrap_or_default();
            inspected[0]["State"]["Status"] == "exited"
        });
        outputs.push(stdout(&run(&["logs", "fr-c"])));
        let out = run(&["kube", "play", "--down", file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "podman={podman}: {}",
            stderr(&out)
        );
    }
    assert_eq!(outputs[0], outputs[1], "podman, then podadm");
    assert_eq!(outputs[1], "lo\n");
    let out = world.podadm(&["kube", "play", "--network", "host", file]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("hostNetwork"), "{}", stderr(&out));
    assert_eq!(
        world.ok(&["pod", "ps", "-q"]),
        "",
        "a refused play makes no pod"
    );
}
