//! `imageadm`: the command line over `aurora-images`, `aurora-transfer` and `aurora-smartos`.

mod build;
mod cli;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use aurora_images::{ImageError, Images, Progress};
use aurora_registry::{credentials, Credential, CredentialStore, RegistryClient, RegistryError};
use aurora_smartos::SmartosError;
use aurora_spec::{ImageRef, Platform};
use aurora_store::Store;
use aurora_transfer::{PullOptions, TransferError};
use clap::Parser;
use indicatif::HumanBytes;

use aurora_cli::config::Config;
use cli::{Cli, Command, Format};

fn main() -> ExitCode {
    let cli = Cli::parse();
    aurora_cli::init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("imageadm: {}", aurora_cli::error_chain(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}

/// 3 for "not found", 4 for "access denied", 1 for everything else (clap exits 2 on usage).
fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        let registry = cause.downcast_ref::<RegistryError>().or_else(|| {
            match cause.downcast_ref::<TransferError>() {
                Some(TransferError::Registry(e)) => Some(e),
                _ => None,
            }
        });
        match registry {
            Some(RegistryError::NotFound { .. }) => return 3,
            Some(
                RegistryError::Unauthorized { .. }
                | RegistryError::Token { denied: true, .. }
                | RegistryError::ForeignChallenge { .. },
            ) => return 4,
            _ => {}
        }
        // The transfer and SmartOS errors wrap the image flows' error transparently, so it
        // is not a cause of its own in the chain.
        let image = cause.downcast_ref::<ImageError>().or_else(|| {
            match (
                cause.downcast_ref::<TransferError>(),
                cause.downcast_ref::<SmartosError>(),
            ) {
                (Some(TransferError::Image(e)), _) | (_, Some(SmartosError::Image(e))) => Some(e),
                _ => None,
            }
        });
        if let Some(ImageError::NotInStore(_) | ImageError::NoMatchingPlatform { .. }) = image {
            return 3;
        }
    }
    1
}

