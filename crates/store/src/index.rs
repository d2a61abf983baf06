//! index.json: the names of the images in the layout.

use std::fs::File;

use aurora_spec::media;
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::error::{Result, StoreError};
use crate::layout::{ref_name, REF_NAME_ANNOTATION};
use crate::{fsutil, Store};

pub(crate) fn empty_index() -> Result<Vec<u8>> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::new())
        .build()
        .expect("an empty index is valid");
    serialize(&index)
}

fn serialize(index: &ImageIndex) -> Result<Vec<u8>> {
    serde_json::to_vec(index).map_err(|source| StoreError::BadJson {
        path: "index.json".into(),
        source,
    })
}

impl Store {
    /// The index as it is now. Readers take no lock: index.json is only ever replaced whole.
    /// It is read through the index cap, as any layout's is.
    pub fn read_index(&self) -> Result<ImageIndex> {
        let path = self.index_path();
        let file = File::open(&path).map_err(StoreError::io(&path))?;
        let bytes = crate::read_capped(file, &path, media::MAX_LAYOUT_INDEX_BYTES)?;
        crate::layout::parse_index(&bytes, path)
    }

    /// Reads, changes and atomically replaces index.json while holding the index lock, so
    /// concurrent processes never lose each other's names. Nothing is written if `change` fails
    /// or changes nothing.
    pub fn update_index<T>(&self, change: impl FnOnce(&mut ImageIndex) -> Result<T>) -> Result<T> {
        let _lock = self.lock_index()?;
        let mut index = self.read_index()?;
        let before = index.clone();
        let result = change(&mut index)?;
        // An unchanged index is not rewritten: it would only cost an fsync, and annotation
        // maps serialise in no fixed order, so the bytes could differ for the same content.
        if index != before {
            let bytes = serialize(&index)?;
            // Never written larger than it may be read back.
            if bytes.len() as u64 > media::MAX_LAYOUT_INDEX_BYTES {
                return Err(StoreError::IndexTooLarge {
                    size: bytes.len() as u64,
                    limit: media::MAX_LAYOUT_INDEX_BYTES,
                });
            }
            fsutil::replace_file(&self.index_path(), &bytes, &self.scratch_dir())?;
        }
        Ok(result)
    }

    /// The entry named `name`, if any.
    pub fn find_ref(&self, name: &str) -> Result<Option<Descriptor>> {
        crate::ReadLayout::find_ref(self, name)
    }

    /// Names `descriptor` as `name`, replacing whatever had that name.
    pub fn set_ref(&self, name: &str, descriptor: &Descriptor) -> Result<()> {
        let mut entry = descriptor.clone();
        let mut annotations = entry.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME_ANNOTATION.to_string(), name.to_string());
        entry.set_annotations(Some(annotations));
        self.update_index(|index| {
            let mut manifests = index.manifests().clone();
            // Naming the same thing again keeps its place, so index.json does not change.
            match manifests.iter().position(|d| ref_name(d) == Some(name)) {
                Some(at) if manifests[at] == entry => {}
                _ => {
                    manifests.retain(|d| ref_name(d) != Some(name));
                    manifests.push(entry);
                }
            }
            index.set_manifests(manifests);
            Ok(())
        })
    }

    /// Removes the name; the blobs stay until [`Store::gc`].
    pub fn remove_ref(&self, name: &str) -> Result<Descriptor> {
        self.update_index(|index| {
            let position = index
                .manifests()
                .iter()
                .position(|d| ref_name(d) == Some(name))
                .ok_or_else(|| StoreError::RefNotFound(name.to_string()))?;
            let mut manifests = index.manifests().clone();
            let removed = manifests.remove(position);
            index.set_manifests(manifests);
            Ok(removed)
        })
    }

    /// Every named entry, in index order.
    pub fn list_refs(&self) -> Result<Vec<(String, Descriptor)>> {
        crate::ReadLayout::list_refs(self)
    }
}
