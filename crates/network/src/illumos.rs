//! Container networks on illumos: the design (nothing here runs on illumos yet).
//!
//! There is no network namespace and no veth on illumos; a zone with `ip-type=exclusive`
//! owns whole data links instead. A podadm network becomes an **etherstub** (a virtual
//! switch, `dladm create-etherstub`) named by the network's `network_interface`; the
//! gateway address sits on a VNIC of the global zone over that etherstub, and each container
//! gets **its own VNIC over the etherstub** through zonecfg's `net` resource:
//!
//! ```text
//! add net
//!     set physical=<the container's VNIC>     # created by zoneadmd at boot (OmniOS, SmartOS)
//!     set global-nic=<the etherstub>          #   over this link
//!     set allowed-address=10.99.3.5/24        # the address our IPAM chose; the zone cannot
//!     set defrouter=10.99.3.1                 #   use another (IP spoofing protection)
//!     set mac-addr=…                          # optional
//! end
//! ```
//!
//! The addresses come from the same [`Ipam`](crate::Ipam) and network definitions as on
//! Linux, so `network create/ls/inspect/rm` and `--ip` behave the same. Published ports are
//! `ipnat` `rdr` rules on the global zone's external link (netavark's DNAT rules' twin),
//! names between containers are the same aardvark-style resolver bound to the gateway VNIC,
//! and the hosts/resolv.conf files are [`crate::etc_files`]' unchanged.
//!
//! podadm does not write zonecfg itself: runz does, from the runtime spec. So the engine
//! puts the choice into the spec as a `solaris.anet` entry (the runtime spec's own words for
//! "a VNIC for this container"), and `aurora-zones` turns every `anet` into the `net`
//! resource above (`crates/zones/src/plan/net.rs`). [`solaris_anet`] is the pure step from an
//! address choice to that entry; its golden test (`tests/illumos_vnic.rs`) runs it through
//! `aurora_zones::plan` and compares the zonecfg text.

use oci_spec::runtime::SolarisAnet;

use crate::backend::NetworkStatus;

/// What a container's VNIC on one network is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VnicChoice {
    /// The VNIC's name: letters, digits and `_`, ending in a digit, at most 31 characters.
    pub link_name: String,
    /// The etherstub (or physical link) the VNIC is made over.
    pub lower_link: String,
    /// With prefix: `10.99.3.5/24`.
    pub address: String,
    pub gateway: Option<String>,
    pub mac: Option<String>,
}

impl VnicChoice {
    /// The VNIC for container `container_id`'s `index`-th network, over `lower_link`, with
    /// the address and gateway the allocation gave (`status`). Its name, `pa` + 12 hex digits
    /// of the ID + `n` + index, is unique per container and network, and ends in a digit as
    /// dladm requires.
    pub fn for_container(
        container_id: &str,
        index: usize,
        lower_link: &str,
        status: &NetworkStatus,
    ) -> VnicChoice {
        let short: String = container_id.chars().take(12).collect();
        VnicChoice {
            link_name: format!("pa{short}n{index}"),
            lower_link: lower_link.to_string(),
            address: status.addresses.first().cloned().unwrap_or_default(),
            gateway: status.gateway.clone(),
            mac: Some(status.mac.clone()).filter(|m| !m.is_empty()),
        }
    }
}

/// The runtime spec's `solaris.anet` entry for a VNIC: `aurora-zones` makes it zonecfg's
/// `net` with `physical`, `global-nic`, `allowed-address`, `defrouter` and `mac-addr`.
pub fn solaris_anet(choice: &VnicChoice) -> SolarisAnet {
    let mut anet = SolarisAnet::default();
    anet.set_linkname(Some(choice.link_name.clone()));
    anet.set_lower_link(Some(choice.lower_link.clone()));
    anet.set_allowed_address(Some(choice.address.clone()).filter(|a| !a.is_empty()));
    anet.set_defrouter(choice.gateway.clone());
    anet.set_mac_address(choice.mac.clone());
    anet
}
