//! Kubernetes YAML for podadm.
//!
//! - [`parse`]: a file of documents (`---`) → a [`Manifest`]: Pods, Deployments (each
//!   replica a pod named `NAME-pod-N`, as podman 4 names them), ConfigMaps and Secrets.
//!   Unknown fields are [`Warning`]s with their paths (`spec.containers[0].imagePullPolicyy`);
//!   a field that cannot be read, a missing required one or a reference to nothing is an
//!   error with its path; kinds other than these four are refused by name.
//! - [`plan`] / [`play`]: a manifest → a [`Plan`]: per pod its `PodConfig`, init containers
//!   and containers as `ContainerConfig`s named `POD-CONTAINER`, the named volumes to make,
//!   the host paths to check and the configMap/secret files to render (bind-mounted
//!   read-only). Pure: the caller does the I/O.
//! - [`generate`]: a pod's records → a Pod document, as podman's `kube generate` shapes it.

mod env;
mod error;
pub mod generate;
pub mod model;
mod parse;
mod plan;
pub mod quantity;
mod translate;
mod volumes;

pub use error::{KubeError, Location, Result, Warning};
pub use generate::generate;
pub use model::HostPathType;
pub use parse::{parse, DataSource, Manifest, PodSource};
pub use plan::{ContainerPlan, HostPathCheck, NamedVolume, Plan, PodPlan, RenderedFile};
pub use translate::{plan, play};
pub use volumes::DEFAULT_FILE_MODE;
