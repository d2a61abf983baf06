//! podman's `create`/`run` flag syntax, parsed into [`crate::config`] types: `-v`, `--mount`,
//! `--tmpfs`, `-e`/`--env-file`, `--entrypoint`, `--label`, `--memory`, `--cpus`,
//! `--pids-limit` and capability names. The podadm binary calls these; each error quotes
//! the flag and the text it was given.

use std::path::{Path, PathBuf};

use crate::config::MountRequest;

/// A flag's text that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("invalid {flag} {text:?}: {reason}")]
    Invalid {
        flag: &'static str,
        text: String,
        reason: String,
    },
    #[error("--env-file {}: {source}", path.display())]
    EnvFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--env-file {} line {line}: {text:?}: {reason}", path.display())]
    EnvFileLine {
        path: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
}

fn invalid(flag: &'static str, text: &str, reason: impl Into<String>) -> FlagError {
    FlagError::Invalid {
        flag,
        text: text.to_string(),
        reason: reason.into(),
    }
}

/// The smallest memory limit podman accepts (its `--memory` check): below it the container
/// cannot even start.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// Bind-mount options kept as given (`-v` and `--mount`) besides the propagation modes;
/// `ro`/`rw` go to `read_only`.
const BIND_FLAGS: &[&str] = &[
    "z", "Z", "bind", "rbind", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
];

/// Every option a bind mount takes: [`BIND_FLAGS`] and [`PROPAGATION`].
fn bind_options() -> Vec<&'static str> {
    BIND_FLAGS.iter().chain(PROPAGATION).copied().collect()
}

/// Mount propagation modes (`bind-propagation=`, or as a `-v` option).
pub(crate) const PROPAGATION: &[&str] = &[
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];

/// Options a named or anonymous volume accepts: SELinux relabelling hints, which mean nothing
/// without SELinux (where podadm refuses to run, as runz does).
const VOLUME_OPTIONS: &[&str] = &["z", "Z"];

/// Whether `name` is a valid volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `-v [SOURCE:]DESTINATION[:OPTIONS]`: a host path (absolute, or relative to the current
/// directory with `./`), a volume name, or nothing (an anonymous volume); options
/// comma-separated (`ro`, `rw`, `z`, `Z`, propagation, `nosuid`, …).
pub fn parse_volume_flag(text: &str) -> Result<MountRequest, FlagError> {
    const FLAG: &str = "-v";
    let parts: Vec<&str> = text.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [dest] => (None, *dest, None),
        // `SRC:DEST` when the second part is a path, else `DEST:OPTIONS`.
        [a, b] if b.starts_with('/') => (Some(*a), *b, None),
        [dest, opts] => (None, *dest, Some(*opts)),
        [src, dest, opts] => (Some(*src), *dest, Some(*opts)),
        _ => {
            return Err(invalid(
                FLAG,
                text,
                "too many ':' (the form is [SOURCE:]DESTINATION[:OPTIONS])",
            ))
        }
    };
    let destination = destination_path(FLAG, text, destination)?;
    let options: Vec<&str> = match options {
        None => Vec::new(),
        Some(opts) => opts.split(',').collect(),
    };
    let (read_only, rest) = split_read_only(FLAG, text, &options)?;
    match source {
        Some(src) if is_host_path(src) => {
            check_options(FLAG, text, &rest, &bind_options())?;
            Ok(MountRequest::Bind {
                source: host_path(FLAG, text, src)?,
                destination,
                options: rest,
                read_only,
            })
        }
        Some(name) => {
            if !is_valid_name(name) {
                return Err(invalid(
                    FLAG,
                    text,
                    format!("{name:?} is neither an absolute host path nor a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"),
                ));
            }
            check_options(FLAG, text, &rest, VOLUME_OPTIONS)?;
            Ok(MountRequest::Volume {
                name: Some(name.to_string()),
                destination,
                read_only,
            })
        }
        None => {
            check_options(FLAG, text, &rest, VOLUME_OPTIONS)?;
            Ok(MountRequest::Volume {
                name: None,
                destination,
                read_only,
            })
        }
    }
}

