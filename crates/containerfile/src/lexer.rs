//! Docker's word processing (BuildKit's `shell.Lex`), for the builder to expand the raw
//! words the parser keeps: quotes removed, the escape character honoured, `$VAR` and
//! `${VAR...}` expanded from the caller's variables. It is not a shell: no command
//! substitution, no globbing, no field splitting of quoted text.
//!
//! | form | value |
//! | --- | --- |
//! | `$V`, `${V}` | V's value, `""` when unset |
//! | `${V:-w}` / `${V-w}` | `w` when V is empty or unset / unset |
//! | `${V:+w}` / `${V+w}` | `w` when V is non-empty / set, else `""` |
//! | `${V:?m}` / `${V?m}` | an error (`m`) when V is empty or unset / unset |
//! | `${V#p}` `${V##p}` `${V%p}` `${V%%p}` | V without its shortest/longest prefix/suffix matching the shell pattern `p` |
//! | `${V/p/r}` `${V//p/r}` | V with the first/every longest match of `p` replaced by `r` |
//!
//! `w`, `p` and `r` are words themselves: they may hold quotes and nested `${...}`.

use crate::glob::Glob;

/// How deeply `${...}` may nest. Each level is a recursion here, so a bound keeps a
/// hostile word (`${a:-${a:-${a:-...`) from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// Expands words with an escape character (`\`, or `` ` `` under `# escape=```).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    pub escape: char,
}

/// A word that cannot be expanded: an unterminated quote or `${`, a bad substitution, a
/// `${V?message}` whose variable is unset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

impl Default for Lexer {
    fn default() -> Lexer {
        Lexer { escape: '\\' }
    }
}

