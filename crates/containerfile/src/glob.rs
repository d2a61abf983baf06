//! Wildcard patterns as a small automaton, for three users with slightly different
//! grammars: ignore files (docker's patternmatcher: `*` and `?` stop at `/`, `**` crosses
//! directories), COPY sources (Go's `filepath.Match`) and the shell patterns of
//! `${VAR#pattern}` (`*` matches anything). Matching simulates all positions at once rather
//! than backtracking, so a pattern like `*a*a*a*a*b` costs pattern × text, never
//! exponential time, on whatever a user writes.

/// One step of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Lit(char),
    /// Any one character (`?` in shell patterns).
    Any,
    /// Any one character but `/` (`?` in path patterns).
    AnyNoSlash,
    Class(Class),
    /// Any run of characters (`*` in shell patterns, a trailing `**` in ignore files).
    Star,
    /// Any run of characters without `/` (`*` in path patterns).
    StarNoSlash,
    /// Nothing, or anything ending in `/`: an ignore file's `**/` (the regex `(.*/)?`
    /// docker compiles it to).
    DirPrefix,
}

/// `[...]`: ranges, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    pub(crate) fn new(tokens: Vec<Token>) -> Glob {
        Glob { tokens }
    }

    pub(crate) fn into_tokens(self) -> Vec<Token> {
        self.tokens
    }

    /// Go's `filepath.Match` syntax (one path component's wildcards). Errors as Go's
    /// `ErrBadPattern` does: an unclosed or empty class, a bad range, a trailing `\`.
    pub(crate) fn path_match(pattern: &str) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '*' => tokens.push(Token::StarNoSlash),
                '?' => tokens.push(Token::AnyNoSlash),
                '[' => {
                    let (class, next) = parse_class(&chars, i, '\\', false)?;
                    tokens.push(Token::Class(class));
                    i = next;
                }
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        tokens.push(Token::Lit(next));
                        i += 1;
                    }
                    None => return Err(bad_pattern(pattern)),
                },
                c => tokens.push(Token::Lit(c)),
            }
        }
        Ok(Glob { tokens })
    }

    /// A shell pattern (`${VAR#pattern}`): `*` and `?` match `/` too, `[...]` and `[!...]`
    /// are classes, `escape` quotes the next character.
    pub(crate) fn shell(pattern: &str, escape: char) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            if c == escape {
                // A trailing escape stands for itself, as in the shell.
                let lit = chars.get(i).copied().unwrap_or(escape);
                tokens.push(Token::Lit(lit));
                i += 1;
                continue;
            }
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '[' => match parse_class(&chars, i, escape, true) {
                    Ok((class, next)) => {
                        tokens.push(Token::Class(class));
                        i = next;
                    }
                    // In the shell an unmatched `[` is an ordinary character.
                    Err(_) => tokens.push(Token::Lit('[')),
                },
                c => tokens.push(Token::Lit(c)),
            }
        }
        Ok(Glob { tokens })
    }

    /// The same pattern read backwards, to find suffixes with the prefix machinery.
    /// Only meaningful without `DirPrefix`, which shell patterns never hold.
    pub(crate) fn reversed(&self) -> Glob {
        Glob {
            tokens: self.tokens.iter().rev().cloned().collect(),
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let mut sim = Sim::new(self);
        for c in text.chars() {
            if !sim.step(c) {
                return false;
            }
        }
        sim.accepts()
    }

    /// Whether the pattern matches `path` or one of its parent directories (`a`, `a/b`
    /// for `a/b/c`): one pass over the path, checking acceptance before each `/`.
    pub(crate) fn matches_path_or_parent(&self, path: &str) -> bool {
        let mut sim = Sim::new(self);
        for c in path.chars() {
            if c == '/' && sim.accepts() {
                return true;
            }
            if !sim.step(c) {
                return false;
            }
        }
        sim.accepts()
    }

    /// Whether some string starting with `prefix` could match.
    pub(crate) fn may_match_with_prefix(&self, prefix: &str) -> bool {
        let mut sim = Sim::new(self);
        prefix.chars().all(|c| sim.step(c))
    }

    /// For each `k` in `0..=text.len()`, whether the pattern matches `text[..k]`.
    pub(crate) fn matching_prefixes(&self, text: &[char]) -> Vec<bool> {
        let mut ends = Vec::with_capacity(text.len() + 1);
        let mut sim = Sim::new(self);
        ends.push(sim.accepts());
        let mut alive = true;
        for &c in text {
            alive = alive && sim.step(c);
            ends.push(alive && sim.accepts());
        }
        ends
    }
}

