//! From text to logical lines, as BuildKit's parser reads a Dockerfile:
//!
//! - Parser directives (`# escape=`, `# syntax=`, `# check=`) only in the leading run of
//!   directive lines; the first line that is not one (a comment, an empty line, an
//!   instruction, an unknown directive) ends them.
//! - A line starting (after whitespace) with `#` is a comment, also between continuation
//!   lines, where empty lines are skipped too.
//! - A line ending in the escape character, optionally followed by spaces or tabs,
//!   continues on the next; docker joins the pieces with nothing in between.
//! - After a RUN, COPY or ADD line that opens heredocs, the following lines are their
//!   bodies, each up to a line that is exactly its name (after leading tabs for `<<-`).

use crate::heredoc;
use crate::model::Heredoc;
use crate::ParseError;

/// The lines of a Containerfile, with its directives.
#[derive(Debug)]
pub(crate) struct File {
    pub escape: char,
    pub syntax: Option<String>,
    pub lines: Vec<Logical>,
}

/// One instruction's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logical {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// The keyword as written.
    pub keyword: String,
    /// Continuations joined as docker joins them: what the instruction's arguments are
    /// taken from.
    pub joined: String,
    /// The text an `Instruction` records (see `Instruction::text`).
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

/// Keywords whose lines may open heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["run", "copy", "add"];

pub(crate) fn split(text: &str) -> Result<File, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // `\r\n` files read as `\n` ones, heredoc bodies included.
    let physical: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (escape, syntax) = directives(&physical)?;

    let mut lines = Vec::new();
    let mut next = 0;
    while next < physical.len() {
        let start = next + 1;
        let first = physical[next].trim_start();
        next += 1;
        if first.starts_with('#') {
            continue;
        }
        let (piece, mut continues) = trim_continuation(first, escape);
        if !continues && piece.trim().is_empty() {
            continue;
        }
        let mut joined = piece.to_string();
        let mut pieces = vec![piece.trim().to_string()];
        while continues && next < physical.len() {
            let raw = physical[next];
            next += 1;
            let stripped = raw.trim_start();
            // Comments and empty lines inside a continued instruction are dropped.
            if stripped.starts_with('#') || stripped.is_empty() {
                continue;
            }
            let (piece, more) = trim_continuation(raw, escape);
            joined.push_str(piece);
            pieces.push(piece.trim().to_string());
            continues = more;
        }
        if joined.trim().is_empty() {
            continue;
        }
        let keyword = crate::words::split_command(&joined).0.to_string();
        let mut text = pieces
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");

        let mut heredocs = Vec::new();
        if HEREDOC_KEYWORDS.contains(&keyword.to_ascii_lowercase().as_str()) {
            for marker in heredoc::markers(&joined) {
                let mut content = String::new();
                let mut terminated = false;
                while next < physical.len() {
                    let raw = physical[next];
                    next += 1;
                    text.push('\n');
                    text.push_str(raw);
                    let candidate = if marker.strip_tabs {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    };
                    if candidate == marker.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(if marker.strip_tabs { candidate } else { raw });
                    content.push('\n');
                }
                if !terminated {
                    return Err(ParseError::new(
                        start,
                        format!("unterminated heredoc {:?}", marker.name),
                    ));
                }
                heredocs.push(Heredoc {
                    name: marker.name,
                    content,
                    strip_tabs: marker.strip_tabs,
                    expand: marker.expand,
                });
            }
        }
        lines.push(Logical {
            line: start,
            keyword,
            joined,
            text,
            heredocs,
        });
    }
    Ok(File {
        escape,
        syntax,
        lines,
    })
}

/// A line without its continuation character (and the blanks after it), and whether it
/// had one.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(piece) => (piece, true),
        None => (line, false),
    }
}

/// Reads the leading parser directives: the escape character and the syntax.
fn directives(lines: &[&str]) -> Result<(char, Option<String>), ParseError> {
    let mut escape: Option<char> = None;
    let mut syntax: Option<String> = None;
    let mut check = false;
    for (index, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line.trim_start()) else {
            break;
        };
        let line = index + 1;
        let duplicate =
            || ParseError::new(line, format!("only one {key} parser directive can be used"));
        match key.as_str() {
            "escape" => {
                if escape.is_some() {
                    return Err(duplicate());
                }
                escape = Some(match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError::new(
                            line,
                            format!("invalid escape token {other:?}: only ` and \\ are accepted"),
                        ))
                    }
                });
            }
            "syntax" => {
                if syntax.is_some() {
                    return Err(duplicate());
                }
                syntax = Some(value.to_string());
            }
            "check" => {
                if check {
                    return Err(duplicate());
                }
                check = true;
            }
            // An unknown directive is a comment, and ends the directives.
            _ => break,
        }
    }
    Ok((escape.unwrap_or('\\'), syntax))
}

