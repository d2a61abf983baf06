//! `--change 'INSTRUCTION …'`: the Dockerfile instructions `docker commit` and `podman
//! commit` accept, applied to an image config's `config` object. Pure.

use serde_json::{json, Map, Value};

/// The instructions a commit can apply.
pub const INSTRUCTIONS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies one instruction to `config` (the image config's `config` object).
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<(), String> {
    let change = change.trim();
    let (word, rest) = match change.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (change, ""),
    };
    let instruction = word.to_ascii_uppercase();
    if rest.is_empty() {
        return Err(format!("{change:?}: {instruction} needs an argument"));
    }
    match instruction.as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(command(rest)?));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command(rest)?));
        }
        "ENV" => {
            for (key, value) in pairs(rest, "ENV")? {
                set_env(config, &key, &value);
            }
        }
        // Each parsed whole before anything is set: a bad instruction changes nothing.
        "LABEL" => {
            let labels = pairs(rest, "LABEL")?;
            let map = object(config, "Labels");
            for (key, value) in labels {
                map.insert(key, Value::String(value));
            }
        }
        "EXPOSE" => {
            let ports = words(rest)?
                .iter()
                .map(|p| port_key(p))
                .collect::<Result<Vec<_>, _>>()?;
            let map = object(config, "ExposedPorts");
            for port in ports {
                map.insert(port, json!({}));
            }
        }
        "VOLUME" => {
            let paths = match json_array(rest)? {
                Some(list) => list,
                None => words(rest)?,
            };
            let map = object(config, "Volumes");
            for path in paths {
                map.insert(path, json!({}));
            }
        }
        "USER" => {
            config.insert("User".into(), Value::String(rest.to_string()));
        }
        "WORKDIR" => {
            if !rest.starts_with('/') {
                return Err(format!("WORKDIR {rest:?}: give an absolute path"));
            }
            config.insert("WorkingDir".into(), Value::String(rest.to_string()));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), Value::String(rest.to_string()));
        }
        "ONBUILD" => {
            let list = config
                .entry("OnBuild")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            if let Value::Array(list) = list {
                list.push(Value::String(rest.to_string()));
            }
        }
        other => {
            return Err(format!(
                "{change:?}: {other} cannot be changed by a commit (use one of {})",
                INSTRUCTIONS.join(", ")
            ))
        }
    }
    Ok(())
}

/// `["a","b"]` as given, or the shell form run by `/bin/sh -c`.
fn command(rest: &str) -> Result<Vec<String>, String> {
    match json_array(rest)? {
        Some(list) => Ok(list),
        None => Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()]),
    }
}

/// A JSON array of strings, if the text is one (text starting with `[` must be).
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    if !rest.starts_with('[') {
        return Ok(None);
    }
    serde_json::from_str::<Vec<String>>(rest)
        .map(Some)
        .map_err(|e| format!("{rest:?} is not a JSON array of strings: {e}"))
}

/// `K=V K2="V 2"`, or the old form `K V…` (one pair, the rest of the line as its value).
fn pairs(rest: &str, instruction: &str) -> Result<Vec<(String, String)>, String> {
    let first = words(rest)?;
    if !first.first().is_some_and(|w| w.contains('=')) {
        let (key, value) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{instruction} {rest:?}: give KEY=VALUE"))?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    first
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!("{instruction} {rest:?}: {word:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Words split at blanks, with `"…"` and `'…'` quoting and `\` escapes as a shell has them.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\\' => {
                current.push(chars.next().ok_or("a trailing \\")?);
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(format!("{text:?}: unclosed {c}")),
                        Some(end) if end == c => break,
                        Some('\\') if c == '"' => {
                            current.push(chars.next().ok_or("a trailing \\")?);
                        }
                        Some(other) => current.push(other),
                    }
                }
            }
            other => {
                current.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

fn set_env(config: &mut Map<String, Value>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let env = config
        .entry("Env")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !env.is_array() {
        *env = Value::Array(Vec::new());
    }
    if let Value::Array(list) = env {
        let prefix = format!("{key}=");
        match list
            .iter_mut()
            .find(|v| v.as_str().is_some_and(|s| s.starts_with(&prefix)))
        {
            Some(existing) => *existing = Value::String(entry),
            None => list.push(Value::String(entry)),
        }
    }
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let value = config
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// `80` → `80/tcp`; `53/udp` as given; anything else refused.
fn port_key(port: &str) -> Result<String, String> {
    let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
    let valid_number = number.parse::<u16>().is_ok_and(|n| n > 0);
    let protocol = protocol.to_ascii_lowercase();
    if !valid_number || !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("EXPOSE {port:?}: give PORT or PORT/tcp|udp|sctp"));
    }
    Ok(format!("{number}/{protocol}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut config = Map::new();
        config.insert("Env".into(), json!(["PATH=/bin", "A=1"]));
        for change in changes {
            apply_change(&mut config, change).unwrap();
        }
        Value::Object(config)
    }

    #[test]
    fn commands_in_json_and_shell_form() {
        let config = applied(&[r#"CMD ["/bin/echo", "hi there"]"#, "ENTRYPOINT exec top -b"]);
        assert_eq!(config["Cmd"], json!(["/bin/echo", "hi there"]));
        assert_eq!(
            config["Entrypoint"],
            json!(["/bin/sh", "-c", "exec top -b"])
        );
    }

    #[test]
    fn env_replaces_and_adds_in_both_forms() {
        let config = applied(&[r#"ENV A=2 B="two words""#, "env C the rest of it"]);
        assert_eq!(
            config["Env"],
            json!(["PATH=/bin", "A=2", "B=two words", "C=the rest of it"])
        );
    }

    #[test]
    fn labels_ports_volumes_and_the_rest() {
        let config = applied(&[
            r#"LABEL org.example.a=1 "b c"='d e'"#,
            "EXPOSE 80 53/udp",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "USER 1000:1000",
            "WORKDIR /srv",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
        ]);
        assert_eq!(
            config["Labels"],
            json!({"org.example.a": "1", "b c": "d e"})
        );
        assert_eq!(config["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(
            config["Volumes"],
            json!({"/data": {}, "/logs": {}, "/cache": {}})
        );
        assert_eq!(config["User"], "1000:1000");
        assert_eq!(config["WorkingDir"], "/srv");
        assert_eq!(config["StopSignal"], "SIGINT");
        assert_eq!(config["OnBuild"], json!(["RUN true"]));
    }

    #[test]
    fn bad_changes_are_refused_with_a_reason() {
        let mut config = Map::new();
        for (change, says) in [
            ("RUN rm -rf /", "cannot be changed by a commit"),
            ("CMD", "needs an argument"),
            ("CMD [\"unclosed\"", "not a JSON array"),
            ("CMD [1, 2]", "not a JSON array of strings"),
            ("ENV =x", "is not KEY=VALUE"),
            ("ENV lonely", "give KEY=VALUE"),
            ("EXPOSE 99999", "give PORT"),
            ("EXPOSE 80/icmp", "give PORT"),
            ("WORKDIR relative", "absolute path"),
            ("LABEL a=\"open", "unclosed"),
        ] {
            let error = apply_change(&mut config, change).unwrap_err();
            assert!(error.contains(says), "{change}: {error}");
        }
        assert!(config.is_empty(), "nothing applied: {config:?}");
    }
}
