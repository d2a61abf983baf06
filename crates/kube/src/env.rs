//! A container's `envFrom` and `env` → `NAME=VALUE` entries, values taken from the file's
//! ConfigMaps and Secrets.

use crate::error::{KubeError, Location, Result};
use crate::model::{Container, KeyRef};
use crate::parse::{DataSource, Manifest};

/// `envFrom` first, then `env` (a later entry wins, as in Kubernetes).
pub(crate) fn environment(
    manifest: &Manifest,
    container: &Container,
    location: &Location,
    path: &str,
) -> Result<Vec<String>> {
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
                match (&from.config_map_key_ref, &from.secret_key_ref) {
                    (Some(key), None) => {
                        let field = format!("{field}.configMapKeyRef");
                        let source = manifest.config_maps.get(&key.name);
                        key_value("ConfigMap", source, key, location, &field)?
                    }
                    (None, Some(key)) => {
                        let field = format!("{field}.secretKeyRef");
                        let source = manifest.secrets.get(&key.name);
                        key_value("Secret", source, key, location, &field)?
                    }
                    _ => {
                        return Err(KubeError::invalid(
                            location,
                            field,
                            "one of configMapKeyRef or secretKeyRef is needed",
                        ))
                    }
                }
            }
        };
        // An optional key that is missing leaves the variable unset, as in Kubernetes.
        if let Some(value) = value {
            env.push(format!("{}={value}", var.name));
        }
    }
    Ok(env)
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
