//! A file of YAML documents → the objects `kube play` knows, with the fields it did not
//! know reported by path and the ones it could not read refused by path.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_norway::Value;

use crate::error::{KubeError, Location, Result, Warning};
use crate::model::{
    ConfigMapDocument, DeploymentDocument, ObjectMeta, PodDocument, PodSpec, SecretDocument,
};

/// Everything a file defines.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Pods, a Deployment's replicas each as a Pod of its own, in file order.
    pub pods: Vec<PodSource>,
    pub config_maps: BTreeMap<String, DataSource>,
    pub secrets: BTreeMap<String, DataSource>,
    pub warnings: Vec<Warning>,
}

/// One pod to make: a Pod, or one replica of a Deployment.
#[derive(Debug, Clone)]
pub struct PodSource {
    pub location: Location,
    /// As podman names it: the Pod's name, or `DEPLOYMENT-pod-N`.
    pub name: String,
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    /// Where the pod spec sits in its document (`spec`, `spec.template.spec`), for errors.
    pub spec_path: &'static str,
}

/// A ConfigMap's or Secret's keys with their decoded values.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub location: Location,
    pub data: BTreeMap<String, Vec<u8>>,
}

/// Reads every document of `text` (separated by `---`; empty ones are skipped).
pub fn parse(text: &str) -> Result<Manifest> {
    let mut manifest = Manifest::default();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let mut location = Location {
            document: index + 1,
            kind: None,
            name: None,
        };
        let value = Value::deserialize(document).map_err(|error| KubeError::Syntax {
            location: location.clone(),
            message: error.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        if !value.is_mapping() {
            return Err(KubeError::Syntax {
                location,
                message: "a document must be a mapping (apiVersion, kind, metadata, ...)".into(),
            });
        }
        let kind = match value.get("kind").and_then(Value::as_str) {
            Some(kind) => kind.to_string(),
            None => return Err(KubeError::NoKind { location }),
        };
        location.kind = Some(kind.clone());
        location.name = value
            .get("metadata")
            .and_then(|metadata| metadata.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        check_api_version(&value, &kind, &location, &mut manifest.warnings);
        match kind.as_str() {
            "Pod" => add_pod(&mut manifest, value, location)?,
            "Deployment" => add_deployment(&mut manifest, value, location)?,
            "ConfigMap" => add_config_map(&mut manifest, value, location)?,
            "Secret" => add_secret(&mut manifest, value, location)?,
            _ => return Err(KubeError::UnsupportedKind { location, kind }),
        }
    }
    Ok(manifest)
}

/// Decodes one document; unknown fields become warnings with their paths.
fn decode<T: DeserializeOwned>(
    value: Value,
    location: &Location,
    warnings: &mut Vec<Warning>,
) -> Result<T> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path| unknown.push(ignored_path(&path));
    let deserializer = serde_ignored::Deserializer::new(value, &mut record);
    let decoded = serde_path_to_error::deserialize(deserializer);
    warnings.extend(unknown.into_iter().map(|path| Warning {
        location: location.clone(),
        path,
        message: "unknown field, ignored".into(),
    }));
    decoded.map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            "(document)".into()
        } else {
            path
        };
        KubeError::invalid(location, path, error.into_inner().to_string())
    })
}

/// `spec.containers[0].imagePullPolicyy`, as serde_path_to_error writes paths.
fn ignored_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn check_api_version(value: &Value, kind: &str, location: &Location, warnings: &mut Vec<Warning>) {
    let expected = if kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    };
    let found = value.get("apiVersion").and_then(Value::as_str);
    if found != Some(expected) && ["Pod", "Deployment", "ConfigMap", "Secret"].contains(&kind) {
        warnings.push(Warning {
            location: location.clone(),
            path: "apiVersion".into(),
            message: format!("expected {expected:?}, found {found:?}; read as {expected}"),
        });
    }
}

fn required_name(metadata: &ObjectMeta, location: &Location) -> Result<String> {
    match &metadata.name {
        Some(name) if !name.is_empty() => {
            check_dns_name(name, location, "metadata.name")?;
            Ok(name.clone())
        }
        _ => Err(KubeError::invalid(location, "metadata.name", "missing")),
    }
}

