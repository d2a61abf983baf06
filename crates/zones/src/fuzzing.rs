//! Checks run on arbitrary config.json by the fuzz target `zonecfg` (`fuzz/`) and, over the
//! committed corpus and regression inputs, by this crate's tests. A config that is refused
//! is not a failure; a panic, or a command file or zlogin script that would not read back as
//! exactly what was planned (a value breaking out of its quotes, a line injected), is.
//! Not a stable API.

use oci_spec::runtime::Spec;

use crate::{plan, zlogin, Distribution, PlanOptions, ZoneName};

/// config.json → plan → zonecfg file, for each distribution and with the brand guessed, `lx`
/// and a native brand; the process → the zlogin script.
pub fn check_config(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<Spec>(data) else {
        return;
    };
    let name = ZoneName::new("fuzz1").expect("a valid zone name");
    for distribution in [
        Distribution::OmniOs,
        Distribution::Illumos,
        Distribution::SmartOs,
    ] {
        for brand in [None, Some("lx"), Some("sparse")] {
            let mut options = PlanOptions::new(name.clone(), "/zones/fuzz1", "/zones/fuzz1");
            options.distribution = distribution;
            options.brand = brand.map(str::to_string);
            let Ok(plan) = plan(&spec, &options) else {
                continue;
            };
            let text = plan.zonecfg();
            if let Err(why) = check_zonecfg(&text) {
                panic!("{distribution:?}/{brand:?}: the command file does not lex: {why}\n{text}");
            }
            for warning in &plan.warnings {
                assert!(!warning.to_string().is_empty());
            }
        }
    }
    if let Some(process) = spec.process() {
        let env = process.env().clone().unwrap_or_default();
        let cwd = process.cwd();
        let args = process.args().clone().unwrap_or_default();
        if let Ok(script) = zlogin::script(&args, &env, Some(cwd)) {
            let words = shell_words(&script)
                .unwrap_or_else(|why| panic!("zlogin script {script:?} does not split: {why}"));
            let mut expected = vec!["cd".to_string(), cwd.to_string_lossy().into_owned()];
            for e in &env {
                expected.extend(["&&".to_string(), "export".to_string(), e.clone()]);
            }
            expected.extend(["&&".to_string(), "exec".to_string()]);
            expected.extend(args.iter().cloned());
            assert_eq!(words, expected, "zlogin script {script:?}");
        }
    }
}

/// The characters `zonecfg::quote` leaves unquoted.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:@+-%~^".contains(c)
}

/// Checks a command file line by line the way zonecfg's lexer reads it: `create -b`, then
/// `set p=v` and `add RESOURCE` … `end` blocks of `\tset p=v` / `\tadd p v`, then `commit`.
/// A value is a plain token, a double-quoted token without `"` or newline, a `[list]` or a
/// `(p=v,…)` complex value; nothing may follow it on its line.
pub fn check_zonecfg(text: &str) -> Result<(), String> {
    let body = text.strip_suffix('\n').ok_or("no final newline")?;
    let lines: Vec<&str> = body.split('\n').collect();
    let (first, rest) = lines.split_first().ok_or("empty")?;
    let (last, middle) = rest.split_last().ok_or("no commit")?;
    if *first != "create -b" || *last != "commit" {
        return Err(format!("starts with {first:?} and ends with {last:?}"));
    }
    let mut in_resource = false;
    for line in middle {
        if let Some(inner) = line.strip_prefix('\t') {
            if !in_resource {
                return Err(format!("indented line outside a resource: {line:?}"));
            }
            property_line(inner).map_err(|e| format!("{line:?}: {e}"))?;
        } else if *line == "end" {
            if !in_resource {
                return Err("end outside a resource".into());
            }
            in_resource = false;
        } else if let Some(resource) = line.strip_prefix("add ") {
            if in_resource || !is_word(resource) {
                return Err(format!("bad resource line {line:?}"));
            }
            in_resource = true;
        } else if line.starts_with("set ") {
            if in_resource {
                return Err(format!("unindented set inside a resource: {line:?}"));
            }
            property_line(line).map_err(|e| format!("{line:?}: {e}"))?;
        } else {
            return Err(format!("unexpected line {line:?}"));
        }
    }
    if in_resource {
        return Err("a resource is not ended".into());
    }
    Ok(())
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
}

