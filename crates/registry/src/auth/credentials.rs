//! Credentials from the auth files docker and podman keep, and `imageadm login`'s writes.
//!
//! Both use the same JSON: `{"auths": {"KEY": {"auth": base64("user:password")}}}`, where KEY
//! is a registry host (`127.0.0.1:5000`), sometimes with a scheme and path
//! (`https://index.docker.io/v1/`), or in podman's files a `host/namespace` prefix.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};
use tracing::debug;

use crate::error::{RegistryError, Result};

/// Docker Hub's credentials live under this legacy key.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Auth files are refused beyond this size: they hold a handful of short entries.
const MAX_AUTH_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.username)
    }
}

/// The auth files to read, first match wins, in the order podman and docker use.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    files: Vec<PathBuf>,
}

impl CredentialStore {
    /// Exactly these files.
    pub fn from_files(files: Vec<PathBuf>) -> Self {
        CredentialStore { files }
    }

    /// `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// `$HOME/.config/containers/auth.json`, `$DOCKER_CONFIG/config.json` (or
    /// `$HOME/.docker/config.json`).
    pub fn from_environment() -> Self {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut files = Vec::new();
        files.extend(env("REGISTRY_AUTH_FILE"));
        files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
        files.extend(env("HOME").map(|h| h.join(".config/containers/auth.json")));
        files.push(default_docker_config());
        CredentialStore { files }
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The credential for `registry` (as users name it, e.g. `docker.io`, `127.0.0.1:5000`)
    /// and `repository`. Unreadable or malformed files are an error naming the file, so
    /// that a typo never silently turns into anonymous access.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Credential>> {
        for file in &self.files {
            let Some(auths) = read_auths(file)? else {
                continue;
            };
            if let Some(credential) = find_in(&auths, registry, repository, file)? {
                debug!(file = %file.display(), registry, "using stored credentials");
                return Ok(Some(credential));
            }
        }
        Ok(None)
    }
}

/// Where `imageadm login` writes by default: docker's config file, read by docker,
/// podman, skopeo and Aurora alike.
pub fn default_docker_config() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"))
            .join(".docker/config.json"),
    }
}

/// The key an auth file uses for a registry.
fn file_key(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_KEY
    } else {
        registry
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Reduces `https://host:port/v1/` and friends to `host:port[/path]`.
fn normalize_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.trim_end_matches('/');
    key.strip_suffix("/v1")
        .or_else(|| key.strip_suffix("/v2"))
        .unwrap_or(key)
}