/// `--mount type=bind|volume|tmpfs,source=…,destination=…[,ro][,…]` (docker's and podman's
/// keys: `src`/`source`, `dst`/`destination`/`target`, `ro`/`readonly[=true|false]`, `rw`,
/// `bind-propagation`, `relabel`, `tmpfs-size`, `tmpfs-mode`). The type defaults to volume.
pub fn parse_mount_flag(text: &str) -> Result<MountRequest, FlagError> {
    const FLAG: &str = "--mount";
    let mut kind = "volume";
    let mut source = None;
    let mut destination = None;
    let mut read_only = None;
    let mut options: Vec<String> = Vec::new();
    let mut tmpfs: Vec<String> = Vec::new();
    for field in text.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let value_of = |key: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(FLAG, text, format!("{key} needs a value ({key}=…)")))
        };
        match key {
            "type" => kind = value_of(key)?,
            "src" | "source" => source = Some(value_of(key)?),
            "dst" | "destination" | "target" => destination = Some(value_of(key)?),
            "ro" | "readonly" => {
                let ro = match value {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(other) => {
                        return Err(invalid(
                            FLAG,
                            text,
                            format!("{key}={other}: use true or false"),
                        ))
                    }
                };
                set_once(FLAG, text, &mut read_only, ro)?;
            }
            "rw" => set_once(FLAG, text, &mut read_only, false)?,
            "bind-propagation" => {
                let mode = value_of(key)?;
                check_options(FLAG, text, &[mode.to_string()], PROPAGATION)?;
                options.push(mode.to_string());
            }
            "relabel" => match value_of(key)? {
                "shared" => options.push("z".into()),
                "private" => options.push("Z".into()),
                other => {
                    return Err(invalid(
                        FLAG,
                        text,
                        format!("relabel={other}: use shared or private"),
                    ))
                }
            },
            "tmpfs-size" => tmpfs.push(format!("size={}", value_of(key)?)),
            "tmpfs-mode" => {
                let mode = value_of(key)?;
                if u32::from_str_radix(mode, 8).is_err() {
                    return Err(invalid(
                        FLAG,
                        text,
                        format!("tmpfs-mode={mode} is not an octal mode"),
                    ));
                }
                tmpfs.push(format!("mode={mode}"));
            }
            other if bind_options().contains(&other) && value.is_none() => {
                options.push(other.to_string())
            }
            other => return Err(invalid(FLAG, text, format!("unknown option {other:?}"))),
        }
    }
    let destination = destination
        .ok_or_else(|| invalid(FLAG, text, "no destination (destination=/path)"))
        .and_then(|d| destination_path(FLAG, text, d))?;
    let read_only = read_only.unwrap_or(false);
    match kind {
        "bind" => {
            let source = source
                .ok_or_else(|| invalid(FLAG, text, "a bind mount needs source=/host/path"))?;
            if !is_host_path(source) {
                return Err(invalid(
                    FLAG,
                    text,
                    format!("source {source:?} of a bind mount must be a host path"),
                ));
            }
            refuse_tmpfs_options(FLAG, text, &tmpfs)?;
            Ok(MountRequest::Bind {
                source: host_path(FLAG, text, source)?,
                destination,
                options,
                read_only,
            })
        }
        "volume" => {
            if let Some(name) = source.filter(|n| !is_valid_name(n)) {
                return Err(invalid(
                    FLAG,
                    text,
                    format!("{name:?} is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"),
                ));
            }
            refuse_tmpfs_options(FLAG, text, &tmpfs)?;
            check_options(FLAG, text, &options, VOLUME_OPTIONS)?;
            Ok(MountRequest::Volume {
                name: source.map(String::from),
                destination,
                read_only,
            })
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(invalid(FLAG, text, "a tmpfs has no source"));
            }
            if read_only {
                tmpfs.push("ro".into());
            }
            tmpfs.extend(options);
            Ok(MountRequest::Tmpfs {
                destination,
                options: tmpfs,
            })
        }
        other => Err(invalid(
            FLAG,
            text,
            format!("unknown type {other:?} (use bind, volume or tmpfs)"),
        )),
    }
}

