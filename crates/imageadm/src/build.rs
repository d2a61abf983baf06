//! `imageadm build`: the flags turned into `aurora_build::BuildOptions`, FROM images pulled
//! through the registry client, buildah's `STEP n/N:` lines on standard error.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aurora_cli::config::Config;
use aurora_images::Images;

use crate::cli::{BuildArgs, Cli, Format};

pub fn build(cli: &Cli, args: &BuildArgs, images: &Images) -> Result<()> {
    if let Some(platform) = &args.platform {
        let wanted: aurora_spec::Platform = platform.parse()?;
        let host = aurora_spec::Platform::host();
        if wanted.os != host.os || wanted.architecture != host.architecture {
            bail!("--platform {platform}: only this host's platform ({host}) can be built");
        }
    }
    let file = containerfile(&args.context, args.file.as_deref())?;
    let mut build_args = std::collections::BTreeMap::new();
    for arg in &args.build_args {
        let (name, value) = match arg.split_once('=') {
            Some(_) => aurora_build::parse_build_arg(arg).map_err(anyhow::Error::msg)?,
            // As docker: a bare name takes its value from the environment, or is ignored.
            None => match std::env::var(arg) {
                Ok(value) => (arg.clone(), value),
                Err(_) => continue,
            },
        };
        build_args.insert(name, value);
    }
    let labels = args
        .labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--label {l:?}: expected KEY=VALUE"))
        })
        .collect::<Result<Vec<_>>>()?;
    let options = aurora_build::BuildOptions {
        file,
        context: args.context.clone(),
        tags: args.tags.clone(),
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        network: if args.network == "none" {
            aurora_build::Network::None
        } else {
            aurora_build::Network::Host
        },
        labels,
        runtime: runtime(args.runtime.as_deref())?,
        buildhelper: buildhelper()?,
        squash: args.squash,
        run_root: PathBuf::from("/run/aurora"),
    };
    let bases = Bases {
        cli,
        images,
        always: args.pull,
    };
    for reference in &args.cache_from {
        match import_cache(&bases, reference) {
            Ok(n) if !cli.quiet => eprintln!("--> {n} cache entries from {reference}"),
            Ok(_) => {}
            Err(e) => tracing::warn!("--cache-from {reference}: {}", aurora_cli::error_chain(&e)),
        }
    }
    let progress = StepLines { quiet: cli.quiet };
    let report = aurora_build::build(images, &bases, &options, &progress)?;
    if let Some(reference) = &args.cache_to {
        export_cache(cli, images, &report.cache, reference)
            .with_context(|| format!("--cache-to {reference}"))?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &report.id).with_context(|| format!("writing {}", path.display()))?;
    }
    match cli.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            for name in &report.names {
                if !cli.quiet {
                    eprintln!("COMMIT {name}");
                }
            }
            println!("{}", report.id.trim_start_matches("sha256:"));
        }
    }
    Ok(())
}

/// Pulls cache image `reference` (always: a cache changes under its name) and adds its
/// entries to the store's cache.
fn import_cache(bases: &Bases<'_>, reference: &str) -> Result<usize> {
    use aurora_build::BaseImages;
    bases.ensure(reference, true).map_err(anyhow::Error::msg)?;
    let store = bases.images.store()?;
    let image = aurora_images::resolve(store, reference, None)?;
    Ok(aurora_build::import_cache_image(store, &image)?)
}

/// Stores the build's cache entries as image `reference` and pushes it there.
fn export_cache(
    cli: &Cli,
    images: &Images,
    entries: &aurora_build::CacheEntries,
    reference: &str,
) -> Result<()> {
    let destination = aurora_spec::ImageRef::parse(reference)?;
    let store = images.store()?;
    let image = aurora_build::cache_image(entries)?;
    let name = destination.store_name();
    store.put_image(
        &name,
        &aurora_store::NewImage {
            config: &image.config,
            layers: &image.layers,
            annotations: Default::default(),
        },
    )?;
    let client = crate::client(cli, crate::credential_store(cli))?;
    let runtime = crate::runtime()?;
    let options = aurora_transfer::PushOptions {
        jobs: 4,
        chunk: 64 << 20,
    };
    crate::with_progress(cli, |progress| {
        runtime.block_on(aurora_transfer::push(
            store,
            &client,
            &name,
            &destination,
            &options,
            progress,
        ))
    })?;
    if !cli.quiet {
        eprintln!("--> {} cache entries pushed to {reference}", entries.len());
    }
    Ok(())
}