impl Lexer {
    /// One word: quotes removed, variables expanded; whitespace is kept as is.
    pub fn process_word(
        &self,
        word: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ExpandError> {
        let mut expander = Expander::new(self.escape, vars, word);
        Ok(expander.run(&[], false)?.0)
    }

    /// Words split on unquoted whitespace after expansion: a variable's value splits into
    /// several words unless it is quoted (`"$V"`); empty words are dropped.
    pub fn process_words(
        &self,
        text: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ExpandError> {
        let mut expander = Expander::new(self.escape, vars, text);
        Ok(expander.run(&[], false)?.1.finish())
    }
}

fn error(message: impl Into<String>) -> ExpandError {
    ExpandError(message.into())
}

/// Words being split while a text is processed.
#[derive(Debug, Default)]
struct Words {
    done: Vec<String>,
    word: String,
}

impl Words {
    /// An unquoted character: whitespace ends the word.
    fn add_char(&mut self, c: char) {
        if !c.is_whitespace() {
            self.word.push(c);
        } else if !self.word.is_empty() {
            self.done.push(std::mem::take(&mut self.word));
        }
    }

    /// Quoted or escaped text: never splits.
    fn add_raw(&mut self, s: &str) {
        self.word.push_str(s);
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.done.push(self.word);
        }
        self.done
    }
}

struct Expander<'a> {
    escape: char,
    vars: &'a dyn Fn(&str) -> Option<String>,
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl<'a> Expander<'a> {
    fn new(escape: char, vars: &'a dyn Fn(&str) -> Option<String>, text: &str) -> Expander<'a> {
        Expander {
            escape,
            vars,
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Processes up to one of `stops` (consumed) or, with no stops, to the end. Returns
    /// the text, its words and the stop character met. `pattern`: the text is a shell
    /// pattern, so escapes are kept for the pattern compiler and quoted text is escaped
    /// to stay literal.
    fn run(
        &mut self,
        stops: &[char],
        pattern: bool,
    ) -> Result<(String, Words, Option<char>), ExpandError> {
        let mut text = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if stops.contains(&c) {
                self.pos += 1;
                return Ok((text, words, Some(c)));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    text.push_str(&value);
                    for c in value.chars() {
                        words.add_char(c);
                    }
                }
                '\'' | '"' => {
                    let value = if c == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted()?
                    };
                    let value = if pattern {
                        value.chars().flat_map(|c| [self.escape, c]).collect()
                    } else {
                        value
                    };
                    text.push_str(&value);
                    words.add_raw(&value);
                }
                c if c == self.escape => {
                    self.pos += 1;
                    if pattern {
                        text.push(c);
                        words.add_raw(&c.to_string());
                    }
                    // An escape character at the end is dropped.
                    let Some(next) = self.next() else { break };
                    text.push(next);
                    words.add_raw(&next.to_string());
                }
                c => {
                    self.pos += 1;
                    text.push(c);
                    words.add_char(c);
                }
            }
        }
        if stops.is_empty() {
            Ok((text, words, None))
        } else {
            Err(error("syntax error: missing '}'"))
        }
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(error(
                        "unexpected end of statement while looking for matching single-quote",
                    ))
                }
                Some('\'') => return Ok(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// Inside double quotes only `$` expands; the escape character escapes `"`, `$` and
    /// itself and is kept before anything else.
    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(error(
                        "unexpected end of statement while looking for matching double-quote",
                    ))
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('$') => text.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                text.push(n);
                            }
                            _ => text.push(c),
                        }
                    } else {
                        text.push(c);
                    }
                }
            }
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special
    /// parameter character. Empty when none follows.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_alphabetic() || c.is_ascii_digit() || *c == '_')
        {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.vars)(name)
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.var(&name).unwrap_or_default());
        }
        self.pos += 1;
        if self.depth >= MAX_DEPTH {
            return Err(error("substitutions nested too deeply"));
        }
        self.depth += 1;
        let result = self.braced();
        self.depth -= 1;
        result
    }

    /// `${...}` after the `{`.
    fn braced(&mut self) -> Result<String, ExpandError> {
        let missing = || error("syntax error: missing '}'");
        match self.peek() {
            None => return Err(missing()),
            Some('{' | '}' | ':') => return Err(error("syntax error: bad substitution")),
            Some(_) => {}
        }
        let name = self.name();
        let op = self.next().ok_or_else(missing)?;
        match op {
            '}' => Ok(self.var(&name).unwrap_or_default()),
            ':' => {
                let modifier = self.next().ok_or_else(missing)?;
                if !matches!(modifier, '-' | '+' | '?') {
                    return Err(error(format!(
                        "unsupported modifier ({modifier}) in substitution"
                    )));
                }
                let (word, _, _) = self.run(&['}'], false)?;
                let value = self.var(&name);
                let empty = value.as_deref().is_none_or(str::is_empty);
                match modifier {
                    '-' if empty => Ok(word),
                    '+' if empty => Ok(String::new()),
                    '+' => Ok(word),
                    '?' if empty => Err(unset(&name, &word, value.is_some())),
                    _ => Ok(value.unwrap_or_default()),
                }
            }
            '-' | '+' | '?' => {
                let (word, _, _) = self.run(&['}'], false)?;
                match (op, self.var(&name)) {
                    ('-', None) => Ok(word),
                    ('+', Some(_)) => Ok(word),
                    ('+', None) => Ok(String::new()),
                    ('?', None) => Err(unset(&name, &word, false)),
                    (_, value) => Ok(value.unwrap_or_default()),
                }
            }
            '#' | '%' => {
                let longest = self.peek() == Some(op);
                if longest {
                    self.pos += 1;
                }
                let (pattern, _, _) = self.run(&['}'], true)?;
                let value = self.var(&name).unwrap_or_default();
                let glob = Glob::shell(&pattern, self.escape).map_err(error)?;
                Ok(if op == '#' {
                    trim_prefix(&value, &glob, longest)
                } else {
                    trim_suffix(&value, &glob, longest)
                })
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let (pattern, _, stop) = self.run(&['/', '}'], true)?;
                let replacement = match stop {
                    Some('/') => self.run(&['}'], false)?.0,
                    _ => String::new(),
                };
                let value = self.var(&name).unwrap_or_default();
                let glob = Glob::shell(&pattern, self.escape).map_err(error)?;
                Ok(replace(&value, &glob, &replacement, all))
            }
            other => Err(error(format!(
                "unsupported modifier ({other}) in substitution"
            ))),
        }
    }
}

fn unset(name: &str, message: &str, set: bool) -> ExpandError {
    let message = match (message.is_empty(), set) {
        (false, _) => message,
        (true, true) => "is not allowed to be empty",
        (true, false) => "is not allowed to be unset",
    };
    error(format!("{name}: {message}"))
}

fn trim_prefix(value: &str, glob: &Glob, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let ends = glob.matching_prefixes(&chars);
    let cut = if longest {
        ends.iter().rposition(|&e| e)
    } else {
        ends.iter().position(|&e| e)
    };
    match cut {
        Some(k) => chars[k..].iter().collect(),
        None => value.to_string(),
    }
}

fn trim_suffix(value: &str, glob: &Glob, longest: bool) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    chars.reverse();
    let ends = glob.reversed().matching_prefixes(&chars);
    let cut = if longest {
        ends.iter().rposition(|&e| e)
    } else {
        ends.iter().position(|&e| e)
    };
    match cut {
        Some(k) => chars[k..].iter().rev().collect(),
        None => value.to_string(),
    }
}

/// Replaces the longest match starting at the leftmost position where one starts (then,
/// with `all`, again after it). Empty matches are not replaced.
fn replace(value: &str, glob: &Glob, replacement: &str, all: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut replaced = false;
    while i < chars.len() {
        let longest = if replaced && !all {
            None
        } else {
            glob.matching_prefixes(&chars[i..])
                .iter()
                .rposition(|&e| e)
                .filter(|&k| k > 0)
        };
        match longest {
            Some(k) => {
                out.push_str(replacement);
                i += k;
                replaced = true;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
