//! `buildhelper service add`: a service podinit starts (`podinit --services FILE`), and
//! optionally its SMF manifest.
//!
//! The file is podinit's [`ServicesFile`] at [`SERVICES_PATH`] (`/etc/aurora/services.json`),
//! each entry a podinit [`Service`] without a `root` (the service runs in the container's own
//! root), written with podinit's types and checked with its loader before it replaces the
//! old one. Top-level fields already in the file (`hostname`, `statusDir`,
//! `stopTimeoutSeconds`) are kept as they are; buildhelper writes none of them, so podinit's
//! defaults apply.
//!
//! ```json
//! {
//!   "services": [
//!     { "name": "db", "process": { "args": ["/usr/bin/db"], "env": ["PATH=…"] },
//!       "restart": "always" },
//!     { "name": "web",
//!       "process": { "user": { "uid": 33, "gid": 33 }, "args": ["/usr/bin/web", "--serve"],
//!                    "env": ["PATH=…", "HOME=/var/www"], "cwd": "/srv/web" },
//!       "restart": "on-failure:3", "dependsOn": ["db"] }
//!   ]
//! }
//! ```
//!
//! * `--exec` is split into words ([`crate::words`]); `args[0]` is looked up in the
//!   service's `PATH` by podinit.
//! * `--user` is resolved now, against the image's `/etc/passwd` and `/etc/group`, by the
//!   runtime's own rules ([`aurora_bundle::resolve_user`]): podinit takes numeric ids only.
//! * The environment is complete, as podinit's services need: `--env` entries, plus `PATH`
//!   (podinit's default search path) and `HOME` (the user's home) unless given.
//! * `--depends-on` names services already in the file: add dependencies first.

use std::path::Path;

use aurora_bundle::resolve_user;
use aurora_podinit::config::{ConfigError, Process, User, DEFAULT_PATH};
use aurora_podinit::services::{RestartPolicyArg, Service, ServicesFile};
use serde_json::{Map, Value};

use crate::actions::Added;
use crate::names::{check_absolute, check_env, check_name, set_env, NameError};
use crate::rootfs::{json_bytes, ImageRoot, RootError};
use crate::smf::{self, SmfError, SmfService};
use crate::words::{self, WordsError};

/// Where buildhelper writes the image's services: podinit, as a container's init, starts
/// them beside the container's process (and `podinit --services FILE` runs them alone).
pub const SERVICES_PATH: &str = aurora_podinit::services::IMAGE_SERVICES_PATH;

/// What `service add` was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewService {
    pub name: String,
    /// The command line, split like a shell's.
    pub exec: String,
    pub user: Option<String>,
    pub env: Vec<String>,
    pub depends_on: Vec<String>,
    pub restart: RestartPolicyArg,
    pub workdir: Option<String>,
    /// Also write an SMF manifest.
    pub smf: bool,
}

/// What an add did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAdded {
    pub added: Added,
    /// The manifest written (`--smf`).
    pub manifest: Option<String>,
    /// A manifest buildhelper had written for this name before, removed because `--smf`
    /// was not given this time.
    pub removed_manifest: Option<String>,
    /// Things that may not work as meant, for the build log.
    pub warnings: Vec<String>,
}