/// `--tmpfs DESTINATION[:OPTIONS]`, options as mount(8) takes them for tmpfs
/// (`size=64m,mode=1777,noexec`).
pub fn parse_tmpfs_flag(text: &str) -> Result<MountRequest, FlagError> {
    const FLAG: &str = "--tmpfs";
    let (dest, opts) = match text.split_once(':') {
        Some((d, o)) => (d, Some(o)),
        None => (text, None),
    };
    let destination = destination_path(FLAG, text, dest)?;
    let mut options = Vec::new();
    for option in opts.into_iter().flat_map(|o| o.split(',')) {
        let well_formed = match option.split_once('=') {
            Some((key, value)) => {
                matches!(
                    key,
                    "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks"
                ) && !value.is_empty()
            }
            None => matches!(
                option,
                "ro" | "rw"
                    | "exec"
                    | "noexec"
                    | "suid"
                    | "nosuid"
                    | "dev"
                    | "nodev"
                    | "atime"
                    | "noatime"
                    | "relatime"
                    | "strictatime"
                    | "private"
                    | "rprivate"
                    | "shared"
                    | "rshared"
                    | "slave"
                    | "rslave"
            ),
        };
        if !well_formed {
            return Err(invalid(
                FLAG,
                text,
                format!("unknown tmpfs option {option:?}"),
            ));
        }
        options.push(option.to_string());
    }
    Ok(MountRequest::Tmpfs {
        destination,
        options,
    })
}

/// `-e NAME=VALUE`, or `-e NAME` for the value of `NAME` in podadm's own environment (as
/// podman does): `None` when it has none.
pub fn parse_env(text: &str) -> Result<Option<String>, FlagError> {
    env_entry(text).map_err(|reason| invalid("-e", text, reason))
}

fn env_entry(text: &str) -> Result<Option<String>, String> {
    if text.contains('\0') {
        return Err("contains a NUL character".into());
    }
    match text.split_once('=') {
        Some(("", _)) => Err("the name is empty".into()),
        Some(_) => Ok(Some(text.to_string())),
        None if text.is_empty() => Err("the name is empty".into()),
        None => Ok(std::env::var(text).ok().map(|v| format!("{text}={v}"))),
    }
}

/// `--env-file PATH`: one `NAME=VALUE` per line (or `NAME`, taken from podadm's environment);
/// blank lines and lines starting with `#` are skipped. Values are taken as they are, quotes
/// included, as podman and docker do.
pub fn parse_env_file(path: &Path) -> Result<Vec<String>, FlagError> {
    let text = std::fs::read_to_string(path).map_err(|source| FlagError::EnvFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let entry = env_entry(trimmed).map_err(|reason| FlagError::EnvFileLine {
            path: path.to_path_buf(),
            line: index + 1,
            text: line.to_string(),
            reason,
        })?;
        entries.extend(entry);
    }
    Ok(entries)
}

/// `--entrypoint`: a JSON array (`'["/bin/sh","-c"]'`) or one program; `""` clears the
/// image's Entrypoint.
pub fn parse_entrypoint(text: &str) -> Result<Vec<String>, FlagError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| {
            invalid(
                "--entrypoint",
                text,
                format!("not a JSON array of strings: {e}"),
            )
        });
    }
    Ok(vec![text.to_string()])
}

/// `--label KEY=VALUE` (or `KEY`, for an empty value).
pub fn parse_label(text: &str) -> Result<(String, String), FlagError> {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(invalid("--label", text, "the key is empty"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `--memory`: bytes, or a number with a unit `b`, `k`, `m`, `g`, `t` (powers of 1024, as
/// podman's and docker's `RAMInBytes`; an optional `b`/`ib` after the unit; decimals allowed:
/// `1.5g`). At least [`MIN_MEMORY`].
pub fn parse_memory(text: &str) -> Result<u64, FlagError> {
    const FLAG: &str = "--memory";
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let unit = unit.trim_start();
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(invalid(
                FLAG,
                text,
                "use a number of bytes or a size such as 512m or 1.5g (units b, k, m, g, t)",
            ))
        }
    };
    // `b` alone is bytes; `kb`, `kib` and `k` are all KiB.
    if unit.ends_with("ib") && shift == 0 {
        return Err(invalid(FLAG, text, "unknown unit"));
    }
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| invalid(FLAG, text, "not a number"))?;
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(invalid(FLAG, text, "too large"));
    }
    let bytes = bytes as u64;
    if bytes < MIN_MEMORY {
        return Err(invalid(
            FLAG,
            text,
            "the smallest memory limit allowed is 6m",
        ));
    }
    Ok(bytes)
}

