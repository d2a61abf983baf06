//! Commands for `zlogin ZONE COMMAND`: zlogin joins its arguments with spaces into one string
//! that a shell in the zone runs, so every argument must be shell-quoted, and the environment
//! and working directory must be said inside that string.

use std::path::Path;

use crate::name::ZoneName;

/// Why a process cannot be expressed as a zlogin command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZloginError {
    #[error("a command needs at least one argument")]
    NoArgs,
    #[error("{field} contains a NUL byte, which no command line can carry")]
    Nul { field: String },
    #[error("env entry {0:?} is not NAME=VALUE with NAME a shell variable name")]
    BadEnv(String),
}

/// One argument for a POSIX shell: as it is when made only of characters no shell treats
/// specially, else in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The one string zlogin runs: `cd DIR && export K=V && … && exec ARG…`. `exec` makes the
/// exit status the command's own; `export` rather than `env` so that no argument is ever
/// read as an option or an assignment.
pub fn script(args: &[String], env: &[String], cwd: Option<&Path>) -> Result<String, ZloginError> {
    if args.is_empty() {
        return Err(ZloginError::NoArgs);
    }
    let no_nul = |field: String, s: &str| {
        if s.contains('\0') {
            Err(ZloginError::Nul { field })
        } else {
            Ok(())
        }
    };
    let mut parts = Vec::new();
    if let Some(dir) = cwd {
        let dir = dir.to_string_lossy();
        no_nul("cwd".into(), &dir)?;
        parts.push(format!("cd {}", shell_quote(&dir)));
    }
    for (i, e) in env.iter().enumerate() {
        no_nul(format!("env[{i}]"), e)?;
        let (name, _) = e
            .split_once('=')
            .ok_or_else(|| ZloginError::BadEnv(e.clone()))?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ZloginError::BadEnv(e.clone()));
        }
        parts.push(format!("export {}", shell_quote(e)));
    }
    for (i, a) in args.iter().enumerate() {
        no_nul(format!("args[{i}]"), a)?;
    }
    let command: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    parts.push(format!("exec {}", command.join(" ")));
    Ok(parts.join(" && "))
}

/// `zlogin ZONE SCRIPT` as an argv.
pub fn argv(zone: &ZoneName, script: &str) -> Vec<String> {
    vec!["zlogin".to_string(), zone.to_string(), script.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("ls"), "ls");
        assert_eq!(shell_quote("/bin/sh"), "/bin/sh");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(shell_quote("`x`"), "'`x`'");
        assert_eq!(shell_quote("line\nbreak"), "'line\nbreak'");
        assert_eq!(shell_quote("*"), "'*'");
        assert_eq!(shell_quote("~"), "'~'");
    }

    #[test]
    fn whole_script() {
        let got = script(
            &s(&["sh", "-c", "echo \"$GREETING\" > out"]),
            &s(&["GREETING=hello world", "PATH=/usr/bin:/bin"]),
            Some(Path::new("/work dir")),
        )
        .unwrap();
        assert_eq!(
            got,
            "cd '/work dir' && export 'GREETING=hello world' && export PATH=/usr/bin:/bin && exec sh -c 'echo \"$GREETING\" > out'"
        );
        assert_eq!(script(&s(&["true"]), &[], None).unwrap(), "exec true");
    }

    #[test]
    fn refusals() {
        assert_eq!(script(&[], &[], None), Err(ZloginError::NoArgs));
        assert!(matches!(
            script(&s(&["a\0b"]), &[], None),
            Err(ZloginError::Nul { .. })
        ));
        for bad in ["NOEQUALS", "1X=y", "A-B=c", "=x"] {
            assert_eq!(
                script(&s(&["x"]), &s(&[bad]), None),
                Err(ZloginError::BadEnv(bad.into()))
            );
        }
    }

    #[test]
    fn argv_is_three_words() {
        let z = ZoneName::new("web").unwrap();
        assert_eq!(argv(&z, "exec true"), ["zlogin", "web", "exec true"]);
    }
}