fn bad_pattern(pattern: &str) -> String {
    format!("syntax error in pattern {pattern:?}")
}

/// Parses a class after its `[` at `start`; returns it and the index after its `]`.
/// `bang`: `!` negates as well as `^` (shell patterns).
fn parse_class(
    chars: &[char],
    start: usize,
    escape: char,
    bang: bool,
) -> Result<(Class, usize), String> {
    let text: String = chars.iter().collect();
    let bad = || bad_pattern(&text);
    let mut i = start;
    let mut negated = false;
    if let Some(&c) = chars.get(i) {
        if c == '^' || (bang && c == '!') {
            negated = true;
            i += 1;
        }
    }
    let mut ranges = Vec::new();
    // One end of a range: a character, or an escaped one. Go refuses a bare `-` or `]`
    // where a character is expected (so `[]a]` and `[-a]` are malformed).
    let read_end = |i: &mut usize| -> Result<char, String> {
        let c = *chars.get(*i).ok_or_else(bad)?;
        *i += 1;
        if c == escape {
            let next = *chars.get(*i).ok_or_else(bad)?;
            *i += 1;
            return Ok(next);
        }
        if c == '-' || c == ']' {
            return Err(bad());
        }
        Ok(c)
    };
    loop {
        match chars.get(i) {
            None => return Err(bad()),
            Some(']') if !ranges.is_empty() => return Ok((Class { negated, ranges }, i + 1)),
            Some(_) => {
                let lo = read_end(&mut i)?;
                let mut hi = lo;
                if chars.get(i) == Some(&'-') {
                    i += 1;
                    hi = read_end(&mut i)?;
                }
                ranges.push((lo, hi));
            }
        }
    }
}

/// The set of pattern positions reached so far, kept sparse so that a step costs the
/// number of live positions, not the pattern's length. A position is an index into the
/// tokens (`len` = the end, accepting); an "inner" position is inside a `DirPrefix`'s
/// `.*`, which only a `/` may leave.
struct Sim<'g> {
    tokens: &'g [Token],
    live: Vec<usize>,
    live_inner: Vec<usize>,
    /// The step at which a position was last added (dedup without clearing).
    seen: Vec<u64>,
    seen_inner: Vec<u64>,
    step: u64,
}

