//! Checks run on arbitrary input by the fuzz target `smartos` (`fuzz/`) and, over the committed
//! corpus and regression inputs, by this crate's tests: SmartOS manifests as an import reads
//! them. The check panics when a property the rest of Aurora relies on does not hold; input
//! that is merely refused is not a failure. Not a stable API.

use aurora_images::fuzzing::empty_rootfs;
use aurora_spec::{sha256_digest, ImageRef};

use crate::import::image_config;
use crate::manifest::{default_image_name, parse_manifest};

/// An imgadm manifest as `import-smartos` reads it: what it accepts must name an image the
/// store can hold, and the image config made from it must be one that unpack accepts (and,
/// for a linux image, turns into a runtime config).
pub fn check_smartos_manifest(data: &[u8]) {
    let Ok(manifest) = parse_manifest(data) else {
        return;
    };
    assert_eq!(manifest.uuid, manifest.uuid.to_ascii_lowercase());
    if let Ok(name) = default_image_name(&manifest.name, &manifest.version) {
        let reference = ImageRef::parse(&name)
            .unwrap_or_else(|e| panic!("default name {name:?} does not parse: {e}"));
        assert_eq!(
            reference.store_name(),
            name,
            "the default name is a store name"
        );
    }
    let diff_id = sha256_digest(b"");
    let config = image_config(&manifest, &diff_id);
    let bytes = serde_json::to_vec(&config).expect("a JSON value serialises");
    let parsed = aurora_bundle::parse_image_config("fuzz", &bytes)
        .unwrap_or_else(|e| panic!("the image config made for {manifest:?} is refused: {e}"));
    // Only linux images become Linux runtime bundles; illumos ones go to zones.
    if manifest.os == "linux" {
        let rootfs = empty_rootfs();
        // The config names no command (a SmartOS image has none): unpack is given one.
        let overrides = aurora_bundle::Overrides {
            args: Some(vec!["/bin/sh".to_string()]),
            ..Default::default()
        };
        aurora_bundle::convert("fuzz", &parsed, &rootfs, &overrides).unwrap_or_else(|e| {
            panic!("the image config made for {manifest:?} does not convert: {e}")
        });
    }
}
