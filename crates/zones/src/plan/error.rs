//! Why config.json cannot become a zone.

use std::fmt;
use std::path::PathBuf;

use crate::zonecfg::UnwritableValue;

/// Why config.json cannot become a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Unwritable(#[from] UnwritableValue),
    #[error("config.json has no root: a zone needs its rootfs at {expected}")]
    NoRoot { expected: PathBuf },
    /// The rootfs must be the zone's root: zones have no pivot_root, the zone's root is always
    /// `<zonepath>/root`.
    #[error("root.path {root} is not the zone's root {expected}: the container dataset must be the zonepath with the rootfs under root/")]
    RootNotInZonepath { root: PathBuf, expected: PathBuf },
    /// runtime-spec: if `root.readonly` is true the root filesystem MUST be read-only. zonecfg
    /// cannot say so (it would take `readonly=on` on the dataset), so it is refused.
    #[error("root.readonly is true, and a zone's root cannot be made read-only by zonecfg")]
    ReadonlyRoot,
    #[error("config.json has a {section} section: that platform cannot run as a zone")]
    OtherPlatform { section: &'static str },
    /// runtime-spec: the runtime MUST map ids as given. Zones have no user namespaces.
    #[error("{field} maps user or group ids, and zones have no user namespaces to honour it")]
    IdMappings { field: String },
    /// runtime-spec: with a namespace path the runtime MUST join that namespace.
    #[error("linux.namespaces: the {namespace} namespace at {path} cannot be joined: zones have no namespaces to share")]
    JoinNamespace { namespace: String, path: PathBuf },
    #[error("brand {brand:?}: {reason}")]
    Brand { brand: String, reason: &'static str },
    #[error("annotation {key} = {value:?}: {reason}")]
    Annotation {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("attr {name:?}: {reason}")]
    AttrName { name: String, reason: &'static str },
    #[error("mounts[{index}] ({destination}): {reason}")]
    Mount {
        index: usize,
        destination: PathBuf,
        reason: String,
    },
    #[error("{field} = {value:?}: {reason}")]
    Value {
        field: String,
        value: String,
        reason: String,
    },
}

pub(super) fn value_error(
    field: &str,
    value: impl fmt::Display,
    reason: impl Into<String>,
) -> PlanError {
    PlanError::Value {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}
