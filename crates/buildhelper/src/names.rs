//! Names of actions, services and config maps, and the small values the `add` commands take.
//!
//! A name is checked as podinit checks a service name (it becomes a file name: a status
//! file, an SMF manifest), for all three kinds alike: an action name is typed on podinit's
//! command line, where one starting with `-` would read as an option.

use aurora_podinit::services::valid_name;

/// A value given on the command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} name {name:?} must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit")]
    Name { kind: &'static str, name: String },
    #[error("environment entry {0:?} is not NAME=VALUE (with a non-empty NAME and no NUL byte)")]
    Env(String),
    #[error("{what} {path:?} is not an absolute path")]
    NotAbsolute { what: &'static str, path: String },
}

/// Checks the name of an action, service or config map (`kind` names it in the error).
pub fn check_name(kind: &'static str, name: &str) -> Result<(), NameError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(NameError::Name {
            kind,
            name: name.to_string(),
        })
    }
}

/// Checks one `NAME=VALUE` environment entry as podinit does.
pub fn check_env(entry: &str) -> Result<(), NameError> {
    match entry.split_once('=') {
        Some((name, _)) if !name.is_empty() && !entry.contains('\0') => Ok(()),
        _ => Err(NameError::Env(entry.to_string())),
    }
}

/// Checks a working directory (or any path podinit needs absolute).
pub fn check_absolute(what: &'static str, path: &str) -> Result<(), NameError> {
    if path.starts_with('/') && !path.contains('\0') {
        Ok(())
    } else {
        Err(NameError::NotAbsolute {
            what,
            path: path.to_string(),
        })
    }
}

/// Adds `entry` to `env`, replacing an entry of the same name: the last one given wins, as
/// it would in a shell's environment.
pub fn set_env(env: &mut Vec<String>, entry: &str) {
    let name = entry.split_once('=').map_or(entry, |(n, _)| n);
    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != name);
    env.push(entry.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_podinit() {
        check_name("service", "web-1.a_b").unwrap();
        for bad in ["", "-x", ".x", "../x", "a/b", "a b", &"x".repeat(64)] {
            let err = check_name("action", bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("action name {bad:?} must be")),
                "{err}"
            );
        }
    }

    #[test]
    fn env_entries() {
        check_env("A=").unwrap();
        check_env("A=b=c").unwrap();
        for bad in ["A", "=x", "A=\0"] {
            assert_eq!(check_env(bad), Err(NameError::Env(bad.into())));
        }
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "PATH=/usr/bin");
        assert_eq!(env, ["A=1", "PATH=/usr/bin"]);
    }

    #[test]
    fn absolute_paths() {
        check_absolute("--workdir", "/srv").unwrap();
        assert_eq!(
            check_absolute("--workdir", "srv").unwrap_err().to_string(),
            "--workdir \"srv\" is not an absolute path"
        );
    }
}