fn run(cli: Cli) -> Result<()> {
    let store = || {
        Store::open(&cli.store.root)
            .with_context(|| format!("opening the store at {}", cli.store.root.display()))
    };
    // The commands that touch storage take the store root with its storage choice, once.
    let open_images =
        || -> Result<Images> { Ok(Images::new(&cli.store.root, storage_choice(&cli)?)) };
    match &cli.command {
        Command::Pull {
            reference,
            platform,
            all_platforms,
            jobs,
        } => {
            let image = ImageRef::parse(reference)?;
            let options = PullOptions {
                platform: platform
                    .as_deref()
                    .map(str::parse::<Platform>)
                    .transpose()?,
                all_platforms: *all_platforms,
                concurrency: usize::from(*jobs),
            };
            pull(&cli, &store()?, &image, &options)
        }
        Command::Push {
            source,
            destination,
            jobs,
            chunk_size,
        } => {
            let destination = ImageRef::parse(destination.as_deref().unwrap_or(source))?;
            let options = aurora_transfer::PushOptions {
                jobs: usize::from(*jobs),
                chunk: *chunk_size,
            };
            push(&cli, &store()?, source, &destination, &options)
        }
        Command::Copy {
            source,
            destination,
        } => {
            let from: aurora_transfer::Location = source.parse()?;
            let to: aurora_transfer::Location = destination.parse()?;
            copy(&cli, &store()?, &from, &to)
        }
        Command::Build(args) => build::build(&cli, args, &open_images()?),
        Command::Commit {
            container,
            reference,
            compression,
            message,
            author,
            changes,
            reproducible,
        } => {
            let epoch = if *reproducible {
                Some(source_date_epoch()?)
            } else {
                None
            };
            let options = aurora_images::CommitOptions {
                pack: aurora_layers::PackOptions {
                    compression: match compression.as_str() {
                        "zstd" => aurora_layers::Compression::Zstd,
                        "none" => aurora_layers::Compression::None,
                        _ => aurora_layers::Compression::Gzip,
                    },
                    level: None,
                    clamp_mtime: epoch,
                },
                message: message.clone(),
                author: author.clone(),
                changes: changes.clone(),
                created: epoch,
            };
            let images = open_images()?;
            let committed = with_progress(&cli, |progress| {
                images.commit(container, reference, &options, progress)
            })
            .with_context(|| format!("committing {container} as {reference}"))?;
            let Some(committed) = committed else {
                bail!(
                    "nothing has been unpacked in this store, so there is no container to commit"
                );
            };
            report(&cli, &serde_json::to_value(&committed)?, || {
                format!(
                    "Committed {} as {} ({}): layer {} ({}, {} entries, {} whiteouts) on {}",
                    committed.container,
                    committed.image,
                    committed.manifest,
                    committed.layer,
                    HumanBytes(committed.layer_size),
                    committed.entries,
                    committed.whiteouts,
                    committed.base
                )
            });
            Ok(())
        }
        Command::Images => images(&cli, &store()?),
        Command::Inspect {
            reference,
            platform,
        } => {
            let platform = platform
                .as_deref()
                .map(str::parse::<Platform>)
                .transpose()?;
            let inspection = aurora_images::inspect(&store()?, reference, platform.as_ref())?;
            println!("{}", serde_json::to_string_pretty(&inspection)?);
            Ok(())
        }
        Command::Tag { source, target } => {
            let name = aurora_images::tag(&store()?, source, target)?;
            report(&cli, &serde_json::json!({ "tagged": name }), || {
                format!("Tagged {name}")
            });
            Ok(())
        }
        Command::Rm { references } => remove(&cli, &store()?, references),
        Command::Gc => {
            let images = open_images()?;
            let gc = aurora_images::gc(images.store()?)?;
            let layers = images.collect_layers()?;
            let json = serde_json::json!({
                "removed": gc.removed.iter().map(|(d, s)| serde_json::json!({"digest": d, "size": s})).collect::<Vec<_>>(),
                "partials_removed": gc.partials_removed,
                "freed_bytes": gc.freed_bytes,
                "layers_removed": layers,
            });
            report(&cli, &json, || {
                format!(
                    "Removed {} blobs, {} partial downloads and {} layers, freed {} of blobs",
                    gc.removed.len(),
                    gc.partials_removed,
                    layers.len(),
                    HumanBytes(gc.freed_bytes)
                )
            });
            Ok(())
        }
        Command::Df => {
            let usage = open_images()?.disk_usage()?;
            if cli.format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&usage)?);
                return Ok(());
            }
            let rows: Vec<[String; 5]> = usage
                .iter()
                .map(|u| {
                    [
                        u.dataset.name.chars().take(12).collect(),
                        format!("{:?}", u.dataset.kind).to_lowercase(),
                        HumanBytes(u.dataset.used_bytes).to_string(),
                        u.dataset
                            .parent
                            .as_ref()
                            .map(|p| p.as_str()[..12].to_string())
                            .unwrap_or_default(),
                        u.images.join(", "),
                    ]
                })
                .collect();
            print_table(["NAME", "KIND", "SIZE", "PARENT", "IMAGES"], &rows);
            Ok(())
        }
        Command::Unpack {
            reference,
            bundle,
            name,
            platform,
            env,
            tty,
            hostname,
            uidmap,
            gidmap,
            command,
        } => {
            let options = aurora_images::UnpackOptions {
                platform: platform
                    .as_deref()
                    .map(str::parse::<Platform>)
                    .transpose()?,
                name: name.clone(),
                overrides: aurora_bundle::Overrides {
                    args: (!command.is_empty()).then(|| command.clone()),
                    env: env.clone(),
                    terminal: *tty,
                    hostname: hostname.clone(),
                },
                id_map: id_map(uidmap, gidmap)?,
                limits: Config::load(&cli.store.config)?.limits.unpack(),
                // A bundle handed to the user is fsynced.
                durability: aurora_bundle::Durability::Synced,
            };
            let images = open_images()?;
            let unpacked = with_progress(&cli, |progress| {
                images.unpack(reference, bundle, &options, progress)
            })
            .with_context(|| format!("unpacking {reference} into {}", bundle.display()))?;
            report(&cli, &serde_json::to_value(&unpacked)?, || {
                format!(
                    "Unpacked {} into {} ({} driver, container {}): {} layers laid down, {} reused",
                    unpacked.image,
                    unpacked.bundle.display(),
                    unpacked.driver,
                    unpacked.container,
                    unpacked.layers_created,
                    unpacked.layers_reused
                )
            });
            Ok(())
        }
        Command::RmBundle { bundle } => {
            let container = open_images()?.remove_bundle(bundle)?;
            report(&cli, &serde_json::json!({ "removed": container }), || {
                format!(
                    "Removed container {container} and bundle {}",
                    bundle.display()
                )
            });
            Ok(())
        }
        Command::ImportSmartos {
            manifest,
            file,
            tag,
        } => import_smartos(&cli, &open_images()?, manifest, file, tag.clone()),
        Command::ExportSmartos {
            reference,
            out_dir,
            incremental,
        } => export_smartos(&cli, &open_images()?, reference, out_dir, *incremental),
        Command::Login {
            registry,
            username,
            password,
            password_stdin,
        } => login(
            &cli,
            registry,
            username.clone(),
            password.clone(),
            *password_stdin,
        ),
        Command::Logout { registry } => {
            let registry = registry_name(registry)?;
            let file = auth_file(&cli);
            let removed = credentials::remove_credential(&file, &registry)?;
            if !removed {
                bail!("not logged in to {registry} (in {})", file.display());
            }
            report(&cli, &serde_json::json!({ "logged_out": registry }), || {
                format!("Removed login credentials for {registry}")
            });
            Ok(())
        }
    }
}

