//! Writes test images as OCI image layouts on disk (no Docker needed), ready
//! to be pushed to a [`crate::Registry`] with [`crate::skopeo_push`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndex, ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, Os,
    PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;

use crate::layer::{sha256_digest, Layer, LayerBuilder};

/// The annotation an OCI layout's index.json uses to name a tag.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Fixed creation time, so identical builds give identical digests.
const CREATED: &str = "1970-01-01T00:00:00Z";

/// A layer as written into an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltLayer {
    /// `sha256:…` of the blob.
    pub digest: String,
    /// `sha256:…` of the uncompressed tar.
    pub diff_id: String,
    /// Blob size in bytes.
    pub size: u64,
    /// The layer descriptor's media type.
    pub media_type: String,
}

/// A single-platform image written to a layout: what tests compare a pull
/// against.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// `os/arch[/variant]`, e.g. `linux/arm/v7`.
    pub platform: String,
    /// `sha256:…` of the OCI manifest.
    pub manifest_digest: String,
    /// Manifest size in bytes.
    pub manifest_size: u64,
    /// The manifest JSON exactly as stored.
    pub manifest: Vec<u8>,
    /// `sha256:…` of the image config.
    pub config_digest: String,
    /// Config size in bytes.
    pub config_size: u64,
    /// The config JSON exactly as stored.
    pub config: Vec<u8>,
    /// The layers, base first.
    pub layers: Vec<BuiltLayer>,
}

/// A multi-platform image (OCI image index) written to a layout.
#[derive(Clone, Debug)]
pub struct BuiltIndex {
    /// `sha256:…` of the image index.
    pub index_digest: String,
    /// Index size in bytes.
    pub index_size: u64,
    /// The index JSON exactly as stored.
    pub index: Vec<u8>,
    /// One image per platform, in index order.
    pub images: Vec<BuiltImage>,
}

impl BuiltIndex {
    /// The image for `platform` (`os/arch[/variant]`); panics if absent.
    pub fn image(&self, platform: &str) -> &BuiltImage {
        self.images
            .iter()
            .find(|image| image.platform == platform)
            .unwrap_or_else(|| panic!("index has no image for {platform}"))
    }
}

/// The platform of the machine running the tests, as `os/arch[/variant]`,
/// i.e. what a client pulls from an index by default.
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