/// `-f`, else `Containerfile`, else `Dockerfile` in the context.
fn containerfile(context: &Path, given: Option<&Path>) -> Result<PathBuf> {
    if let Some(file) = given {
        return Ok(file.to_path_buf());
    }
    for name in ["Containerfile", "Dockerfile"] {
        let path = context.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "no Containerfile or Dockerfile in {}; name one with -f",
        context.display()
    )
}

fn runtime(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    program("AURORA_RUNTIME", "runz").context(
        "no OCI runtime for RUN steps: install runz beside imageadm, or name one with --runtime",
    )
}

/// buildhelper, by absolute path (it is bind-mounted): `$AURORA_BUILDHELPER` (which must
/// exist), else beside imageadm or on PATH, else none (RUN steps then have no buildhelper).
fn buildhelper() -> Result<Option<PathBuf>> {
    if let Some(given) = std::env::var_os("AURORA_BUILDHELPER") {
        let path = std::fs::canonicalize(&given)
            .with_context(|| format!("AURORA_BUILDHELPER={}", Path::new(&given).display()))?;
        return Ok(Some(path));
    }
    Ok(program("AURORA_BUILDHELPER", "buildhelper").and_then(|p| std::fs::canonicalize(p).ok()))
}

/// `$ENV`, else `name` beside this program, else on PATH.
fn program(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let beside = std::env::current_exe().ok()?.with_file_name(name);
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// FROM images: pulled into the store when it lacks them (or always, with --pull).
struct Bases<'a> {
    cli: &'a Cli,
    images: &'a Images,
    always: bool,
}

impl aurora_build::BaseImages for Bases<'_> {
    fn ensure(&self, reference: &str, always: bool) -> std::result::Result<(), String> {
        let image = aurora_spec::ImageRef::parse(reference).map_err(|e| e.to_string())?;
        let store = self.images.store().map_err(|e| e.to_string())?;
        if !(always || self.always) && aurora_images::resolve(store, reference, None).is_ok() {
            return Ok(());
        }
        // Progress on standard error as for a pull; standard output is the build's.
        let pull = || -> Result<()> {
            let client = crate::client(self.cli, crate::credential_store(self.cli))?;
            let runtime = crate::runtime()?;
            let options = aurora_transfer::PullOptions::default();
            crate::with_progress(self.cli, |progress| {
                runtime.block_on(aurora_transfer::pull(
                    store, &client, &image, &options, progress,
                ))
            })
            .with_context(|| format!("pulling {image}"))?;
            Ok(())
        };
        pull().map_err(|e| aurora_cli::error_chain(&e))
    }

    fn download(
        &self,
        url: &str,
        out: &mut std::fs::File,
        limit: u64,
    ) -> std::result::Result<u64, String> {
        download(self.cli, url, out, limit).map_err(|e| aurora_cli::error_chain(&e))
    }
}

/// ADD's URLs: http or https, from a loopback host or one listed as an insecure registry
/// (--insecure-registry, the config file) — a build on this machine reads what the operator
/// trusts, never an arbitrary host; redirects are not followed.
fn download(cli: &Cli, url: &str, out: &mut std::fs::File, limit: u64) -> Result<u64> {
    use std::io::Write;
    let parsed = url::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("only http and https URLs can be added");
    }
    let host = parsed.host_str().unwrap_or_default().to_string();
    let host_port = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let mut trusted = cli.store.insecure_registries.clone();
    trusted.extend(Config::load(&cli.store.config)?.registries.insecure);
    if !loopback && !trusted.iter().any(|t| *t == host_port || *t == host) {
        bail!("{host_port} is neither a loopback host nor listed as an insecure registry");
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let mut response = client.get(parsed).send().await?;
        if !response.status().is_success() {
            bail!("the server answered {}", response.status());
        }
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await? {
            written += chunk.len() as u64;
            if written > limit {
                bail!("larger than {limit} bytes");
            }
            out.write_all(&chunk)?;
        }
        Ok(written)
    })
}

/// buildah's progress lines: `STEP 2/6: RUN …`, then `--> Using cache` or the time taken.
struct StepLines {
    quiet: bool,
}

impl aurora_build::BuildProgress for StepLines {
    fn step_started(&self, _stage: usize, number: usize, total: usize, instruction: &str) {
        if !self.quiet {
            eprintln!("STEP {number}/{total}: {instruction}");
        }
    }

    fn step_done(&self, cached: bool, millis: u64) {
        if self.quiet {
            return;
        }
        if cached {
            eprintln!("--> CACHED");
        } else {
            eprintln!("--> {:.3}s", millis as f64 / 1000.0);
        }
        let _ = std::io::stderr().flush();
    }
}
