//! The one walk of the manifest graph (index → manifests → config, layers, subject), for every
//! flow that follows it: garbage collection here, and pull, push, copy and listing above.
//!
//! The walk reads only documents (indexes and manifests), through the manifest cap and with
//! their digests verified, from any [`ReadLayout`]; leaves (configs, layers) are listed, never
//! opened, so a layout that lacks a layer can still be walked. A blob reached twice is visited
//! once, which also ends a cycle a forged layout could describe, and documents nested deeper
//! than [`MAX_DEPTH`] are refused, so a hostile chain of indexes cannot run the walk long.

use std::collections::HashSet;

use aurora_spec::document::{Document, Link};
use aurora_spec::media::{self, Kind};
use aurora_spec::Digest;

use crate::error::{Result, StoreError};
use crate::layout::ReadLayout;

/// How deep documents may nest: an index of indexes of manifests is depth 2; real images use
/// at most that, so eight leaves room for any artifact layout and none for a hostile chain.
pub const MAX_DEPTH: usize = 8;

/// One blob the walk reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    /// The link that named it (from index.json or a document).
    pub link: Link,
    /// 0 for a root, 1 for what a root names, and so on.
    pub depth: usize,
    /// The document that named it; `None` for a root.
    pub parent: Option<Digest>,
    /// For an index or manifest that was followed: its bytes (verified) and what it links to.
    pub document: Option<(Vec<u8>, Document)>,
}

/// Walks the graph below `roots` in `layout`, depth first and in document order, and returns
/// every blob reached once. `follow(link, depth)` says whether an index or manifest is opened
/// and its children walked (pull and copy pick one platform from an index this way); a
/// document not followed is still listed.
///
/// A document that is missing, too large, fails its digest or is not a manifest fails the
/// walk with [`StoreError::BadDocument`] naming it: what it references cannot be known.
pub fn walk<L: ReadLayout + ?Sized>(
    layout: &L,
    roots: impl IntoIterator<Item = Link>,
    mut follow: impl FnMut(&Link, usize) -> bool,
) -> Result<Vec<Walked>> {
    let mut pending: Vec<(Link, usize, Option<Digest>)> =
        roots.into_iter().map(|link| (link, 0, None)).collect();
    pending.reverse();
    let mut seen = HashSet::new();
    let mut walked = Vec::new();
    while let Some((link, depth, parent)) = pending.pop() {
        if !seen.insert(link.digest.clone()) {
            continue;
        }
        let is_document = matches!(media::kind(&link.media_type), Kind::Index | Kind::Manifest);
        let document = if is_document && follow(&link, depth) {
            let (bytes, document) = read_document(layout, &link, depth)?;
            let children: Vec<_> = document.links().cloned().collect();
            pending.extend(
                children
                    .into_iter()
                    .rev()
                    .map(|child| (child, depth + 1, Some(link.digest.clone()))),
            );
            Some((bytes, document))
        } else {
            None
        };
        walked.push(Walked {
            link,
            depth,
            parent,
            document,
        });
    }
    Ok(walked)
}

fn read_document<L: ReadLayout + ?Sized>(
    layout: &L,
    link: &Link,
    depth: usize,
) -> Result<(Vec<u8>, Document)> {
    let bad = |reason: String| StoreError::BadDocument {
        digest: link.digest.to_string(),
        reason,
    };
    if depth > MAX_DEPTH {
        return Err(bad(format!(
            "it is nested {depth} documents deep, more than the {MAX_DEPTH} allowed"
        )));
    }
    // A hostile size is refused before anything is read: the descriptor is what we trust.
    if link.size > media::MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "its descriptor says {} bytes, more than the {} a manifest may be",
            link.size,
            media::MAX_MANIFEST_BYTES
        )));
    }
    let bytes = layout
        .read_blob(&link.digest, media::MAX_MANIFEST_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 != link.size {
        return Err(bad(format!(
            "it is {} bytes but its descriptor says {}",
            bytes.len(),
            link.size
        )));
    }
    let document = Document::parse(&bytes).map_err(|e| bad(format!("not a manifest: {e}")))?;
    Ok((bytes, document))
}

