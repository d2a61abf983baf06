//! One logical line → one typed instruction, with BuildKit's checks: known keyword, the
//! flags the instruction accepts, the number and form of its arguments.

use crate::flags::{Flags, Kind};
use crate::lines::Logical;
use crate::model::{ArgDecl, Command, Copy, FromInstruction, Heredoc, InstructionKind, Run};
use crate::{healthcheck, heredoc, words};

/// What a line is: a FROM starts a stage, anything else goes into one.
#[derive(Debug)]
pub(crate) enum Parsed {
    From {
        from: FromInstruction,
        name: Option<String>,
    },
    Other(InstructionKind),
}

pub(crate) fn parse(logical: &Logical, escape: char) -> Result<Parsed, String> {
    parse_line(&logical.joined, logical.line, escape, &logical.heredocs)
}

fn parse_line(
    line: &str,
    line_no: usize,
    escape: char,
    heredocs: &[Heredoc],
) -> Result<Parsed, String> {
    let (keyword, rest) = words::split_command(line);
    let (flag_words, args) = words::extract_flags(rest);
    let keyword = keyword.to_ascii_uppercase();
    let flags = |accepted: &[(&'static str, Kind)]| Flags::parse(&keyword, &flag_words, accepted);
    let kind = match keyword.as_str() {
        "FROM" => {
            let flags = flags(&[("platform", Kind::Str)])?;
            return from(args, line_no, flags.string("platform"));
        }
        "RUN" => {
            let flags = flags(&[
                ("mount", Kind::List),
                ("network", Kind::Str),
                ("security", Kind::Str),
            ])?;
            InstructionKind::Run(run(args, &flags, heredocs)?)
        }
        "COPY" => {
            let flags = flags(&[
                ("from", Kind::Str),
                ("chown", Kind::Str),
                ("chmod", Kind::Str),
                ("link", Kind::Bool),
                ("parents", Kind::Bool),
                ("exclude", Kind::List),
            ])?;
            InstructionKind::Copy(copy("COPY", args, &flags, heredocs)?)
        }
        "ADD" => {
            let flags = flags(&[
                ("chown", Kind::Str),
                ("chmod", Kind::Str),
                ("link", Kind::Bool),
                ("keep-git-dir", Kind::Bool),
                ("checksum", Kind::Str),
                ("exclude", Kind::List),
                ("unpack", Kind::Bool),
            ])?;
            InstructionKind::Add(copy("ADD", args, &flags, heredocs)?)
        }
        "ENV" => {
            flags(&[])?;
            InstructionKind::Env(key_values("ENV", args, escape)?)
        }
        "LABEL" => {
            flags(&[])?;
            InstructionKind::Label(key_values("LABEL", args, escape)?)
        }
        "ARG" => {
            flags(&[])?;
            InstructionKind::Arg(arg(args, escape)?)
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
            flags(&[])?;
            if args.is_empty() {
                return Err(format!("{keyword} requires exactly one argument"));
            }
            let value = args.to_string();
            match keyword.as_str() {
                "WORKDIR" => InstructionKind::Workdir(value),
                "USER" => InstructionKind::User(value),
                "STOPSIGNAL" => InstructionKind::StopSignal(value),
                _ => InstructionKind::Maintainer(value),
            }
        }
        "CMD" => {
            flags(&[])?;
            InstructionKind::Cmd(command("CMD", args)?)
        }
        "ENTRYPOINT" => {
            flags(&[])?;
            InstructionKind::Entrypoint(command("ENTRYPOINT", args)?)
        }
        "SHELL" => {
            flags(&[])?;
            match words::parse_json_array(args)? {
                Some(shell) if shell.is_empty() => {
                    return Err("SHELL requires at least one argument".to_string())
                }
                Some(shell) => InstructionKind::Shell(shell),
                None => return Err("SHELL requires the arguments to be in JSON form".to_string()),
            }
        }
        "EXPOSE" => {
            flags(&[])?;
            let ports = words::split_whitespace(args);
            if ports.is_empty() {
                return Err("EXPOSE requires at least one argument".to_string());
            }
            InstructionKind::Expose(ports)
        }
        "VOLUME" => {
            flags(&[])?;
            let volumes =
                words::parse_json_array(args)?.unwrap_or_else(|| words::split_whitespace(args));
            if volumes.is_empty() {
                return Err("VOLUME requires at least one argument".to_string());
            }
            if volumes.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".to_string());
            }
            InstructionKind::Volume(volumes)
        }
        "HEALTHCHECK" => InstructionKind::Healthcheck(healthcheck::parse(&flag_words, args)?),
        "ONBUILD" => {
            flags(&[])?;
            InstructionKind::Onbuild(onbuild(args, line_no, escape)?)
        }
        "" => return Err("empty instruction".to_string()),
        other => return Err(format!("unknown instruction: {other}")),
    };
    Ok(Parsed::Other(kind))
}

fn from(args: &str, line: usize, platform: Option<String>) -> Result<Parsed, String> {
    let parts = words::split_whitespace(args);
    let (image, name) = match parts.as_slice() {
        [image] => (image.clone(), None),
        [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            if !valid_stage_name(&name) {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            (image.clone(), Some(name))
        }
        _ => {
            return Err("FROM requires either one or three arguments (IMAGE [AS NAME])".to_string())
        }
    };
    Ok(Parsed::From {
        from: FromInstruction {
            image,
            platform,
            line,
        },
        name,
    })
}

/// Docker's `^[a-z][a-z0-9-_.]*$` (after lowercasing).
fn valid_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn run(args: &str, flags: &Flags, heredocs: &[Heredoc]) -> Result<Run, String> {
    let network = flags.string("network");
    if let Some(mode) = &network {
        if !matches!(mode.as_str(), "none" | "host" | "default") {
            return Err(format!(
                "unsupported network mode {mode:?}: none, host or default"
            ));
        }
    }
    let security = flags.string("security");
    if let Some(mode) = &security {
        if !matches!(mode.as_str(), "sandbox" | "insecure") {
            return Err(format!(
                "unsupported security mode {mode:?}: sandbox or insecure"
            ));
        }
    }
    let command = command("RUN", args)?;
    if command == Command::Exec(Vec::new()) {
        return Err("RUN requires at least one argument".to_string());
    }
    Ok(Run {
        command,
        heredocs: heredocs.to_vec(),
        network,
        mounts: flags.list("mount"),
        security,
    })
}

/// The shell or JSON form of RUN, CMD and ENTRYPOINT.
fn command(keyword: &str, args: &str) -> Result<Command, String> {
    // Docker accepts an empty CMD or ENTRYPOINT (an empty shell command); `CMD []` is the
    // way to clear one, so the empty form is refused as the mistake it usually is.
    if args.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    Ok(match words::parse_json_array(args)? {
        Some(argv) => Command::Exec(argv),
        None => Command::Shell(args.to_string()),
    })
}

fn copy(keyword: &str, args: &str, flags: &Flags, heredocs: &[Heredoc]) -> Result<Copy, String> {
    // Outside the JSON form docker splits on whitespace only: quotes are not grouping
    // here (they are removed later, word by word, when the builder expands them).
    let mut items = words::parse_json_array(args)?.unwrap_or_else(|| words::split_whitespace(args));
    let dest = match items.pop() {
        Some(dest) if !items.is_empty() => dest,
        _ => {
            return Err(format!(
                "{keyword} requires at least two arguments: one or more sources and a destination"
            ))
        }
    };
    if heredoc::parse_marker(&dest).is_some() {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    Ok(Copy {
        sources: items,
        dest,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.boolean("link").unwrap_or(false),
        heredocs: heredocs.to_vec(),
        parents: flags.boolean("parents").unwrap_or(false),
        exclude: flags.list("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.boolean("keep-git-dir"),
        unpack: flags.boolean("unpack"),
    })
}

/// ENV and LABEL: `key=value ...` (raw words, quotes kept), or the legacy `key value`
/// where the value is the rest of the line. Which one is decided by the first word.
fn key_values(keyword: &str, args: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let parts = words::parse_words(args, escape);
    let Some(first) = parts.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !first.contains('=') {
        return match args.find(words::is_split_space) {
            Some(at) => Ok(vec![(
                args[..at].to_string(),
                args[at..]
                    .trim_start_matches(words::is_split_space)
                    .to_string(),
            )]),
            None => Err(format!(
                "{keyword} must have two arguments (or use {keyword} key=value)"
            )),
        };
    }
    parts
        .iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!("{keyword} names can not be blank")),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(format!(
                "syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

fn arg(args: &str, escape: char) -> Result<Vec<ArgDecl>, String> {
    let parts = words::parse_words(args, escape);
    if parts.is_empty() {
        return Err("ARG requires at least one argument".to_string());
    }
    parts
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((name, default)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            }),
            None => Ok(ArgDecl {
                name: word,
                default: None,
            }),
        })
        .collect()
}

/// The trigger is parsed as an instruction of its own, so that a mistake in it is
/// reported at this line rather than in whatever build uses the image.
fn onbuild(args: &str, line: usize, escape: char) -> Result<String, String> {
    if args.is_empty() {
        return Err("ONBUILD requires at least one argument".to_string());
    }
    let trigger = words::split_command(args).0.to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
        "FROM" | "MAINTAINER" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    parse_line(args, line, escape, &[]).map_err(|e| format!("ONBUILD {trigger}: {e}"))?;
    Ok(args.to_string())
}

#[cfg(test)]
mod tests;
