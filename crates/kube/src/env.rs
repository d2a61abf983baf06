//! A container's `envFrom` and `env` → `NAME=VALUE` entries, values taken from the file's
//! ConfigMaps and Secrets, the pod's fields (`fieldRef`) and the container's resources
//! (`resourceFieldRef`), as podman takes them.

use crate::error::{KubeError, Location, Result};
use crate::model::{Container, FieldRef, KeyRef, ResourceFieldRef};
use crate::parse::{DataSource, Manifest, PodSource};

/// A container's environment: the entries, and the variables that are to hold the pod's id
/// (known only once the pod exists).
#[derive(Debug, Default)]
pub(crate) struct Environment {
    pub values: Vec<String>,
    pub pod_id: Vec<String>,
}

/// `envFrom` first, then `env` (a later entry wins, as in Kubernetes).
pub(crate) fn environment(
    manifest: &Manifest,
    pod: &PodSource,
    container: &Container,
    path: &str,
) -> Result<Environment> {
    let location = &pod.location;
    let mut pod_id = Vec::new();
    let mut env = Vec::new();
    for (index, from) in container.env_from.iter().enumerate() {
        let field = format!("{path}.envFrom[{index}]");
        let (kind, reference, sources, name_field) = match (&from.config_map_ref, &from.secret_ref)
        {
            (Some(map), None) => ("ConfigMap", map, &manifest.config_maps, "configMapRef"),
            (None, Some(secret)) => ("Secret", secret, &manifest.secrets, "secretRef"),
            _ => {
                return Err(KubeError::invalid(
                    location,
                    field,
                    "one of configMapRef or secretRef is needed",
                ))
            }
        };
        let Some(source) = sources.get(&reference.name) else {
            if reference.optional {
                continue;
            }
            return Err(KubeError::invalid(
                location,
                format!("{field}.{name_field}.name"),
                format!("no {kind} named {:?} in the file", reference.name),
            ));
        };
        for (key, value) in &source.data {
            let value = text(value, location, &field, key)?;
            env.push(format!("{}{key}={value}", from.prefix));
        }
    }
    for (index, var) in container.env.iter().enumerate() {
        let field = format!("{path}.env[{index}]");
        if var.name.is_empty() || var.name.contains('=') {
            return Err(KubeError::invalid(
                location,
                format!("{field}.name"),
                format!("{:?} is not a variable name", var.name),
            ));
        }
        let value = match (&var.value, &var.value_from) {
            (Some(_), Some(_)) => {
                return Err(KubeError::invalid(
                    location,
                    field,
                    "value and valueFrom are exclusive",
                ))
            }
            (Some(value), None) => Some(value.clone()),
            (None, None) => Some(String::new()),
            (None, Some(from)) => {
                let field = format!("{field}.valueFrom");
                match (
                    &from.config_map_key_ref,
                    &from.secret_key_ref,
                    &from.field_ref,
                    &from.resource_field_ref,
                ) {
                    (Some(key), None, None, None) => {
                        let field = format!("{field}.configMapKeyRef");
                        let source = manifest.config_maps.get(&key.name);
                        key_value("ConfigMap", source, key, location, &field)?
                    }
                    (None, Some(key), None, None) => {
                        let field = format!("{field}.secretKeyRef");
                        let source = manifest.secrets.get(&key.name);
                        key_value("Secret", source, key, location, &field)?
                    }
                    (None, None, Some(reference), None) => {
                        let field = format!("{field}.fieldRef.fieldPath");
                        match pod_field(pod, reference)
                            .map_err(|reason| KubeError::invalid(location, &field, reason))?
                        {
                            PodField::Value(value) => Some(value),
                            PodField::Id => {
                                pod_id.push(var.name.clone());
                                None
                            }
                        }
                    }
                    (None, None, None, Some(reference)) => {
                        let field = format!("{field}.resourceFieldRef");
                        Some(
                            resource_field(container, reference).map_err(|(at, reason)| {
                                KubeError::invalid(location, format!("{field}.{at}"), reason)
                            })?,
                        )
                    }
                    _ => {
                        return Err(KubeError::invalid(
                            location,
                            field,
                            "one of configMapKeyRef, secretKeyRef, fieldRef or \
                             resourceFieldRef is needed",
                        ))
                    }
                }
            }
        };
        // An optional key that is missing leaves the variable unset, as in Kubernetes.
        if let Some(value) = value {
            pod_id.retain(|name| name != &var.name);
            env.push(format!("{}={value}", var.name));
        }
    }
    Ok(Environment {
        values: env,
        pod_id,
    })
}

