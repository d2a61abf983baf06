//! Splitting an instruction's text into the pieces BuildKit's parser makes of it, before
//! any expansion: the keyword, the leading `--flags`, and the arguments as whitespace words,
//! quote-aware raw words or a JSON array. Each instruction uses the splitting docker uses
//! for it, quirks included (COPY's whitespace split ignores quotes; ENV's keeps them).

/// BuildKit's whitespace for splitting (its `[\t\v\f\r ]+`).
pub(crate) fn is_split_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// The keyword and the rest of a logical line.
pub(crate) fn split_command(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(is_split_space) {
        Some(at) => (&line[..at], line[at..].trim_start_matches(is_split_space)),
        None => (line, ""),
    }
}

/// Whitespace-separated words, quotes not special (FROM, EXPOSE, COPY's shell form).
pub(crate) fn split_whitespace(text: &str) -> Vec<String> {
    text.split(is_split_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The leading `--flag` words of an instruction's arguments, quotes removed (`\` escapes
/// inside them, whatever the escape directive says, as in BuildKit), and the rest trimmed.
/// A lone `--` ends the flags. Never fails: an unterminated quote runs to the end.
pub(crate) fn extract_flags(text: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if !rest.starts_with("--") {
            return (flags, rest.trim());
        }
        let (word, quoted, len) = read_flag_word(rest);
        rest = &rest[len..];
        if word == "--" {
            return (flags, rest.trim());
        }
        if quoted || !word.is_empty() {
            flags.push(word);
        }
    }
}

/// One flag word from the start of `text`: its value, whether it held quotes, and its
/// length in bytes.
fn read_flag_word(text: &str) -> (String, bool, usize) {
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match quote {
            None if c.is_whitespace() => return (word, quoted, at),
            Some(q) if c == q => quote = None,
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                quoted = true;
            }
            _ if c == '\\' => {
                // The escaped character is taken as is; a trailing `\` is dropped.
                if let Some((_, next)) = chars.next() {
                    word.push(next);
                }
            }
            _ => word.push(c),
        }
    }
    (word, quoted, text.len())
}

/// Quote-aware words with quotes and escapes kept (ENV, LABEL and ARG): whitespace splits
/// words except inside quotes or after the escape character; inside single quotes the
/// escape character is an ordinary one. A trailing escape character is dropped.
pub(crate) fn parse_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    // A word that held quotes is kept even when empty (`""`).
    let mut had_quotes = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word && (had_quotes || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
                had_quotes = false;
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    had_quotes = true;
                    word.push(c);
                } else if c == escape {
                    if let Some(next) = chars.next() {
                        word.push(c);
                        word.push(next);
                    }
                } else {
                    word.push(c);
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                    word.push(c);
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some(next) => {
                            word.push(c);
                            word.push(next);
                        }
                        None => quote = None,
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
    if in_word && (had_quotes || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// The JSON array form: `Ok(Some(strings))` for an array of strings, `Ok(None)` when the
/// text is not a JSON array at all (the caller falls back to the other form, as docker
/// does), an error for an array holding something else.
pub(crate) fn parse_json_array(text: &str) -> Result<Option<Vec<String>>, String> {
    let text = text.trim();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(None);
    };
    let serde_json::Value::Array(items) = value else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_split() {
        assert_eq!(split_command("  RUN\t echo  hi  "), ("RUN", "echo  hi"));
        assert_eq!(split_command("CMD"), ("CMD", ""));
        assert_eq!(split_command(""), ("", ""));
    }

    #[test]
    fn flags() {
        let (flags, rest) = extract_flags("--from=build --chown=\"a b\" src dst");
        assert_eq!(flags, vec!["--from=build", "--chown=a b"]);
        assert_eq!(rest, "src dst");
        let (flags, rest) = extract_flags("-- --not-a-flag x");
        assert!(flags.is_empty());
        assert_eq!(rest, "--not-a-flag x");
        let (flags, rest) = extract_flags("--mount=type=cache,target=/x\\ y");
        assert_eq!(flags, vec!["--mount=type=cache,target=/x y"]);
        assert_eq!(rest, "");
        let (flags, rest) = extract_flags("--a='unterminated");
        assert_eq!(flags, vec!["--a=unterminated"]);
        assert_eq!(rest, "");
        let (flags, rest) = extract_flags("-x --y");
        assert!(flags.is_empty());
        assert_eq!(rest, "-x --y");
    }

    #[test]
    fn raw_words() {
        assert_eq!(
            parse_words(r#"a=1 b="x y" c='p q' d=e\ f"#, '\\'),
            vec!["a=1", r#"b="x y""#, "c='p q'", r"d=e\ f"]
        );
        assert_eq!(
            parse_words("a '' \"\" b", '\\'),
            vec!["a", "''", "\"\"", "b"]
        );
        assert_eq!(parse_words(r#"a="x\"y" b"#, '\\'), vec![r#"a="x\"y""#, "b"]);
        assert_eq!(parse_words(r"a='x\' b", '\\'), vec![r"a='x\'", "b"]);
        assert_eq!(parse_words("a\\", '\\'), vec!["a"]);
        assert_eq!(parse_words("a=`` b=c\\d", '`'), vec!["a=``", r"b=c\d"]);
        assert!(parse_words("   ", '\\').is_empty());
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            parse_json_array(r#"["a", "b c"]"#),
            Ok(Some(vec!["a".into(), "b c".into()]))
        );
        assert_eq!(parse_json_array("[]"), Ok(Some(vec![])));
        assert_eq!(parse_json_array("[not json"), Ok(None));
        assert_eq!(parse_json_array("echo [x]"), Ok(None));
        assert_eq!(parse_json_array(r#"["a"] extra"#), Ok(None));
        assert!(parse_json_array(r#"["a", 1]"#).is_err());
    }
}
