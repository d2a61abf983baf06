//! The build: the Containerfile read and parsed, the stages the target needs built in order,
//! the target's state stored as an image under its names.

use std::collections::BTreeMap;
use std::time::Instant;

use aurora_containerfile::{Containerfile, IgnoreRules, Lexer};
use aurora_images::Images;
use serde_json::json;

use crate::cache::Cache;
use crate::error::{io, BuildError, Result};
use crate::options::{BaseImages, BuildOptions, BuildProgress, BuildReport, StepReport};
use crate::source::SourceRoot;
use crate::stage::StageState;
use crate::steps::{Outcome, Steps};

/// Containerfiles are text written by hand; a bigger one is refused.
const MAX_CONTAINERFILE: u64 = 4 << 20;

/// Builds the image `options` describes in `images`' store and storage.
pub fn build(
    images: &Images,
    bases: &dyn BaseImages,
    options: &BuildOptions,
    progress: &dyn BuildProgress,
) -> Result<BuildReport> {
    let file = read_containerfile(options)?;
    let lexer = Lexer {
        escape: file.escape,
    };
    let store = images.store()?;
    let driver = images.storage()?;
    // Shared, as pulls and unpacks hold it: gc cannot take what the build stands on.
    let _writer = store.writer_lock()?;
    crate::work::remove_abandoned(driver, &options.run_root, &options.runtime)?;
    let run_dir = crate::work::RunDir::make(&options.run_root)?;
    let context = SourceRoot::open(&options.context, read_ignore(options)?)?;
    let cache = Cache::open(store, !options.no_cache)?;
    let global_args = global_args(&file, &lexer, options)?;
    let order = crate::stages::needed(&file, options.target.as_deref())?;
    let total: usize = order
        .iter()
        .map(|&i| file.stages[i].instructions.len() + 1)
        .sum();
    let mut steps = Steps {
        store,
        driver,
        bases,
        options,
        lexer,
        cache,
        context,
        global_args,
        built: BTreeMap::new(),
        file: &file,
        run_dir: run_dir.path().to_path_buf(),
    };
    let mut reports = Vec::new();
    let mut number = 0;
    for &index in &order {
        let stage_file = &file.stages[index];
        number += 1;
        let started = Instant::now();
        progress.step_started(index, number, total, &from_text(stage_file));
        let mut state = steps.from(index)?;
        report(
            progress,
            &mut reports,
            index,
            stage_file.from.line,
            &from_text(stage_file),
            false,
            started,
        );
        for instruction in &stage_file.instructions {
            number += 1;
            let started = Instant::now();
            progress.step_started(index, number, total, &instruction.text);
            let outcome = steps.step(&mut state, instruction)?;
            report(
                progress,
                &mut reports,
                index,
                instruction.line,
                &instruction.text,
                outcome == Outcome::Cached,
                started,
            );
        }
        steps.built.insert(index, state);
    }
    let target = order.last().copied().unwrap_or_default();
    let mut state = steps
        .built
        .remove(&target)
        .ok_or_else(|| BuildError::Invalid("the target stage was not built".into()))?;
    for (key, value) in &options.labels {
        state.insert_in("Labels", key, json!(value));
    }
    if options.squash {
        squash(store, driver, &mut state)?;
    }
    let mut report = store_image(images, &mut state, options, reports)?;
    report.cache = crate::CacheEntries(steps.cache.used());
    Ok(report)
}

fn from_text(stage: &aurora_containerfile::Stage) -> String {
    let mut text = format!("FROM {}", stage.from.image);
    if let Some(name) = &stage.name {
        text.push_str(&format!(" AS {name}"));
    }
    text
}

fn report(
    progress: &dyn BuildProgress,
    reports: &mut Vec<StepReport>,
    stage: usize,
    line: usize,
    text: &str,
    cached: bool,
    started: Instant,
) {
    let millis = started.elapsed().as_millis() as u64;
    progress.step_done(cached, millis);
    reports.push(StepReport {
        stage,
        line,
        instruction: text.to_string(),
        cached,
        millis,
    });
}

