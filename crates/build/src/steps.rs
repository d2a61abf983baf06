//! One step at a time: FROM makes a stage's state; config instructions change it; RUN,
//! COPY and ADD run in a working container and add a layer, unless the cache has it.

use std::collections::BTreeMap;

use aurora_containerfile::{Containerfile, Copy, Instruction, InstructionKind, Lexer};
use aurora_spec::Digest;
use aurora_storage::Driver;
use aurora_store::Store;
use serde_json::{json, Value};

use crate::cache::{next_key, Cache, Entry};
use crate::copy::{copy_into_root, extract_into_root, is_archive, items, placement, Item};
use crate::error::{step, Result};
use crate::options::{BaseImages, BuildOptions};
use crate::run::{run_command, run_step, RunContext};
use crate::source::{Attributes, SourceRoot};
use crate::stage::{
    healthcheck_value, new_state, port_key, scratch_state, StageState, PREDEFINED_ARGS,
};
use crate::work::{lay_down, Working};

/// Most an ADD may download.
const MAX_DOWNLOAD: u64 = 16 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Cached,
}

pub(crate) struct Steps<'a> {
    pub store: &'a Store,
    pub driver: &'a dyn Driver,
    pub bases: &'a dyn BaseImages,
    pub options: &'a BuildOptions,
    pub lexer: Lexer,
    pub cache: Cache,
    pub context: SourceRoot,
    pub global_args: BTreeMap<String, String>,
    /// Stages built so far, by index.
    pub built: BTreeMap<usize, StageState>,
    pub file: &'a Containerfile,
    /// This build's directory under the options' `run_root`.
    pub run_dir: std::path::PathBuf,
}

