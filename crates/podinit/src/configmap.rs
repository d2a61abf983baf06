//! Config maps: key/value data rendered into a TOML, YAML or JSON file before the process
//! starts.
//!
//! ```json
//! { "path": "/etc/app/app.toml", "format": "toml", "mode": "0640", "uid": 0, "gid": 1000,
//!   "data": { "server.host": "0.0.0.0", "server.port": "8080", "debug": "false" },
//!   "types": { "server.port": "integer", "debug": "boolean" } }
//! ```
//!
//! * `path`: absolute, inside the container (podinit runs in the container's root, so `/`
//!   is the container's root). `..` components are refused. Missing parent directories are
//!   created (mode 0755); symlinks among the parents are followed (they cannot leave the
//!   container's root), but the final component never is: the file is written to a new
//!   temporary file beside it and renamed over it, so a symlink there is replaced, not
//!   followed.
//! * `format`: `toml`, `yaml` or `json`; when absent, from the extension of `path`
//!   (`.toml`, `.yaml`/`.yml`, `.json`).
//! * `mode`: the file's permission bits, a number (420) or an octal string (`"0644"`);
//!   default 0644, not affected by the umask. `uid`/`gid`: owner, default podinit's.
//! * `data`: keys to string values. A dotted key is a path of nested tables/objects:
//!   `server.port` is `port` in the `server` table. Key segments must not be empty, and a key
//!   must not be both a value and a table (`a` and `a.b`). Keys are written sorted.
//! * `types`: optional type per key of `data`: `string` (the default), `integer` (i64),
//!   `float` (finite f64) or `boolean` (`true`/`false`); the value is converted and written
//!   unquoted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

/// One file to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_mode"
    )]
    pub mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, ValueType>,
}

/// Output format of a config map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Toml,
    Yaml,
    Json,
}

/// Declared type of a config map value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    String,
    Integer,
    Float,
    Boolean,
}

/// Default mode of a rendered file.
pub const DEFAULT_MODE: u32 = 0o644;

fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        Number(u32),
        Octal(String),
    }
    let m = match Option::<Mode>::deserialize(d)? {
        None => return Ok(None),
        Some(Mode::Number(n)) => n,
        Some(Mode::Octal(s)) => {
            let digits = s.strip_prefix("0o").unwrap_or(&s);
            u32::from_str_radix(digits, 8).map_err(|_| {
                serde::de::Error::custom(format!("mode {s:?} is not an octal number"))
            })?
        }
    };
    if m > 0o7777 {
        return Err(serde::de::Error::custom(format!(
            "mode {m:#o} is over 0o7777"
        )));
    }
    Ok(Some(m))
}

/// A config map that cannot be rendered or written.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigMapError {
    #[error("path {path:?}: {reason}")]
    Path { path: String, reason: &'static str },
    #[error(
        "path {0:?}: no format given and none known for its extension (.toml, .yaml, .yml, .json)"
    )]
    NoFormat(String),
    #[error("key {key:?}: {reason}")]
    Key { key: String, reason: String },
    #[error("key {key:?}: {value:?} is not {kind}")]
    Value {
        key: String,
        value: String,
        kind: &'static str,
    },
    #[error("types: {0:?} is not a key of data")]
    UnknownTypedKey(String),
}

/// A scalar after typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The nested tree that dotted keys describe.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Value(Scalar),
    Table(BTreeMap<String, Node>),
}

impl ConfigMap {
    /// The format, explicit or from the extension.
    pub fn format(&self) -> Result<Format, ConfigMapError> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        match Path::new(&self.path).extension().and_then(|e| e.to_str()) {
            Some("toml") => Ok(Format::Toml),
            Some("yaml") | Some("yml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            _ => Err(ConfigMapError::NoFormat(self.path.clone())),
        }
    }

    /// The file mode.
    pub fn mode(&self) -> u32 {
        self.mode.unwrap_or(DEFAULT_MODE)
    }

    /// Checks the path, the format and that the data renders.
    pub fn validate(&self) -> Result<(), ConfigMapError> {
        check_path(&self.path)?;
        self.format()?;
        self.render()?;
        Ok(())
    }

    /// The typed, nested tree of `data`.
    pub fn tree(&self) -> Result<BTreeMap<String, Node>, ConfigMapError> {
        if let Some(k) = self.types.keys().find(|k| !self.data.contains_key(*k)) {
            return Err(ConfigMapError::UnknownTypedKey(k.clone()));
        }
        let mut root = BTreeMap::new();
        for (key, raw) in &self.data {
            let ty = self.types.get(key).copied().unwrap_or(ValueType::String);
            insert(&mut root, key, typed(key, raw, ty)?)?;
        }
        Ok(root)
    }

