//! The three modes, from a parsed command line to the child's [`ExitRecord`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::actions::{ActionsError, ActionsFile};
use crate::cli::SuperviseOptions;
use crate::config::{self, ConfigError, InitConfig};
use crate::configmap::ConfigMapError;
use crate::fsutil::{write_atomic, FileAttrs, WriteError};
use crate::status::ExitRecord;
use crate::supervise::{self, Launch, LaunchSpec, Signals, SpawnError};

/// Why podinit could not run the process.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("config map {path}: {source}")]
    ConfigMap {
        path: String,
        source: ConfigMapError,
    },
    #[error("config map: {0}")]
    ConfigMapWrite(#[from] WriteError),
    #[error("{0}: {1}")]
    ImageConfigMaps(String, String),
    #[error("cannot set host name {name:?}: {source}")]
    Hostname {
        name: String,
        source: std::io::Error,
    },
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Actions(#[from] ActionsError),
}

impl InitError {
    /// podinit's exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Spawn(e) => e.exit_code(),
            InitError::Actions(ActionsError::Unknown { .. }) => crate::EXIT_USAGE,
            _ => crate::EXIT_INIT_FAILED,
        }
    }
}

/// Blocks signals (first, so none arriving during set-up is lost) and becomes subreaper.
pub(crate) fn prepare() -> Result<Signals, InitError> {
    let signals = Signals::block().map_err(InitError::Signals)?;
    supervise::become_subreaper().map_err(InitError::Signals)?;
    Ok(signals)
}

fn start(signals: Signals, spec: LaunchSpec, process_group: bool) -> Result<ExitRecord, InitError> {
    let launch = Launch::new(spec)?;
    let pid = supervise::spawn(&launch, &signals)?;
    Ok(supervise::supervise(pid, &signals, process_group))
}

/// tini-like mode: supervise `command` with podinit's own environment.
pub fn run_command(
    command: Vec<OsString>,
    options: &SuperviseOptions,
) -> Result<ExitRecord, InitError> {
    let signals = prepare()?;
    let env = supervise::current_env();
    let spec = LaunchSpec {
        search_path: supervise::env_path(&env, config::DEFAULT_PATH),
        args: command,
        env,
        ..Default::default()
    };
    start(signals, spec, options.process_group)
}

/// Sets the host name when it is not already `name`.
pub fn apply_hostname(name: &str) -> Result<(), InitError> {
    let err = |source| InitError::Hostname {
        name: name.to_string(),
        source,
    };
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        if &buf[..len] == name.as_bytes() {
            return Ok(());
        }
    }
    // SAFETY: name is valid for its length.
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len() as _) } != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Renders and writes every config map of `config`.
pub fn write_config_maps(config: &InitConfig) -> Result<(), InitError> {
    write_maps(&config.config_maps)
}

/// The config maps the image defines ([`crate::image_maps`]), rendered from this process's
/// environment; nothing when the image defines none.
pub fn write_image_config_maps() -> Result<(), InitError> {
    let path = Path::new(crate::image_maps::IMAGE_CONFIGMAPS_PATH);
    let Ok(definitions) = std::fs::read(path) else {
        return Ok(());
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let maps = crate::image_maps::image_config_maps(&definitions, &env)
        .map_err(|reason| InitError::ImageConfigMaps(path.display().to_string(), reason))?;
    write_maps(&maps)
}

fn write_maps(maps: &[crate::configmap::ConfigMap]) -> Result<(), InitError> {
    for m in maps {
        let bytes = m.render().map_err(|source| InitError::ConfigMap {
            path: m.path.clone(),
            source,
        })?;
        crate::configmap::check_path(&m.path).map_err(|source| InitError::ConfigMap {
            path: m.path.clone(),
            source,
        })?;
        let attrs = FileAttrs {
            mode: m.mode(),
            uid: m.uid,
            gid: m.gid,
        };
        write_atomic(Path::new(&m.path), &bytes, attrs, true)?;
    }
    Ok(())
}

/// Zone-init mode: apply the config file and supervise its process. `status_file` is the
/// status file chosen so far (`--status-file`, or the default for a zone's init); the
/// config's `statusFile` replaces it unless `--status-file` was given.
pub fn run_config(
    path: &Path,
    options: &SuperviseOptions,
    status_file: &mut Option<PathBuf>,
) -> Result<ExitRecord, InitError> {
    let signals = prepare()?;
    let config = InitConfig::load(path)?;
    if let (None, Some(s)) = (&options.status_file, &config.status_file) {
        *status_file = Some(s.clone());
    }
    if let Some(h) = &config.hostname {
        apply_hostname(h)?;
    }
    write_config_maps(&config)?;
    let p = &config.process;
    let env: Vec<OsString> = p.env.iter().map(OsString::from).collect();
    let mut rlimits = Vec::new();
    for r in &p.rlimits {
        // validate() has checked every type.
        if let Some(res) = config::rlimit_resource(&r.kind) {
            rlimits.push((res, r.soft, r.hard));
        }
    }
    let spec = LaunchSpec {
        args: p.args.iter().map(OsString::from).collect(),
        search_path: config.search_path().into(),
        env,
        cwd: p.cwd.as_ref().map(PathBuf::from),
        root: None,
        user: p.user.clone(),
        rlimits,
        no_new_privileges: p.no_new_privileges,
    };
    start(signals, spec, options.process_group)
}

/// Action mode: run the action `name` of the actions file at `path`.
pub fn run_action(name: &str, path: &Path) -> Result<ExitRecord, InitError> {
    let signals = prepare()?;
    let file = ActionsFile::load(path)?;
    let action = file.get(name, path)?;
    let env = supervise::merge_env(supervise::current_env(), &action.env);
    let spec = LaunchSpec {
        args: action.args.iter().map(OsString::from).collect(),
        search_path: supervise::env_path(&env, config::DEFAULT_PATH),
        env,
        cwd: action.cwd.as_ref().map(PathBuf::from),
        ..Default::default()
    };
    start(signals, spec, false)
}
