//! `buildhelper configmap add`: the definition of a config map, whose data is given when a
//! container starts.
//!
//! podinit renders config maps from its start-up config (`configMaps` of
//! `/.aurora/podinit.json`, written by the host: path, format, mode and the data). The image
//! only knows the *shape*: which file, in which format, with which mode. buildhelper records
//! that in [`CONFIGMAPS_PATH`] (`/etc/aurora/configmaps.json`), keyed by name:
//!
//! ```json
//! {
//!   "configMaps": {
//!     "app": { "path": "/etc/app/app.toml", "format": "toml", "mode": "0640" }
//!   }
//! }
//! ```
//!
//! A definition plus the run-time key/values (`data`, and optionally `types`) is exactly a
//! podinit [`ConfigMap`]: [`ConfigMapDef::with_data`] makes it, for the host to put in
//! podinit's config. `mode` is an octal string, as podinit also accepts it.

use std::collections::BTreeMap;

use aurora_podinit::configmap::{ConfigMap, ConfigMapError, Format};
use serde::{Deserialize, Serialize};

use crate::names::{check_name, NameError};
use crate::rootfs::{json_bytes, ImageRoot, RootError};

/// Where buildhelper writes config map definitions.
pub const CONFIGMAPS_PATH: &str = aurora_podinit::image_maps::IMAGE_CONFIGMAPS_PATH;

/// The mode of a rendered file unless `--mode` says (podinit's default).
pub const DEFAULT_MODE: u32 = aurora_podinit::configmap::DEFAULT_MODE;

/// The definitions file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapsFile {
    pub config_maps: BTreeMap<String, ConfigMapDef>,
}

/// One definition: a podinit config map without its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapDef {
    pub path: String,
    pub format: Format,
    #[serde(with = "octal")]
    pub mode: u32,
}

/// A definitions file or definition that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigMapsError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{file}: {source}")]
    Parse {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: config map {name:?}: {source}")]
    Invalid {
        file: String,
        name: String,
        source: ConfigMapError,
    },
    #[error("{file}: config maps {first:?} and {second:?} both render {path}")]
    SamePath {
        file: String,
        first: String,
        second: String,
        path: String,
    },
    #[error("--mode {0:?} is not an octal mode of at most 7777")]
    Mode(String),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error("the image's config map file cannot be updated: {0}")]
    Existing(Box<ConfigMapsError>),
    #[error("cannot serialise the config map file: {0}")]
    Json(#[from] serde_json::Error),
}

impl ConfigMapDef {
    /// The podinit config map this definition makes with the data given at run time.
    pub fn with_data(&self, data: BTreeMap<String, String>) -> ConfigMap {
        ConfigMap {
            path: self.path.clone(),
            format: Some(self.format),
            mode: Some(self.mode),
            uid: None,
            gid: None,
            data,
            types: BTreeMap::new(),
        }
    }

    /// Checks the definition as podinit will check the config map it makes.
    pub fn validate(&self) -> Result<(), ConfigMapError> {
        self.with_data(BTreeMap::new()).validate()
    }
}