/// Prints a result: the JSON value with --format json, else the text line unless --quiet.
fn report(cli: &Cli, json: &serde_json::Value, text: impl FnOnce() -> String) {
    match cli.format {
        Format::Json => println!("{json}"),
        Format::Text if !cli.quiet => println!("{}", text()),
        Format::Text => {}
    }
}

fn client(cli: &Cli, credentials: CredentialStore) -> Result<RegistryClient> {
    cli.store.registry_client(credentials)
}

/// SOURCE_DATE_EPOCH (seconds), or 0 when it is not set.
fn source_date_epoch() -> Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .with_context(|| format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds")),
        Err(_) => Ok(0),
    }
}

/// The --uidmap and --gidmap ranges; gids as uids when only --uidmap is given.
fn id_map(
    uids: &[aurora_images::IdRange],
    gids: &[aurora_images::IdRange],
) -> Result<Option<aurora_images::IdMap>> {
    match (uids.is_empty(), gids.is_empty()) {
        (true, true) => Ok(None),
        (true, false) => bail!("--gidmap needs --uidmap too"),
        (false, _) => Ok(Some(aurora_images::IdMap {
            uids: uids.to_vec(),
            gids: if gids.is_empty() { uids } else { gids }.to_vec(),
        })),
    }
}

/// The storage driver and dataset from the flags, else the config file.
fn storage_choice(cli: &Cli) -> Result<aurora_images::StorageChoice> {
    cli.store.storage_choice()
}

fn credential_store(cli: &Cli) -> CredentialStore {
    cli.store.credential_store()
}

fn auth_file(cli: &Cli) -> std::path::PathBuf {
    cli.store
        .authfile
        .clone()
        .unwrap_or_else(credentials::default_docker_config)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    aurora_cli::tokio_runtime()
}

