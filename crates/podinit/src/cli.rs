//! The command line, parsed by hand: the arguments after `--` belong to the child and must
//! reach it byte for byte, and podinit has only a handful of options.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
usage: podinit [-g|--process-group] [--status-file FILE] [--] CMD [ARGS...]
       podinit [-g|--process-group] [--status-file FILE] --config FILE
       podinit [--status-file FILE] --services FILE
       podinit [-s] [-m MILESTONE]    (as a zone's init: --config /.aurora/podinit.json)
       podinit action NAME [--actions FILE]
       podinit pause                  (a pod's infra: sleep, reap, exit 0 on TERM/INT)
       podinit sandbox DIR            (a warm pool's sandbox: waits for its process on DIR/process)
       podinit --help | --version

  --config FILE       apply the process section and config maps of FILE (JSON), then run it
  --services FILE     run the services (a pod's containers) of FILE (JSON), each in its root
  --status-file FILE  write the child's exit status (JSON) to FILE before exiting
  -g, --process-group forward signals to the child's process group, not the child alone
  --actions FILE      actions file for `action` (default /etc/aurora/actions.json)
  -s, -m MILESTONE    boot arguments zoneadmd passes to a zone's init: accepted, ignored
";

/// What podinit was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Supervise `command` (tini-like mode).
    Run {
        command: Vec<OsString>,
        options: SuperviseOptions,
    },
    /// Apply a config file and run its process (zone-init mode). `implicit`: no command and
    /// no `--config` were given (a zone booting podinit as its init), so `config` is
    /// [`DEFAULT_CONFIG_PATH`] and the status file defaults to [`DEFAULT_STATUS_PATH`].
    Config {
        config: PathBuf,
        options: SuperviseOptions,
        implicit: bool,
    },
    /// Run the services of a services file (a pod's containers).
    Services {
        services: PathBuf,
        options: SuperviseOptions,
    },
    /// Run a named action.
    Action { name: String, actions: PathBuf },
    /// Hold a pod's namespaces: sleep, reap zombies, exit 0 on TERM or INT.
    Pause,
    /// Wait for a process on `dir`'s FIFO, remove `dir`, exec the process (a warm pool's
    /// sandbox).
    Sandbox { dir: PathBuf },
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// The config podinit reads when started without a command, as a zone's init is: zoneadmd
/// passes only its own boot arguments (`-s`, `-m milestone=…`) to init.
pub const DEFAULT_CONFIG_PATH: &str = "/.aurora/podinit.json";
/// The status file when started without a command and neither `--status-file` nor the
/// config's `statusFile` names one.
pub const DEFAULT_STATUS_PATH: &str = "/.aurora/status.json";

/// Options shared by the supervising modes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuperviseOptions {
    pub status_file: Option<PathBuf>,
    pub process_group: bool,
}

/// A command line podinit does not accept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("option {0} needs a value")]
    MissingValue(String),
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    #[error("--config and a command cannot be given together")]
    ConfigAndCommand,
    #[error("--services cannot be given with --config or a command")]
    ServicesAndOther,
    #[error("`action` needs the name of an action")]
    NoActionName,
    #[error("unexpected argument {0:?} after the action name")]
    ExtraActionArgument(String),
    #[error("unexpected argument {0:?} after `pause`")]
    ExtraPauseArgument(String),
    #[error("option {0} given twice")]
    Repeated(String),
    #[error("sandbox directory {0:?} must be an absolute path")]
    NotAbsolute(String),
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(String),
}

fn utf8(arg: &OsStr) -> Result<&str, UsageError> {
    arg.to_str()
        .ok_or_else(|| UsageError::NotUtf8(arg.to_string_lossy().into_owned()))
}

/// Parses podinit's arguments (without the program name).
pub fn parse<I>(args: I) -> Result<Invocation, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    let args: Vec<OsString> = args.into_iter().collect();
    if args.first().map(|a| a.as_os_str()) == Some(OsStr::new("action")) {
        return parse_action(&args[1..]);
    }
    if args.first().map(|a| a.as_os_str()) == Some(OsStr::new("pause")) {
        return match args.get(1) {
            None => Ok(Invocation::Pause),
            Some(extra) => Err(UsageError::ExtraPauseArgument(
                extra.to_string_lossy().into_owned(),
            )),
        };
    }
    if args.first().map(|a| a.as_os_str()) == Some(OsStr::new("sandbox")) {
        return match &args[1..] {
            [dir] if dir.as_encoded_bytes().starts_with(b"/") => Ok(Invocation::Sandbox {
                dir: PathBuf::from(dir),
            }),
            [dir] => Err(UsageError::NotAbsolute(dir.to_string_lossy().into_owned())),
            [] => Err(UsageError::MissingValue("sandbox".into())),
            [_, extra, ..] => Err(UsageError::ExtraActionArgument(
                extra.to_string_lossy().into_owned(),
            )),
        };
    }
    let mut options = SuperviseOptions::default();
    let mut config: Option<PathBuf> = None;
    let mut services: Option<PathBuf> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let bytes = arg.as_encoded_bytes();
        if arg == "--" {
            i += 1;
            break;
        }
        if !bytes.starts_with(b"-") || arg == "-" {
            break;
        }
        let text = utf8(arg)?;
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (text, None),
        };
        let mut value = |name: &str| -> Result<PathBuf, UsageError> {
            if let Some(v) = &inline {
                return Ok(PathBuf::from(v));
            }
            i += 1;
            args.get(i)
                .map(PathBuf::from)
                .ok_or_else(|| UsageError::MissingValue(name.to_string()))
        };
        match name {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "-g" | "--process-group" => options.process_group = true,
            // zoneadmd's boot arguments for init (single-user, milestone): not podinit's
            // business, since it starts no service manager.
            "-s" => {}
            "-m" => {
                value(name)?;
            }
            "--status-file" => {
                if options.status_file.is_some() {
                    return Err(UsageError::Repeated(name.into()));
                }
                options.status_file = Some(value(name)?);
            }
            "--services" => {
                if services.is_some() {
                    return Err(UsageError::Repeated(name.into()));
                }
                services = Some(value(name)?);
            }
            "--config" => {
                if config.is_some() {
                    return Err(UsageError::Repeated(name.into()));
                }
                config = Some(value(name)?);
            }
            _ => return Err(UsageError::UnknownOption(text.to_string())),
        }
        i += 1;
    }
    let command: Vec<OsString> = args[i..].to_vec();
    if let Some(services) = services {
        if config.is_some() || !command.is_empty() {
            return Err(UsageError::ServicesAndOther);
        }
        return Ok(Invocation::Services { services, options });
    }
    match (config, command.is_empty()) {
        (Some(_), false) => Err(UsageError::ConfigAndCommand),
        (Some(config), true) => Ok(Invocation::Config {
            config,
            options,
            implicit: false,
        }),
        (None, true) => Ok(Invocation::Config {
            config: PathBuf::from(DEFAULT_CONFIG_PATH),
            options,
            implicit: true,
        }),
        (None, false) => Ok(Invocation::Run { command, options }),
    }
}

