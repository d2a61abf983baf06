//! ImageService on the imageadm store: an image's id is its config's digest (as containerd
//! and CRI-O report it), its tags the names it is stored under, its digests `NAME@MANIFEST`.

use std::collections::BTreeMap;

use aurora_store::{Store, StoredImage};
use k8s_cri::v1::image_service_server::ImageService;
use k8s_cri::v1::{
    FilesystemIdentifier, FilesystemUsage, Image, ImageFsInfoRequest, ImageFsInfoResponse,
    ImageSpec, ImageStatusRequest, ImageStatusResponse, Int64Value, ListImagesRequest,
    ListImagesResponse, PullImageRequest, PullImageResponse, RemoveImageRequest,
    RemoveImageResponse, UInt64Value,
};
use tonic::{Request, Response, Status};

use crate::error::{blocking, internal, ApiError};
use crate::ServerConfig;

/// The ImageService.
pub struct ImageApi {
    config: ServerConfig,
}

impl ImageApi {
    pub fn new(config: ServerConfig) -> Self {
        ImageApi { config }
    }

    fn store(&self) -> Result<Store, ApiError> {
        Store::open(&self.config.store_root).map_err(internal)
    }
}

/// Every image of the store, one per config digest, with all its names.
fn all_images(store: &Store) -> Result<Vec<Image>, ApiError> {
    let mut by_id: BTreeMap<String, Image> = BTreeMap::new();
    for (name, _) in store.list_refs().map_err(internal)? {
        // A name whose image cannot be read (another platform only, a broken blob) is not
        // an image this host can run: it is left out rather than failing the listing.
        let Ok(stored) = aurora_images::resolve(store, &name, None) else {
            continue;
        };
        let image = cri_image(&stored);
        by_id
            .entry(image.id.clone())
            .and_modify(|known| merge(known, &image))
            .or_insert(image);
    }
    Ok(by_id.into_values().collect())
}

fn merge(known: &mut Image, other: &Image) {
    for tag in &other.repo_tags {
        if !known.repo_tags.contains(tag) {
            known.repo_tags.push(tag.clone());
        }
    }
    for digest in &other.repo_digests {
        if !known.repo_digests.contains(digest) {
            known.repo_digests.push(digest.clone());
        }
    }
}

/// The CRI view of a stored image.
pub(crate) fn cri_image(stored: &StoredImage) -> Image {
    let id = stored
        .manifest
        .config
        .as_ref()
        .map(|c| c.digest.to_string())
        .unwrap_or_else(|| aurora_spec::sha256_digest(&stored.config_bytes).to_string());
    let (repository, tag) = match aurora_spec::ImageRef::parse(&stored.name) {
        Ok(r) => (r.name(), r.tag().map(str::to_string)),
        Err(_) => (stored.name.clone(), None),
    };
    let repo_tags = tag
        .map(|t| vec![format!("{repository}:{t}")])
        .unwrap_or_default();
    let repo_digests = vec![format!("{repository}@{}", stored.manifest_digest)];
    let size =
        stored.layers().iter().map(|l| l.size).sum::<u64>() + stored.config_bytes.len() as u64;
    let user = stored
        .config
        .config()
        .as_ref()
        .and_then(|c| c.user().clone())
        .unwrap_or_default();
    let user = user.split(':').next().unwrap_or_default().to_string();
    let (uid, username) = match user.parse::<i64>() {
        Ok(uid) => (Some(Int64Value { value: uid }), String::new()),
        Err(_) => (None, user),
    };
    Image {
        id: id.clone(),
        repo_tags,
        repo_digests,
        size,
        uid,
        username,
        spec: Some(ImageSpec {
            image: id,
            ..Default::default()
        }),
        pinned: false,
    }
}

/// The image `text` names (a name, an id or digest, or a unique prefix), if any.
pub(crate) fn find(store: &Store, text: &str) -> Result<Option<Image>, ApiError> {
    if text.is_empty() {
        return Err(ApiError::InvalidArgument("no image named".into()));
    }
    let wanted = text.trim_start_matches("sha256:");
    let is_id = wanted.len() >= 6 && wanted.bytes().all(|b| b.is_ascii_hexdigit());
    if is_id {
        let matching: Vec<Image> = all_images(store)?
            .into_iter()
            .filter(|i| i.id.trim_start_matches("sha256:").starts_with(wanted))
            .collect();
        if let [only] = matching.as_slice() {
            return Ok(Some(only.clone()));
        }
    }
    match aurora_images::resolve(store, text, None) {
        Ok(stored) => {
            let id = cri_image(&stored).id;
            Ok(all_images(store)?.into_iter().find(|i| i.id == id))
        }
        Err(_) => Ok(None),
    }
}

