//! Network configurations read from a conf dir as libcni reads them: `*.conflist` (a named
//! list of plugins), `*.conf` and `*.json` (one plugin, its object also naming the network),
//! in lexical order of file name; the default network is the first file that loads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{NetworkError, Result};

/// kubelet's, containerd's and CRI-O's default conf dir.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";

/// Debian's containernetworking-plugins, then the upstream install's place.
pub const DEFAULT_BIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// The versions whose results we read (0.1.0 and 0.2.0 results have another shape).
const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// A configuration file larger than this is refused (they are a few hundred bytes).
const MAX_CONF_BYTES: u64 = 1 << 20;

/// One network: its name, version and plugins, each plugin's object kept as written
/// (plugins read fields this crate does not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfList {
    pub name: String,
    pub cni_version: String,
    #[serde(default)]
    pub disable_check: bool,
    pub plugins: Vec<Map<String, Value>>,
    /// The file it was read from.
    pub source: PathBuf,
}

impl NetworkConfList {
    /// Each plugin's `type`: the binary's name (checked when loaded).
    pub fn plugin_types(&self) -> impl Iterator<Item = &str> {
        self.plugins
            .iter()
            .map(|p| p.get("type").and_then(Value::as_str).unwrap_or_default())
    }

    /// Whether results of this version are passed to DEL and CHECK (CNI 0.4.0 and later).
    pub fn has_prev_result_on_del(&self) -> bool {
        !self.cni_version.starts_with("0.3.")
    }

    /// Parses a configuration file's bytes.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<NetworkConfList> {
        let bad = |reason: String| NetworkError::CniConfig {
            path: path.to_path_buf(),
            reason,
        };
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(String::from);
        let name = text("name").ok_or_else(|| bad("no \"name\"".into()))?;
        check_name(&name).map_err(|r| bad(format!("network name {name:?}: {r}")))?;
        let cni_version = text("cniVersion").ok_or_else(|| bad("no \"cniVersion\"".into()))?;
        if !SUPPORTED_VERSIONS.contains(&cni_version.as_str()) {
            return Err(bad(format!(
                "cniVersion {cni_version:?} is not supported (supported: {})",
                SUPPORTED_VERSIONS.join(", ")
            )));
        }
        // A list names its plugins; a single configuration is its own plugin.
        let plugins = match object.get("plugins") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|p| match p {
                    Value::Object(plugin) => Ok(plugin.clone()),
                    _ => Err(bad("a plugin is not a JSON object".into())),
                })
                .collect::<Result<Vec<_>>>()?,
            Some(_) => return Err(bad("\"plugins\" is not a list".into())),
            None => vec![object.clone()],
        };
        if plugins.is_empty() {
            return Err(bad("no plugins".into()));
        }
        for plugin in &plugins {
            let kind = plugin.get("type").and_then(Value::as_str).unwrap_or("");
            check_plugin_type(kind).map_err(|r| bad(format!("plugin type {kind:?}: {r}")))?;
        }
        Ok(NetworkConfList {
            name,
            cni_version,
            disable_check: object
                .get("disableCheck")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            plugins,
            source: path.to_path_buf(),
        })
    }

    /// Reads one configuration file.
    pub fn load(path: &Path) -> Result<NetworkConfList> {
        let bytes = read_capped(path)?;
        NetworkConfList::parse(path, &bytes)
    }
}

/// Every configuration file of `dir`, in lexical order, each loaded or why not.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Result<NetworkConfList>)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| NetworkError::CniConfig {
        path: dir.to_path_buf(),
        reason: format!("cannot read the directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("conf" | "conflist" | "json")
            )
        })
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| {
            let loaded = NetworkConfList::load(&path);
            (path, loaded)
        })
        .collect())
}

