//! `.containerignore` / `.dockerignore`, by docker's rules (moby's `dockerignore.ReadAll`
//! and `patternmatcher`): one pattern a line, `#` at the start of a line a comment,
//! patterns trimmed and cleaned like paths with a leading `/` dropped, `!` re-including,
//! the last matching rule winning, and a rule that matches a directory applying to
//! everything under it.

use crate::glob::{Glob, Token};
use crate::ParseError;

/// The parsed rules of an ignore file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// A `!` rule: re-includes what it matches.
    include: bool,
    /// The cleaned pattern, for messages and tests.
    pattern: String,
    glob: Glob,
}

impl IgnoreRules {
    /// Reads an ignore file. A malformed pattern (an unclosed `[`, a lone `!`) is an error
    /// with its line, as docker refuses the build for it.
    pub fn parse(text: &str) -> Result<IgnoreRules, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            // Only a `#` in the first column starts a comment: " #x" is a pattern.
            if raw.starts_with('#') {
                continue;
            }
            let mut pattern = raw.trim();
            if pattern.is_empty() {
                continue;
            }
            let include = pattern.starts_with('!');
            if include {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(ParseError::new(line, "illegal exclusion pattern: \"!\""));
                }
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 {
                if let Some(rest) = cleaned.strip_prefix('/') {
                    cleaned = rest.to_string();
                }
            }
            let glob = compile(&cleaned).map_err(|message| ParseError::new(line, message))?;
            rules.push(Rule {
                include,
                pattern: cleaned,
                glob,
            });
        }
        Ok(IgnoreRules { rules })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context.
    /// The context's root itself (`""`, `.`) never is.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        if path == "." || path == "/" {
            return false;
        }
        let mut excluded = false;
        for rule in &self.rules {
            // A rule can only change the answer: an exclusion when not yet excluded, an
            // exception when excluded.
            if rule.include != excluded {
                continue;
            }
            if rule.glob.matches_path_or_parent(&path) {
                excluded = !rule.include;
            }
        }
        excluded
    }

    /// Whether a `!` rule could re-include something under directory `dir`, so that a
    /// walker has to descend into `dir` even though `dir` itself is excluded. Errs on the
    /// side of `true`; the walker still asks [`IgnoreRules::is_excluded`] for each entry.
    pub fn may_include_under(&self, dir: &str) -> bool {
        let dir = clean(dir.trim_start_matches('/'));
        if dir == "." || dir == "/" {
            return self.rules.iter().any(|r| r.include);
        }
        let under = format!("{dir}/");
        self.rules.iter().filter(|r| r.include).any(|rule| {
            // A pattern that matches the directory or one above it re-includes all of it;
            // otherwise it must be able to match some path that starts with `dir/`.
            rule.glob.matches_path_or_parent(&dir) || rule.glob.may_match_with_prefix(&under)
        })
    }

    /// The cleaned patterns in order, `!` kept.
    pub fn patterns(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| {
                if r.include {
                    format!("!{}", r.pattern)
                } else {
                    r.pattern.clone()
                }
            })
            .collect()
    }
}

/// Go's `path.Clean`: repeated `/`, `.` and `x/..` removed; `..` kept where nothing
/// precedes it (dropped at the root); `.` for an empty result.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Compiles an ignore pattern as patternmatcher does: `*` any run without `/`, `?` one
/// character but `/`, `**` (with a following `/` eaten) any number of directories, `**` at
/// the end anything at all, `[...]` a class, `\` escaping the next character. The syntax is
/// first checked as Go's `filepath.Match` checks it, as docker does.
fn compile(pattern: &str) -> Result<Glob, String> {
    Glob::path_match(pattern)?;
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= chars.len() {
                    Token::Star
                } else {
                    Token::DirPrefix
                });
            }
            '*' => tokens.push(Token::StarNoSlash),
            '?' => tokens.push(Token::AnyNoSlash),
            '\\' => {
                // filepath.Match already refused a trailing `\`.
                if let Some(&next) = chars.get(i) {
                    tokens.push(Token::Lit(next));
                    i += 1;
                }
            }
            '[' => {
                // The class as filepath.Match reads it; compile it alone and splice it in.
                let end = class_end(&chars, i)
                    .ok_or_else(|| format!("syntax error in pattern {pattern:?}"))?;
                let class_text: String = chars[i - 1..end].iter().collect();
                let class = Glob::path_match(&class_text)?;
                tokens.extend(class.into_tokens());
                i = end;
            }
            c => tokens.push(Token::Lit(c)),
        }
    }
    Ok(Glob::new(tokens))
}

/// The index after the `]` closing the class whose `[` is just before `start`.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match chars.get(i)? {
            ']' if !first => return Some(i + 1),
            '\\' => i += 2,
            _ => i += 1,
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("./"), ".");
        assert_eq!(clean(""), ".");
        let r = rules("/foo/./bar/\n!  /keep\n");
        assert_eq!(r.patterns(), vec!["foo/bar", "!keep"]);
    }

    #[test]
    fn comments_only_in_the_first_column() {
        let r = rules("# comment\n #x\n\n   \n");
        assert_eq!(r.patterns(), vec!["#x"]);
        assert!(r.is_excluded("#x"));
        assert!(!r.is_excluded("comment"));
    }

    #[test]
    fn bad_patterns_name_their_line() {
        let err = IgnoreRules::parse("ok\n[abc\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = IgnoreRules::parse("a\n\n!\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.to_string(), "line 3: illegal exclusion pattern: \"!\"");
    }

    #[test]
    fn a_matched_directory_covers_its_contents() {
        let r = rules("build\n");
        assert!(r.is_excluded("build"));
        assert!(r.is_excluded("build/a/b.o"));
        assert!(!r.is_excluded("src/build"));
        assert!(!r.is_excluded("buildx"));
        assert!(!r.is_excluded(""));
        assert!(!r.is_excluded("."));
        assert!(r.is_excluded("./build/"));
    }

    #[test]
    fn double_star_variants() {
        let r = rules("**\n");
        assert!(r.is_excluded("a") && r.is_excluded("a/b"));
        let r = rules("foo/**\n");
        assert!(!r.is_excluded("foo"));
        assert!(r.is_excluded("foo/a") && r.is_excluded("foo/a/b"));
        let r = rules("a/**/b\n");
        assert!(r.is_excluded("a/b") && r.is_excluded("a/x/y/b"));
        assert!(!r.is_excluded("ab"));
    }

    #[test]
    fn may_include_under() {
        let r = rules("*.md\n");
        assert!(!r.may_include_under("docs"));
        let r = rules("docs\n!docs/keep.md\n");
        assert!(r.may_include_under("docs"));
        assert!(!r.may_include_under("src"));
        let r = rules("vendor\n!**/LICENSE\n");
        assert!(r.may_include_under("vendor"));
        assert!(r.may_include_under("vendor/x/y"));
        let r = rules("a\n!a/b\n");
        assert!(r.may_include_under("a/b"));
        assert!(!r.may_include_under("a/c"));
        let r = rules("*\n!*/keep\n");
        assert!(r.may_include_under("x"));
        assert!(!r.may_include_under("x/y"));
    }
}