#[tonic::async_trait]
impl ImageService for ImageApi {
    async fn list_images(
        &self,
        request: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        let filter = request
            .into_inner()
            .filter
            .and_then(|f| f.image)
            .map(|s| s.image)
            .filter(|s| !s.is_empty());
        let store = self.store()?;
        let images = blocking(move || match filter {
            Some(text) => Ok(find(&store, &text)?.into_iter().collect()),
            None => all_images(&store),
        })
        .await?;
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn image_status(
        &self,
        request: Request<ImageStatusRequest>,
    ) -> Result<Response<ImageStatusResponse>, Status> {
        let request = request.into_inner();
        let text = request.image.map(|s| s.image).unwrap_or_default();
        let store = self.store()?;
        let image = blocking(move || find(&store, &text)).await?;
        let mut info = std::collections::HashMap::new();
        if request.verbose {
            if let Some(image) = &image {
                info.insert(
                    "info".to_string(),
                    serde_json::json!({"id": image.id, "names": image.repo_tags}).to_string(),
                );
            }
        }
        Ok(Response::new(ImageStatusResponse { image, info }))
    }

    async fn pull_image(
        &self,
        request: Request<PullImageRequest>,
    ) -> Result<Response<PullImageResponse>, Status> {
        let request = request.into_inner();
        let text = request.image.map(|s| s.image).unwrap_or_default();
        let reference = aurora_spec::ImageRef::parse(&text)
            .map_err(|e| Status::invalid_argument(format!("image {text:?}: {e}")))?;
        // The request's credentials, for the request's registry only: written to an auth
        // file of this pull's own, which the client reads as it reads docker's.
        let auth_dir = tempfile::tempdir().map_err(|e| Status::internal(e.to_string()))?;
        let credentials = match request.auth.as_ref().and_then(credential) {
            Some(credential) => {
                let file = auth_dir.path().join("auth.json");
                aurora_registry::credentials::store_credential(
                    &file,
                    reference.registry(),
                    &credential,
                )
                .map_err(|e| Status::internal(e.to_string()))?;
                aurora_registry::CredentialStore::from_files(vec![file])
            }
            None => aurora_registry::CredentialStore::from_environment(),
        };
        let client = aurora_cli::registry_client(
            &self.config.config_file,
            &self.config.insecure_registries,
            credentials,
        )
        .map_err(|e| Status::internal(e.to_string()))?;
        let store = self.store()?;
        aurora_transfer::pull(
            &store,
            &client,
            &reference,
            &aurora_transfer::PullOptions::default(),
            &aurora_images::NoProgress,
        )
        .await
        .map_err(|e| Status::unknown(format!("pulling {reference}: {e}")))?;
        let name = reference.store_name();
        let image_ref = blocking(move || {
            let stored = aurora_images::resolve(&store, &name, None).map_err(internal)?;
            Ok(cri_image(&stored).id)
        })
        .await?;
        Ok(Response::new(PullImageResponse { image_ref }))
    }

    async fn remove_image(
        &self,
        request: Request<RemoveImageRequest>,
    ) -> Result<Response<RemoveImageResponse>, Status> {
        let text = request
            .into_inner()
            .image
            .map(|s| s.image)
            .unwrap_or_default();
        let store = self.store()?;
        blocking(move || {
            // Removing an image that is not there succeeds (kubelet retries removals).
            let Some(image) = find(&store, &text)? else {
                return Ok(());
            };
            for (name, _) in store.list_refs().map_err(internal)? {
                let Ok(stored) = aurora_images::resolve(&store, &name, None) else {
                    continue;
                };
                if cri_image(&stored).id == image.id {
                    aurora_images::remove(&store, &name).map_err(internal)?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(Response::new(RemoveImageResponse {}))
    }

    async fn image_fs_info(
        &self,
        _request: Request<ImageFsInfoRequest>,
    ) -> Result<Response<ImageFsInfoResponse>, Status> {
        let root = self.config.store_root.clone();
        let usage = blocking(move || Ok(filesystem_usage(&root))).await?;
        Ok(Response::new(ImageFsInfoResponse {
            image_filesystems: vec![usage],
            container_filesystems: Vec::new(),
        }))
    }
}

/// `AuthConfig` as a credential: user name and password, or docker's base64 `auth`, or an
/// identity token (sent as the password of user `<token>`, as docker does).
fn credential(auth: &k8s_cri::v1::AuthConfig) -> Option<aurora_registry::Credential> {
    if !auth.username.is_empty() {
        return Some(aurora_registry::Credential {
            username: auth.username.clone(),
            password: auth.password.clone(),
        });
    }
    if !auth.auth.is_empty() {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.auth.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        return Some(aurora_registry::Credential {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    if !auth.identity_token.is_empty() {
        return Some(aurora_registry::Credential {
            username: "<token>".to_string(),
            password: auth.identity_token.clone(),
        });
    }
    None
}

/// The bytes and inodes the store's files use.
fn filesystem_usage(root: &std::path::Path) -> FilesystemUsage {
    let (mut bytes, mut inodes) = (0u64, 0u64);
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            inodes += 1;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                bytes += meta.len();
            }
        }
    }
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    FilesystemUsage {
        timestamp,
        fs_id: Some(FilesystemIdentifier {
            mountpoint: root.display().to_string(),
        }),
        used_bytes: Some(UInt64Value { value: bytes }),
        inodes_used: Some(UInt64Value { value: inodes }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_each_form_of_auth_config() {
        let plain = k8s_cri::v1::AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        assert_eq!(credential(&plain).unwrap().password, "p");
        let encoded = k8s_cri::v1::AuthConfig {
            auth: "dTpwOnE=".into(), // u:p:q
            ..Default::default()
        };
        let c = credential(&encoded).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:q"));
        let token = k8s_cri::v1::AuthConfig {
            identity_token: "t".into(),
            ..Default::default()
        };
        assert_eq!(credential(&token).unwrap().username, "<token>");
        assert!(credential(&Default::default()).is_none());
    }
}