/// `#[ \t]*key[ \t]*=[ \t]*value[ \t]*`, the key lowercased; the key is a letter then
/// letters and digits, the value is not empty.
fn directive(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches([' ', '\t']);
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix('=')?
        .trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(text: &str) -> Vec<(usize, String)> {
        split(text)
            .unwrap()
            .lines
            .into_iter()
            .map(|l| (l.line, l.joined))
            .collect()
    }

    #[test]
    fn directives_only_at_the_top() {
        let f = split("# escape=`\n# syntax=docker/dockerfile:1\nFROM x\n").unwrap();
        assert_eq!(f.escape, '`');
        assert_eq!(f.syntax.as_deref(), Some("docker/dockerfile:1"));
        let f = split("#ESCAPE = `\nFROM x").unwrap();
        assert_eq!(f.escape, '`');
        let f = split("\n# escape=`\nFROM x").unwrap();
        assert_eq!(f.escape, '\\');
        let f = split("# comment\n# escape=`\nFROM x").unwrap();
        assert_eq!(f.escape, '\\');
        let f = split("# unknown=x\n# escape=`\nFROM x").unwrap();
        assert_eq!(f.escape, '\\');
        let f = split("FROM x\n# escape=`\n").unwrap();
        assert_eq!(f.escape, '\\');
        assert_eq!(split("# escape=x\n").unwrap_err().line, 1);
        assert_eq!(split("# escape=`\n#escape=\\\n").unwrap_err().line, 2);
        let f = split("\u{feff}# escape=`\r\nFROM x\r\n").unwrap();
        assert_eq!(f.escape, '`');
    }

    #[test]
    fn continuations() {
        assert_eq!(
            joined("RUN a \\\n  b \\  \n\n  # note\n   \n  c\nRUN d"),
            vec![(1, "RUN a   b   c".to_string()), (7, "RUN d".to_string())]
        );
        let f = split("RUN a && \\\n    b && \\\n  # c\n    d\n").unwrap();
        assert_eq!(f.lines[0].text, "RUN a && b && d");
        assert_eq!(
            joined("# escape=`\nRUN a `\n b\\\nRUN c"),
            vec![(2, "RUN a  b\\".to_string()), (4, "RUN c".to_string())]
        );
        // A continuation at the end of the file ends the instruction.
        assert_eq!(joined("RUN a \\"), vec![(1, "RUN a ".to_string())]);
        assert!(joined("\\\n\n").is_empty());
        assert_eq!(
            joined("  \t# c\n\n   FROM x  "),
            vec![(3, "FROM x  ".to_string())]
        );
    }

    #[test]
    fn heredoc_bodies() {
        let f = split("RUN <<EOF\n  echo \\\n# not a comment\nEOF\nRUN b").unwrap();
        assert_eq!(f.lines.len(), 2);
        assert_eq!(
            f.lines[0].heredocs[0].content,
            "  echo \\\n# not a comment\n"
        );
        assert_eq!(
            f.lines[0].text,
            "RUN <<EOF\n  echo \\\n# not a comment\nEOF"
        );
        assert_eq!(f.lines[1].line, 5);
        let f = split("COPY <<-A <<B /x/\n\tone\n\t\ttwo\n\tA\nthree\nB\n").unwrap();
        let docs = &f.lines[0].heredocs;
        assert_eq!(
            (docs[0].name.as_str(), docs[0].content.as_str()),
            ("A", "one\ntwo\n")
        );
        assert_eq!(
            (docs[1].name.as_str(), docs[1].content.as_str()),
            ("B", "three\n")
        );
        let f = split("RUN <<EOF\nEOF\n").unwrap();
        assert_eq!(f.lines[0].heredocs[0].content, "");
        // Only RUN, COPY and ADD open heredocs.
        assert!(split("ENV a=<<EOF\n").unwrap().lines[0].heredocs.is_empty());
        let err = split("FROM x\nRUN <<EOF\necho\n EOF\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unterminated heredoc"));
    }
}