impl<'g> Sim<'g> {
    fn new(glob: &'g Glob) -> Sim<'g> {
        let n = glob.tokens.len();
        let mut sim = Sim {
            tokens: &glob.tokens,
            live: Vec::new(),
            live_inner: Vec::new(),
            seen: vec![u64::MAX; n + 1],
            seen_inner: vec![u64::MAX; n + 1],
            step: 0,
        };
        sim.enter(0);
        sim
    }

    /// Adds position `i` and everything reachable from it without consuming a character.
    fn enter(&mut self, mut i: usize) {
        loop {
            if self.seen[i] == self.step {
                return;
            }
            self.seen[i] = self.step;
            self.live.push(i);
            match self.tokens.get(i) {
                Some(Token::Star | Token::StarNoSlash) => i += 1,
                Some(Token::DirPrefix) => {
                    self.enter_inner(i);
                    i += 1;
                }
                _ => return,
            }
        }
    }

    fn enter_inner(&mut self, i: usize) {
        if self.seen_inner[i] != self.step {
            self.seen_inner[i] = self.step;
            self.live_inner.push(i);
        }
    }

    /// Consumes `c`; false when no position survives.
    fn step(&mut self, c: char) -> bool {
        let live = std::mem::take(&mut self.live);
        let live_inner = std::mem::take(&mut self.live_inner);
        self.step += 1;
        for &i in &live_inner {
            // Inside `(.*/)?`: stay, and a `/` may also close it.
            self.enter_inner(i);
            if c == '/' {
                self.enter(i + 1);
            }
        }
        for &i in &live {
            let Some(token) = self.tokens.get(i) else {
                continue;
            };
            let next = match token {
                Token::Lit(l) => (*l == c).then_some(i + 1),
                Token::Any => Some(i + 1),
                Token::AnyNoSlash => (c != '/').then_some(i + 1),
                Token::Class(class) => class.matches(c).then_some(i + 1),
                Token::Star => Some(i),
                Token::StarNoSlash => (c != '/').then_some(i),
                // Left through its inner position.
                Token::DirPrefix => None,
            };
            if let Some(next) = next {
                self.enter(next);
            }
        }
        !self.live.is_empty() || !self.live_inner.is_empty()
    }

    fn accepts(&self) -> bool {
        self.seen[self.tokens.len()] == self.step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Glob {
        Glob::path_match(p).unwrap()
    }

    #[test]
    fn go_filepath_match() {
        assert!(path("*.txt").matches("a.txt"));
        assert!(path("*.txt").matches(".txt"));
        assert!(!path("*.txt").matches("a/b.txt"));
        assert!(path("a?c").matches("abc"));
        assert!(!path("a?c").matches("a/c"));
        assert!(path("[a-c]x").matches("bx"));
        assert!(!path("[^a-c]x").matches("bx"));
        assert!(path("[^a-c]x").matches("dx"));
        assert!(path(r"\*").matches("*"));
        assert!(!path(r"\*").matches("a"));
        assert!(path(r"[\]]").matches("]"));
        assert!(path("*a*a*a*a*a*a*a*a*a*a*b").matches(&("a".repeat(60) + "b")));
        assert!(!path("*a*a*a*a*a*a*a*a*a*a*b").matches(&"a".repeat(200)));
    }

    #[test]
    fn go_bad_patterns() {
        for bad in ["[", "[]", "[^]", "[]a]", "[-a]", "[a-]", "a\\", "[a", "[\\"] {
            assert!(Glob::path_match(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_patterns() {
        let g = Glob::shell("*/", '\\').unwrap();
        assert!(g.matches("a/b/"));
        let g = Glob::shell("[!a]?", '\\').unwrap();
        assert!(g.matches("b/"));
        assert!(!g.matches("ab"));
        let g = Glob::shell("a[", '\\').unwrap();
        assert!(g.matches("a["));
        let g = Glob::shell("\\*", '\\').unwrap();
        assert!(g.matches("*") && !g.matches("x"));
        let ends = Glob::shell("a*", '\\')
            .unwrap()
            .matching_prefixes(&['a', 'b', 'c']);
        assert_eq!(ends, vec![false, true, true, true]);
    }

    #[test]
    fn dir_prefix() {
        let g = Glob::new(vec![Token::DirPrefix, Token::Lit('x')]);
        assert!(g.matches("x"));
        assert!(g.matches("a/x"));
        assert!(g.matches("a/b/x"));
        assert!(!g.matches("ax"));
        assert!(g.may_match_with_prefix("a/b/"));
        let g = Glob::new(vec![Token::Lit('a'), Token::Lit('/'), Token::Lit('b')]);
        assert!(g.may_match_with_prefix("a/"));
        assert!(!g.may_match_with_prefix("c/"));
    }
}