impl Steps<'_> {
    /// The state FROM gives stage `index`.
    pub fn from(&self, index: usize) -> Result<StageState> {
        let from = &self.file.stages[index].from;
        let image = self
            .lexer
            .process_word(&from.image, &|name| self.global_args.get(name).cloned())
            .map_err(|e| step(from.line, e.to_string()))?;
        if let Some(earlier) = crate::stages::find_stage(self.file, &image, index) {
            let built = self.built.get(&earlier).ok_or_else(|| {
                step(
                    from.line,
                    format!("stage {image} was not built before this one"),
                )
            })?;
            return Ok(copy_state(built));
        }
        if image.eq_ignore_ascii_case("scratch") {
            return Ok(scratch_state());
        }
        let platform = match &from.platform {
            Some(text) => {
                let text = self
                    .lexer
                    .process_word(text, &|name| self.global_args.get(name).cloned())
                    .map_err(|e| step(from.line, e.to_string()))?;
                let wanted: aurora_spec::Platform = text
                    .parse()
                    .map_err(|e| step(from.line, format!("--platform={text}: {e}")))?;
                let host = aurora_spec::Platform::host();
                if wanted.os != host.os || wanted.architecture != host.architecture {
                    return Err(step(
                        from.line,
                        format!("--platform={text}: only this host's platform ({host}) can run build steps"),
                    ));
                }
                Some(wanted)
            }
            None => None,
        };
        self.image_state(&image, platform.as_ref(), from.line)
    }

    fn image_state(
        &self,
        image: &str,
        platform: Option<&aurora_spec::Platform>,
        line: usize,
    ) -> Result<StageState> {
        let stored = match aurora_images::resolve(self.store, image, platform) {
            Ok(stored) => stored,
            Err(aurora_images::ImageError::NotInStore(_)) => {
                self.bases
                    .ensure(image, false)
                    .map_err(|e| step(line, format!("{image}: {e}")))?;
                aurora_images::resolve(self.store, image, platform)?
            }
            Err(e) => return Err(e.into()),
        };
        let planned = aurora_images::plan_layers(&stored)?;
        let layers = planned
            .iter()
            .zip(&stored.manifest.layers)
            .map(|(p, link)| aurora_images::NewLayer {
                digest: p.blob.clone(),
                size: link.size,
                diff_id: p.diff_id.clone(),
                media_type: p.media_type.clone(),
            })
            .collect();
        crate::work::ensure(self.store, self.driver, &planned)?;
        let config = match serde_json::from_slice(&stored.config_bytes) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(step(
                    line,
                    format!("{image}: the image config is not an object"),
                ))
            }
        };
        Ok(new_state(
            config,
            layers,
            planned.last().map(|p| p.id.clone()),
            stored.manifest_digest.clone(),
            stored.name.clone(),
        ))
    }

    pub fn step(&self, state: &mut StageState, instruction: &Instruction) -> Result<Outcome> {
        let line = instruction.line;
        match &instruction.kind {
            InstructionKind::Run(run) => {
                let command = run_command(state, run);
                let network = match run.network.as_deref() {
                    None | Some("default") => self.options.network,
                    Some("none") => crate::Network::None,
                    Some("host") => crate::Network::Host,
                    Some(other) => {
                        return Err(step(
                            line,
                            format!("RUN --network={other}: expected none, host or default"),
                        ))
                    }
                };
                if !run.mounts.is_empty() {
                    return Err(step(line, "RUN --mount is not supported yet"));
                }
                if run.security.as_deref() == Some("insecure") {
                    return Err(step(line, "RUN --security=insecure is not supported"));
                }
                let args_text: Vec<String> =
                    state.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let key = next_key(
                    &state.key,
                    &["RUN", &command.key_text(), &args_text.join("\0")],
                );
                let created_by = command.args.join(" ");
                self.layer_step(state, key, &created_by, line, |steps, state, working| {
                    let cx = RunContext {
                        runtime: &steps.options.runtime,
                        run_dir: &steps.run_dir,
                        network,
                        buildhelper: steps.options.buildhelper.as_deref(),
                        proxy_env: PREDEFINED_ARGS
                            .iter()
                            .filter_map(|name| {
                                steps
                                    .options
                                    .build_args
                                    .get(*name)
                                    .map(|v| format!("{name}={v}"))
                            })
                            .collect(),
                    };
                    ensure_workdir(state, &working.rootfs, line)?;
                    run_step(&cx, state, &working.rootfs, &working.name, &command, line)
                })
            }
            InstructionKind::Copy(copy) => self.copy(state, copy, false, instruction),
            InstructionKind::Add(copy) => self.copy(state, copy, true, instruction),
            kind => {
                self.config_step(state, kind, line)?;
                let key = next_key(&state.key, &[&instruction.text, &self.args_text(state)]);
                let entry = self.cache.find(self.store, &key);
                let cached = entry.is_some();
                let created = entry.map_or_else(now, |e| e.created);
                if !cached {
                    self.cache.keep(
                        &key,
                        &Entry {
                            created: created.clone(),
                            layer: None,
                        },
                    )?;
                }
                if !matches!(kind, InstructionKind::Arg(_)) {
                    state.add_history(
                        &created,
                        &format!("/bin/sh -c #(nop) {}", instruction.text),
                        true,
                    );
                }
                state.key = key;
                Ok(if cached {
                    Outcome::Cached
                } else {
                    Outcome::Done
                })
            }
        }
    }

    fn args_text(&self, state: &StageState) -> String {
        state
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}\0"))
            .collect()
    }

    /// A step that adds a layer: from the cache, or made by `make` in a working container.
    fn layer_step(
        &self,
        state: &mut StageState,
        key: Digest,
        created_by: &str,
        line: usize,
        make: impl FnOnce(&Self, &StageState, &Working<'_>) -> Result<()>,
    ) -> Result<Outcome> {
        if let Some(entry) = self.cache.find(self.store, &key) {
            if let Some(layer) = entry.layer {
                lay_down(self.store, self.driver, state, &layer.into())?;
                state.add_history(&entry.created, created_by, false);
                state.key = key;
                return Ok(Outcome::Cached);
            }
        }
        let working = Working::clone_of(self.store, self.driver, state)?;
        make(self, state, &working)?;
        let layer = working
            .commit(self.store, state)
            .map_err(|e| step(line, format!("committing the step: {e}")))?;
        let created = now();
        self.cache.keep(
            &key,
            &Entry {
                created: created.clone(),
                layer: Some((&layer).into()),
            },
        )?;
        state.add_history(&created, created_by, false);
        state.key = key;
        Ok(Outcome::Done)
    }

    fn copy(
        &self,
        state: &mut StageState,
        copy: &Copy,
        add: bool,
        instruction: &Instruction,
    ) -> Result<Outcome> {
        let line = instruction.line;
        let expand = |word: &str| state.expand(&self.lexer, word, line);
        // The tree the sources come from: the context, or an earlier stage's or an image's root.
        let from_state;
        let from_working;
        let from_root;
        let source: &SourceRoot = match &copy.from {
            None => &self.context,
            Some(from) => {
                let from = expand(from)?;
                from_state = match crate::stages::find_stage(self.file, &from, usize::MAX) {
                    Some(index) => copy_state(self.built.get(&index).ok_or_else(|| {
                        step(
                            line,
                            format!("--from={from}: that stage is not built before this one"),
                        )
                    })?),
                    None => self.image_state(&from, None, line)?,
                };
                from_working = Working::clone_of(self.store, self.driver, &from_state)?;
                from_root = SourceRoot::open(&from_working.rootfs, None)?;
                &from_root
            }
        };
        let download = |url: &str| self.download(url, line);
        let download: Option<crate::copy::Download<'_>> = if add { Some(&download) } else { None };
        let items = items(copy, source, &expand, download, line)?;
        let mode = copy
            .chmod
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m, 8)
                    .map_err(|_| step(line, format!("--chmod={m}: expected an octal mode")))
            })
            .transpose()?;
        let hash_attributes = Attributes {
            owner: None,
            mode,
            keep_owner: copy.from.is_some(),
        };
        let hash = crate::copy::content_hash(source, &items, hash_attributes)?;
        let dest = expand(&copy.dest)?;
        let dest = if dest.starts_with('/') {
            dest
        } else {
            let workdir = state.workdir();
            format!("{}/{dest}", workdir.trim_end_matches('/'))
        };
        let word = if add { "ADD" } else { "COPY" };
        let key = next_key(
            &state.key,
            &[
                word,
                &instruction.text,
                &dest,
                &hash,
                &self.args_text(state),
            ],
        );
        let created_by = format!("/bin/sh -c #(nop) {word} {hash} in {dest}");
        let chown = copy.chown.as_deref().map(&expand).transpose()?;
        self.layer_step(state, key, &created_by, line, |_, state, working| {
            ensure_workdir(state, &working.rootfs, line)?;
            let owner = match &chown {
                Some(spec) => Some(resolve_owner(state, &working.rootfs, spec, line)?),
                None => None,
            };
            let attributes = Attributes {
                owner,
                mode,
                keep_owner: copy.from.is_some(),
            };
            let root = pathrs::Root::open(&working.rootfs)
                .map_err(|e| step(line, format!("the build root: {e}")))?;
            let is_dir = |path: &str| {
                root.resolve(path)
                    .ok()
                    .and_then(|h| h.reopen(pathrs::flags::OpenFlags::O_PATH).ok())
                    .and_then(|f| f.metadata().ok())
                    .is_some_and(|m| m.is_dir())
            };
            let (archives, plain): (Vec<&Item>, Vec<&Item>) = items
                .iter()
                .partition(|item| add && is_archive(source, item));
            for item in archives {
                if let Item::Path(m) = item {
                    let dir = dest.trim_end_matches('/');
                    extract_into_root(
                        source,
                        m,
                        &working.rootfs,
                        if dir.is_empty() { "/" } else { dir },
                        line,
                    )?;
                }
            }
            if !plain.is_empty() {
                let owned: Vec<Item> = plain.into_iter().cloned().collect();
                let place = placement(&owned, &dest, is_dir, line)?;
                copy_into_root(source, &owned, &working.rootfs, &place, attributes, line)?;
            }
            Ok(())
        })
    }

    /// ADD's URL source downloaded into this build's run directory, named as docker names
    /// it (the URL path's last segment).
    fn download(&self, url: &str, line: usize) -> Result<Item> {
        let name = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty() && !n.contains("://"))
            .unwrap_or("download")
            .to_string();
        let path = self
            .run_dir
            .join(format!("download-{}", crate::work::random_hex()));
        let mut file = std::fs::File::create(&path).map_err(crate::error::io(&path))?;
        self.bases
            .download(url, &mut file, MAX_DOWNLOAD)
            .map_err(|e| step(line, format!("ADD {url}: {e}")))?;
        Ok(Item::Download(name, path))
    }

    /// Instructions that change only the config.
    fn config_step(
        &self,
        state: &mut StageState,
        kind: &InstructionKind,
        line: usize,
    ) -> Result<()> {
        let lexer = &self.lexer;
        match kind {
            InstructionKind::Env(pairs) => {
                for (name, value) in pairs {
                    let name = state.expand(lexer, name, line)?;
                    let value = state.expand(lexer, value, line)?;
                    state.set_env(&name, &value);
                }
            }
            InstructionKind::Arg(decls) => {
                for decl in decls {
                    let value = match (self.options.build_args.get(&decl.name), &decl.default) {
                        (Some(given), _) => Some(given.clone()),
                        (None, Some(default)) => Some(state.expand(lexer, default, line)?),
                        (None, None) => self.global_args.get(&decl.name).cloned(),
                    };
                    state
                        .args
                        .insert(decl.name.clone(), value.unwrap_or_default());
                }
            }
            InstructionKind::Label(pairs) => {
                for (key, value) in pairs {
                    let key = state.expand(lexer, key, line)?;
                    let value = state.expand(lexer, value, line)?;
                    state.insert_in("Labels", &key, json!(value));
                }
            }
            InstructionKind::Workdir(dir) => {
                let dir = state.expand(lexer, dir, line)?;
                let dir = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{}/{dir}", state.workdir().trim_end_matches('/'))
                };
                state.inner().insert("WorkingDir".into(), json!(dir));
            }
            InstructionKind::User(user) => {
                let user = state.expand(lexer, user, line)?;
                state.inner().insert("User".into(), json!(user));
            }
            InstructionKind::StopSignal(signal) => {
                let signal = state.expand(lexer, signal, line)?;
                state.inner().insert("StopSignal".into(), json!(signal));
            }
            InstructionKind::Cmd(command) => {
                let value = state.command_value(command);
                state.inner().insert("Cmd".into(), json!(value));
            }
            InstructionKind::Entrypoint(command) => {
                let value = state.command_value(command);
                let inner = state.inner();
                inner.insert("Entrypoint".into(), json!(value));
                // As docker: a new entrypoint drops the CMD the base image gave.
                inner.remove("Cmd");
            }
            InstructionKind::Shell(shell) => {
                state.shell = shell.clone();
                state.inner().insert("Shell".into(), json!(shell));
            }
            InstructionKind::Expose(words) => {
                for word in words {
                    for port in lexer
                        .process_words(word, &|name| state.var(name))
                        .map_err(|e| step(line, e.to_string()))?
                    {
                        let key = port_key(&port).map_err(|e| step(line, e))?;
                        state.insert_in("ExposedPorts", &key, json!({}));
                    }
                }
            }
            InstructionKind::Volume(words) => {
                for word in words {
                    let path = state.expand(lexer, word, line)?;
                    if path.is_empty() {
                        return Err(step(line, "VOLUME needs a path"));
                    }
                    state.insert_in("Volumes", &path, json!({}));
                }
            }
            InstructionKind::Healthcheck(check) => {
                state
                    .inner()
                    .insert("Healthcheck".into(), healthcheck_value(check));
            }
            InstructionKind::Onbuild(trigger) => {
                let inner = state.inner();
                let list = inner.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(list) = list.as_array_mut() {
                    list.push(json!(trigger));
                }
            }
            InstructionKind::Maintainer(author) => {
                state.config.insert("author".into(), json!(author));
            }
            InstructionKind::Run(_) | InstructionKind::Copy(_) | InstructionKind::Add(_) => {}
        }
        Ok(())
    }
}