    /// The rendered file content.
    pub fn render(&self) -> Result<Vec<u8>, ConfigMapError> {
        let tree = self.tree()?;
        let text = match self.format()? {
            Format::Json => render_json(&tree),
            Format::Toml => render_toml(&tree),
            Format::Yaml => render_yaml(&tree),
        };
        Ok(text.into_bytes())
    }
}

/// Checks a config map path: absolute, no `.`/`..`/empty components, not `/` itself.
pub fn check_path(path: &str) -> Result<(), ConfigMapError> {
    let err = |reason| {
        Err(ConfigMapError::Path {
            path: path.to_string(),
            reason,
        })
    };
    if !path.starts_with('/') {
        return err("must be absolute");
    }
    if path.contains('\0') {
        return err("contains a NUL byte");
    }
    let comps: Vec<&str> = path[1..].split('/').collect();
    if comps.contains(&"..") {
        return err("must not contain `..`");
    }
    if comps.iter().any(|c| c.is_empty() || *c == ".") {
        return err("must not contain empty or `.` components, nor end in `/`");
    }
    Ok(())
}

fn typed(key: &str, raw: &str, ty: ValueType) -> Result<Scalar, ConfigMapError> {
    let bad = |kind| ConfigMapError::Value {
        key: key.to_string(),
        value: raw.to_string(),
        kind,
    };
    Ok(match ty {
        ValueType::String => Scalar::Str(raw.to_string()),
        ValueType::Integer => Scalar::Int(raw.trim().parse().map_err(|_| bad("an integer"))?),
        ValueType::Float => {
            let f: f64 = raw.trim().parse().map_err(|_| bad("a finite number"))?;
            if !f.is_finite() {
                return Err(bad("a finite number"));
            }
            Scalar::Float(f)
        }
        ValueType::Boolean => match raw.trim() {
            "true" => Scalar::Bool(true),
            "false" => Scalar::Bool(false),
            _ => return Err(bad("a boolean (true or false)")),
        },
    })
}

fn insert(
    root: &mut BTreeMap<String, Node>,
    key: &str,
    value: Scalar,
) -> Result<(), ConfigMapError> {
    let key_err = |reason: String| ConfigMapError::Key {
        key: key.to_string(),
        reason,
    };
    let segments: Vec<&str> = key.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(key_err("empty segment (keys are dotted paths)".into()));
    }
    let (last, parents) = segments.split_last().expect("split yields one segment");
    let mut table = root;
    for (i, seg) in parents.iter().enumerate() {
        let node = table
            .entry(seg.to_string())
            .or_insert_with(|| Node::Table(BTreeMap::new()));
        table = match node {
            Node::Table(t) => t,
            Node::Value(_) => {
                return Err(key_err(format!(
                    "{} is a value and cannot also be a table",
                    segments[..=i].join(".")
                )))
            }
        };
    }
    if table.contains_key(*last) {
        return Err(key_err(format!(
            "{key} is a table and cannot also be a value"
        )));
    }
    table.insert(last.to_string(), Node::Value(value));
    Ok(())
}