/// The default network of `dir`: its first file that loads (kubelet's and containerd's
/// choice), or why there is none.
pub fn default_network(dir: &Path) -> Result<NetworkConfList> {
    let loaded = load_dir(dir)?;
    let mut why = Vec::new();
    for (path, conf) in loaded {
        match conf {
            Ok(conf) => return Ok(conf),
            Err(e) => why.push(format!("{}: {e}", path.display())),
        }
    }
    Err(NetworkError::CniConfig {
        path: dir.to_path_buf(),
        reason: if why.is_empty() {
            "no network configuration (*.conflist, *.conf, *.json) found".into()
        } else {
            format!("no usable network configuration ({})", why.join("; "))
        },
    })
}

/// Network `name` of `dir`: the first file, in lexical order, that defines it.
pub fn find_network(dir: &Path, name: &str) -> Result<NetworkConfList> {
    let mut why = Vec::new();
    for (path, conf) in load_dir(dir)? {
        match conf {
            Ok(conf) if conf.name == name => return Ok(conf),
            Ok(_) => {}
            Err(e) => why.push(format!("{}: {e}", path.display())),
        }
    }
    // The network may be in a file that does not load: say which and why.
    let mut reason = format!("no network named {name:?}");
    if !why.is_empty() {
        reason.push_str(&format!(" (unusable files: {})", why.join("; ")));
    }
    Err(NetworkError::CniConfig {
        path: dir.to_path_buf(),
        reason,
    })
}

/// libcni's rule for network names (they name cache files too).
fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return Err("must start with a letter or digit"),
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// A plugin's type names a binary in the bin dirs, never a path.
fn check_plugin_type(kind: &str) -> Result<(), &'static str> {
    if kind.is_empty() {
        return Err("no \"type\"");
    }
    if kind.contains('/') || kind == "." || kind == ".." || kind.contains('\0') {
        return Err("must be a plain file name");
    }
    Ok(())
}

fn read_capped(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| NetworkError::CniConfig {
        path: path.to_path_buf(),
        reason: format!("cannot open: {e}"),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_CONF_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| NetworkError::CniConfig {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?;
    if bytes.len() as u64 > MAX_CONF_BYTES {
        return Err(NetworkError::CniConfig {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_CONF_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_single_configs_load_and_the_first_file_is_the_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("20-single.conf"),
            r#"{"cniVersion":"0.3.1","name":"single","type":"bridge","bridge":"b0"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("10-list.conflist"),
            r#"{"cniVersion":"1.0.0","name":"list","disableCheck":true,
                "plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("05-broken.conflist"), "{").unwrap();
        std::fs::write(dir.path().join("README"), "not a config").unwrap();
        let default = default_network(dir.path()).unwrap();
        assert_eq!(default.name, "list");
        assert!(default.disable_check);
        assert_eq!(
            default.plugin_types().collect::<Vec<_>>(),
            ["bridge", "portmap"]
        );
        let single = find_network(dir.path(), "single").unwrap();
        assert_eq!(single.cni_version, "0.3.1");
        assert!(!single.has_prev_result_on_del());
        assert_eq!(single.plugins[0]["bridge"], "b0");
        let missing = find_network(dir.path(), "nope").unwrap_err().to_string();
        assert!(missing.contains("no network named \"nope\""), "{missing}");
    }

    #[test]
    fn unusable_configs_are_refused_with_their_reason() {
        let path = Path::new("/x/1.conflist");
        let refused = |text: &str| {
            NetworkConfList::parse(path, text.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused(r#"{"cniVersion":"0.2.0","name":"n","type":"bridge"}"#)
                .contains("cniVersion \"0.2.0\" is not supported")
        );
        assert!(refused(r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#).contains("no plugins"));
        assert!(
            refused(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../sh"}]}"#)
                .contains("plain file name")
        );
        assert!(
            refused(r#"{"cniVersion":"1.0.0","name":"a/b","type":"bridge"}"#)
                .contains("network name")
        );
        assert!(refused("[]").contains("not a JSON object"));
        let empty = tempfile::tempdir().unwrap();
        let none = default_network(empty.path()).unwrap_err().to_string();
        assert!(none.contains("no network configuration"), "{none}");
    }
}
