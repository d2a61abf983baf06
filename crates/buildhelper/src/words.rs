//! `--exec CMD`: one command line split into words as a shell splits it, and words joined
//! back into a line a shell reads as the same words.
//!
//! podinit execs a service's `args` directly; SMF runs a method's `exec` with `/sbin/sh -c`.
//! For both to run the same thing, `--exec` is split here once, with the shell's quoting
//! rules (`'…'`, `"…"`, `\`) but none of its expansions, and SMF gets the words re-quoted.
//! Characters that would make a shell do more than split (`$`, `` ` ``, `|`, `;`, `&`, `<`,
//! `>`, `(`, `)`, globs, `~` or `#` at a word's start) are refused unquoted, rather than taken
//! literally under podinit and interpreted under SMF: quote them, or say
//! `--exec "sh -c '…'"`.

/// A command line that cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordsError {
    #[error("--exec is empty")]
    Empty,
    #[error("--exec has an unterminated {0} quote")]
    Unterminated(&'static str),
    #[error("--exec ends with a lone backslash")]
    TrailingBackslash,
    #[error("--exec has an unquoted {0:?}: the command is split into words as a shell does, but nothing is expanded, piped or redirected; quote it, or use --exec \"sh -c '...'\"")]
    Special(char),
    #[error("--exec contains a NUL byte")]
    Nul,
}

/// Characters a shell would act on anywhere in a word.
const SPECIAL: &[char] = &['$', '`', '|', ';', '&', '<', '>', '(', ')', '*', '?', '['];

/// Splits `line` into words: blanks separate, `'…'` is literal, `"…"` is literal except that
/// `\` escapes `"`, `\`, `$` and `` ` `` (and joins lines), and `\` outside quotes escapes
/// any character.
pub fn split(line: &str) -> Result<Vec<String>, WordsError> {
    if line.contains('\0') {
        return Err(WordsError::Nul);
    }
    let mut words = Vec::new();
    // The word being built, or None between words (an empty quoted word is still a word).
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(WordsError::Unterminated("single")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(WordsError::Unterminated("double")),
                        },
                        Some(c @ ('$' | '`')) => return Err(WordsError::Special(c)),
                        Some(c) => w.push(c),
                        None => return Err(WordsError::Unterminated("double")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(WordsError::TrailingBackslash),
            },
            c if SPECIAL.contains(&c) => return Err(WordsError::Special(c)),
            '~' | '#' if word.is_none() => return Err(WordsError::Special(c)),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    if words.first().is_none_or(|w| w.is_empty()) {
        return Err(WordsError::Empty);
    }
    Ok(words)
}

/// One word as a POSIX shell reads it back unchanged: bare when it has only characters no
/// shell treats specially, else in single quotes (a `'` inside written `'\''`).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Words joined into one shell command line.
pub fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(ok("/usr/bin/app --serve"), ["/usr/bin/app", "--serve"]);
        assert_eq!(ok("  a\t b\n"), ["a", "b"]);
        assert_eq!(
            ok(r#"nginx -g 'daemon off;'"#),
            ["nginx", "-g", "daemon off;"]
        );
        assert_eq!(ok(r#"echo "a \"b\" \$c \x""#), ["echo", r#"a "b" $c \x"#]);
        assert_eq!(ok(r"echo a\ b \'"), ["echo", "a b", "'"]);
        assert_eq!(ok("echo '' x''y"), ["echo", "", "xy"]);
        assert_eq!(ok("a#b x~"), ["a#b", "x~"]);
    }

    #[test]
    fn refuses_what_a_shell_would_expand() {
        for (line, c) in [
            ("echo $HOME", '$'),
            ("a | b", '|'),
            ("a; b", ';'),
            ("a > f", '>'),
            ("ls *.txt", '*'),
            ("cd ~", '~'),
            ("a #comment", '#'),
            (r#"echo "$x""#, '$'),
            ("echo `id`", '`'),
        ] {
            assert_eq!(split(line), Err(WordsError::Special(c)), "{line}");
        }
        assert_eq!(split("a 'b"), Err(WordsError::Unterminated("single")));
        assert_eq!(split("a \"b"), Err(WordsError::Unterminated("double")));
        assert_eq!(split("a \\"), Err(WordsError::TrailingBackslash));
        assert_eq!(split("   "), Err(WordsError::Empty));
        assert_eq!(split("''"), Err(WordsError::Empty));
        assert_eq!(split("a\0"), Err(WordsError::Nul));
    }

    #[test]
    fn quoting_round_trips() {
        let words: Vec<String> = ["/bin/app", "--name=x", "it's", "", "a b", "$HOME", "50%"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let line = join(&words);
        assert_eq!(line, r#"/bin/app --name=x 'it'\''s' '' 'a b' '$HOME' 50%"#);
        assert_eq!(split(&line).unwrap(), words);
    }
}