/// Kubernetes' object names (RFC 1123 subdomains): they become pod, container and volume
/// names, and directory names on the host.
pub(crate) fn check_dns_name(name: &str, location: &Location, path: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(KubeError::invalid(
            location,
            path,
            format!("{name:?} is not a valid name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"),
        ))
    }
}

fn add_pod(manifest: &mut Manifest, value: Value, location: Location) -> Result<()> {
    let pod: PodDocument = decode(value, &location, &mut manifest.warnings)?;
    let name = required_name(&pod.metadata, &location)?;
    push_pod(
        manifest,
        PodSource {
            location,
            name,
            metadata: pod.metadata,
            spec: pod.spec,
            spec_path: "spec",
        },
    )
}

/// `replicas` pods named `NAME-pod-0`, `NAME-pod-1`, ... (podman 4's names), each with the
/// template's metadata.
fn add_deployment(manifest: &mut Manifest, value: Value, location: Location) -> Result<()> {
    let deployment: DeploymentDocument = decode(value, &location, &mut manifest.warnings)?;
    let name = required_name(&deployment.metadata, &location)?;
    let replicas = deployment.spec.replicas.unwrap_or(1);
    for replica in 0..replicas {
        push_pod(
            manifest,
            PodSource {
                location: location.clone(),
                name: format!("{name}-pod-{replica}"),
                metadata: deployment.spec.template.metadata.clone(),
                spec: deployment.spec.template.spec.clone(),
                spec_path: "spec.template.spec",
            },
        )?;
    }
    Ok(())
}

fn push_pod(manifest: &mut Manifest, pod: PodSource) -> Result<()> {
    if let Some(first) = manifest.pods.iter().find(|p| p.name == pod.name) {
        return Err(KubeError::Duplicate {
            location: pod.location,
            kind: "pod".into(),
            name: pod.name,
            first: first.location.document,
        });
    }
    manifest.pods.push(pod);
    Ok(())
}

fn add_config_map(manifest: &mut Manifest, value: Value, location: Location) -> Result<()> {
    let map: ConfigMapDocument = decode(value, &location, &mut manifest.warnings)?;
    let name = required_name(&map.metadata, &location)?;
    let mut data: BTreeMap<String, Vec<u8>> = map
        .data
        .into_iter()
        .map(|(key, value)| (key, value.into_bytes()))
        .collect();
    for (key, encoded) in map.binary_data {
        let decoded = decode_base64(&encoded, &location, &format!("binaryData.{key}"))?;
        data.insert(key, decoded);
    }
    check_keys(&data, &location, "data")?;
    insert_source(&mut manifest.config_maps, "ConfigMap", name, location, data)
}

fn add_secret(manifest: &mut Manifest, value: Value, location: Location) -> Result<()> {
    let secret: SecretDocument = decode(value, &location, &mut manifest.warnings)?;
    let name = required_name(&secret.metadata, &location)?;
    let mut data = BTreeMap::new();
    for (key, encoded) in secret.data {
        let decoded = decode_base64(&encoded, &location, &format!("data.{key}"))?;
        data.insert(key, decoded);
    }
    for (key, value) in secret.string_data {
        data.insert(key, value.into_bytes());
    }
    check_keys(&data, &location, "data")?;
    insert_source(&mut manifest.secrets, "Secret", name, location, data)
}

fn insert_source(
    sources: &mut BTreeMap<String, DataSource>,
    kind: &str,
    name: String,
    location: Location,
    data: BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    if let Some(first) = sources.get(&name) {
        return Err(KubeError::Duplicate {
            location,
            kind: kind.into(),
            name,
            first: first.location.document,
        });
    }
    sources.insert(name, DataSource { location, data });
    Ok(())
}

/// Keys become file names: Kubernetes allows letters, digits, '-', '_' and '.'.
fn check_keys(data: &BTreeMap<String, Vec<u8>>, location: &Location, path: &str) -> Result<()> {
    for key in data.keys() {
        let valid = !key.is_empty()
            && key != "."
            && key != ".."
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(KubeError::invalid(
                location,
                format!("{path}.{key}"),
                "a key must be letters, digits, '-', '_' and '.'",
            ));
        }
    }
    Ok(())
}

fn decode_base64(text: &str, location: &Location, path: &str) -> Result<Vec<u8>> {
    // Long values are often folded over several lines.
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|error| KubeError::invalid(location, path, format!("not base64: {error}")))
}