fn property_line(line: &str) -> Result<(), String> {
    let rest = if let Some(rest) = line.strip_prefix("set ") {
        let (name, value) = rest.split_once('=').ok_or("set without =")?;
        if !is_word(name) {
            return Err(format!("property {name:?}"));
        }
        value
    } else if let Some(rest) = line.strip_prefix("add ") {
        let (name, value) = rest.split_once(' ').ok_or("add without a value")?;
        if !is_word(name) {
            return Err(format!("property {name:?}"));
        }
        value
    } else {
        return Err("neither set nor add".into());
    };
    let left = value(rest)?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("{left:?} follows the value"))
    }
}

/// Reads one value; returns what follows it.
fn value(s: &str) -> Result<&str, String> {
    if let Some(mut rest) = s.strip_prefix('[') {
        loop {
            rest = token(rest)?;
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                return rest.strip_prefix(']').ok_or_else(|| "unclosed list".into());
            }
        }
    }
    if let Some(mut rest) = s.strip_prefix('(') {
        loop {
            let (name, r) = rest.split_once('=').ok_or("complex value without =")?;
            if !is_word(name) {
                return Err(format!("complex property {name:?}"));
            }
            rest = token(r)?;
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                return rest
                    .strip_prefix(')')
                    .ok_or_else(|| "unclosed complex value".into());
            }
        }
    }
    token(s)
}

fn token(s: &str) -> Result<&str, String> {
    if let Some(rest) = s.strip_prefix('"') {
        let end = rest.find(['"', '\n']).ok_or("unterminated quote")?;
        if !rest[end..].starts_with('"') {
            return Err("newline inside quotes".into());
        }
        if rest[..end].chars().any(char::is_control) {
            return Err("control character inside quotes".into());
        }
        return Ok(&rest[end + 1..]);
    }
    let n = s.find(|c: char| !plain(c)).unwrap_or(s.len());
    if n == 0 {
        return Err(format!("no value at {s:?}"));
    }
    Ok(&s[n..])
}

/// Splits a script the way a POSIX shell splits words for the constructs `shell_quote`
/// writes (plain words, single quotes, `\'`), keeping `&&` as a word; anything a shell would
/// expand or treat as an operator is an error.
fn shell_words(script: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = script.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Ok(words);
        };
        if c == '&' {
            chars.next();
            if chars.next() != Some('&') {
                return Err("a lone &".into());
            }
            words.push("&&".to_string());
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            match c {
                ' ' => break,
                '\'' => {
                    chars.next();
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => word.push(c),
                            None => return Err("unterminated single quote".into()),
                        }
                    }
                }
                '\\' => {
                    chars.next();
                    word.push(chars.next().ok_or("a trailing backslash")?);
                }
                c if c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c) => {
                    chars.next();
                    word.push(c);
                }
                c => return Err(format!("{c:?} unquoted")),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexer_refuses_injected_lines() {
        assert!(check_zonecfg(
            "create -b\nset zonepath=/z\nadd fs\n\tset dir=\"/a b\"\nend\ncommit\n"
        )
        .is_ok());
        assert!(check_zonecfg("create -b\nset zonepath=\"/z\"\nend\"\ncommit\n").is_err());
        assert!(check_zonecfg("create -b\nadd fs\n\tset dir=/a b\nend\ncommit\n").is_err());
        assert!(check_zonecfg(
            "create -b\nadd net\n\tadd property (name=a,value=\"x\")\nend\ncommit\n"
        )
        .is_ok());
    }

    #[test]
    fn shell_words_undo_shell_quote() {
        let words = ["a b", "it's", "", "$x", "plain"];
        let script: Vec<String> = words.iter().map(|w| zlogin::shell_quote(w)).collect();
        assert_eq!(shell_words(&script.join(" ")).unwrap(), words);
        assert!(shell_words("a;b").is_err());
    }
}
