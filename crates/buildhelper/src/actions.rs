//! `buildhelper action add`: a named action in the file `podinit action NAME` reads.
//!
//! The file is podinit's [`ActionsFile`] at [`ACTIONS_PATH`] (`/etc/aurora/actions.json`),
//! written with podinit's own types and checked with its own loader before it replaces the
//! old one:
//!
//! ```json
//! {
//!   "actions": {
//!     "migrate": {
//!       "args": ["app", "migrate"],
//!       "env": ["APP_ENV=prod"],
//!       "cwd": "/srv/app",
//!       "description": "apply database migrations"
//!     }
//!   }
//! }
//! ```

use std::path::Path;

use aurora_podinit::actions::{Action, ActionsError, ActionsFile};

use crate::names::{check_absolute, check_env, check_name, set_env, NameError};
use crate::rootfs::{json_bytes, ImageRoot, RootError};

/// Where podinit looks for actions by default, and so where buildhelper writes them.
pub const ACTIONS_PATH: &str = aurora_podinit::actions::DEFAULT_ACTIONS_PATH;

/// What `action add` was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewAction {
    pub name: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub description: Option<String>,
}

/// Whether an add created a new entry or replaced one of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    Replaced,
}

/// Why an action was not added.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("action {0:?} needs a command: `-- CMD ARGS...`")]
    NoCommand(String),
    #[error("an argument of action {0:?} contains a NUL byte")]
    Nul(String),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error("the image's actions file cannot be updated: {0}")]
    Existing(ActionsError),
    #[error("the new actions file would not load in podinit: {0}")]
    Refused(ActionsError),
    #[error("cannot serialise the actions file: {0}")]
    Json(#[from] serde_json::Error),
}

/// Adds (or replaces) one action in the image's actions file.
pub fn add_action(root: &ImageRoot, new: &NewAction) -> Result<Added, ActionError> {
    check_name("action", &new.name)?;
    if new.args.first().is_none_or(|a| a.is_empty()) {
        return Err(ActionError::NoCommand(new.name.clone()));
    }
    if new.args.iter().any(|a| a.contains('\0')) {
        return Err(ActionError::Nul(new.name.clone()));
    }
    let mut env = Vec::new();
    for entry in &new.env {
        check_env(entry)?;
        set_env(&mut env, entry);
    }
    if let Some(cwd) = &new.cwd {
        check_absolute("--workdir", cwd)?;
    }

    let shown = root.shown(ACTIONS_PATH);
    let mut file = match root.read(ACTIONS_PATH)? {
        Some(bytes) => {
            ActionsFile::from_slice(&bytes, Path::new(&shown)).map_err(ActionError::Existing)?
        }
        None => ActionsFile {
            actions: Default::default(),
        },
    };
    let action = Action {
        args: new.args.clone(),
        env,
        cwd: new.cwd.clone(),
        description: new.description.clone().filter(|d| !d.is_empty()),
    };
    let added = match file.actions.insert(new.name.clone(), action) {
        Some(_) => Added::Replaced,
        None => Added::New,
    };
    let bytes = json_bytes(&file)?;
    ActionsFile::from_slice(&bytes, Path::new(&shown)).map_err(ActionError::Refused)?;
    root.write_atomic(ACTIONS_PATH, &bytes, 0o644)?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(name: &str, args: &[&str]) -> NewAction {
        NewAction {
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..NewAction::default()
        }
    }

    #[test]
    fn adds_and_replaces_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        let reload = action("reload", &["/usr/sbin/nginx", "-s", "reload"]);
        assert_eq!(add_action(&root, &reload).unwrap(), Added::New);
        let migrate = NewAction {
            env: vec!["APP_ENV=dev".into(), "APP_ENV=prod".into()],
            cwd: Some("/srv/app".into()),
            description: Some("apply database migrations".into()),
            ..action("migrate", &["app", "migrate"])
        };
        assert_eq!(add_action(&root, &migrate).unwrap(), Added::New);
        let again = add_action(&root, &migrate).unwrap();
        assert_eq!(again, Added::Replaced);

        let path = dir.path().join("etc/aurora/actions.json");
        let text = std::fs::read_to_string(&path).unwrap();
        // podinit's own loader reads what buildhelper wrote.
        let file = ActionsFile::load(&path).unwrap();
        assert_eq!(file.actions.len(), 2);
        let m = file.get("migrate", &path).unwrap();
        assert_eq!(m.args, ["app", "migrate"]);
        assert_eq!(m.env, ["APP_ENV=prod"]);
        assert_eq!(m.cwd.as_deref(), Some("/srv/app"));
        assert_eq!(
            text,
            r#"{
  "actions": {
    "migrate": {
      "args": [
        "app",
        "migrate"
      ],
      "env": [
        "APP_ENV=prod"
      ],
      "cwd": "/srv/app",
      "description": "apply database migrations"
    },
    "reload": {
      "args": [
        "/usr/sbin/nginx",
        "-s",
        "reload"
      ]
    }
  }
}
"#
        );
    }

    #[test]
    fn refuses_bad_input_and_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        add_action(&root, &action("ok", &["true"])).unwrap();
        let before = std::fs::read(dir.path().join("etc/aurora/actions.json")).unwrap();
        let cases = [
            (action("-x", &["a"]), "action name \"-x\" must be"),
            (action("x", &[]), "action \"x\" needs a command"),
            (action("x", &[""]), "action \"x\" needs a command"),
            (
                NewAction {
                    env: vec!["NOEQUALS".into()],
                    ..action("x", &["a"])
                },
                "environment entry \"NOEQUALS\" is not NAME=VALUE",
            ),
            (
                NewAction {
                    cwd: Some("rel".into()),
                    ..action("x", &["a"])
                },
                "--workdir \"rel\" is not an absolute path",
            ),
        ];
        for (new, want) in cases {
            let err = add_action(&root, &new).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
        let after = std::fs::read(dir.path().join("etc/aurora/actions.json")).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn an_invalid_existing_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/aurora")).unwrap();
        std::fs::write(dir.path().join("etc/aurora/actions.json"), "{\"x\": 1}").unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        let err = add_action(&root, &action("a", &["b"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the image's actions file cannot be updated: invalid actions file"),
            "{err}"
        );
    }
}
