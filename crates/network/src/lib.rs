//! Container networks for podadm (and, later, pods and the CRI server).
//!
//! - [`Networks`]: the definitions (`ROOT/podadm/networks/NAME.json`, netavark's JSON) and
//!   the built-in default network `podadm`; [`Ipam`]: addresses, allocated under a lock.
//! - [`NetworkBackend`]: attach a namespace to networks and publish ports; [`Netavark`] on
//!   Linux for podadm's networks, [`Cni`] for CNI networks (the CRI server's pods).
//!   [`illumos`]: the VNIC design for zones.
//! - [`Netns`]: a network namespace bound at `RUNROOT/netns/ID`.
//! - [`PortMapping::parse`]: `-p` texts; [`etc_files`]: hosts, resolv.conf and hostname.

mod backend;
pub mod cni;
mod definition;
mod error;
pub mod etc_files;
mod files;
pub mod illumos;
mod ipam;
mod netavark;
mod netns;
mod networks;
mod port;
mod subnet;

pub use backend::{Attachment, NetworkBackend, NetworkStatus, PerNetwork, SetupResult};
pub use cni::{Cni, CniDns};
pub use definition::{Network, Subnet, DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET};
pub use error::{NetworkError, Result};
pub use ipam::Ipam;
pub use netavark::Netavark;
pub use netns::Netns;
pub use networks::{NetworkCreate, Networks};
pub use port::{PortMapping, Protocol};
