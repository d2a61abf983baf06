//! The flags every Aurora command line takes for its store, the same in each.

use std::path::PathBuf;

use clap::Args;

/// Where the store is, how its storage is chosen, and how registries are reached.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: an OCI image layout directory, created when missing.
    #[arg(
        long,
        global = true,
        env = "AURORA_ROOT",
        default_value = "/var/lib/aurora"
    )]
    pub root: PathBuf,

    /// A registry (host or host:port) that may be spoken to over plain HTTP. Repeatable.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// Read credentials from this auth file only (and write logins to it).
    #[arg(long, global = true, env = "REGISTRY_AUTH_FILE", value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// The storage driver for layers and containers: zfs, btrfs, overlay or dir. The one the
    /// store recorded, else chosen from the filesystem under the store.
    #[arg(long, global = true, env = "AURORA_STORAGE", value_name = "DRIVER")]
    pub storage: Option<String>,

    /// For the zfs driver: the dataset under which layers and containers live (POOL/aurora).
    #[arg(
        long,
        global = true,
        env = "AURORA_ZFS_DATASET",
        value_name = "DATASET"
    )]
    pub zfs_dataset: Option<String>,

    /// The config file (TOML).
    #[arg(
        long,
        global = true,
        env = "AURORA_CONFIG",
        default_value = "/etc/aurora/aurora.toml"
    )]
    pub config: PathBuf,
}

impl StoreArgs {
    /// The storage driver and dataset from the flags, else the config file.
    pub fn storage_choice(&self) -> anyhow::Result<aurora_images::StorageChoice> {
        crate::storage_choice(
            &self.config,
            self.storage.as_deref(),
            self.zfs_dataset.as_deref(),
        )
    }

    /// The credentials of `--authfile`, else the usual docker/podman auth files.
    pub fn credential_store(&self) -> aurora_registry::CredentialStore {
        crate::credential_store(self.authfile.as_ref())
    }

    /// A registry client as the config file and the flags say.
    pub fn registry_client(
        &self,
        credentials: aurora_registry::CredentialStore,
    ) -> anyhow::Result<aurora_registry::RegistryClient> {
        crate::registry_client(&self.config, &self.insecure_registries, credentials)
    }
}
