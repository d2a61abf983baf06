//! The command line, as clap structs.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
References are written as docker writes them: `alpine` means docker.io/library/alpine:latest,
`127.0.0.1:5000/team/app:1.0`, `name@sha256:…`, `name:tag@sha256:…`.

The store is a standard OCI image layout: `skopeo inspect oci:ROOT:NAME` and
`umoci unpack --image ROOT:NAME` read it as it is.

Registries on loopback addresses are spoken to over plain HTTP; any other registry only
over HTTPS unless listed with --insecure-registry or in the config file
(/etc/aurora/aurora.toml, or $AURORA_CONFIG):
    [registries]
    insecure = [\"registry.lan:5000\"]

Credentials come from `imageadm login` and the files docker and podman keep:
$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json,
$DOCKER_CONFIG/config.json (~/.docker/config.json).

Logging: RUST_LOG=debug (or imageadm=debug,aurora_registry=trace) on standard error.

Exit status: 0 success, 1 failure, 2 usage error, 3 image or manifest not found,
4 access denied (authentication).";

/// Aurora's image tool: pull OCI images from registries into a local OCI image layout,
/// and list, inspect, tag and remove them there.
#[derive(Debug, Parser)]
#[command(name = "imageadm", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub store: aurora_cli::StoreArgs,

    /// Print nothing but errors (and the results of commands that list or inspect).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Output format of results.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download an image from a registry into the store.
    ///
    /// Blobs already in the store are not downloaded again; an interrupted download resumes
    /// where it stopped. From a multi-platform index the host's platform is taken unless
    /// --platform or --all-platforms says otherwise.
    Pull {
        /// The image, e.g. alpine, docker.io/library/alpine:3.19, 127.0.0.1:5000/app@sha256:…
        reference: String,
        /// The platform to take from a multi-platform image, as os/arch[/variant].
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        /// Take every platform of a multi-platform image, and keep its index.
        #[arg(long, conflicts_with = "platform")]
        all_platforms: bool,
        /// How many blobs to download at once.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
    },
    /// Upload an image of the store to a registry.
    ///
    /// Blobs the repository has are skipped (HEAD), blobs of an image pulled from another
    /// repository of the same registry are mounted from there, the rest are uploaded several
    /// at a time; then the manifests (an index's children by digest, the top one by tag or
    /// digest). Every upload is checked against the digest the registry reports.
    Push {
        /// The image in the store: a name (as `imageadm images` shows it) or a digest.
        source: String,
        /// Where to push it (default: the source's own name), e.g. 127.0.0.1:5000/team/app:1.0.
        destination: Option<String>,
        /// How many blobs to upload at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        /// Upload blobs larger than this many bytes in chunks of this size, resuming a chunk
        /// that fails (for registries that limit request sizes); 0 sends every blob whole.
        #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
        chunk_size: u64,
    },
    /// Copy an image between registries, OCI layouts and archives, and the store.
    ///
    /// Locations as skopeo writes them: docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// or a plain REF for the store. Digests are kept; every blob is verified on the way, and
    /// blobs the destination has are not copied again.
    Copy {
        /// Where the image is.
        source: String,
        /// Where it goes.
        destination: String,
    },
    /// Make a new image from a container's changes: what it added, changed and deleted since
    /// its top layer becomes one new layer on top of the image it was unpacked from.
    ///
    /// The storage driver tells what changed (overlay: the container's upper directory; zfs
    /// and btrfs: the clone against its origin, by inode; dir: a comparison of the trees).
    /// Deletions become whiteouts, a directory whose contents were replaced an opaque one.
    Commit {
        /// The container: a bundle directory made by `imageadm unpack`, or a container name.
        #[arg(value_name = "CONTAINER_OR_BUNDLE")]
        container: String,
        /// The new image's name, name[:tag].
        #[arg(value_name = "NEW_REF")]
        reference: String,
        /// How to compress the new layer.
        #[arg(long, default_value = "gzip", value_parser = ["gzip", "zstd", "none"])]
        compression: String,
        /// A comment for the new history entry.
        #[arg(short, long)]
        message: Option<String>,
        /// The author recorded in the config and history.
        #[arg(short, long)]
        author: Option<String>,
        /// A Dockerfile instruction to apply to the config: CMD, ENTRYPOINT, ENV, EXPOSE,
        /// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable).
        #[arg(short, long = "change", value_name = "INSTRUCTION")]
        changes: Vec<String>,
        /// The same tree gives the same digest: mtimes clamped to SOURCE_DATE_EPOCH (or 0),
        /// which is also the time recorded as created.
        #[arg(long)]
        reproducible: bool,
    },
    /// Build an image from a Containerfile (Dockerfile syntax).
    ///
    /// Each RUN runs in a writable clone of the previous step's layer (a zfs clone, a btrfs
    /// snapshot, an overlay mount), through the OCI runtime; COPY and ADD write into one with
    /// every path resolved inside the image root. The changes become a layer through the
    /// storage driver's diff. Steps are cached by what they read: a second build of the same
    /// file and context is all cache hits and gives the same image digest.
    Build(BuildArgs),
    /// List the images in the store.
    #[command(visible_alias = "list", visible_alias = "ls")]
    Images,
    /// Show an image's manifest and config (JSON).
    Inspect {
        /// A name, or a digest or unique digest prefix.
        reference: String,
        /// For a multi-platform image, the platform to show.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
    /// Give an image another name.
    Tag {
        /// The image, by name or digest.
        source: String,
        /// The new name, name[:tag].
        target: String,
    },
    /// Remove names from the store; `imageadm gc` then frees their blobs.
    #[command(visible_alias = "rmi")]
    Rm {
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Delete blobs that no image in the store uses, abandoned partial downloads, and layers
    /// in storage that no image and no container needs.
    Gc,
    /// Show the layers and containers in storage, their sizes, and which images share them.
    Df,
    /// Make a runtime bundle from an image: lay its layers down in storage (once per host),
    /// clone a container from the top one, write BUNDLE/config.json and BUNDLE/rootfs.
    ///
    /// A trailing command after `--` replaces the image's Entrypoint and Cmd.
    Unpack {
        /// The image, by name or digest.
        reference: String,
        /// The bundle directory: created, or empty.
        bundle: PathBuf,
        /// The container's name in storage (default: the bundle directory's name).
        #[arg(long)]
        name: Option<String>,
        /// For a multi-platform image, the platform to unpack.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        /// Environment for the process, NAME=VALUE; repeatable.
        #[arg(long = "env", short = 'e', value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Give the process a terminal.
        #[arg(long, short = 't')]
        tty: bool,
        /// The container's hostname.
        #[arg(long)]
        hostname: Option<String>,
        /// Map the layers' uids: CONTAINER_ID:HOST_ID:AMOUNT (repeatable, as podman's). Files
        /// are owned by the host ids, and the bundle gets a user namespace with this map.
        #[arg(long, value_name = "CONTAINER:HOST:AMOUNT", value_parser = parse_id_range)]
        uidmap: Vec<aurora_images::IdRange>,
        /// Map the layers' gids likewise (default: the same as --uidmap).
        #[arg(long, value_name = "CONTAINER:HOST:AMOUNT", value_parser = parse_id_range)]
        gidmap: Vec<aurora_images::IdRange>,
        /// The command to run instead of the image's.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Remove a bundle made by `unpack` and its container.
    #[command(visible_alias = "unmount")]
    RmBundle { bundle: PathBuf },
    /// Import a SmartOS image (imgadm's manifest and its zfs send file) as an image of the
    /// store; zfs storage driver only.
    ///
    /// The file's size and sha1 are checked against the manifest, the stream (gzip, bzip2, xz
    /// or uncompressed) received into a temporary dataset and renamed into place as the
    /// image's one layer, so that unpacking it is one clone. An incremental image (with an
    /// origin) needs its origin imported first.
    ImportSmartos {
        /// The image manifest (JSON, manifest v2).
        manifest: PathBuf,
        /// The image file the manifest describes.
        file: PathBuf,
        /// The name in the store (default: smartos/NAME:VERSION from the manifest).
        #[arg(long, value_name = "REF")]
        tag: Option<String>,
    },
    /// Export an image of the store as a SmartOS image: OUT_DIR/NAME-VERSION.json and
    /// OUT_DIR/NAME-VERSION.zfs.gz (a gzip'd zfs send of its top layer); zfs storage driver
    /// only. Lays the image's layers down first if it was not unpacked.
    ExportSmartos {
        /// The image, by name or digest.
        reference: String,
        /// Where to write the manifest and the file (created when missing).
        out_dir: PathBuf,
        /// Only the top layer's changes since its parent layer; the manifest names the
        /// parent layer's image as its origin.
        #[arg(long)]
        incremental: bool,
    },
    /// Store credentials for a registry, after checking them with it.
    Login {
        /// The registry, e.g. docker.io or 127.0.0.1:5000.
        registry: String,
        #[arg(long, short)]
        username: Option<String>,
        /// The password; prefer --password-stdin, which keeps it out of the process list.
        #[arg(long, short, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the credentials for a registry.
    Logout { registry: String },
}

/// `CONTAINER:HOST:AMOUNT`, all decimal, AMOUNT at least 1, no range past 2^32.
fn parse_id_range(text: &str) -> Result<aurora_images::IdRange, String> {
    let numbers: Vec<u32> = text
        .split(':')
        .map(|part| part.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not CONTAINER_ID:HOST_ID:AMOUNT (decimal ids)"))?;
    let [container, host, len] = numbers[..] else {
        return Err(format!("{text:?} is not CONTAINER_ID:HOST_ID:AMOUNT"));
    };
    let fits = |start: u32| u64::from(start) + u64::from(len) <= 1 << 32;
    if len == 0 || !fits(container) || !fits(host) {
        return Err(format!(
            "{text:?}: the amount must be at least 1 and the ranges end below 2^32"
        ));
    }
    Ok(aurora_images::IdRange {
        container,
        host,
        len,
    })
}

/// `imageadm build`'s flags (buildah bud's names).
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The build context: the directory COPY and ADD read from.
    #[arg(default_value = ".")]
    pub context: PathBuf,
    /// The Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// A name for the image, name[:tag] (repeatable).
    #[arg(short, long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// NAME=VALUE for an ARG; NAME alone takes the value from the environment (repeatable).
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,
    /// Build up to this stage (its AS name or number) and make it the image.
    #[arg(long)]
    pub target: Option<String>,
    /// Run every step even when the cache has it.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull FROM images even when the store has them.
    #[arg(long)]
    pub pull: bool,
    /// The network RUN steps have: the host's, or none (only lo).
    #[arg(long, default_value = "host", value_parser = ["host", "none"])]
    pub network: String,
    /// The platform to build for; only this host's is supported.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Store the image as one layer holding its whole tree (the base's files included).
    #[arg(long, conflicts_with = "layers")]
    pub squash: bool,
    /// One layer per step (the default; accepted for buildah's command lines).
    #[arg(long)]
    pub layers: bool,
    /// A label added to the image, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// A build cache in a registry to take cached steps from (an image `--cache-to` pushed;
    /// repeatable). A cache that cannot be pulled is skipped with a warning.
    #[arg(long = "cache-from", value_name = "REF")]
    pub cache_from: Vec<String>,
    /// Push this build's cache entries and layers to a registry as the image REF, for other
    /// machines' `--cache-from`.
    #[arg(long = "cache-to", value_name = "REF")]
    pub cache_to: Option<String>,
    /// Write the image's id to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// The OCI runtime for RUN steps (runc's command line; default: runz beside imageadm,
    /// else on PATH; or $AURORA_RUNTIME).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
}
