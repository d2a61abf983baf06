//! The subset of Kubernetes objects that `kube play` reads, as serde types.
//!
//! Field names are Kubernetes' own (camelCase). Fields that are accepted but have no effect
//! here (a Deployment's selector, `imagePullPolicy`, ...) are typed as [`Ignored`] so that
//! they are not reported as unknown; every other field not listed is reported with its path.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A field accepted and not used (its content is not inspected).
pub type Ignored = Option<serde_norway::Value>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: Option<String>,
    pub namespace: Ignored,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub creation_timestamp: Ignored,
    pub uid: Ignored,
    pub resource_version: Ignored,
    pub generation: Ignored,
}

/// `kind: Pod`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDocument {
    pub api_version: Ignored,
    pub kind: Ignored,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: Ignored,
}

/// `kind: Deployment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDocument {
    pub api_version: Ignored,
    pub kind: Ignored,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
    pub status: Ignored,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    pub replicas: Option<u32>,
    pub selector: Ignored,
    pub strategy: Ignored,
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

/// `kind: ConfigMap`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapDocument {
    pub api_version: Ignored,
    pub kind: Ignored,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Values in base64.
    #[serde(default)]
    pub binary_data: BTreeMap<String, String>,
    pub immutable: Ignored,
}

/// `kind: Secret`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretDocument {
    pub api_version: Ignored,
    pub kind: Ignored,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Values in base64.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Values as they are (they win over `data`'s, as in Kubernetes).
    #[serde(default)]
    pub string_data: BTreeMap<String, String>,
    #[serde(rename = "type")]
    pub secret_type: Ignored,
    pub immutable: Ignored,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    #[serde(default)]
    pub init_containers: Vec<Container>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    pub restart_policy: Option<PodRestartPolicy>,
    #[serde(default)]
    pub host_network: bool,
    pub hostname: Option<String>,
    pub security_context: Option<PodSecurityContext>,
    pub termination_grace_period_seconds: Option<u32>,
    /// Lines of the pod's /etc/hosts (podman's `--add-host`).
    #[serde(default)]
    pub host_aliases: Vec<HostAlias>,
    /// The pod's resolver (podman's `--dns`, `--dns-search`, `--dns-option`).
    pub dns_config: Option<PodDnsConfig>,
    pub automount_service_account_token: Ignored,
    pub enable_service_links: Ignored,
    pub dns_policy: Ignored,
    pub scheduler_name: Ignored,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostAlias {
    pub ip: String,
    #[serde(default)]
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDnsConfig {
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub searches: Vec<String>,
    #[serde(default)]
    pub options: Vec<PodDnsOption>,
}

/// `name`, or `name:value` in resolv.conf.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDnsOption {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PodRestartPolicy {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    /// Replaces the image's Entrypoint (and drops its Cmd).
    pub command: Option<Vec<String>>,
    /// Replaces the image's Cmd.
    pub args: Option<Vec<String>>,
    pub working_dir: Option<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    pub resources: Option<ResourceRequirements>,
    pub security_context: Option<SecurityContext>,
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub tty: bool,
    pub image_pull_policy: Ignored,
    pub termination_message_path: Ignored,
    pub termination_message_policy: Ignored,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<EnvVarSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    pub config_map_key_ref: Option<KeyRef>,
    pub secret_key_ref: Option<KeyRef>,
    pub field_ref: Option<FieldRef>,
    pub resource_field_ref: Option<ResourceFieldRef>,
}

/// `fieldRef`: a field of the pod (`metadata.name`, `metadata.labels['KEY']`, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
    pub api_version: Ignored,
}

/// `resourceFieldRef`: the container's limit or request (`limits.memory`), over a divisor.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFieldRef {
    pub resource: String,
    pub container_name: Option<String>,
    pub divisor: Option<Quantity>,
}

/// `configMapKeyRef` / `secretKeyRef`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default)]
    pub prefix: String,
    pub config_map_ref: Option<NameRef>,
    pub secret_ref: Option<NameRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameRef {
    pub name: String,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub container_port: u16,
    pub host_port: Option<u16>,
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
    pub protocol: Option<PortProtocol>,
    pub name: Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PortProtocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
    /// Scheduling hints: nothing to schedule here, but `resourceFieldRef` may read them.
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub read_only_root_filesystem: Option<bool>,
    pub privileged: Option<bool>,
    pub capabilities: Option<Capabilities>,
    pub allow_privilege_escalation: Ignored,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
    pub sub_path: Option<String>,
}

/// One of `spec.volumes`: exactly one source is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub host_path: Option<HostPathSource>,
    pub empty_dir: Option<EmptyDirSource>,
    pub persistent_volume_claim: Option<ClaimSource>,
    pub config_map: Option<ConfigMapVolumeSource>,
    pub secret: Option<SecretVolumeSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPathSource {
    pub path: String,
    #[serde(rename = "type")]
    pub path_type: Option<HostPathType>,
}

/// What a hostPath must be (`""`: anything, not checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum HostPathType {
    #[serde(rename = "")]
    Unset,
    Directory,
    DirectoryOrCreate,
    File,
    FileOrCreate,
    Socket,
    CharDevice,
    BlockDevice,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirSource {
    /// `Memory`: a tmpfs.
    pub medium: Option<String>,
    pub size_limit: Option<Quantity>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSource {
    pub claim_name: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    pub name: String,
    #[serde(default)]
    pub items: Vec<KeyToPath>,
    pub default_mode: Option<FileMode>,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    pub secret_name: String,
    #[serde(default)]
    pub items: Vec<KeyToPath>,
    pub default_mode: Option<FileMode>,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
    pub mode: Option<FileMode>,
}

/// A resource quantity as written: `500m`, `1`, `0.5`, `64Mi`, `1G` (a string or a number).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a quantity such as 500m, 1, 64Mi or 1G")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// A file mode: a number (`420`, as JSON writes 0644) or a YAML 1.1 octal (`0644`, as
/// Kubernetes reads it; YAML 1.2 readers see it as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModeVisitor;
        impl Visitor<'_> for ModeVisitor {
            type Value = FileMode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a file mode between 0 and 0777 (such as 0644 or 420)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileMode, E> {
                match u32::try_from(v) {
                    Ok(mode) if mode <= 0o777 => Ok(FileMode(mode)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileMode, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileMode, E> {
                let octal = v.strip_prefix("0o").or_else(|| v.strip_prefix('0'));
                match octal.map(|digits| u32::from_str_radix(digits, 8)) {
                    Some(Ok(mode)) if mode <= 0o777 => Ok(FileMode(mode)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(ModeVisitor)
    }
}