fn read_containerfile(options: &BuildOptions) -> Result<Containerfile> {
    use std::io::Read;
    let path = &options.file;
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut text = String::new();
    file.take(MAX_CONTAINERFILE + 1)
        .read_to_string(&mut text)
        .map_err(io(path))?;
    if text.len() as u64 > MAX_CONTAINERFILE {
        return Err(BuildError::Invalid(format!(
            "{}: larger than {MAX_CONTAINERFILE} bytes",
            path.display()
        )));
    }
    aurora_containerfile::parse(&text).map_err(|source| BuildError::Parse {
        file: path.clone(),
        source,
    })
}

/// `.containerignore`, else `.dockerignore`, in the context.
fn read_ignore(options: &BuildOptions) -> Result<Option<IgnoreRules>> {
    for name in [".containerignore", ".dockerignore"] {
        let path = options.context.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return IgnoreRules::parse(&text)
                    .map(Some)
                    .map_err(|source| BuildError::Parse { file: path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(None)
}

/// The ARGs before the first FROM, with the build's values.
fn global_args(
    file: &Containerfile,
    lexer: &Lexer,
    options: &BuildOptions,
) -> Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for decl in &file.global_args {
        let value = match (options.build_args.get(&decl.name), &decl.default) {
            (Some(given), _) => Some(given.clone()),
            (None, Some(default)) => Some(
                lexer
                    .process_word(default, &|name| args.get(name).cloned())
                    .map_err(|e| BuildError::Invalid(format!("ARG {}: {e}", decl.name)))?,
            ),
            (None, None) => None,
        };
        if let Some(value) = value {
            args.insert(decl.name.clone(), value);
        }
    }
    Ok(args)
}

/// Stores the target's config and layers as an image, under each name.
fn store_image(
    images: &Images,
    state: &mut StageState,
    options: &BuildOptions,
    steps: Vec<StepReport>,
) -> Result<BuildReport> {
    let store = images.store()?;
    if !state.created.is_empty() {
        state.config.insert("created".into(), json!(state.created));
    }
    let config_bytes =
        serde_json::to_vec(&state.config).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let config_digest = aurora_spec::sha256_digest(&config_bytes);
    let links: Vec<aurora_spec::document::Link> = state
        .layers
        .iter()
        .map(aurora_images::NewLayer::link)
        .collect();
    let mut names: Vec<String> = Vec::new();
    for tag in &options.tags {
        let reference = aurora_spec::ImageRef::parse(tag)
            .map_err(|e| BuildError::Invalid(format!("-t {tag:?}: {e}")))?;
        names.push(reference.store_name());
    }
    if names.is_empty() {
        // An image needs a name in the store: the id's first digits, as a local name.
        names.push(format!("localhost/build:{}", &config_digest.digest()[..12]));
    }
    let mut annotations = BTreeMap::new();
    if !state.created.is_empty() {
        annotations.insert(
            "org.opencontainers.image.created".to_string(),
            state.created.clone(),
        );
    }
    let image = aurora_store::NewImage {
        config: &config_bytes,
        layers: &links,
        annotations,
    };
    let mut manifest = String::new();
    for name in &names {
        let put = store.put_image(name, &image)?;
        manifest = put.manifest.digest().to_string();
    }
    Ok(BuildReport {
        id: config_digest.to_string(),
        manifest,
        names,
        steps,
        cache: Default::default(),
    })
}

/// `--squash`: the image's whole tree as one layer, one history entry.
fn squash(
    store: &aurora_store::Store,
    driver: &dyn aurora_storage::Driver,
    state: &mut StageState,
) -> Result<()> {
    let working = crate::work::Working::clone_of(store, driver, state)?;
    let layer = aurora_images::pack_tree_into_store(
        store,
        &working.rootfs,
        &aurora_layers::PackOptions::default(),
    )?;
    drop(working);
    state.layers = vec![layer.clone()];
    state.config.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": [layer.diff_id.to_string()]}),
    );
    let created = if state.created.is_empty() {
        crate::steps::now()
    } else {
        state.created.clone()
    };
    state.config.insert(
        "history".into(),
        json!([{"created": created, "created_by": "imageadm build --squash"}]),
    );
    Ok(())
}
