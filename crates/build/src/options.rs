//! What the caller asks of a build, and what it reports back.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The network a RUN step's container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The host's network (what `docker build` users expect a `RUN apt-get` to have).
    #[default]
    Host,
    /// A network namespace of its own with only `lo`.
    None,
}

/// How a build runs.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Containerfile.
    pub file: PathBuf,
    /// The context directory COPY and ADD read from.
    pub context: PathBuf,
    /// Names given to the image (`-t`); the first is also the name it is stored under.
    pub tags: Vec<String>,
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE`: the last stage built (the last stage of the file when `None`).
    pub target: Option<String>,
    /// `--no-cache`: every step runs (and is cached again).
    pub no_cache: bool,
    pub network: Network,
    /// `--label K=V`, added to the image's labels last.
    pub labels: Vec<(String, String)>,
    /// The OCI runtime that runs RUN steps (runc's command line: runz, runc, crun).
    pub runtime: PathBuf,
    /// buildhelper, bind-mounted read-only into each RUN step and put on its PATH.
    pub buildhelper: Option<PathBuf>,
    /// `--squash`: the image as one layer (its base's files included).
    pub squash: bool,
    /// Where builds keep their steps' bundles and runtime state, one directory per build
    /// (`build-PID`); what a killed build left there is removed by the next.
    pub run_root: PathBuf,
}

/// One step as the build went through it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    pub stage: usize,
    pub line: usize,
    pub instruction: String,
    pub cached: bool,
    pub millis: u64,
}

/// What a build made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    /// The image's id: its config's digest.
    pub id: String,
    pub manifest: String,
    pub names: Vec<String>,
    pub steps: Vec<StepReport>,
    /// The cache entries the build found or made (for `--cache-to`).
    #[serde(skip)]
    pub cache: crate::CacheEntries,
}

/// Told of each step as it begins and ends (imageadm prints buildah's `STEP n/N:` lines).
pub trait BuildProgress {
    fn step_started(&self, stage: usize, number: usize, total: usize, instruction: &str);
    fn step_done(&self, cached: bool, millis: u64);
}

/// Says nothing.
pub struct Quiet;

impl BuildProgress for Quiet {
    fn step_started(&self, _: usize, _: usize, _: usize, _: &str) {}
    fn step_done(&self, _: bool, _: u64) {}
}

/// Where a FROM image comes from: the caller pulls what the store lacks (imageadm through
/// aurora-transfer) so that this crate stays free of registries.
pub trait BaseImages {
    /// Makes `reference` present in the store; `always` asks for a pull even when it is.
    fn ensure(&self, reference: &str, always: bool) -> Result<(), String>;

    /// Downloads `url` (an ADD source) into `out`, at most `limit` bytes; refuses hosts
    /// the caller does not trust. None by default.
    fn download(&self, url: &str, _out: &mut std::fs::File, _limit: u64) -> Result<u64, String> {
        Err(format!("{url}: downloads are not available here"))
    }
}

/// Build arguments as `NAME=VALUE` pairs, checked.
pub fn parse_build_arg(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("--build-arg {text:?}: expected NAME=VALUE")),
    }
}