/// A stage's state as the start of another (`FROM stage`, `COPY --from=stage`).
fn copy_state(built: &StageState) -> StageState {
    let mut state = new_state(
        built.config.clone(),
        built.layers.clone(),
        built.top.clone(),
        built.key.clone(),
        built.base_name.clone(),
    );
    state.created = built.created.clone();
    state
}

/// WORKDIR's directory, made in the working container when the image lacks it.
fn ensure_workdir(state: &StageState, rootfs: &std::path::Path, line: usize) -> Result<()> {
    let workdir = state.workdir();
    if workdir == "/" {
        return Ok(());
    }
    let root =
        pathrs::Root::open(rootfs).map_err(|e| step(line, format!("the build root: {e}")))?;
    let perm = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    root.mkdir_all(&workdir, &perm)
        .map_err(|e| step(line, format!("WORKDIR {workdir}: {e}")))?;
    Ok(())
}

/// `--chown=USER[:GROUP]`, names resolved in the image's passwd and group files; a user
/// without a group gets the same number as its group, as docker does.
fn resolve_owner(
    state: &StageState,
    rootfs: &std::path::Path,
    spec: &str,
    line: usize,
) -> Result<(u32, u32)> {
    let resolved = aurora_bundle::resolve_user(&state.base_name, rootfs, spec)
        .map_err(|e| step(line, format!("--chown={spec}: {e}")))?;
    let gid = if spec.contains(':') {
        resolved.gid
    } else {
        resolved.uid
    };
    Ok((resolved.uid, gid))
}

/// Now, as image configs record times.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