/// Runs `work` with progress shown as the flags and standard error call for: bars on a
/// terminal, plain lines otherwise, nothing with --quiet or --format json.
fn with_progress<T>(cli: &Cli, work: impl FnOnce(&dyn Progress) -> T) -> T {
    let mode = if cli.quiet || cli.format == Format::Json {
        aurora_cli::ProgressMode::Hidden
    } else {
        aurora_cli::ProgressMode::Shown
    };
    aurora_cli::with_progress(mode, work)
}

fn pull(cli: &Cli, store: &Store, image: &ImageRef, options: &PullOptions) -> Result<()> {
    let client = client(cli, credential_store(cli))?;
    let runtime = runtime()?;
    let result = with_progress(cli, |progress| {
        runtime.block_on(aurora_transfer::pull(
            store, &client, image, options, progress,
        ))
    });
    let pulled = result.with_context(|| format!("pulling {image}"))?;
    report(cli, &serde_json::to_value(&pulled)?, || {
        format!(
            "Pulled {} ({}): {} blobs fetched ({}), {} already present",
            pulled.name,
            pulled.digest,
            pulled.blobs_fetched,
            HumanBytes(pulled.bytes_fetched),
            pulled.blobs_present
        )
    });
    Ok(())
}

fn push(
    cli: &Cli,
    store: &Store,
    source: &str,
    destination: &ImageRef,
    options: &aurora_transfer::PushOptions,
) -> Result<()> {
    let client = client(cli, credential_store(cli))?;
    let runtime = runtime()?;
    let result = with_progress(cli, |progress| {
        runtime.block_on(aurora_transfer::push(
            store,
            &client,
            source,
            destination,
            options,
            progress,
        ))
    });
    let pushed = result.with_context(|| format!("pushing {source} to {destination}"))?;
    report(cli, &serde_json::to_value(&pushed)?, || {
        format!(
            "Pushed {} ({}): {} blobs uploaded ({}), {} mounted, {} already there",
            pushed.destination,
            pushed.digest,
            pushed.uploaded,
            HumanBytes(pushed.uploaded_bytes),
            pushed.mounted,
            pushed.present
        )
    });
    Ok(())
}

fn copy(
    cli: &Cli,
    store: &Store,
    source: &aurora_transfer::Location,
    destination: &aurora_transfer::Location,
) -> Result<()> {
    let client = client(cli, credential_store(cli))?;
    let runtime = runtime()?;
    let result = with_progress(cli, |progress| {
        runtime.block_on(aurora_transfer::copy(
            store,
            &client,
            source,
            destination,
            progress,
        ))
    });
    let copied = result.with_context(|| "copying the image")?;
    report(cli, &serde_json::to_value(&copied)?, || {
        format!(
            "Copied {} to {} ({}): {} blobs copied, {} already there",
            copied.source,
            copied.destination,
            copied.digest,
            copied.blobs_copied,
            copied.blobs_present
        )
    });
    Ok(())
}