/// `--cpus`: a positive number of CPUs, with at most 1/100000 of a CPU of precision (the
/// CFS period is 100000 µs).
pub fn parse_cpus(text: &str) -> Result<f64, FlagError> {
    let cpus: f64 = number("--cpus", text)?;
    if !cpus.is_finite() || cpus < 0.01 {
        return Err(invalid("--cpus", text, "must be at least 0.01"));
    }
    if cpus > 1_000_000.0 {
        return Err(invalid("--cpus", text, "too large"));
    }
    Ok(cpus)
}

/// `--pids-limit`: a number of processes; `-1` (or `0`) for no limit.
pub fn parse_pids_limit(text: &str) -> Result<i64, FlagError> {
    let limit: i64 = number("--pids-limit", text)?;
    if limit < -1 {
        return Err(invalid("--pids-limit", text, "use -1 for no limit"));
    }
    Ok(limit)
}

/// A capability as `--cap-add`/`--cap-drop` take it (`net_admin`, `NET_ADMIN`,
/// `CAP_NET_ADMIN`, `all`) → its `CAP_` name, or `ALL`.
pub fn parse_capability(flag: &'static str, text: &str) -> Result<String, FlagError> {
    super::caps::normalize(text).ok_or_else(|| {
        invalid(
            flag,
            text,
            "unknown capability (a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)",
        )
    })
}

fn number<T: std::str::FromStr>(flag: &'static str, text: &str) -> Result<T, FlagError> {
    text.trim()
        .parse()
        .map_err(|_| invalid(flag, text, "not a number"))
}

fn destination_path(flag: &'static str, text: &str, dest: &str) -> Result<String, FlagError> {
    if !dest.starts_with('/') {
        return Err(invalid(
            flag,
            text,
            format!("the destination {dest:?} must be an absolute path"),
        ));
    }
    if dest.contains('\0') {
        return Err(invalid(flag, text, "the destination contains a NUL"));
    }
    if dest.split('/').any(|c| c == "..") {
        return Err(invalid(
            flag,
            text,
            format!("the destination {dest:?} must not contain '..'"),
        ));
    }
    Ok(dest.to_string())
}

fn is_host_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.')
}

/// A bind source as an absolute path (a relative one is taken from the current directory).
fn host_path(flag: &'static str, text: &str, source: &str) -> Result<PathBuf, FlagError> {
    if source.starts_with('/') {
        return Ok(PathBuf::from(source));
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(source))
        .map_err(|e| invalid(flag, text, format!("cannot resolve {source:?}: {e}")))
}

/// Splits `ro`/`rw` (at most one of them) from the other options.
fn split_read_only(
    flag: &'static str,
    text: &str,
    options: &[&str],
) -> Result<(bool, Vec<String>), FlagError> {
    let mut read_only = None;
    let mut rest = Vec::new();
    for option in options {
        match *option {
            "ro" => set_once(flag, text, &mut read_only, true)?,
            "rw" => set_once(flag, text, &mut read_only, false)?,
            "" => return Err(invalid(flag, text, "an empty option")),
            other => {
                if rest.iter().any(|o| o == other) {
                    return Err(invalid(flag, text, format!("option {other:?} given twice")));
                }
                rest.push(other.to_string());
            }
        }
    }
    Ok((read_only.unwrap_or(false), rest))
}

fn set_once(
    flag: &'static str,
    text: &str,
    slot: &mut Option<bool>,
    value: bool,
) -> Result<(), FlagError> {
    if slot.is_some() {
        return Err(invalid(
            flag,
            text,
            "ro/rw (readonly) may be given only once",
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn check_options(
    flag: &'static str,
    text: &str,
    options: &[String],
    allowed: &[&str],
) -> Result<(), FlagError> {
    match options.iter().find(|o| !allowed.contains(&o.as_str())) {
        None => Ok(()),
        Some(option) => Err(invalid(
            flag,
            text,
            format!(
                "option {option:?} is not supported here (use {})",
                allowed.join(", ")
            ),
        )),
    }
}

fn refuse_tmpfs_options(flag: &'static str, text: &str, tmpfs: &[String]) -> Result<(), FlagError> {
    if tmpfs.is_empty() {
        Ok(())
    } else {
        Err(invalid(
            flag,
            text,
            "tmpfs-size and tmpfs-mode are for type=tmpfs",
        ))
    }
}
