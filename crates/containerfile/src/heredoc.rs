//! Heredoc markers: which words of a RUN, COPY or ADD line open a here-document, as
//! BuildKit finds them. The line is split into shell words with quotes kept; a word that is
//! `[digits]<<[-]delimiter` (the delimiter free of `<`) is a marker. The delimiter's quotes
//! are removed to give the name, and any quoting turns expansion off, as in the shell.
//! BuildKit splits these words with `\` as the escape whatever the escape directive says;
//! so does this.

/// A word that opens a heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub name: String,
    pub strip_tabs: bool,
    pub expand: bool,
}

/// The heredoc markers of a logical line, in order. A line whose quotes do not balance has
/// none (BuildKit's word split fails on it, and it then looks no further).
pub(crate) fn markers(line: &str) -> Vec<Marker> {
    if !line.contains("<<") {
        return Vec::new();
    }
    raw_words(line)
        .map(|words| words.iter().filter_map(|w| parse_marker(w)).collect())
        .unwrap_or_default()
}

/// The marker a word is, if it is one.
pub(crate) fn parse_marker(word: &str) -> Option<Marker> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, delimiter) = match rest.strip_prefix('-') {
        Some(after) => (true, after),
        None => (false, rest),
    };
    if delimiter.is_empty() || delimiter.contains('<') {
        return None;
    }
    let (name, quoted) = unquote(delimiter)?;
    if name.is_empty() {
        return None;
    }
    Some(Marker {
        name,
        strip_tabs,
        expand: !quoted,
    })
}

/// The delimiter with quotes and `\` escapes removed, and whether it held quotes. `None`
/// when it is not one word (an unquoted space) or a quote is left open.
fn unquote(delimiter: &str) -> Option<(String, bool)> {
    let mut name = String::new();
    let mut quoted = false;
    let mut chars = delimiter.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => name.push(c),
                    }
                }
            }
            '"' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$') => name.push(c),
                            c => {
                                name.push('\\');
                                name.push(c);
                            }
                        },
                        c => name.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    name.push(c);
                }
            }
            c if c.is_whitespace() => return None,
            c => name.push(c),
        }
    }
    Some((name, quoted))
}

/// Shell words with quotes and escapes kept; `None` for an unbalanced quote.
fn raw_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            '\'' | '"' => {
                word.push(c);
                loop {
                    let inner = chars.next()?;
                    word.push(inner);
                    if inner == c {
                        break;
                    }
                    if inner == '\\' && c == '"' {
                        word.push(chars.next()?);
                    }
                }
            }
            '\\' => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, bool, bool)> {
        markers(line)
            .into_iter()
            .map(|m| (m.name, m.strip_tabs, m.expand))
            .collect()
    }

    #[test]
    fn forms() {
        assert_eq!(names("RUN <<EOF"), vec![("EOF".into(), false, true)]);
        assert_eq!(names("RUN <<-EOT"), vec![("EOT".into(), true, true)]);
        assert_eq!(names("RUN <<\"EOF\""), vec![("EOF".into(), false, false)]);
        assert_eq!(names("RUN <<-'EOF'"), vec![("EOF".into(), true, false)]);
        assert_eq!(names("RUN <<E\"O\"F"), vec![("EOF".into(), false, false)]);
        assert_eq!(names("RUN <<E\\OF"), vec![("EOF".into(), false, true)]);
        assert_eq!(
            names("RUN python3 <<EOF"),
            vec![("EOF".into(), false, true)]
        );
        assert_eq!(names("RUN cat 2<<ERR"), vec![("ERR".into(), false, true)]);
        assert_eq!(
            names("COPY <<robots.txt <<humans.txt /usr/share/"),
            vec![
                ("robots.txt".into(), false, true),
                ("humans.txt".into(), false, true)
            ]
        );
    }

    #[test]
    fn not_markers() {
        assert!(names("RUN cat<<EOF").is_empty());
        assert!(names("RUN echo \"<<EOF\"").is_empty());
        assert!(names("RUN echo '<<EOF'").is_empty());
        assert!(names("RUN echo \\<<EOF").is_empty());
        assert!(names("RUN echo <<").is_empty());
        assert!(names("RUN echo <<<word").is_empty());
        assert!(names("RUN echo it's <<EOF").is_empty());
        assert!(names("RUN echo <<''").is_empty());
        assert!(names("RUN echo <<\"E F\"").len() == 1);
    }
}