/// Why a service was not added.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Words(#[from] WordsError),
    #[error("--user {user:?}: {source}")]
    User {
        user: String,
        // Boxed: the bundle's error is large, and errors are passed by value.
        source: Box<aurora_bundle::BundleError>,
    },
    #[error("service {name} cannot depend on itself")]
    SelfDependency { name: String },
    #[error("service {name} depends on {dependency}, which is not in {file} yet: add {dependency} first")]
    MissingDependency {
        name: String,
        dependency: String,
        file: String,
    },
    #[error(transparent)]
    Smf(#[from] SmfError),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error("the image's services file cannot be updated: {0}")]
    Existing(ConfigError),
    #[error("the new services file would not load in podinit: {0}")]
    Refused(ConfigError),
    #[error("cannot serialise the services file: {0}")]
    Json(#[from] serde_json::Error),
}

/// Adds (or replaces, in place) one service in the image's services file, and writes or
/// removes its SMF manifest.
pub fn add_service(root: &ImageRoot, new: &NewService) -> Result<ServiceAdded, ServiceError> {
    check_name("service", &new.name)?;
    if new.smf {
        smf::check_name(&new.name)?;
    }
    let args = words::split(&new.exec)?;
    if let Some(dir) = &new.workdir {
        check_absolute("--workdir", dir)?;
    }
    let mut env = Vec::new();
    for entry in &new.env {
        check_env(entry)?;
        set_env(&mut env, entry);
    }
    // Who the service runs as, and its HOME, as the runtime would resolve them; without
    // --user podinit keeps its own (root's) ids, and HOME is root's.
    let spec = new.user.as_deref().unwrap_or("");
    let resolved =
        resolve_user("(being built)", root.dir(), spec).map_err(|source| ServiceError::User {
            user: spec.to_string(),
            source: Box::new(source),
        })?;
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if let Some(home) = &resolved.home {
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={home}"));
        }
    }
    let user = new.user.as_ref().map(|_| User {
        uid: resolved.uid,
        gid: resolved.gid,
        umask: None,
        additional_gids: resolved.additional_gids.clone(),
    });

    let shown = root.shown(SERVICES_PATH);
    let (mut top, mut services) = match root.read(SERVICES_PATH)? {
        Some(bytes) => {
            let file = ServicesFile::from_slice(&bytes, Path::new(&shown))
                .map_err(ServiceError::Existing)?;
            // Loaded once to check it, once to keep its top-level fields as written.
            let top: Map<String, Value> = serde_json::from_slice(&bytes)?;
            (top, file.services)
        }
        None => (Map::new(), Vec::new()),
    };
    for dependency in &new.depends_on {
        if dependency == &new.name {
            return Err(ServiceError::SelfDependency {
                name: new.name.clone(),
            });
        }
        if !services.iter().any(|s| &s.name == dependency) {
            return Err(ServiceError::MissingDependency {
                name: new.name.clone(),
                dependency: dependency.clone(),
                file: shown,
            });
        }
    }
    let mut depends_on: Vec<String> = Vec::new();
    for d in &new.depends_on {
        if !depends_on.contains(d) {
            depends_on.push(d.clone());
        }
    }

    // The manifest is made before anything is written, so that one it cannot hold leaves
    // the image as it was.
    let manifest = if new.smf {
        Some(smf::manifest(&SmfService {
            name: &new.name,
            args: &args,
            user: new.user.as_deref(),
            workdir: new.workdir.as_deref(),
            env: &env,
            depends_on: &depends_on,
            restart: new.restart,
        })?)
    } else {
        None
    };

    let service = Service {
        name: new.name.clone(),
        root: None,
        process: Process {
            terminal: false,
            user,
            args,
            env,
            cwd: new.workdir.clone(),
            rlimits: Vec::new(),
            no_new_privileges: false,
        },
        restart: new.restart,
        depends_on: depends_on.clone(),
    };
    let added = match services.iter_mut().find(|s| s.name == new.name) {
        Some(existing) => {
            *existing = service;
            Added::Replaced
        }
        None => {
            services.push(service);
            Added::New
        }
    };
    top.insert("services".into(), serde_json::to_value(&services)?);
    let bytes = json_bytes(&top)?;
    ServicesFile::from_slice(&bytes, Path::new(&shown)).map_err(ServiceError::Refused)?;
    root.write_atomic(SERVICES_PATH, &bytes, 0o644)?;

    let path = smf::manifest_path(&new.name);
    let mut done = ServiceAdded {
        added,
        manifest: None,
        removed_manifest: None,
        warnings: Vec::new(),
    };
    match manifest {
        Some(text) => {
            root.write_atomic(&path, text.as_bytes(), 0o644)?;
            for d in &depends_on {
                if root.read(&smf::manifest_path(d))?.is_none() {
                    done.warnings.push(format!(
                        "svc:/site/{} depends on svc:/site/{d}, which has no manifest in {}: add {d} with --smf too",
                        new.name,
                        smf::MANIFEST_DIR
                    ));
                }
            }
            done.manifest = Some(path);
        }
        None => {
            // A manifest of an earlier `--smf` add would describe a service that is no
            // longer the one in the services file; one that someone else wrote is kept.
            let ours = root
                .read(&path)?
                .is_some_and(|b| String::from_utf8_lossy(&b).contains(smf::MARKER));
            if ours && root.remove_file(&path)? {
                done.removed_manifest = Some(path);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> (tempfile::TempDir, ImageRoot) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:web:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww-data:x:33:\nlogs:x:4:web\n",
        )
        .unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        (dir, root)
    }

    fn service(name: &str, exec: &str) -> NewService {
        NewService {
            name: name.into(),
            exec: exec.into(),
            ..NewService::default()
        }
    }

    #[test]
    fn adds_services_podinit_loads() {
        let (dir, root) = image();
        let db = NewService {
            restart: RestartPolicyArg::Always,
            ..service("db", "/usr/bin/db --data '/var/lib/my db'")
        };
        assert_eq!(add_service(&root, &db).unwrap().added, Added::New);
        let web = NewService {
            user: Some("web".into()),
            env: vec!["MODE=prod".into()],
            depends_on: vec!["db".into(), "db".into()],
            restart: RestartPolicyArg::OnFailure(Some(3)),
            workdir: Some("/srv/web".into()),
            ..service("web", "/usr/bin/web --serve")
        };
        add_service(&root, &web).unwrap();

        let path = dir.path().join("etc/aurora/services.json");
        let file = ServicesFile::load(&path).unwrap();
        let names: Vec<_> = file.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(
            file.services[0].process.args,
            ["/usr/bin/db", "--data", "/var/lib/my db"]
        );
        assert_eq!(
            file.services[0].process.env,
            [format!("PATH={DEFAULT_PATH}"), "HOME=/root".to_string()]
        );
        assert_eq!(file.services[0].process.user, None);
        let w = &file.services[1];
        assert_eq!(w.depends_on, ["db"]);
        assert_eq!(w.restart, RestartPolicyArg::OnFailure(Some(3)));
        assert_eq!(w.process.cwd.as_deref(), Some("/srv/web"));
        let user = w.process.user.as_ref().unwrap();
        assert_eq!(
            (user.uid, user.gid, &user.additional_gids[..]),
            (33, 33, &[4][..])
        );
        assert_eq!(
            w.process.env,
            [
                format!("PATH={DEFAULT_PATH}"),
                "MODE=prod".into(),
                "HOME=/var/www".into()
            ]
        );
        assert_eq!(file.start_order().unwrap(), [0, 1]);

        // Replaced in place, and podinit's defaults are not written out.
        let db2 = service("db", "/usr/bin/db2");
        assert_eq!(add_service(&root, &db2).unwrap().added, Added::Replaced);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("statusDir"), "{text}");
        let file = ServicesFile::load(&path).unwrap();
        assert_eq!(file.services[0].process.args, ["/usr/bin/db2"]);
        assert_eq!(file.services.len(), 2);
    }

    #[test]
    fn keeps_top_level_fields() {
        let (dir, root) = image();
        std::fs::create_dir_all(dir.path().join("etc/aurora")).unwrap();
        std::fs::write(
            dir.path().join("etc/aurora/services.json"),
            r#"{"stopTimeoutSeconds": 30, "services": [{"name": "a", "process": {"args": ["a"]}}]}"#,
        )
        .unwrap();
        add_service(&root, &service("b", "b")).unwrap();
        let file = ServicesFile::load(&dir.path().join("etc/aurora/services.json")).unwrap();
        assert_eq!(file.stop_timeout_seconds, 30);
        assert_eq!(file.services.len(), 2);
    }

    #[test]
    fn refusals() {
        let (dir, root) = image();
        add_service(&root, &service("a", "a")).unwrap();
        let before = std::fs::read(dir.path().join("etc/aurora/services.json")).unwrap();
        let cases = [
            (service("../x", "a"), "service name \"../x\" must be"),
            (service("x", "a | b"), "--exec has an unquoted '|'"),
            (
                NewService {
                    depends_on: vec!["zz".into()],
                    ..service("x", "a")
                },
                "service x depends on zz, which is not in",
            ),
            (
                NewService {
                    depends_on: vec!["x".into()],
                    ..service("x", "a")
                },
                "service x cannot depend on itself",
            ),
            (
                NewService {
                    user: Some("nobody".into()),
                    ..service("x", "a")
                },
                "--user \"nobody\": ",
            ),
            (
                NewService {
                    smf: true,
                    ..service("1x", "a")
                },
                "SMF service names start with a letter",
            ),
            (
                NewService {
                    workdir: Some("srv".into()),
                    ..service("x", "a")
                },
                "--workdir \"srv\" is not an absolute path",
            ),
        ];
        for (new, want) in cases {
            let err = add_service(&root, &new).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
        let after = std::fs::read(dir.path().join("etc/aurora/services.json")).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn smf_manifest_written_then_removed() {
        let (dir, root) = image();
        let db = NewService {
            smf: false,
            ..service("db", "db")
        };
        add_service(&root, &db).unwrap();
        let web = NewService {
            smf: true,
            depends_on: vec!["db".into()],
            ..service("web", "/usr/bin/web")
        };
        let done = add_service(&root, &web).unwrap();
        assert_eq!(
            done.manifest.as_deref(),
            Some("/var/svc/manifest/site/web.xml")
        );
        assert_eq!(done.warnings.len(), 1, "{:?}", done.warnings);
        let xml = dir.path().join("var/svc/manifest/site/web.xml");
        let text = std::fs::read_to_string(&xml).unwrap();
        assert!(
            text.contains(r#"<service_fmri value="svc:/site/db"/>"#),
            "{text}"
        );

        let done = add_service(&root, &NewService { smf: false, ..web }).unwrap();
        assert_eq!(
            done.removed_manifest.as_deref(),
            Some("/var/svc/manifest/site/web.xml")
        );
        assert!(!xml.exists());

        // Someone else's manifest is left alone.
        std::fs::write(dir.path().join("var/svc/manifest/site/db.xml"), "<x/>").unwrap();
        let done = add_service(&root, &service("db", "db")).unwrap();
        assert_eq!(done.removed_manifest, None);
        assert!(dir.path().join("var/svc/manifest/site/db.xml").exists());
    }
}
