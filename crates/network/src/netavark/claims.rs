//! Host-wide claims on the addresses of a bridge. Each store allocates from its own tables
//! (see [`Ipam`](crate::Ipam)), as podman does, but a bridge and its subnet are the host's:
//! two stores on one host (two `--root`s using the default network's bridge, say) would
//! otherwise give one address to two containers, and each would answer for the other.
//!
//! So every address a container gets on a bridge is also claimed here, in
//! `/run/aurora/bridge-addresses/BRIDGE.json` (address → container and its network
//! namespace), read and replaced under `BRIDGE.lock`; allocation avoids what other
//! containers claim. A claim whose namespace file is gone is stale (its store went without a
//! teardown, or the host rebooted) and is dropped; a namespace still mounted still has the
//! address on its veth, so its claim holds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::files::{read_json, write_json_atomic, FileLock};

/// Where the claims live: on tmpfs, as the namespaces and veths they describe.
const CLAIMS_DIR: &str = "/run/aurora/bridge-addresses";

/// The claims tables of the host's bridges.
#[derive(Debug, Clone)]
pub(crate) struct BridgeClaims {
    dir: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Table {
    #[serde(default)]
    claims: BTreeMap<IpAddr, Claim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    container: String,
    netns: PathBuf,
}

impl Default for BridgeClaims {
    fn default() -> Self {
        BridgeClaims::at(PathBuf::from(CLAIMS_DIR))
    }
}

impl BridgeClaims {
    /// Claims kept in `dir` (tests use their own).
    pub(crate) fn at(dir: PathBuf) -> BridgeClaims {
        BridgeClaims { dir }
    }

    /// Runs `allocate` with the addresses other containers claim on `bridge`, then claims
    /// what it returns for `container` (whose namespace is `netns`); all under the bridge's
    /// lock, so no two stores can pick one address in between.
    pub(crate) fn claim(
        &self,
        bridge: &str,
        container: &str,
        netns: &Path,
        allocate: impl FnOnce(&BTreeSet<IpAddr>) -> Result<Vec<IpAddr>>,
    ) -> Result<Vec<IpAddr>> {
        self.with_table(bridge, |table| {
            let elsewhere = table
                .claims
                .iter()
                .filter(|(_, claim)| claim.container != container)
                .map(|(address, _)| *address)
                .collect();
            let addresses = allocate(&elsewhere)?;
            table.claims.retain(|_, claim| claim.container != container);
            for address in &addresses {
                let claim = Claim {
                    container: container.to_string(),
                    netns: netns.to_path_buf(),
                };
                table.claims.insert(*address, claim);
            }
            Ok(addresses)
        })
    }

    /// Gives up every claim of `container` on `bridge` (none is fine).
    pub(crate) fn release(&self, bridge: &str, container: &str) -> Result<()> {
        self.with_table(bridge, |table| {
            table.claims.retain(|_, claim| claim.container != container);
            Ok(())
        })
    }

    /// Runs `change` on the bridge's table, stale claims dropped, under its lock; writes the
    /// table back.
    fn with_table<T>(
        &self,
        bridge: &str,
        change: impl FnOnce(&mut Table) -> Result<T>,
    ) -> Result<T> {
        let _lock = FileLock::acquire(&self.dir.join(format!("{bridge}.lock")))?;
        let path = self.dir.join(format!("{bridge}.json"));
        let mut table: Table = read_json(&path, "bridge address claims")?.unwrap_or_default();
        table.claims.retain(|_, claim| claim.netns.exists());
        let value = change(&mut table)?;
        write_json_atomic(&path, &table)?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 99, 0, last))
    }

    /// The first of .2–.9 not in `elsewhere`, as an allocator would pick.
    fn first_free(elsewhere: &BTreeSet<IpAddr>) -> Result<Vec<IpAddr>> {
        Ok((2..10)
            .map(ip)
            .filter(|a| !elsewhere.contains(a))
            .take(1)
            .collect())
    }

    #[test]
    fn two_stores_on_one_bridge_get_distinct_addresses_until_one_releases() {
        let dir = tempfile::tempdir().unwrap();
        let claims = BridgeClaims::at(dir.path().join("claims"));
        let netns = dir.path().join("ns");
        std::fs::write(&netns, b"").unwrap();

        let a = claims.claim("br0", "a", &netns, first_free).unwrap();
        let b = claims.claim("br0", "b", &netns, first_free).unwrap();
        let other_bridge = claims.claim("br1", "c", &netns, first_free).unwrap();

        assert_eq!(
            (a, b.clone(), other_bridge),
            (vec![ip(2)], vec![ip(3)], vec![ip(2)])
        );
        // Claiming again gives the container's own addresses no competition.
        let again = claims.claim("br0", "b", &netns, first_free).unwrap();
        assert_eq!(again, b);
        claims.release("br0", "a").unwrap();
        assert_eq!(
            claims.claim("br0", "d", &netns, first_free).unwrap(),
            vec![ip(2)]
        );
    }

    #[test]
    fn a_claim_whose_namespace_is_gone_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let claims = BridgeClaims::at(dir.path().join("claims"));
        let live = dir.path().join("live");
        let gone = dir.path().join("gone");
        std::fs::write(&live, b"").unwrap();
        std::fs::write(&gone, b"").unwrap();
        claims.claim("br0", "live", &live, first_free).unwrap();
        claims.claim("br0", "gone", &gone, first_free).unwrap();

        std::fs::remove_file(&gone).unwrap();

        assert_eq!(
            claims.claim("br0", "new", &live, first_free).unwrap(),
            vec![ip(3)]
        );
    }
}
