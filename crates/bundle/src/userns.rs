//! A user namespace for a bundle whose rootfs was unpacked through an id map: the container
//! sees the image's owners, the host the mapped ones.

use oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Spec,
};

use aurora_spec::idmap::IdRange;

use crate::BundleError;

/// Adds a user namespace with these uid and gid mappings to `spec` (replacing mappings it
/// had).
pub fn add_user_namespace(
    spec: &mut Spec,
    uids: &[IdRange],
    gids: &[IdRange],
) -> Result<(), BundleError> {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    if !namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User)
    {
        let user = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()
            .map_err(|e| BundleError::Invalid(format!("user namespace: {e}")))?;
        namespaces.push(user);
    }
    linux.set_namespaces(Some(namespaces));
    linux.set_uid_mappings(Some(mappings(uids)?));
    linux.set_gid_mappings(Some(mappings(gids)?));
    spec.set_linux(Some(linux));
    Ok(())
}

fn mappings(ranges: &[IdRange]) -> Result<Vec<LinuxIdMapping>, BundleError> {
    ranges
        .iter()
        .map(|r| {
            LinuxIdMappingBuilder::default()
                .container_id(r.container)
                .host_id(r.host)
                .size(r.len)
                .build()
                .map_err(|e| BundleError::Invalid(format!("id mapping: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_and_mappings_are_added_once() {
        let mut spec = crate::default_spec();
        let map = [IdRange {
            container: 0,
            host: 100_000,
            len: 65_536,
        }];
        add_user_namespace(&mut spec, &map, &map).unwrap();
        add_user_namespace(&mut spec, &map, &map).unwrap();
        let value = serde_json::to_value(&spec).unwrap();
        let users = value["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] == "user")
            .count();
        assert_eq!(users, 1);
        let expected = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        assert_eq!(value["linux"]["uidMappings"], expected);
        assert_eq!(value["linux"]["gidMappings"], expected);
    }
}
