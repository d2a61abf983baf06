//! Container networks for podadm (and, later, pods and the CRI server).

mod port;

pub use port::{PortMapping, Protocol};
