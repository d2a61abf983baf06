//! Test support for Aurora's integration tests.
//!
//! Everything here drives *real* parts so that tests exercise the same
//! protocols production code meets:
//!
//! - [`Registry`]: a real `docker-registry` (distribution 2.8) process,
//!   anonymous, htpasswd or token authenticated (with an in-process
//!   Docker token service).
//! - [`LayerBuilder`], [`ImageBuilder`], [`IndexBuilder`]: build OCI image
//!   layouts on disk without Docker; [`skopeo_push`] pushes them.
//! - [`FaultProxy`]: an HTTP/1.1 reverse proxy in front of a registry that
//!   records requests and injects faults a real registry won't produce.
//! - [`require_tools`]: fail early and clearly when a host tool is missing.
//! - [`BtrfsVolume`]: a btrfs filesystem on a sparse file, loop-mounted for one test
//!   (needs root and btrfs-progs).
//! - [`BusyboxBundle`], [`ConsoleSocket`]: runtime bundles of the host's static busybox with
//!   runc's default config.json, and a console socket that receives a container's terminal.
//! - [`skip`]: the one way a test says it did not run; a failure when the run requires
//!   every test (`AURORA_TEST_REQUIRE_ALL=1`, set by `test.sh` as root and by `.ci/run`).
//! - [`ZfsPool`]: a file-backed ZFS pool for one test, through zfs-fuse (needs root and
//!   zfs-fuse; one pool at a time per machine).
//! - [`FakeZfs`]: a stateful fake of the `zfs` command (an `aurora_command::Runner`) that
//!   keeps a pool's datasets, snapshots, clones and mounts and refuses what zfs refuses.
//!
//! ```no_run
//! use aurora_testkit::{
//!     skopeo_push, write_image, Fault, FaultProxy, LayerBuilder, PushOpts, Registry,
//! };
//!
//! let registry = Registry::token_auth("alice", "secret");
//! let layout = tempfile::tempdir().unwrap();
//! let image = write_image(
//!     layout.path(),
//!     "v1",
//!     vec![LayerBuilder::busybox_rootfs().build()],
//!     "linux/amd64",
//! );
//! let opts = PushOpts { creds: registry.credentials(), ..PushOpts::default() };
//! skopeo_push(layout.path(), "v1", &registry.image_ref("app:v1"), &opts);
//!
//! // Pull through the proxy, whose first blob download is cut short.
//! let proxy = FaultProxy::in_front_of(&registry);
//! proxy.push_fault(Fault::Truncate {
//!     path_contains: "/blobs/".into(),
//!     after_bytes: 1024,
//!     times: 1,
//! });
//! let reference = format!("{}/app:v1", proxy.host());
//! // ... run `imageadm pull` on `reference`, then inspect `proxy.requests()`
//! # let _ = (image, reference);
//! ```

#![warn(missing_docs)]

mod btrfs;
mod bundle;
mod fake_zfs;
mod http;
mod image;
mod layer;
mod podman;
mod proxy;
mod registry;
mod runtime;
pub mod skip;
mod skopeo;
mod token;
mod tools;
pub mod tree;
mod zfs;

pub use btrfs::{BtrfsUnavailable, BtrfsVolume};
pub use bundle::{write_busybox_rootfs, BusyboxBundle, ConsoleSocket};
pub use fake_zfs::FakeZfs;
pub use image::{
    host_platform, write_image, write_multi_platform_image, BuiltImage, BuiltIndex, BuiltLayer,
    ImageBuilder, IndexBuilder,
};
pub use layer::{
    pseudo_random_bytes, sha256_digest, tar_of_zeros, write_raw_tar, Compression, Layer,
    LayerBuilder,
};
pub use podman::Podman;
pub use proxy::{Fault, FaultProxy, RecordedRequest};
pub use registry::Registry;
pub use runtime::{runz_binary, static_buildhelper, static_podinit, workspace_binary, OciRuntime};
pub use skopeo::{
    skopeo_inspect_raw, skopeo_push, try_skopeo_inspect_raw, try_skopeo_push, PushOpts,
};
pub use token::TokenRequest;
pub(crate) use tools::find_tool;
pub use tools::require_tools;
pub use zfs::{ZfsPool, ZfsUnavailable};
