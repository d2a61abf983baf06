//! What the storage holds, seen from the images: which layers each image uses (`df`), and
//! removing the layers no image and no container needs (`gc`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aurora_storage::{Dataset, DatasetKind, Driver, LayerId};
use aurora_store::Store;
use serde::Serialize;

use crate::error::Result;
use crate::plan::plan_layers;

/// A line of `imageadm df`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Usage {
    #[serde(flatten)]
    pub dataset: Dataset,
    /// The images whose chains include this layer (for a container: the image it was made from
    /// is not recorded here; see its bundle).
    pub images: Vec<String>,
}

/// The layer IDs each named image uses, for the host's platform.
fn layers_by_image(store: &Store) -> Result<BTreeMap<String, Vec<LayerId>>> {
    let mut by_image = BTreeMap::new();
    for (name, _) in store.list_refs()? {
        // Images that cannot be resolved or planned (damaged, or another platform only)
        // simply use no layers here.
        let Ok(image) = crate::resolve::resolve(store, &name, None) else {
            continue;
        };
        if let Ok(plan) = plan_layers(&image) {
            by_image.insert(name, plan.into_iter().map(|l| l.id).collect());
        }
    }
    Ok(by_image)
}

/// Every dataset in storage, with the images that share each layer.
pub fn disk_usage(store: &Store, driver: &dyn Driver) -> Result<Vec<Usage>> {
    let mut users: HashMap<LayerId, Vec<String>> = HashMap::new();
    for (image, ids) in layers_by_image(store)? {
        for id in ids {
            users.entry(id).or_default().push(image.clone());
        }
    }
    Ok(driver
        .list()?
        .into_iter()
        .map(|dataset| {
            let images = LayerId::parse(&dataset.name)
                .filter(|_| dataset.kind == DatasetKind::Layer)
                .and_then(|id| users.get(&id).cloned())
                .unwrap_or_default();
            Usage { dataset, images }
        })
        .collect())
}

/// Destroys the layers no image names and no container is made from, children before their
/// parents (a zfs layer is a clone of its parent). Returns the destroyed IDs.
pub fn collect_layers(store: &Store, driver: &dyn Driver) -> Result<Vec<LayerId>> {
    // No unpack runs meanwhile: none can be about to clone a layer that looks unused.
    let _gc = store.gc_lock()?;
    driver.clean_leftovers()?;
    let datasets = driver.list()?;
    let parents: HashMap<LayerId, Option<LayerId>> = datasets
        .iter()
        .filter(|d| d.kind == DatasetKind::Layer)
        .filter_map(|d| LayerId::parse(&d.name).map(|id| (id, d.parent.clone())))
        .collect();
    let mut needed: BTreeSet<LayerId> = layers_by_image(store)?.into_values().flatten().collect();
    needed.extend(
        datasets
            .iter()
            .filter(|d| d.kind == DatasetKind::Container)
            .filter_map(|d| d.parent.clone()),
    );
    // Everything below a needed layer is needed too.
    let mut pending: Vec<LayerId> = needed.iter().cloned().collect();
    while let Some(id) = pending.pop() {
        if let Some(Some(parent)) = parents.get(&id) {
            if needed.insert(parent.clone()) {
                pending.push(parent.clone());
            }
        }
    }
    let depth = |id: &LayerId| {
        let mut depth = 0;
        let mut at = parents.get(id).cloned().flatten();
        while let Some(parent) = at {
            depth += 1;
            at = parents.get(&parent).cloned().flatten();
        }
        depth
    };
    let mut doomed: Vec<LayerId> = parents
        .keys()
        .filter(|id| !needed.contains(*id))
        .cloned()
        .collect();
    doomed.sort_by_key(|id| std::cmp::Reverse(depth(id)));
    for id in &doomed {
        driver.destroy_layer(id)?;
    }
    Ok(doomed)
}