fn images(cli: &Cli, store: &Store) -> Result<()> {
    let images = aurora_images::list_images(store)?;
    if cli.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&images)?);
        return Ok(());
    }
    let rows: Vec<[String; 5]> = images
        .iter()
        .map(|i| {
            [
                i.repository.clone(),
                i.tag.clone().unwrap_or_else(|| "<none>".into()),
                i.digest
                    .strip_prefix("sha256:")
                    .map(|h| h[..12.min(h.len())].to_string())
                    .unwrap_or_else(|| i.digest.clone()),
                HumanBytes(i.size).to_string(),
                i.created.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"], &rows);
    Ok(())
}

/// Prints rows under a header, in columns as wide as their widest cell.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn remove(cli: &Cli, store: &Store, references: &[String]) -> Result<()> {
    let mut failures = Vec::new();
    for reference in references {
        match aurora_images::remove(store, reference) {
            Ok((name, descriptor)) => report(
                cli,
                &serde_json::json!({ "removed": name, "digest": descriptor.digest().to_string() }),
                || format!("Untagged {name}"),
            ),
            Err(e) => failures.push(e),
        }
    }
    // Each failure is named once: all but the last here, the last by `main`, which also
    // takes the exit status from it.
    let last = failures.pop();
    for failure in &failures {
        eprintln!("imageadm: {failure}");
    }
    match last {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The registry as a user names it; a URL or a full reference is reduced to its host.
fn registry_name(text: &str) -> Result<String> {
    let host = text
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let parsed = ImageRef::parse(&format!("{host}/probe"))
        .ok()
        .filter(|r| r.repository() == "probe" || host == "docker.io")
        .with_context(|| {
            format!("{text:?} is not a registry name such as docker.io or 127.0.0.1:5000")
        })?;
    Ok(parsed.registry().to_string())
}

fn login(
    cli: &Cli,
    registry: &str,
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
) -> Result<()> {
    let registry = registry_name(registry)?;
    let interactive = std::io::stdin().is_terminal();
    let username = match username {
        Some(u) => u,
        None if interactive => prompt("Username: ")?,
        None => bail!("no user name: pass --username"),
    };
    let password = match (password, password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) if interactive => rpassword::prompt_password("Password: ")?,
        (None, false) => bail!("no password: pass --password-stdin and write it to standard input"),
    };
    if username.is_empty() || password.is_empty() {
        bail!("the user name and password must not be empty");
    }
    let credential = Credential { username, password };
    // Check the credentials with the registry before keeping them, from a scratch auth file.
    let scratch = tempfile::tempdir()?;
    let scratch_file = scratch.path().join("auth.json");
    credentials::store_credential(&scratch_file, &registry, &credential)?;
    let checker = client(cli, CredentialStore::from_files(vec![scratch_file]))?;
    runtime()?
        .block_on(checker.ping(&registry))
        .with_context(|| format!("logging in to {registry}"))?;
    let file = auth_file(cli);
    credentials::store_credential(&file, &registry, &credential)?;
    report(
        cli,
        &serde_json::json!({ "logged_in": registry, "authfile": file }),
        || {
            format!(
                "Login succeeded for {registry} (saved in {})",
                file.display()
            )
        },
    );
    Ok(())
}

fn prompt(text: &str) -> Result<String> {
    eprint!("{text}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn import_smartos(
    cli: &Cli,
    images: &Images,
    manifest: &std::path::Path,
    file: &std::path::Path,
    tag: Option<String>,
) -> Result<()> {
    let options = aurora_smartos::ImportOptions { tag };
    let imported = aurora_smartos::import_smartos(images, manifest, file, &options)
        .with_context(|| format!("importing the SmartOS image {}", manifest.display()))?;
    report(cli, &serde_json::to_value(&imported)?, || {
        format!(
            "Imported SmartOS image {} as {} ({}): layer {} ({})",
            imported.uuid,
            imported.image,
            imported.manifest,
            imported.layer,
            if imported.layer_created {
                "received"
            } else {
                "already in storage"
            }
        )
    });
    Ok(())
}

fn export_smartos(
    cli: &Cli,
    images: &Images,
    reference: &str,
    out_dir: &std::path::Path,
    incremental: bool,
) -> Result<()> {
    let options = aurora_smartos::ExportOptions {
        incremental,
        limits: Config::load(&cli.store.config)?.limits.unpack(),
    };
    let exported = with_progress(cli, |progress| {
        aurora_smartos::export_smartos(images, reference, out_dir, &options, progress)
    })
    .with_context(|| format!("exporting {reference} as a SmartOS image"))?;
    report(cli, &serde_json::to_value(&exported)?, || {
        format!(
            "Exported {} as SmartOS image {}{}: {} ({}), {}",
            exported.image,
            exported.uuid,
            exported
                .origin
                .as_ref()
                .map(|o| format!(" (incremental from {o})"))
                .unwrap_or_default(),
            exported.file_path.display(),
            HumanBytes(exported.size),
            exported.manifest_path.display()
        )
    });
    Ok(())
}
