//! User-namespace id maps: which host ids a container's ids are. One type for the layer
//! applier (which chowns through it), the bundle (which writes it as the runtime spec's
//! `uidMappings`/`gidMappings`) and the id a mapped layer chain gets.

use std::fmt;

/// A user-namespace style id map: container ids to host ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// `len` ids from `container` on map to `host` on, as in `/proc/PID/uid_map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub len: u32,
}

impl IdMap {
    /// The host uid for a container uid, if the map covers it.
    pub fn uid(&self, id: u32) -> Option<u32> {
        map_id(&self.uids, id)
    }

    /// The host gid for a container gid, if the map covers it.
    pub fn gid(&self, id: u32) -> Option<u32> {
        map_id(&self.gids, id)
    }
}

fn map_id(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.container && u64::from(id - r.container) < u64::from(r.len))
        .and_then(|r| r.host.checked_add(id - r.container))
}

impl fmt::Display for IdMap {
    /// `u:CONTAINER:HOST:LEN,…;g:…`: how the map is spelled where it must be stable (the
    /// derivation of a mapped layer chain's ids, the bundle note).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges = |prefix: &str, ranges: &[IdRange]| {
            ranges
                .iter()
                .map(|r| format!("{prefix}:{}:{}:{}", r.container, r.host, r.len))
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(f, "{};{}", ranges("u", &self.uids), ranges("g", &self.gids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_maps_cover_their_ranges_only() {
        let map = IdMap {
            uids: vec![IdRange {
                container: 0,
                host: 100000,
                len: 65536,
            }],
            gids: vec![
                IdRange {
                    container: 0,
                    host: 1000,
                    len: 1,
                },
                IdRange {
                    container: 1,
                    host: 200001,
                    len: 10,
                },
            ],
        };
        assert_eq!(map.uid(0), Some(100000));
        assert_eq!(map.uid(65535), Some(165535));
        assert_eq!(map.uid(65536), None);
        assert_eq!(map.gid(0), Some(1000));
        assert_eq!(map.gid(5), Some(200005));
        assert_eq!(map.gid(11), None);
    }

    #[test]
    fn the_text_form_is_stable() {
        let range = |container, host, len| IdRange {
            container,
            host,
            len,
        };
        let map = IdMap {
            uids: vec![range(0, 100000, 65536)],
            gids: vec![range(0, 1000, 1), range(1, 200001, 10)],
        };
        assert_eq!(map.to_string(), "u:0:100000:65536;g:0:1000:1,g:1:200001:10");
        assert_eq!(IdMap::default().to_string(), ";");
    }
}