/// Builds one image: layers, platform and the runtime config.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    layers: Vec<Layer>,
    platform: String,
    cmd: Vec<String>,
    entrypoint: Option<Vec<String>>,
    env: Vec<String>,
    working_dir: Option<String>,
    user: Option<String>,
    labels: HashMap<String, String>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageBuilder {
    /// An image for the host platform with `Cmd ["/bin/sh"]` and no layers.
    pub fn new() -> Self {
        Self {
            layers: Vec::new(),
            platform: host_platform(),
            cmd: vec!["/bin/sh".to_string()],
            entrypoint: None,
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            working_dir: None,
            user: None,
            labels: HashMap::new(),
        }
    }

    /// Appends a layer (the first one is the base).
    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    /// Sets the platform, `os/arch[/variant]` (e.g. `linux/arm/v7`).
    pub fn platform(mut self, platform: &str) -> Self {
        parse_platform(platform); // fail here, not at write time
        self.platform = platform.to_string();
        self
    }

    /// Sets `config.Cmd`.
    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|arg| arg.to_string()).collect();
        self
    }

    /// Sets `config.Entrypoint`.
    pub fn entrypoint(mut self, entrypoint: &[&str]) -> Self {
        self.entrypoint = Some(entrypoint.iter().map(|arg| arg.to_string()).collect());
        self
    }

    /// Adds a `KEY=value` to `config.Env`.
    pub fn env(mut self, key_value: &str) -> Self {
        self.env.push(key_value.to_string());
        self
    }

    /// Sets `config.WorkingDir`.
    pub fn working_dir(mut self, dir: &str) -> Self {
        self.working_dir = Some(dir.to_string());
        self
    }

    /// Sets `config.User`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }

    /// Adds a `config.Labels` entry.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Writes the image into the OCI layout at `layout_dir` (created if
    /// needed) and tags it `tag` in index.json.
    pub fn write(&self, layout_dir: &Path, tag: &str) -> BuiltImage {
        let layout = Layout::create(layout_dir);
        let image = self.write_blobs(&layout);
        layout.tag(tag, manifest_descriptor(&image));
        image
    }

    /// Writes layers, config and manifest blobs without tagging.
    fn write_blobs(&self, layout: &Layout) -> BuiltImage {
        let layers: Vec<BuiltLayer> = self
            .layers
            .iter()
            .map(|layer| {
                layout.write_blob(layer.blob());
                BuiltLayer {
                    digest: layer.digest().to_string(),
                    diff_id: layer.diff_id().to_string(),
                    size: layer.size(),
                    media_type: layer.media_type().to_string(),
                }
            })
            .collect();
        let config = canonical_json(&self.config());
        let config_digest = layout.write_blob(&config);
        let manifest = canonical_json(&manifest(&config_digest, config.len(), &layers));
        let manifest_digest = layout.write_blob(&manifest);
        BuiltImage {
            platform: self.platform.clone(),
            manifest_digest,
            manifest_size: manifest.len() as u64,
            manifest,
            config_digest,
            config_size: config.len() as u64,
            config,
            layers,
        }
    }

    fn config(&self) -> oci_spec::image::ImageConfiguration {
        let (os, arch, variant) = parse_platform(&self.platform);
        let mut runtime = ConfigBuilder::default()
            .cmd(self.cmd.clone())
            .env(self.env.clone());
        if let Some(entrypoint) = &self.entrypoint {
            runtime = runtime.entrypoint(entrypoint.clone());
        }
        if let Some(dir) = &self.working_dir {
            runtime = runtime.working_dir(dir.clone());
        }
        if let Some(user) = &self.user {
            runtime = runtime.user(user.clone());
        }
        if !self.labels.is_empty() {
            runtime = runtime.labels(self.labels.clone());
        }
        let mut config = ImageConfigurationBuilder::default()
            .created(CREATED)
            .architecture(Arch::from(arch.as_str()))
            .os(Os::from(os.as_str()))
            .config(runtime.build().expect("building image runtime config"))
            .rootfs(self.rootfs())
            .history(self.history());
        if let Some(variant) = variant {
            config = config.variant(variant);
        }
        config.build().expect("building image config")
    }

    fn rootfs(&self) -> oci_spec::image::RootFs {
        RootFsBuilder::default()
            .typ("layers")
            .diff_ids(
                self.layers
                    .iter()
                    .map(|layer| layer.diff_id().to_string())
                    .collect::<Vec<_>>(),
            )
            .build()
            .expect("building rootfs")
    }

    fn history(&self) -> Vec<oci_spec::image::History> {
        (0..self.layers.len())
            .map(|n| {
                HistoryBuilder::default()
                    .created(CREATED)
                    .created_by(format!("aurora-testkit layer {n}"))
                    .build()
                    .expect("building history entry")
            })
            .collect()
    }
}

/// Builds a multi-platform image: an OCI image index over several images.
#[derive(Clone, Debug, Default)]
pub struct IndexBuilder {
    images: Vec<ImageBuilder>,
}

impl IndexBuilder {
    /// An index with no images yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an image; its platform goes into the index descriptor.
    pub fn image(mut self, image: ImageBuilder) -> Self {
        self.images.push(image);
        self
    }

    /// Writes all images and the index into the layout at `layout_dir` and
    /// tags the index `tag`.
    pub fn write(&self, layout_dir: &Path, tag: &str) -> BuiltIndex {
        let layout = Layout::create(layout_dir);
        let images: Vec<BuiltImage> = self
            .images
            .iter()
            .map(|image| image.write_blobs(&layout))
            .collect();
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(images.iter().map(manifest_descriptor).collect::<Vec<_>>())
            .build()
            .expect("building image index");
        let index = canonical_json(&index);
        let index_digest = layout.write_blob(&index);
        let descriptor = Descriptor::new(
            MediaType::ImageIndex,
            index.len() as u64,
            parse_digest(&index_digest),
        );
        layout.tag(tag, descriptor);
        BuiltIndex {
            index_digest,
            index_size: index.len() as u64,
            index,
            images,
        }
    }
}

