//! Errors and warnings, each naming the document and the field they are about.

use std::fmt;

/// Where in a file something is: the document (1-based, as `---` separates them), its kind
/// and name when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub document: usize,
    pub kind: Option<String>,
    pub name: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => write!(f, " ({kind} {name})"),
            (Some(kind), None) => write!(f, " ({kind})"),
            _ => Ok(()),
        }
    }
}

/// Something read and not used: an unknown field (a typo, or a feature not supported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub location: Location,
    /// The field's path in the document (`spec.containers[0].imagePullPolicyy`).
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Not YAML, or not a mapping at the top.
    #[error("{location}: not valid YAML: {message}")]
    Syntax { location: Location, message: String },
    /// A field of the wrong type or value, a required field missing, a reference to
    /// nothing; `path` is the field's (`spec.containers[0].ports[1].containerPort`).
    #[error("{location}: {path}: {message}")]
    Invalid {
        location: Location,
        path: String,
        message: String,
    },
    #[error(
        "{location}: kind {kind:?} is not supported (Pod, Deployment, ConfigMap and Secret are)"
    )]
    UnsupportedKind { location: Location, kind: String },
    #[error("{location}: no kind")]
    NoKind { location: Location },
    /// Two objects of one kind with one name.
    #[error("{location}: a {kind} named {name:?} is already defined in document {first}")]
    Duplicate {
        location: Location,
        kind: String,
        name: String,
        first: usize,
    },
    #[error("the file has no Pod or Deployment")]
    NoWorkload,
}

impl KubeError {
    pub(crate) fn invalid(
        location: &Location,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> KubeError {
        KubeError::Invalid {
            location: location.clone(),
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = KubeError> = std::result::Result<T, E>;