fn to_json(tree: &BTreeMap<String, Node>) -> serde_json::Value {
    let map = tree
        .iter()
        .map(|(k, n)| {
            let v = match n {
                Node::Table(t) => to_json(t),
                Node::Value(Scalar::Str(s)) => serde_json::Value::String(s.clone()),
                Node::Value(Scalar::Int(i)) => serde_json::Value::from(*i),
                // Finite floats only (checked when typed), so from_f64 cannot fail.
                Node::Value(Scalar::Float(f)) => serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                Node::Value(Scalar::Bool(b)) => serde_json::Value::Bool(*b),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map)
}

fn render_json(tree: &BTreeMap<String, Node>) -> String {
    // Serialising a Value built from strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(&to_json(tree)).unwrap_or_default();
    s.push('\n');
    s
}

fn to_toml(tree: &BTreeMap<String, Node>) -> toml::Table {
    tree.iter()
        .map(|(k, n)| {
            let v = match n {
                Node::Table(t) => toml::Value::Table(to_toml(t)),
                Node::Value(Scalar::Str(s)) => toml::Value::String(s.clone()),
                Node::Value(Scalar::Int(i)) => toml::Value::Integer(*i),
                Node::Value(Scalar::Float(f)) => toml::Value::Float(*f),
                Node::Value(Scalar::Bool(b)) => toml::Value::Boolean(*b),
            };
            (k.clone(), v)
        })
        .collect()
}

fn render_toml(tree: &BTreeMap<String, Node>) -> String {
    // A table of strings, integers, finite floats and booleans always serialises.
    toml::to_string(&to_toml(tree)).unwrap_or_default()
}

/// YAML: block mappings indented by two spaces; strings always double-quoted with YAML's
/// escapes (so no value is ever read back as a number, boolean or null, in YAML 1.1 or 1.2);
/// keys plain only when they are identifiers that no YAML version reads as anything else.
fn render_yaml(tree: &BTreeMap<String, Node>) -> String {
    if tree.is_empty() {
        return "{}\n".to_string();
    }
    let mut out = String::new();
    yaml_table(&mut out, tree, 0);
    out
}

fn yaml_table(out: &mut String, tree: &BTreeMap<String, Node>, depth: usize) {
    for (k, n) in tree {
        for _ in 0..depth {
            out.push_str("  ");
        }
        yaml_key(out, k);
        out.push(':');
        match n {
            Node::Table(t) => {
                out.push('\n');
                yaml_table(out, t, depth + 1);
            }
            Node::Value(v) => {
                out.push(' ');
                match v {
                    Scalar::Str(s) => yaml_quoted(out, s),
                    Scalar::Int(i) => {
                        let _ = write!(out, "{i}");
                    }
                    Scalar::Float(f) => out.push_str(&yaml_float(*f)),
                    Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                }
                out.push('\n');
            }
        }
    }
}

const YAML_WORDS: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
];

fn yaml_key(out: &mut String, k: &str) {
    let plain = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !YAML_WORDS.contains(&k.to_ascii_lowercase().as_str());
    if plain {
        out.push_str(k);
    } else {
        yaml_quoted(out, k);
    }
}

fn yaml_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite float that both YAML 1.1 (which needs a `.` and a signed exponent) and 1.2 read
/// as a float: `1.0`, `-0.5`, `1.0e+100`.
fn yaml_float(f: f64) -> String {
    let s = format!("{f:?}");
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m.to_string(), Some(e.to_string())),
        None => (s, None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa
    } else {
        format!("{mantissa}.0")
    };
    match exp {
        None => mantissa,
        Some(e) if e.starts_with('-') => format!("{mantissa}e{e}"),
        Some(e) => format!("{mantissa}e+{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(path: &str, data: &[(&str, &str)], types: &[(&str, ValueType)]) -> ConfigMap {
        ConfigMap {
            path: path.into(),
            format: None,
            mode: None,
            uid: None,
            gid: None,
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            types: types.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
        }
    }

    /// The same data for each format: nesting, types and characters that need quoting.
    fn sample(path: &str) -> ConfigMap {
        map(
            path,
            &[
                ("name", "web \"front\" \\ end"),
                ("server.host", "0.0.0.0"),
                ("server.port", "8080"),
                ("server.tls.enabled", "true"),
                ("ratio", "0.25"),
                ("big", "1e100"),
                ("motd", "line1\nline2\ttab\u{7}bell é"),
                ("yes", "no"),
                ("empty", ""),
                ("number-like", "010"),
                ("with space", "null"),
                ("colon", "a: b # c"),
            ],
            &[
                ("server.port", ValueType::Integer),
                ("server.tls.enabled", ValueType::Boolean),
                ("ratio", ValueType::Float),
                ("big", ValueType::Float),
            ],
        )
    }

    /// Compares with tests/data/NAME; `PODINIT_UPDATE_GOLDEN=1` rewrites the file instead.
    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        if std::env::var_os("PODINIT_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        assert_eq!(
            actual,
            std::fs::read_to_string(&path).unwrap(),
            "{}",
            path.display()
        );
    }

    fn rendered(path: &str) -> String {
        String::from_utf8(sample(path).render().unwrap()).unwrap()
    }

    #[test]
    fn golden_json() {
        golden("configmap.json", &rendered("/etc/app.json"));
    }

    #[test]
    fn golden_toml() {
        golden("configmap.toml", &rendered("/etc/app.toml"));
    }

    #[test]
    fn golden_yaml() {
        golden("configmap.yaml", &rendered("/etc/app.yaml"));
    }

    /// What each format means, read back by an independent parser, equals the tree.
    #[test]
    fn rendered_files_parse_back_to_the_same_data() {
        let want = to_json(&sample("/x.json").tree().unwrap());
        let json: serde_json::Value = serde_json::from_str(&rendered("/x.json")).unwrap();
        assert_eq!(json, want);
        let toml: toml::Table = toml::from_str(&rendered("/x.toml")).unwrap();
        assert_eq!(serde_json::to_value(&toml).unwrap(), want);
        let docs = yaml_rust2::YamlLoader::load_from_str(&rendered("/x.yml")).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(yaml_to_json(&docs[0]), want);
    }

    fn yaml_to_json(y: &yaml_rust2::Yaml) -> serde_json::Value {
        use yaml_rust2::Yaml;
        match y {
            Yaml::Hash(h) => serde_json::Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().unwrap().to_string(), yaml_to_json(v)))
                    .collect(),
            ),
            Yaml::String(s) => serde_json::Value::String(s.clone()),
            Yaml::Integer(i) => serde_json::Value::from(*i),
            Yaml::Real(r) => serde_json::Value::from(r.parse::<f64>().unwrap()),
            Yaml::Boolean(b) => serde_json::Value::Bool(*b),
            other => panic!("unexpected YAML node {other:?}"),
        }
    }

    #[test]
    fn empty_data() {
        for (path, want) in [("/a.json", "{}\n"), ("/a.toml", ""), ("/a.yaml", "{}\n")] {
            let m = map(path, &[], &[]);
            assert_eq!(String::from_utf8(m.render().unwrap()).unwrap(), want);
        }
    }

    #[test]
    fn yaml_floats() {
        assert_eq!(yaml_float(1.0), "1.0");
        assert_eq!(yaml_float(-0.5), "-0.5");
        assert_eq!(yaml_float(1e100), "1.0e+100");
        assert_eq!(yaml_float(1.5e-10), "1.5e-10");
    }

    #[test]
    fn format_from_extension_or_field() {
        assert_eq!(map("/a.yml", &[], &[]).format(), Ok(Format::Yaml));
        assert_eq!(
            map("/a.conf", &[], &[]).format(),
            Err(ConfigMapError::NoFormat("/a.conf".into()))
        );
        let mut m = map("/a.conf", &[], &[]);
        m.format = Some(Format::Toml);
        assert_eq!(m.format(), Ok(Format::Toml));
    }

    #[test]
    fn key_conflicts_and_bad_values() {
        let err = |m: ConfigMap| m.render().unwrap_err().to_string();
        assert_eq!(
            err(map("/a.json", &[("a", "1"), ("a.b", "2")], &[])),
            "key \"a.b\": a is a value and cannot also be a table"
        );
        assert_eq!(
            err(map("/a.json", &[("a.b", "1"), ("a", "2")], &[])),
            // Sorted: "a" comes first, then "a.b" meets the value.
            "key \"a.b\": a is a value and cannot also be a table"
        );
        assert_eq!(
            err(map("/a.json", &[("a..b", "1")], &[])),
            "key \"a..b\": empty segment (keys are dotted paths)"
        );
        assert_eq!(
            err(map(
                "/a.json",
                &[("p", "80x")],
                &[("p", ValueType::Integer)]
            )),
            "key \"p\": \"80x\" is not an integer"
        );
        assert_eq!(
            err(map("/a.json", &[("p", "inf")], &[("p", ValueType::Float)])),
            "key \"p\": \"inf\" is not a finite number"
        );
        assert_eq!(
            err(map(
                "/a.json",
                &[("p", "yes")],
                &[("p", ValueType::Boolean)]
            )),
            "key \"p\": \"yes\" is not a boolean (true or false)"
        );
        assert_eq!(
            err(map("/a.json", &[], &[("q", ValueType::Boolean)])),
            "types: \"q\" is not a key of data"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(check_path("/etc/app/a.toml"), Ok(()));
        for (p, reason) in [
            ("etc/a", "must be absolute"),
            ("/etc/../a", "must not contain `..`"),
            ("/..", "must not contain `..`"),
            (
                "/etc//a",
                "must not contain empty or `.` components, nor end in `/`",
            ),
            (
                "/etc/./a",
                "must not contain empty or `.` components, nor end in `/`",
            ),
            (
                "/etc/",
                "must not contain empty or `.` components, nor end in `/`",
            ),
            (
                "/",
                "must not contain empty or `.` components, nor end in `/`",
            ),
        ] {
            assert_eq!(
                check_path(p),
                Err(ConfigMapError::Path {
                    path: p.into(),
                    reason
                }),
                "{p}"
            );
        }
    }

    #[test]
    fn mode_as_number_or_octal_string() {
        let m: ConfigMap =
            serde_json::from_str(r#"{"path": "/a.json", "mode": "0640", "data": {}}"#).unwrap();
        assert_eq!(m.mode(), 0o640);
        let m: ConfigMap =
            serde_json::from_str(r#"{"path": "/a.json", "mode": 420, "data": {}}"#).unwrap();
        assert_eq!(m.mode(), 0o644);
        let m: ConfigMap = serde_json::from_str(r#"{"path": "/a.json", "data": {}}"#).unwrap();
        assert_eq!(m.mode(), 0o644);
        let e = serde_json::from_str::<ConfigMap>(r#"{"path": "/a", "mode": "rw", "data": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mode \"rw\" is not an octal number"), "{e}");
    }
}