/// What a `fieldRef` gives.
enum PodField {
    Value(String),
    /// The pod's id (`metadata.uid`), set once the pod exists.
    Id,
}

/// The pod's fields podman gives: `metadata.name`, `metadata.uid`, and one label or
/// annotation (`metadata.labels['KEY']`; a missing one is empty).
fn pod_field(pod: &PodSource, reference: &FieldRef) -> std::result::Result<PodField, String> {
    let path = reference.field_path.trim();
    let keyed = |prefix: &str| {
        let rest = path
            .strip_prefix(prefix)?
            .strip_prefix('[')?
            .strip_suffix(']')?;
        ["'", "\""].iter().find_map(|quote| {
            rest.strip_prefix(quote)?
                .strip_suffix(quote)
                .map(str::to_string)
        })
    };
    match path {
        "metadata.name" => Ok(PodField::Value(pod.name.clone())),
        "metadata.uid" => Ok(PodField::Id),
        _ => {
            if let Some(key) = keyed("metadata.labels") {
                let value = pod.metadata.labels.get(&key).cloned().unwrap_or_default();
                return Ok(PodField::Value(value));
            }
            if let Some(key) = keyed("metadata.annotations") {
                let value = pod.metadata.annotations.get(&key).cloned();
                return Ok(PodField::Value(value.unwrap_or_default()));
            }
            Err(format!(
                "{path:?} is not a field given here (metadata.name, metadata.uid, \
                 metadata.labels['KEY'], metadata.annotations['KEY'])"
            ))
        }
    }
}

/// `limits.cpu`, `limits.memory`, `requests.cpu` or `requests.memory` of this container,
/// divided by the divisor (default 1) and rounded up, as Kubernetes and podman give them.
/// The error: the field (relative to `resourceFieldRef`) and why.
fn resource_field(
    container: &Container,
    reference: &ResourceFieldRef,
) -> std::result::Result<String, (&'static str, String)> {
    if let Some(name) = &reference.container_name {
        if name != &container.name {
            return Err((
                "containerName",
                format!("{name:?}: an environment variable reads its own container's resources"),
            ));
        }
    }
    let requirements = container.resources.clone().unwrap_or_default();
    let (table, kind) = match reference.resource.split_once('.') {
        Some(("limits", kind)) => (&requirements.limits, kind),
        Some(("requests", kind)) => (&requirements.requests, kind),
        _ => (&requirements.limits, ""),
    };
    let unknown = || {
        (
            "resource",
            format!(
                "{:?} is not limits.cpu, limits.memory, requests.cpu or requests.memory",
                reference.resource
            ),
        )
    };
    let parse: fn(&str) -> Option<f64> = match kind {
        "cpu" => crate::quantity::cpus,
        "memory" => |text| crate::quantity::bytes(text).map(|b| b as f64),
        _ => return Err(unknown()),
    };
    let value = table.get(kind).ok_or_else(|| {
        (
            "resource",
            format!("the container sets no {}", reference.resource),
        )
    })?;
    let value = parse(&value.0).ok_or_else(|| {
        (
            "resource",
            format!(
                "the container's {} is {:?}, not a {kind} quantity",
                reference.resource, value.0
            ),
        )
    })?;
    let divisor = match &reference.divisor {
        Some(divisor) => parse(&divisor.0).ok_or_else(|| {
            (
                "divisor",
                format!("{:?} is not a positive {kind} quantity", divisor.0),
            )
        })?,
        None => 1.0,
    };
    Ok(((value / divisor).ceil() as u64).to_string())
}

/// One key's value; `None` when an optional reference finds nothing.
fn key_value(
    kind: &str,
    source: Option<&DataSource>,
    key: &KeyRef,
    location: &Location,
    field: &str,
) -> Result<Option<String>> {
    let Some(source) = source else {
        if key.optional {
            return Ok(None);
        }
        return Err(KubeError::invalid(
            location,
            format!("{field}.name"),
            format!("no {kind} named {:?} in the file", key.name),
        ));
    };
    let Some(value) = source.data.get(&key.key) else {
        if key.optional {
            return Ok(None);
        }
        return Err(KubeError::invalid(
            location,
            format!("{field}.key"),
            format!("the {kind} {:?} has no key {:?}", key.name, key.key),
        ));
    };
    text(value, location, field, &key.key).map(Some)
}

/// Environment values are text.
fn text(value: &[u8], location: &Location, field: &str, key: &str) -> Result<String> {
    String::from_utf8(value.to_vec()).map_err(|_| {
        KubeError::invalid(
            location,
            field,
            format!(
                "the value of {key:?} is not UTF-8 text, so it cannot be an environment variable"
            ),
        )
    })
}