/// The digest string of a walked blob, as gc and listings key them.
pub(crate) fn digests(walked: &[Walked]) -> HashSet<String> {
    walked.iter().map(|w| w.link.digest.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs::File;
    use std::path::Path;

    use aurora_spec::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
    use aurora_spec::sha256_digest;
    use oci_spec::image::ImageIndex;
    use serde_json::json;

    use super::*;

    /// A layout held in memory that returns whatever bytes it was given for a digest, without
    /// verifying them: the only way to forge a cycle, which content addressing otherwise rules out.
    #[derive(Default)]
    struct Forged {
        blobs: HashMap<String, Vec<u8>>,
    }

    impl Forged {
        /// Stores `value` under its own digest and returns the link to it.
        fn put(&mut self, media_type: &str, value: serde_json::Value) -> Link {
            let bytes = serde_json::to_vec(&value).unwrap();
            let digest = sha256_digest(&bytes);
            self.blobs.insert(digest.to_string(), bytes.clone());
            link(media_type, &digest, bytes.len() as u64)
        }
    }

    impl ReadLayout for Forged {
        fn root(&self) -> &Path {
            Path::new("forged")
        }
        fn read_index(&self) -> Result<ImageIndex> {
            Err(StoreError::BlobNotFound("index.json".into()))
        }
        fn open_blob(&self, _: &Digest) -> Result<Option<File>> {
            Ok(None)
        }
        fn read_blob(&self, digest: &Digest, _: u64) -> Result<Vec<u8>> {
            self.blobs
                .get(&digest.to_string())
                .cloned()
                .ok_or_else(|| StoreError::BlobNotFound(digest.to_string()))
        }
    }

    fn link(media_type: &str, digest: &Digest, size: u64) -> Link {
        Link {
            media_type: media_type.to_string(),
            digest: digest.clone(),
            size,
            platform: None,
        }
    }

    fn json_link(link: &Link) -> serde_json::Value {
        json!({"mediaType": link.media_type, "digest": link.digest.to_string(), "size": link.size})
    }

    fn leaf(media_type: &str, seed: &str) -> Link {
        link(
            media_type,
            &sha256_digest(seed.as_bytes()),
            seed.len() as u64,
        )
    }

    fn manifest(layout: &mut Forged, config: &Link, layers: &[&Link]) -> Link {
        let layers: Vec<_> = layers.iter().map(|l| json_link(l)).collect();
        layout.put(
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": json_link(config), "layers": layers}),
        )
    }

    fn index(layout: &mut Forged, children: &[&Link]) -> Link {
        let manifests: Vec<_> = children.iter().map(|l| json_link(l)).collect();
        layout.put(
            OCI_INDEX,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
    }

    fn bad_document(result: Result<Vec<Walked>>) -> (String, String) {
        match result {
            Err(StoreError::BadDocument { digest, reason }) => (digest, reason),
            other => panic!("expected BadDocument, got {other:?}"),
        }
    }

    #[test]
    fn an_index_of_indexes_is_walked_depth_first_in_document_order_and_shared_blobs_once() {
        let mut layout = Forged::default();
        let config = leaf(OCI_CONFIG, "config");
        let (base, top) = (leaf(OCI_LAYER_GZIP, "base"), leaf(OCI_LAYER_GZIP, "top"));
        let amd64 = manifest(&mut layout, &config, &[&base, &top]);
        let arm64 = manifest(&mut layout, &leaf(OCI_CONFIG, "arm config"), &[&base]);
        let inner = index(&mut layout, &[&arm64]);
        let outer = index(&mut layout, &[&amd64, &inner]);

        let walked = walk(&layout, [outer.clone()], |_, _| true).unwrap();
        let order: Vec<(&Digest, usize)> =
            walked.iter().map(|w| (&w.link.digest, w.depth)).collect();
        let arm_config = leaf(OCI_CONFIG, "arm config");
        assert_eq!(
            order,
            [
                (&outer.digest, 0),
                (&amd64.digest, 1),
                (&config.digest, 2),
                (&base.digest, 2),
                (&top.digest, 2),
                (&inner.digest, 1),
                (&arm64.digest, 2),
                (&arm_config.digest, 3),
            ],
            "the shared base layer is listed once"
        );
        assert_eq!(walked[0].parent, None);
        assert_eq!(walked[6].parent.as_ref(), Some(&inner.digest));
        let (bytes, document) = walked[1].document.as_ref().expect("a followed manifest");
        assert_eq!(bytes.len() as u64, amd64.size);
        assert_eq!(document.layers.len(), 2);
        assert!(
            walked[2].document.is_none(),
            "leaves are listed, never opened"
        );
    }

    #[test]
    fn documents_not_followed_are_listed_but_not_read() {
        let mut layout = Forged::default();
        let wanted = manifest(&mut layout, &leaf(OCI_CONFIG, "c"), &[]);
        // Another platform's manifest that this layout does not have, as after a
        // one-platform pull: choosing not to follow it must not fail the walk.
        let other = leaf(OCI_MANIFEST, "not pulled");
        let top = index(&mut layout, &[&wanted, &other]);
        let walked = walk(&layout, [top], |link, depth| {
            depth == 0 || link.digest == wanted.digest
        })
        .unwrap();
        assert_eq!(walked.len(), 4);
        assert!(walked
            .iter()
            .any(|w| w.link.digest == other.digest && w.document.is_none()));
    }

    #[test]
    fn a_missing_or_malformed_document_fails_the_walk_naming_it() {
        let mut layout = Forged::default();
        let missing = leaf(OCI_MANIFEST, "never pulled");
        let top = index(&mut layout, &[&missing]);
        let (digest, reason) = bad_document(walk(&layout, [top], |_, _| true));
        assert_eq!(digest, missing.digest.to_string());
        assert!(reason.contains("not in the store"), "{reason}");

        let not_a_manifest = layout.put(OCI_MANIFEST, json!({"layers": "none"}));
        let (digest, reason) = bad_document(walk(&layout, [not_a_manifest.clone()], |_, _| true));
        assert_eq!(digest, not_a_manifest.digest.to_string());
        assert!(reason.contains("not a manifest"), "{reason}");
        // A missing leaf is not the walk's business: only documents are read.
        let with_missing_layer = manifest(
            &mut layout,
            &leaf(OCI_CONFIG, "c"),
            &[&leaf(OCI_LAYER_GZIP, "gone")],
        );
        assert_eq!(
            walk(&layout, [with_missing_layer], |_, _| true)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn hostile_sizes_are_refused_before_reading_and_lying_sizes_after() {
        let mut layout = Forged::default();
        let real = manifest(&mut layout, &leaf(OCI_CONFIG, "c"), &[]);
        let huge = Link {
            size: u64::MAX,
            ..real.clone()
        };
        let (_, reason) = bad_document(walk(&layout, [huge], |_, _| true));
        assert!(
            reason.contains(&media::MAX_MANIFEST_BYTES.to_string()),
            "{reason}"
        );
        let lying = Link {
            size: real.size - 1,
            ..real
        };
        let (_, reason) = bad_document(walk(&layout, [lying], |_, _| true));
        assert!(reason.contains("descriptor says"), "{reason}");
    }

    #[test]
    fn a_forged_cycle_ends_and_a_deep_chain_of_indexes_is_refused() {
        let mut layout = Forged::default();
        // An index that names itself: its bytes are planted under a digest they do not have.
        let claimed = sha256_digest(b"a cycle");
        let mut myself = link(OCI_INDEX, &claimed, 1);
        let mut bytes = Vec::new();
        // The document states its own size: settle on the size that describes itself.
        while bytes.len() as u64 != myself.size {
            myself.size = bytes.len() as u64;
            bytes = serde_json::to_vec(&json!({"manifests": [json_link(&myself)]})).unwrap();
        }
        layout.blobs.insert(claimed.to_string(), bytes);
        let walked = walk(&layout, [myself], |_, _| true).unwrap();
        assert_eq!(walked.len(), 1, "the cycle is visited once");

        let mut chain = manifest(&mut layout, &leaf(OCI_CONFIG, "c"), &[]);
        for _ in 0..MAX_DEPTH {
            chain = index(&mut layout, &[&chain]);
        }
        assert!(
            walk(&layout, [chain.clone()], |_, _| true).is_ok(),
            "{MAX_DEPTH} levels are allowed"
        );
        let deeper = index(&mut layout, &[&chain]);
        let (_, reason) = bad_document(walk(&layout, [deeper], |_, _| true));
        assert!(reason.contains("nested"), "{reason}");
    }

    #[test]
    fn the_store_walks_through_verified_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let bytes = serde_json::to_vec(&json!({"schemaVersion": 2, "layers": []})).unwrap();
        let digest = sha256_digest(&bytes);
        store.put_blob(&digest, &bytes).unwrap();
        let top = link(OCI_MANIFEST, &digest, bytes.len() as u64);
        assert_eq!(walk(&store, [top.clone()], |_, _| true).unwrap().len(), 1);
        // A tampered blob is refused by the store's verified read.
        std::fs::write(store.blob_path(&digest), b"{\"layers\": []}     ").unwrap();
        let (_, reason) = bad_document(walk(&store, [top], |_, _| true));
        assert!(reason.contains(&digest.to_string()), "{reason}");
    }
}
