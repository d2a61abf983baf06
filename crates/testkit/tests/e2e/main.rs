//! End-to-end checks of the testkit against the real tools: docker-registry,
//! skopeo and the in-process token service.

mod images;
mod proxy;
mod registry;

use std::path::Path;

use aurora_testkit::{write_image, BuiltImage, LayerBuilder};

/// A small single-layer image for the host platform, tagged `tag`.
pub fn small_image(layout: &Path, tag: &str) -> BuiltImage {
    let layer = LayerBuilder::new()
        .file("hello.txt", format!("hello from {tag}\n"), 0o644)
        .build();
    write_image(layout, tag, vec![layer], &aurora_testkit::host_platform())
}

/// Parses JSON bytes, failing the test with the text if they aren't JSON.
pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(bytes)))
}
