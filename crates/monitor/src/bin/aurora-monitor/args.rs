//! The command line podadm gives the monitor (contracts.md), parsed by hand: a fixed set of
//! flags, no framework in a process that must stay small.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::PathBuf;

use aurora_monitor::RestartPolicyArg;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub dir: PathBuf,
    pub runtime: PathBuf,
    /// Global runtime flags, placed before the verb (`--root DIR`).
    pub runtime_args: Vec<OsString>,
    pub log_path: PathBuf,
    /// 0: never rotate.
    pub log_max_size: u64,
    pub terminal: bool,
    pub stdin: bool,
    pub restart: RestartPolicyArg,
    pub exit_command: Option<PathBuf>,
    pub exit_args: Vec<OsString>,
    pub sync_fd: Option<RawFd>,
    /// Start the container after creating it (`RUNTIME start`).
    pub start: bool,
    /// Create and start it with one `RUNTIME run --detach` (the first run; restarts are
    /// created, then started). An OOM kill before the monitor reads the init's cgroup is
    /// not told apart from another SIGKILL: podadm asks for it only without a memory limit.
    pub run: bool,
    /// With `start` or `run`: hold the container's output and exit until the first attach
    /// client connects (bounded), so that a client connecting after the sync misses nothing.
    pub await_attach: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("unknown flag {0:?}")]
    Unknown(String),
    #[error("flag {0} needs a value")]
    MissingValue(&'static str),
    #[error("flag {flag} is required")]
    Required { flag: &'static str },
    #[error("flag {flag}: {value:?} {why}")]
    Bad {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
}

const VALUE_FLAGS: [&str; 11] = [
    "--id",
    "--bundle",
    "--dir",
    "--runtime",
    "--runtime-arg",
    "--log-path",
    "--log-max-size",
    "--restart",
    "--exit-command",
    "--exit-arg",
    "--sync-fd",
];

pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Args, ArgsError> {
    let mut values: Vec<(&'static str, OsString)> = Vec::new();
    let (mut terminal, mut stdin, mut start, mut run, mut await_attach) =
        (false, false, false, false, false);
    let mut argv = argv.into_iter();
    while let Some(arg) = argv.next() {
        let text = arg.to_string_lossy().into_owned();
        match text.as_str() {
            "--terminal" => terminal = true,
            "--stdin" => stdin = true,
            "--start" => start = true,
            "--run" => run = true,
            "--await-attach" => await_attach = true,
            _ => {
                let (name, inline) = match text.split_once('=') {
                    Some((name, value)) => (name, Some(OsString::from(value))),
                    None => (text.as_str(), None),
                };
                let flag = VALUE_FLAGS
                    .iter()
                    .find(|flag| **flag == name)
                    .ok_or_else(|| ArgsError::Unknown(text.clone()))?;
                let value = match inline {
                    Some(value) => value,
                    None => argv.next().ok_or(ArgsError::MissingValue(flag))?,
                };
                values.push((flag, value));
            }
        }
    }
    let all = |flag: &str| -> Vec<OsString> {
        values
            .iter()
            .filter(|(name, _)| *name == flag)
            .map(|(_, value)| value.clone())
            .collect()
    };
    let last = |flag: &str| all(flag).pop();
    let required = |flag: &'static str| last(flag).ok_or(ArgsError::Required { flag });
    let absolute = |flag: &'static str, value: OsString| {
        let path = PathBuf::from(value);
        if path.is_absolute() {
            Ok(path)
        } else {
            Err(ArgsError::Bad {
                flag,
                value: path.display().to_string(),
                why: "is not an absolute path",
            })
        }
    };
    let text = |flag: &'static str, value: OsString| {
        value.into_string().map_err(|value| ArgsError::Bad {
            flag,
            value: value.to_string_lossy().into_owned(),
            why: "is not UTF-8",
        })
    };
    let id = text("--id", required("--id")?)?;
    if id.is_empty() || id.contains('/') {
        return Err(ArgsError::Bad {
            flag: "--id",
            value: id,
            why: "is not a container ID",
        });
    }
    // A flag's last value as text, when given.
    let given = |flag: &'static str| last(flag).map(|value| text(flag, value)).transpose();
    let bad = |flag: &'static str, why: &'static str| {
        move |value: String| ArgsError::Bad { flag, value, why }
    };
    const SIZE: &str = "is not a size in bytes";
    let log_max_size = match given("--log-max-size")? {
        None => 0,
        Some(value) => value
            .parse()
            .map_err(|_| bad("--log-max-size", SIZE)(value))?,
    };
    const POLICY: &str = "is not one of no, on-failure[:N], always, unless-stopped";
    let restart = match given("--restart")? {
        None => RestartPolicyArg::No,
        Some(value) => value.parse().map_err(|_| bad("--restart", POLICY)(value))?,
    };
    // stdout (the monitor's until it daemonizes) or a descriptor it inherited.
    const FD: &str = "is not 1 (stdout) or a descriptor above 2";
    let sync_fd = match given("--sync-fd")? {
        None => None,
        Some(value) => match value.parse::<RawFd>() {
            Ok(fd) if fd == 1 || fd > 2 => Some(fd),
            _ => return Err(bad("--sync-fd", FD)(value)),
        },
    };
    Ok(Args {
        id,
        bundle: absolute("--bundle", required("--bundle")?)?,
        dir: absolute("--dir", required("--dir")?)?,
        runtime: absolute("--runtime", required("--runtime")?)?,
        runtime_args: all("--runtime-arg"),
        log_path: absolute("--log-path", required("--log-path")?)?,
        log_max_size,
        terminal,
        stdin,
        restart,
        exit_command: last("--exit-command")
            .map(|value| absolute("--exit-command", value))
            .transpose()?,
        exit_args: all("--exit-arg"),
        sync_fd,
        start,
        run,
        await_attach,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(args: &[&str]) -> Result<Args, ArgsError> {
        parse(args.iter().map(OsString::from))
    }

    const BASE: [&str; 10] = [
        "--id",
        "c1",
        "--bundle",
        "/b",
        "--dir",
        "/m",
        "--runtime",
        "/usr/bin/runc",
        "--log-path",
        "/l",
    ];

    #[test]
    fn every_flag_of_the_contract_parses() {
        let mut argv = BASE.to_vec();
        argv.extend([
            "--runtime-arg",
            "--root",
            "--runtime-arg=/run/r",
            "--log-max-size",
            "1000",
            "--terminal",
            "--stdin",
            "--restart",
            "on-failure:2",
            "--exit-command",
            "/bin/podadm",
            "--exit-arg",
            "cleanup",
            "--exit-arg",
            "c1",
            "--sync-fd",
            "5",
            "--start",
            "--run",
            "--await-attach",
        ]);
        let args = parse_text(&argv).unwrap();
        assert_eq!(
            args,
            Args {
                id: "c1".into(),
                bundle: "/b".into(),
                dir: "/m".into(),
                runtime: "/usr/bin/runc".into(),
                runtime_args: vec!["--root".into(), "/run/r".into()],
                log_path: "/l".into(),
                log_max_size: 1000,
                terminal: true,
                stdin: true,
                restart: RestartPolicyArg::OnFailure(Some(2)),
                exit_command: Some("/bin/podadm".into()),
                exit_args: vec!["cleanup".into(), "c1".into()],
                sync_fd: Some(5),
                start: true,
                run: true,
                await_attach: true,
            }
        );
        let defaults = parse_text(&BASE).unwrap();
        assert_eq!(defaults.restart, RestartPolicyArg::No);
        assert_eq!(
            (defaults.log_max_size, defaults.sync_fd, defaults.start),
            (0, None, false)
        );
    }

    #[test]
    fn bad_command_lines_name_the_flag() {
        let with = |extra: &[&str]| {
            let mut argv = BASE.to_vec();
            argv.extend(extra);
            parse_text(&argv).unwrap_err().to_string()
        };
        assert_eq!(with(&["--bogus"]), "unknown flag \"--bogus\"");
        assert_eq!(with(&["--restart"]), "flag --restart needs a value");
        assert!(with(&["--restart", "sometimes"]).starts_with("flag --restart: \"sometimes\""));
        assert!(with(&["--log-max-size", "1k"]).starts_with("flag --log-max-size: \"1k\""));
        assert!(with(&["--sync-fd", "2"]).starts_with("flag --sync-fd: \"2\""));
        assert!(with(&["--sync-fd", "0"]).starts_with("flag --sync-fd: \"0\""));
        assert!(with(&["--dir", "relative"]).starts_with("flag --dir: \"relative\""));
        assert_eq!(
            parse_text(&["--id", "c1"]).unwrap_err().to_string(),
            "flag --bundle is required"
        );
    }
}
