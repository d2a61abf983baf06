//! An instruction's `--flags`, checked against the ones it accepts (BuildKit's `BFlags`):
//! an unknown flag, a string flag without `=value`, a repeated single flag or a boolean
//! that is not one are refused, so a typo never silently changes a build.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--name=value`, once.
    Str,
    /// `--name`, `--name=true`, `--name=false`, once.
    Bool,
    /// `--name=value`, any number of times.
    List,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    Bool(bool),
    List(Vec<String>),
}

/// The flags given, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    given: Vec<(&'static str, Value)>,
}

impl Flags {
    /// Checks `words` (each `--name[=value]`, quotes already removed) against `accepted`.
    pub(crate) fn parse(
        keyword: &str,
        words: &[String],
        accepted: &[(&'static str, Kind)],
    ) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for word in words {
            let Some(body) = word.strip_prefix("--") else {
                return Err(format!("{keyword}: flag {word:?} should start with --"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(name, kind)) = accepted.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag for {keyword}: --{name}"));
            };
            let existing = flags.given.iter_mut().find(|(n, _)| *n == name);
            match (kind, existing) {
                (Kind::List, Some((_, Value::List(values)))) => {
                    values.push(required(name, value)?.to_string());
                }
                (_, Some(_)) => return Err(format!("duplicate flag specified: --{name}")),
                (Kind::List, None) => {
                    let value = required(name, value)?.to_string();
                    flags.given.push((name, Value::List(vec![value])));
                }
                (Kind::Str, None) => {
                    let value = required(name, value)?.to_string();
                    flags.given.push((name, Value::Str(value)));
                }
                (Kind::Bool, None) => {
                    let value = match value.map(str::to_ascii_lowercase).as_deref() {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some("") => return Err(format!("missing a value on flag: --{name}")),
                        Some(_) => {
                            return Err(format!(
                                "expecting boolean value for flag --{name}, not: {}",
                                value.unwrap_or_default()
                            ))
                        }
                    };
                    flags.given.push((name, Value::Bool(value)));
                }
            }
        }
        Ok(flags)
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.given.iter().find_map(|(n, v)| match v {
            Value::Str(s) if *n == name => Some(s.clone()),
            _ => None,
        })
    }

    pub(crate) fn boolean(&self, name: &str) -> Option<bool> {
        self.given.iter().find_map(|(n, v)| match v {
            Value::Bool(b) if *n == name => Some(*b),
            _ => None,
        })
    }

    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.given
            .iter()
            .find_map(|(n, v)| match v {
                Value::List(l) if *n == name => Some(l.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.given.is_empty()
    }
}

fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("missing a value on flag: --{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPY: &[(&str, Kind)] = &[
        ("from", Kind::Str),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ];

    fn parse(words: &[&str]) -> Result<Flags, String> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Flags::parse("COPY", &words, COPY)
    }

    #[test]
    fn accepted_forms() {
        let f = parse(&["--from=build", "--link", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("build"));
        assert_eq!(f.boolean("link"), Some(true));
        assert_eq!(f.list("exclude"), vec!["a", "b"]);
        assert_eq!(
            parse(&["--link=FALSE"]).unwrap().boolean("link"),
            Some(false)
        );
        assert_eq!(
            parse(&["--from="]).unwrap().string("from").as_deref(),
            Some("")
        );
        assert!(parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse(&["--chmod=1"]).unwrap_err(),
            "unknown flag for COPY: --chmod"
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            "missing a value on flag: --from"
        );
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            "duplicate flag specified: --from"
        );
        assert!(parse(&["--link=yes"]).is_err());
        assert!(parse(&["--link="]).is_err());
        assert!(parse(&["--exclude"]).is_err());
    }
}