impl ConfigMapsFile {
    /// Parses and checks a definitions file; `file` only names it in errors.
    pub fn from_slice(bytes: &[u8], file: &str) -> Result<Self, ConfigMapsError> {
        let parsed: ConfigMapsFile =
            serde_json::from_slice(bytes).map_err(|source| ConfigMapsError::Parse {
                file: file.to_string(),
                source,
            })?;
        parsed.validate(file)?;
        Ok(parsed)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigMapsError> {
        let mut paths: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, def) in &self.config_maps {
            check_name("config map", name)?;
            def.validate().map_err(|source| ConfigMapsError::Invalid {
                file: file.to_string(),
                name: name.clone(),
                source,
            })?;
            // podinit refuses two config maps with one path; so does the file.
            if let Some(first) = paths.insert(def.path.as_str(), name.as_str()) {
                return Err(ConfigMapsError::SamePath {
                    file: file.to_string(),
                    first: first.to_string(),
                    second: name.clone(),
                    path: def.path.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Parses `--mode`: octal digits (`0644`, `644`, `0o644`), at most `7777`.
pub fn parse_mode(text: &str) -> Result<u32, ConfigMapsError> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.starts_with('+') => Ok(mode),
        _ => Err(ConfigMapsError::Mode(text.to_string())),
    }
}

/// Adds (or replaces) one definition in the image's config map file.
pub fn add_configmap(
    root: &ImageRoot,
    name: &str,
    def: ConfigMapDef,
) -> Result<crate::actions::Added, ConfigMapsError> {
    use crate::actions::Added;
    check_name("config map", name)?;
    let shown = root.shown(CONFIGMAPS_PATH);
    let mut file = match root.read(CONFIGMAPS_PATH)? {
        Some(bytes) => ConfigMapsFile::from_slice(&bytes, &shown)
            .map_err(|e| ConfigMapsError::Existing(Box::new(e)))?,
        None => ConfigMapsFile::default(),
    };
    let added = match file.config_maps.insert(name.to_string(), def) {
        Some(_) => Added::Replaced,
        None => Added::New,
    };
    // Checked whole: the new definition, and its path against the others'.
    file.validate(&shown)?;
    root.write_atomic(CONFIGMAPS_PATH, &json_bytes(&file)?, 0o644)?;
    Ok(added)
}

/// `mode` written as an octal string (`"0644"`), read as podinit reads it: a number or an
/// octal string.
mod octal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Number(u32),
            Text(String),
        }
        let mode = match Given::deserialize(d)? {
            Given::Number(n) => n,
            Given::Text(t) => super::parse_mode(&t).map_err(serde::de::Error::custom)?,
        };
        if mode > 0o7777 {
            return Err(serde::de::Error::custom(format!(
                "mode {mode:#o} is over 0o7777"
            )));
        }
        Ok(mode)
    }
}

/// Reads the definitions file of `root`, if it has one (for the host, which turns a
/// definition and run-time data into podinit's config).
pub fn load(root: &ImageRoot) -> Result<Option<ConfigMapsFile>, ConfigMapsError> {
    let shown = root.shown(CONFIGMAPS_PATH);
    match root.read(CONFIGMAPS_PATH)? {
        Some(bytes) => Ok(Some(ConfigMapsFile::from_slice(&bytes, &shown)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aurora_podinit::config::InitConfig;

    use super::*;
    use crate::actions::Added;

    fn def(path: &str, format: Format) -> ConfigMapDef {
        ConfigMapDef {
            path: path.into(),
            format,
            mode: 0o640,
        }
    }

    #[test]
    fn definitions_make_podinit_config_maps() {
        let dir = tempfile::tempdir().unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        let app = def("/etc/app/app.toml", Format::Toml);
        assert_eq!(
            add_configmap(&root, "app", app.clone()).unwrap(),
            Added::New
        );
        let other = def("/etc/app/other.conf", Format::Yaml);
        add_configmap(&root, "other", other).unwrap();
        assert_eq!(add_configmap(&root, "app", app).unwrap(), Added::Replaced);

        let text = std::fs::read_to_string(dir.path().join("etc/aurora/configmaps.json")).unwrap();
        assert_eq!(
            text,
            r#"{
  "configMaps": {
    "app": {
      "path": "/etc/app/app.toml",
      "format": "toml",
      "mode": "0640"
    },
    "other": {
      "path": "/etc/app/other.conf",
      "format": "yaml",
      "mode": "0640"
    }
  }
}
"#
        );
        let file = load(&root).unwrap().unwrap();
        assert_eq!(file.config_maps.len(), 2);

        // What the host does at run time: the definition plus data, in podinit's config,
        // which podinit's own loader accepts and renders.
        let data = BTreeMap::from([("server.port".to_string(), "8080".to_string())]);
        let mut map = serde_json::to_value(&file.config_maps["app"]).unwrap();
        map["data"] = serde_json::to_value(&data).unwrap();
        let config = serde_json::json!({"process": {"args": ["/bin/app"]}, "configMaps": [map]});
        let bytes = serde_json::to_vec(&config).unwrap();
        let init = InitConfig::from_slice(&bytes, Path::new("/p.json")).unwrap();
        assert_eq!(init.config_maps[0], file.config_maps["app"].with_data(data));
        assert_eq!(init.config_maps[0].mode(), 0o640);
        assert_eq!(
            String::from_utf8(init.config_maps[0].render().unwrap()).unwrap(),
            "[server]\nport = \"8080\"\n"
        );
    }

    #[test]
    fn refusals_leave_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = ImageRoot::open(dir.path()).unwrap();
        add_configmap(&root, "a", def("/etc/a.json", Format::Json)).unwrap();
        let before = std::fs::read(dir.path().join("etc/aurora/configmaps.json")).unwrap();
        let err =
            |name: &str, d: ConfigMapDef| add_configmap(&root, name, d).unwrap_err().to_string();
        assert!(err("-a", def("/x", Format::Json)).starts_with("config map name \"-a\" must be"));
        assert!(err("b", def("/etc/a.json", Format::Toml))
            .ends_with("config maps \"a\" and \"b\" both render /etc/a.json"));
        assert!(err("b", def("etc/b", Format::Toml)).ends_with("path \"etc/b\": must be absolute"));
        assert!(err("b", def("/etc/../b", Format::Toml)).ends_with("must not contain `..`"));
        let after = std::fs::read(dir.path().join("etc/aurora/configmaps.json")).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0644").unwrap(), 0o644);
        assert_eq!(parse_mode("600").unwrap(), 0o600);
        assert_eq!(parse_mode("0o4755").unwrap(), 0o4755);
        for bad in ["", "rw", "0888", "17777", "+644"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
        let d: ConfigMapDef =
            serde_json::from_str(r#"{"path": "/a.json", "format": "json", "mode": 420}"#).unwrap();
        assert_eq!(d.mode, 0o644);
        assert!(serde_json::from_str::<ConfigMapDef>(
            r#"{"path": "/a.json", "format": "json", "mode": "9"}"#
        )
        .is_err());
    }
}
