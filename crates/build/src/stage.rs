//! A stage as it is built: the image config so far (kept as JSON, so fields the image spec
//! does not define survive), its layers, the storage layer on top, the ARGs in scope and the
//! cache key chain; and the instructions that change only the config.

use std::collections::BTreeMap;

use aurora_containerfile::{Command, Healthcheck, Lexer};
use aurora_images::NewLayer;
use aurora_spec::Digest;
use aurora_storage::LayerId;
use serde_json::{json, Map, Value};

/// The shell of shell-form commands until a SHELL says otherwise.
pub(crate) const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The proxy arguments every build knows without an ARG (docker's predefined ARGs); they
/// reach RUN steps but never the image.
pub(crate) const PREDEFINED_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub(crate) struct StageState {
    /// The whole image config.
    pub config: Map<String, Value>,
    pub layers: Vec<NewLayer>,
    /// The storage layer of the top of `layers`.
    pub top: Option<LayerId>,
    /// ARGs declared in this stage, with their values.
    pub args: BTreeMap<String, String>,
    pub shell: Vec<String>,
    /// The cache key of everything so far.
    pub key: Digest,
    /// `created` of the last history entry.
    pub created: String,
    /// The image the stage is FROM, for errors and the runtime's annotations.
    pub base_name: String,
}

impl StageState {
    /// The config's `config` object.
    pub fn inner(&mut self) -> &mut Map<String, Value> {
        let inner = self
            .config
            .entry("config")
            .or_insert_with(|| Value::Object(Map::new()));
        if !inner.is_object() {
            *inner = Value::Object(Map::new());
        }
        match inner {
            Value::Object(map) => map,
            _ => unreachable!("made an object above"),
        }
    }

    fn inner_ref(&self) -> Option<&Map<String, Value>> {
        self.config.get("config").and_then(Value::as_object)
    }

    /// `Env` as `NAME=VALUE` entries.
    pub fn env(&self) -> Vec<String> {
        self.inner_ref()
            .and_then(|c| c.get("Env"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A variable as words see it: ENV first, then the ARGs in scope.
    pub fn var(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.env()
            .iter()
            .rev()
            .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_string))
            .or_else(|| self.args.get(name).cloned())
    }

    /// Expands one word of an instruction.
    pub fn expand(&self, lexer: &Lexer, word: &str, line: usize) -> crate::Result<String> {
        lexer
            .process_word(word, &|name| self.var(name))
            .map_err(|e| crate::error::step(line, e.to_string()))
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        let mut env = self.env();
        let prefix = format!("{name}=");
        let entry = format!("{name}={value}");
        match env.iter_mut().find(|e| e.starts_with(&prefix)) {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
        self.inner().insert("Env".into(), json!(env));
    }

    /// The environment a RUN step gets: Env, then the ARGs ENV does not shadow.
    pub fn run_env(&self) -> Vec<String> {
        let mut env = self.env();
        for (name, value) in &self.args {
            let prefix = format!("{name}=");
            if !env.iter().any(|e| e.starts_with(&prefix)) {
                env.push(format!("{name}={value}"));
            }
        }
        env
    }

    pub fn workdir(&self) -> String {
        self.inner_ref()
            .and_then(|c| c.get("WorkingDir"))
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    /// A command as the config records it: shell form through the stage's SHELL.
    pub fn command_value(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(text) => {
                let mut args = self.shell.clone();
                args.push(text.clone());
                args
            }
        }
    }

    /// Adds a history entry.
    pub fn add_history(&mut self, created: &str, created_by: &str, empty_layer: bool) {
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        entry.insert("created_by".into(), json!(created_by));
        if empty_layer {
            entry.insert("empty_layer".into(), json!(true));
        }
        let history = self
            .config
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !history.is_array() {
            *history = Value::Array(Vec::new());
        }
        if let Value::Array(list) = history {
            list.push(Value::Object(entry));
        }
        self.created = created.to_string();
    }

    /// Appends a layer's diff ID to `rootfs.diff_ids`.
    pub fn add_diff_id(&mut self, layer: &NewLayer) {
        let rootfs = self
            .config
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        if let Some(list) = rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
            list.push(json!(layer.diff_id.to_string()));
        }
        self.layers.push(layer.clone());
    }

    /// Sets `key` in the `config` object's map field `field` (Labels, ExposedPorts, Volumes).
    pub fn insert_in(&mut self, field: &str, key: &str, value: Value) {
        let inner = self.inner();
        let map = inner
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        if let Value::Object(map) = map {
            map.insert(key.to_string(), value);
        }
    }
}

/// A new stage's state on `config` and its layers.
pub(crate) fn new_state(
    config: serde_json::Map<String, Value>,
    layers: Vec<NewLayer>,
    top: Option<aurora_storage::LayerId>,
    key: aurora_spec::Digest,
    base_name: String,
) -> StageState {
    let shell = config
        .get("config")
        .and_then(|c| c.get("Shell"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|shell| !shell.is_empty())
        .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect());
    let created = config
        .get("created")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    StageState {
        config,
        layers,
        top,
        args: BTreeMap::new(),
        shell,
        key,
        created,
        base_name,
    }
}

/// The state of `FROM scratch`.
pub(crate) fn scratch_state() -> StageState {
    new_state(
        scratch_config(),
        Vec::new(),
        None,
        aurora_spec::sha256_digest(b"FROM scratch"),
        "scratch".into(),
    )
}

/// The config of `FROM scratch` for this host.
pub(crate) fn scratch_config() -> Map<String, Value> {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let value = json!({
        "architecture": architecture,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// HEALTHCHECK as the config records it (docker's `Healthcheck` object).
pub(crate) fn healthcheck_value(check: &Healthcheck) -> Value {
    let mut map = Map::new();
    if let Some(test) = &check.test {
        map.insert("Test".into(), json!(test));
    }
    for (field, value) in [
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("StartInterval", check.start_interval),
    ] {
        if let Some(ns) = value {
            map.insert(field.into(), json!(ns));
        }
    }
    if let Some(retries) = check.retries {
        map.insert("Retries".into(), json!(retries));
    }
    Value::Object(map)
}

/// The port key of EXPOSE: `80` is `80/tcp`.
pub(crate) fn port_key(word: &str) -> Result<String, String> {
    let (port, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let valid_port = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let ports_ok = match port.split_once('-') {
        Some((a, b)) => valid_port(a) && valid_port(b),
        None => valid_port(port),
    };
    if !ports_ok || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("EXPOSE {word:?}: expected PORT[/tcp|udp|sctp]"));
    }
    Ok(format!("{port}/{proto}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_configs_record_them() {
        assert_eq!(port_key("80").unwrap(), "80/tcp");
        assert_eq!(port_key("53/UDP").unwrap(), "53/udp");
        assert_eq!(port_key("8000-8010").unwrap(), "8000-8010/tcp");
        assert!(port_key("0").is_err());
        assert!(port_key("80/icmp").is_err());
        assert!(port_key("http").is_err());
    }
}