/// Writes a single-platform image of `layers` (`Cmd ["/bin/sh"]`) into the
/// layout at `layout_dir`, tagged `tag`.
pub fn write_image(layout_dir: &Path, tag: &str, layers: Vec<Layer>, platform: &str) -> BuiltImage {
    layers
        .into_iter()
        .fold(ImageBuilder::new().platform(platform), ImageBuilder::layer)
        .write(layout_dir, tag)
}

/// Writes an image index with one image per platform (e.g. `linux/amd64`,
/// `linux/arm64`, `linux/arm/v7`). Each image has a single layer holding
/// `/etc/aurora-platform` with its platform name, so every platform's
/// layer, config and manifest digests differ.
pub fn write_multi_platform_image(layout_dir: &Path, tag: &str, platforms: &[&str]) -> BuiltIndex {
    platforms
        .iter()
        .map(|platform| {
            let layer = LayerBuilder::new()
                .dir("etc", 0o755)
                .file("etc/aurora-platform", format!("{platform}\n"), 0o644)
                .build();
            ImageBuilder::new().platform(platform).layer(layer)
        })
        .fold(IndexBuilder::new(), IndexBuilder::image)
        .write(layout_dir, tag)
}

fn manifest(config_digest: &str, config_size: usize, layers: &[BuiltLayer]) -> impl Serialize {
    let config = Descriptor::new(
        MediaType::ImageConfig,
        config_size as u64,
        parse_digest(config_digest),
    );
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|layer| {
            Descriptor::new(
                MediaType::from(layer.media_type.as_str()),
                layer.size,
                parse_digest(&layer.digest),
            )
        })
        .collect();
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .expect("building image manifest")
}

/// The descriptor an index uses for `image`, carrying its platform.
fn manifest_descriptor(image: &BuiltImage) -> Descriptor {
    let (os, arch, variant) = parse_platform(&image.platform);
    let mut platform = PlatformBuilder::default()
        .architecture(Arch::from(arch.as_str()))
        .os(Os::from(os.as_str()));
    if let Some(variant) = variant {
        platform = platform.variant(variant);
    }
    DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .size(image.manifest_size)
        .digest(parse_digest(&image.manifest_digest))
        .platform(platform.build().expect("building platform"))
        .build()
        .expect("building manifest descriptor")
}

/// Splits `os/arch[/variant]`.
fn parse_platform(platform: &str) -> (String, String, Option<String>) {
    let parts: Vec<&str> = platform.split('/').collect();
    match parts.as_slice() {
        [os, arch] => (os.to_string(), arch.to_string(), None),
        [os, arch, variant] => (os.to_string(), arch.to_string(), Some(variant.to_string())),
        _ => panic!("platform must be os/arch[/variant], got {platform:?}"),
    }
}

fn parse_digest(digest: &str) -> oci_spec::image::Digest {
    digest
        .parse()
        .unwrap_or_else(|err| panic!("invalid digest {digest}: {err}"))
}

/// JSON with object keys sorted (via `serde_json::Value`'s ordered map), so
/// HashMap fields such as labels serialize the same way on every run.
fn canonical_json(value: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("serializing to JSON");
    serde_json::to_vec(&value).expect("serializing to JSON")
}

/// An OCI image layout directory being written.
struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Creates the `oci-layout` marker and blob directory if missing.
    fn create(root: &Path) -> Self {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)
            .unwrap_or_else(|err| panic!("creating {}: {err}", blobs.display()));
        let marker = OciLayoutBuilder::default()
            .image_layout_version("1.0.0")
            .build()
            .expect("building oci-layout");
        write_file(&root.join("oci-layout"), &canonical_json(&marker));
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Stores `bytes` under its digest and returns the digest.
    fn write_blob(&self, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let hex = digest.trim_start_matches("sha256:");
        let path = self.root.join("blobs/sha256").join(hex);
        if !path.exists() {
            write_file(&path, bytes);
        }
        digest
    }

    /// Points `tag` at `descriptor` in index.json, replacing an older entry
    /// with the same tag and keeping other tags.
    fn tag(&self, tag: &str, mut descriptor: Descriptor) {
        descriptor.set_annotations(Some(HashMap::from([(
            REF_NAME.to_string(),
            tag.to_string(),
        )])));
        let path = self.root.join("index.json");
        let mut manifests = if path.exists() {
            ImageIndex::from_file(&path)
                .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
                .manifests()
                .clone()
        } else {
            Vec::new()
        };
        manifests.retain(|existing| ref_name(existing) != Some(tag));
        manifests.push(descriptor);
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .expect("building index.json");
        write_file(&path, &canonical_json(&index));
    }
}

fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(REF_NAME)
        .map(String::as_str)
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    fn read_json(path: &Path) -> Value {
        json(&std::fs::read(path).expect("reading JSON file"))
    }

    #[test]
    fn writes_a_tagged_single_platform_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layer = LayerBuilder::new().file("hello", "world", 0o644).build();
        let image = write_image(dir.path(), "v1", vec![layer.clone()], "linux/arm64");

        let index = read_json(&dir.path().join("index.json"));
        assert_eq!(index["manifests"][0]["annotations"][REF_NAME], "v1");
        assert_eq!(
            index["manifests"][0]["digest"],
            image.manifest_digest.as_str()
        );
        assert_eq!(
            read_json(&dir.path().join("oci-layout"))["imageLayoutVersion"],
            "1.0.0"
        );

        let config = json(&image.config);
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.diff_id());
        assert_eq!(config["config"]["Cmd"][0], "/bin/sh");
        assert_eq!(config["history"].as_array().map(Vec::len), Some(1));

        let manifest = json(&image.manifest);
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(manifest["config"]["digest"], image.config_digest.as_str());
        assert_eq!(manifest["layers"][0]["digest"], layer.digest());
        for digest in [
            &image.manifest_digest,
            &image.config_digest,
            &image.layers[0].digest,
        ] {
            let blob = dir.path().join("blobs/sha256").join(&digest[7..]);
            let bytes = std::fs::read(&blob).expect("blob exists");
            assert_eq!(&sha256_digest(&bytes), digest);
        }
    }

    #[test]
    fn retagging_replaces_only_that_tag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layer = |text: &str| LayerBuilder::new().file("f", text, 0o644).build();
        write_image(dir.path(), "a", vec![layer("1")], "linux/amd64");
        write_image(dir.path(), "b", vec![layer("2")], "linux/amd64");
        let newer = write_image(dir.path(), "a", vec![layer("3")], "linux/amd64");
        let index = read_json(&dir.path().join("index.json"));
        let manifests = index["manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 2);
        let a = manifests
            .iter()
            .find(|m| m["annotations"][REF_NAME] == "a")
            .expect("tag a");
        assert_eq!(a["digest"], newer.manifest_digest.as_str());
    }

    #[test]
    fn writes_a_multi_platform_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];
        let built = write_multi_platform_image(dir.path(), "multi", &platforms);
        let index = json(&built.index);
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let entries = index["manifests"].as_array().expect("manifests");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2]["platform"]["architecture"], "arm");
        assert_eq!(entries[2]["platform"]["variant"], "v7");
        assert_eq!(json(&built.image("linux/arm/v7").config)["variant"], "v7");
        let digests: std::collections::HashSet<_> =
            built.images.iter().map(|i| &i.manifest_digest).collect();
        assert_eq!(digests.len(), 3, "each platform has its own manifest");
        let layout_index = read_json(&dir.path().join("index.json"));
        assert_eq!(
            layout_index["manifests"][0]["digest"],
            built.index_digest.as_str()
        );
        assert_eq!(
            layout_index["manifests"][0]["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
    }

    #[test]
    fn identical_builds_have_identical_digests() {
        let build = || {
            let dir = tempfile::tempdir().expect("tempdir");
            ImageBuilder::new()
                .label("a", "1")
                .label("b", "2")
                .label("c", "3")
                .layer(LayerBuilder::new().file("f", "x", 0o644).build())
                .write(dir.path(), "t")
                .manifest_digest
        };
        assert_eq!(build(), build());
    }
}