fn parse_action(args: &[OsString]) -> Result<Invocation, UsageError> {
    let mut name: Option<String> = None;
    let mut actions: Option<PathBuf> = None;
    let mut i = 0;
    while i < args.len() {
        let text = utf8(&args[i])?;
        if text == "--actions" {
            if actions.is_some() {
                return Err(UsageError::Repeated(text.into()));
            }
            i += 1;
            let v = args
                .get(i)
                .ok_or_else(|| UsageError::MissingValue(text.into()))?;
            actions = Some(PathBuf::from(v));
        } else if let Some(v) = text.strip_prefix("--actions=") {
            if actions.is_some() {
                return Err(UsageError::Repeated("--actions".into()));
            }
            actions = Some(PathBuf::from(v));
        } else if text == "-h" || text == "--help" {
            return Ok(Invocation::Help);
        } else if text.starts_with('-') {
            return Err(UsageError::UnknownOption(text.into()));
        } else if name.is_none() {
            name = Some(text.to_string());
        } else {
            return Err(UsageError::ExtraActionArgument(text.into()));
        }
        i += 1;
    }
    Ok(Invocation::Action {
        name: name.ok_or(UsageError::NoActionName)?,
        actions: actions.unwrap_or_else(|| PathBuf::from(crate::actions::DEFAULT_ACTIONS_PATH)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Invocation, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn run(cmd: &[&str], status: Option<&str>, group: bool) -> Invocation {
        Invocation::Run {
            command: cmd.iter().map(OsString::from).collect(),
            options: SuperviseOptions {
                status_file: status.map(PathBuf::from),
                process_group: group,
            },
        }
    }

    #[test]
    fn tini_mode() {
        assert_eq!(
            p(&["--", "sh", "-c", "x"]).unwrap(),
            run(&["sh", "-c", "x"], None, false)
        );
        assert_eq!(
            p(&["sh", "--", "-x"]).unwrap(),
            run(&["sh", "--", "-x"], None, false)
        );
        assert_eq!(
            p(&["--status-file", "/s", "-g", "--", "--config"]).unwrap(),
            run(&["--config"], Some("/s"), true)
        );
        assert_eq!(
            p(&["--status-file=/s", "--", "action"]).unwrap(),
            run(&["action"], Some("/s"), false)
        );
    }

    #[test]
    fn config_mode() {
        assert_eq!(
            p(&["--config", "/c.json", "--status-file", "/s"]).unwrap(),
            Invocation::Config {
                config: "/c.json".into(),
                options: SuperviseOptions {
                    status_file: Some("/s".into()),
                    process_group: false
                },
                implicit: false,
            }
        );
        assert_eq!(
            p(&["--config", "/c", "--", "x"]),
            Err(UsageError::ConfigAndCommand)
        );
    }

    #[test]
    fn zone_boot_without_arguments() {
        let boot = Invocation::Config {
            config: DEFAULT_CONFIG_PATH.into(),
            options: SuperviseOptions::default(),
            implicit: true,
        };
        assert_eq!(p(&[]).unwrap(), boot);
        assert_eq!(p(&["--"]).unwrap(), boot);
        assert_eq!(
            p(&["-s", "-m", "milestone=svc:/milestone/multi-user"]).unwrap(),
            boot
        );
    }

    #[test]
    fn services_mode() {
        assert_eq!(
            p(&["--services", "/s.json", "--status-file", "/st"]).unwrap(),
            Invocation::Services {
                services: "/s.json".into(),
                options: SuperviseOptions {
                    status_file: Some("/st".into()),
                    process_group: false
                },
            }
        );
        assert_eq!(
            p(&["--services", "/s", "--config", "/c"]),
            Err(UsageError::ServicesAndOther)
        );
        assert_eq!(
            p(&["--services", "/s", "--", "x"]),
            Err(UsageError::ServicesAndOther)
        );
    }

    #[test]
    fn action_mode() {
        assert_eq!(
            p(&["action", "reload"]).unwrap(),
            Invocation::Action {
                name: "reload".into(),
                actions: "/etc/aurora/actions.json".into()
            }
        );
        assert_eq!(
            p(&["action", "--actions", "/a.json", "reload"]).unwrap(),
            Invocation::Action {
                name: "reload".into(),
                actions: "/a.json".into()
            }
        );
        assert_eq!(p(&["action"]), Err(UsageError::NoActionName));
        assert_eq!(
            p(&["action", "a", "b"]),
            Err(UsageError::ExtraActionArgument("b".into()))
        );
        assert_eq!(
            p(&["action", "a", "--actions"]),
            Err(UsageError::MissingValue("--actions".into()))
        );
    }

    #[test]
    fn pause_mode() {
        assert_eq!(p(&["pause"]).unwrap(), Invocation::Pause);
        assert_eq!(
            p(&["pause", "x"]),
            Err(UsageError::ExtraPauseArgument("x".into()))
        );
        // After `--`, `pause` is a command to supervise.
        assert_eq!(p(&["--", "pause"]).unwrap(), run(&["pause"], None, false));
    }

    #[test]
    fn sandbox_mode() {
        assert_eq!(
            p(&["sandbox", "/dev/.aurora-sandbox"]).unwrap(),
            Invocation::Sandbox {
                dir: "/dev/.aurora-sandbox".into()
            }
        );
        assert_eq!(
            p(&["sandbox", "rel"]),
            Err(UsageError::NotAbsolute("rel".into()))
        );
        assert_eq!(
            p(&["sandbox"]),
            Err(UsageError::MissingValue("sandbox".into()))
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(p(&["-m"]), Err(UsageError::MissingValue("-m".into())));
        assert_eq!(
            p(&["--bogus"]),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            p(&["--status-file"]),
            Err(UsageError::MissingValue("--status-file".into()))
        );
        assert_eq!(
            p(&["--config", "a", "--config", "b"]),
            Err(UsageError::Repeated("--config".into()))
        );
        assert_eq!(p(&["--help"]), Ok(Invocation::Help));
        assert_eq!(p(&["--version"]), Ok(Invocation::Version));
    }
}
