//! Reading files: documents, kinds, unknown fields warned with their paths, bad fields
//! refused with theirs.

use aurora_kube::{parse, play, KubeError};

const POD: &str = "
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: main
    image: busybox
";

fn error(text: &str) -> String {
    match play(text, "/files".as_ref()) {
        Ok(plan) => panic!("accepted: {plan:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn several_documents_are_read_and_empty_ones_skipped() {
    let text = format!(
        "---\n{POD}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n"
    );
    let manifest = parse(&text).unwrap();
    assert_eq!(manifest.pods.len(), 1);
    assert_eq!(manifest.pods[0].name, "web");
    assert_eq!(manifest.config_maps["cfg"].data["a"], b"b");
    assert_eq!(manifest.config_maps["cfg"].location.document, 3);
    assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
}

#[test]
fn unknown_fields_are_warned_about_with_their_paths() {
    let text = POD.replace(
        "    image: busybox\n",
        "    image: busybox\n    imagePullPolicyy: Never\n    livenessProbe:\n      exec: {command: [true]}\n",
    ) + "  nodeSelector: {disk: ssd}\n";
    let manifest = parse(&text).unwrap();
    let warnings: Vec<String> = manifest.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "document 1 (Pod web): spec.containers[0].imagePullPolicyy: unknown field, ignored",
            "document 1 (Pod web): spec.containers[0].livenessProbe: unknown field, ignored",
            "document 1 (Pod web): spec.nodeSelector: unknown field, ignored",
        ]
    );
}

#[test]
fn fields_accepted_without_effect_are_not_warned_about() {
    let text = POD.replace(
        "    image: busybox\n",
        "    image: busybox\n    imagePullPolicy: IfNotPresent\n    resources:\n      requests: {cpu: 100m}\n",
    ) + "  dnsPolicy: ClusterFirst\nstatus: {}\n";
    let text = text.replace(
        "  name: web\n",
        "  name: web\n  creationTimestamp: \"2026-01-01T00:00:00Z\"\n",
    );
    assert!(parse(&text).unwrap().warnings.is_empty());
}

#[test]
fn a_field_of_the_wrong_type_is_refused_with_its_path() {
    let text = POD.replace(
        "    image: busybox\n",
        "    image: busybox\n    ports:\n    - containerPort: 80\n    - containerPort: http\n",
    );
    assert_eq!(
        error(&text),
        "document 1 (Pod web): spec.containers[0].ports[1].containerPort: invalid type: string \"http\", expected u16"
    );
}

#[test]
fn a_missing_required_field_is_named() {
    let text = POD.replace("    image: busybox\n", "");
    assert_eq!(
        error(&text),
        "document 1 (Pod web): spec.containers[0]: missing field `image`"
    );
    let text = POD.replace("  name: web\n", "  labels: {}\n");
    assert_eq!(error(&text), "document 1 (Pod): metadata.name: missing");
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n";
    assert_eq!(
        error(text),
        "document 1 (Pod web): (document): missing field `spec`"
    );
}

#[test]
fn an_invalid_enumeration_value_is_refused_with_its_path() {
    let text = format!("{POD}  restartPolicy: Sometimes\n");
    let message = error(&text);
    assert!(
        message
            .starts_with("document 1 (Pod web): spec.restartPolicy: unknown variant `Sometimes`"),
        "{message}"
    );
}

#[test]
fn unsupported_kinds_are_refused_by_name() {
    let text = format!("{POD}---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc}}\n");
    assert_eq!(
        error(&text),
        "document 2 (Service svc): kind \"Service\" is not supported (Pod, Deployment, ConfigMap and Secret are)"
    );
    assert_eq!(
        error("apiVersion: v1\nmetadata: {name: x}\n"),
        "document 1: no kind"
    );
}

#[test]
fn yaml_that_does_not_parse_is_refused_with_its_document() {
    let message = error(&format!("{POD}---\nkind: Pod\n  metadata: [\n"));
    assert!(
        message.starts_with("document 2: not valid YAML: "),
        "{message}"
    );
    let message = error("- a\n- b\n");
    assert!(message.contains("must be a mapping"), "{message}");
}

#[test]
fn duplicate_and_invalid_names_are_refused() {
    let message = error(&format!("{POD}---\n{POD}"));
    assert_eq!(
        message,
        "document 2 (Pod web): a pod named \"web\" is already defined in document 1"
    );
    let message = error(&POD.replace("name: web", "name: Web_1"));
    assert!(
        message.starts_with("document 1 (Pod Web_1): metadata.name: \"Web_1\" is not a valid name"),
        "{message}"
    );
}

#[test]
fn secrets_are_decoded_and_string_data_wins() {
    let text = format!(
        "{POD}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n  a: aHVudGVyMg==\n  b: eA==\nstringData:\n  b: plain\n"
    );
    let manifest = parse(&text).unwrap();
    assert_eq!(manifest.secrets["s"].data["a"], b"hunter2");
    assert_eq!(manifest.secrets["s"].data["b"], b"plain");
    let bad = text.replace("aHVudGVyMg==", "not*base64");
    let message = error(&bad);
    assert!(
        message.starts_with("document 2 (Secret s): data.a: not base64"),
        "{message}"
    );
}

#[test]
fn a_deployment_gives_one_pod_per_replica_named_as_podman_names_them() {
    let text = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec:
  replicas: 3
  selector: {matchLabels: {app: dep}}
  template:
    metadata: {labels: {app: dep}}
    spec:
      containers:
      - {name: c, image: busybox}
";
    let manifest = parse(text).unwrap();
    let names: Vec<&str> = manifest.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["dep-pod-0", "dep-pod-1", "dep-pod-2"]);
    assert_eq!(manifest.pods[1].metadata.labels["app"], "dep");
    let bad = text.replace("- {name: c, image: busybox}", "- {name: c}");
    assert_eq!(
        error(&bad),
        "document 1 (Deployment dep): spec.template.spec.containers[0]: missing field `image`"
    );
}

#[test]
fn an_api_version_other_than_the_kinds_is_warned_about() {
    let manifest = parse(&POD.replace("apiVersion: v1", "apiVersion: v2")).unwrap();
    assert_eq!(manifest.warnings.len(), 1);
    assert_eq!(manifest.warnings[0].path, "apiVersion");
}

#[test]
fn a_file_without_anything_to_play_is_refused() {
    assert!(matches!(
        play("---\n", "/f".as_ref()),
        Err(KubeError::NoWorkload)
    ));
}