fn read_auths(file: &Path) -> Result<Option<Map<String, Value>>> {
    let bytes = match fs::metadata(file) {
        Ok(meta) if meta.len() > MAX_AUTH_FILE_BYTES => {
            return Err(auth_file_error(file, "larger than 4 MiB"));
        }
        Ok(_) => fs::read(file).map_err(|e| auth_file_error(file, &e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(auth_file_error(file, &e.to_string())),
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| auth_file_error(file, &format!("invalid JSON: {e}")))?;
    Ok(value.get("auths").and_then(Value::as_object).cloned())
}

/// Finds the entry for a registry: the most specific `host/namespace` prefix first, as
/// podman does, then the host.
fn find_in(
    auths: &Map<String, Value>,
    registry: &str,
    repository: &str,
    file: &Path,
) -> Result<Option<Credential>> {
    let mut candidates: Vec<String> = Vec::new();
    let mut path = format!("{registry}/{repository}");
    loop {
        candidates.push(path.clone());
        match path.rsplit_once('/') {
            Some((head, _)) => path = head.to_string(),
            None => break,
        }
    }
    for candidate in &candidates {
        let entry = auths.iter().find(|(key, _)| {
            let key = normalize_key(key);
            key == candidate || (is_docker_hub(key) && is_docker_hub(candidate))
        });
        if let Some((key, value)) = entry {
            return decode_entry(value, file, key);
        }
    }
    Ok(None)
}

fn decode_entry(value: &Value, file: &Path, key: &str) -> Result<Option<Credential>> {
    let bad = |why: &str| auth_file_error(file, &format!("entry {key:?}: {why}"));
    if let Some(encoded) = value.get("auth").and_then(Value::as_str) {
        if encoded.is_empty() {
            return Ok(None);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("\"auth\" is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| bad("\"auth\" is not user:password"))?;
        return Ok(Some(Credential {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    // docker writes identity tokens (OAuth refresh tokens) with a placeholder user.
    if let Some(token) = value.get("identitytoken").and_then(Value::as_str) {
        return Ok(Some(Credential {
            username: "<token>".to_string(),
            password: token.to_string(),
        }));
    }
    Ok(None)
}

fn auth_file_error(file: &Path, reason: &str) -> RegistryError {
    RegistryError::AuthFile {
        path: file.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Records a credential in `file`, keeping every other entry and setting, written
/// atomically with mode 0600.
pub fn store_credential(file: &Path, registry: &str, credential: &Credential) -> Result<()> {
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credential.username, credential.password));
    update_auth_file(file, |auths| {
        auths.retain(|k, _| normalize_key(k) != normalize_key(file_key(registry)));
        auths.insert(
            file_key(registry).to_string(),
            serde_json::json!({ "auth": encoded }),
        );
        true
    })
    .map(drop)
}

/// Forgets the credential for `registry`; returns whether there was one.
pub fn remove_credential(file: &Path, registry: &str) -> Result<bool> {
    update_auth_file(file, |auths| {
        let before = auths.len();
        auths.retain(|k, _| {
            let k = normalize_key(k);
            !(k == normalize_key(file_key(registry))
                || (is_docker_hub(k) && is_docker_hub(registry)))
        });
        auths.len() != before
    })
}

fn update_auth_file(
    file: &Path,
    change: impl FnOnce(&mut Map<String, Value>) -> bool,
) -> Result<bool> {
    let mut root: Value = match fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| auth_file_error(file, &format!("invalid JSON: {e}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(auth_file_error(file, &e.to_string())),
    };
    let object = root
        .as_object_mut()
        .ok_or_else(|| auth_file_error(file, "not a JSON object"))?;
    let auths = object
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| auth_file_error(file, "\"auths\" is not an object"))?;
    let changed = change(auths);
    if changed {
        write_private(file, &serde_json::to_vec_pretty(&root).unwrap_or_default())?;
    }
    Ok(changed)
}

fn write_private(file: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let err = |e: std::io::Error| auth_file_error(file, &e.to_string());
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(err)?;
    tmp.persist(file).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, json).unwrap();
        path
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn finds_host_entries_in_docker_and_podman_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "a.json",
            &format!(
                r#"{{"auths": {{
                    "https://index.docker.io/v1/": {{"auth": "{}"}},
                    "127.0.0.1:5000": {{"auth": "{}"}},
                    "127.0.0.1:6000/team": {{"auth": "{}"}},
                    "http://127.0.0.1:7000/v2/": {{"auth": "{}"}}
                }}}}"#,
                b64("hub:pw"),
                b64("local:pw:with:colons"),
                b64("team:pw"),
                b64("seven:pw")
            ),
        );
        let store = CredentialStore::from_files(vec![file]);
        let user = |r: &str, repo: &str| store.lookup(r, repo).unwrap().map(|c| c.username);
        assert_eq!(user("docker.io", "library/alpine").as_deref(), Some("hub"));
        assert_eq!(user("127.0.0.1:5000", "x").as_deref(), Some("local"));
        assert_eq!(
            store
                .lookup("127.0.0.1:5000", "x")
                .unwrap()
                .unwrap()
                .password,
            "pw:with:colons"
        );
        assert_eq!(user("127.0.0.1:6000", "team/app").as_deref(), Some("team"));
        assert_eq!(user("127.0.0.1:6000", "other/app"), None);
        assert_eq!(user("127.0.0.1:7000", "a").as_deref(), Some("seven"));
        assert_eq!(user("127.0.0.1:5001", "a"), None);
    }

    #[test]
    fn first_file_wins_and_missing_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.json",
            &format!(r#"{{"auths":{{"r:1":{{"auth":"{}"}}}}}}"#, b64("a:1")),
        );
        let b = write(
            dir.path(),
            "b.json",
            &format!(r#"{{"auths":{{"r:1":{{"auth":"{}"}}}}}}"#, b64("b:2")),
        );
        let store = CredentialStore::from_files(vec![dir.path().join("missing.json"), a, b]);
        assert_eq!(store.lookup("r:1", "x").unwrap().unwrap().username, "a");
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("broken.json", "{not json"),
            ("notb64.json", r#"{"auths":{"r:1":{"auth":"%%%"}}}"#),
            (
                "nocolon.json",
                &format!(r#"{{"auths":{{"r:1":{{"auth":"{}"}}}}}}"#, b64("nocolon")),
            ),
        ] {
            let file = write(dir.path(), name, body);
            let err = CredentialStore::from_files(vec![file.clone()])
                .lookup("r:1", "x")
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn login_and_logout_keep_other_entries_and_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths":{{"other:1":{{"auth":"{}"}}}},"credsStore":"x"}}"#,
                b64("o:p")
            ),
        );
        let cred = Credential {
            username: "u".into(),
            password: "p".into(),
        };
        store_credential(&file, "docker.io", &cred).unwrap();
        store_credential(&file, "127.0.0.1:5000", &cred).unwrap();
        let value: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(value["credsStore"], "x");
        assert_eq!(
            value["auths"]["https://index.docker.io/v1/"]["auth"],
            b64("u:p")
        );
        assert_eq!(value["auths"]["other:1"]["auth"], b64("o:p"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );

        assert!(remove_credential(&file, "docker.io").unwrap());
        assert!(!remove_credential(&file, "docker.io").unwrap());
        let store = CredentialStore::from_files(vec![file]);
        assert_eq!(store.lookup("docker.io", "library/a").unwrap(), None);
        assert_eq!(store.lookup("127.0.0.1:5000", "a").unwrap(), Some(cred));
    }
}
