//! aurora-containerfile: Containerfile (Dockerfile) syntax as users write it, for
//! `imageadm build`. Pure: text in, types out; the caller does the I/O.
//!
//! - [`parse`]: a Containerfile → a [`Containerfile`]: parser directives, global ARGs and
//!   stages of typed [`Instruction`]s, heredocs included. BuildKit's Dockerfile frontend is
//!   the reference for what is accepted and how lines, comments and continuations combine.
//!   Words stay raw; the builder expands them at their step.
//! - [`Lexer`]: docker's word processing (quotes, the escape character, `$VAR`, `${VAR:-x}`
//!   and friends) for the builder to expand those raw words.
//! - [`IgnoreRules`]: `.containerignore` / `.dockerignore`.
//! - [`pattern_matches`]: one path component against a COPY/ADD source wildcard.

mod flags;
mod glob;
mod healthcheck;
mod heredoc;
mod ignore;
mod instructions;
mod lexer;
mod lines;
mod model;
mod words;

pub use ignore::IgnoreRules;
pub use lexer::{ExpandError, Lexer};
pub use model::{
    ArgDecl, Command, Containerfile, Copy, FromInstruction, Healthcheck, Heredoc, Instruction,
    InstructionKind, Run, Stage,
};

/// A Containerfile or ignore file that cannot be read, with the line it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based; for an instruction spanning several lines, its first.
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// Parses a Containerfile.
pub fn parse(text: &str) -> Result<Containerfile, ParseError> {
    let file = lines::split(text)?;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for logical in &file.lines {
        let parsed = instructions::parse(logical, file.escape)
            .map_err(|message| ParseError::new(logical.line, message))?;
        match parsed {
            instructions::Parsed::From { from, name } => {
                if let Some(name) = &name {
                    if stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                        return Err(ParseError::new(
                            logical.line,
                            format!("duplicate stage name {name:?}"),
                        ));
                    }
                }
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    from,
                    instructions: Vec::new(),
                });
            }
            instructions::Parsed::Other(kind) => match (stages.last_mut(), kind) {
                (Some(stage), kind) => stage.instructions.push(Instruction {
                    line: logical.line,
                    text: logical.text.clone(),
                    kind,
                }),
                (None, InstructionKind::Arg(decls)) => global_args.extend(decls),
                (None, _) => {
                    return Err(ParseError::new(
                        logical.line,
                        format!(
                            "{} before the first FROM: only ARG may come before FROM",
                            logical.keyword.to_ascii_uppercase()
                        ),
                    ))
                }
            },
        }
    }
    if stages.is_empty() {
        // Docker's wording differs by case (empty file, only ARGs); one message covers both.
        let line = file.lines.last().map_or(1, |l| l.line);
        return Err(ParseError::new(
            line,
            "no FROM instruction: nothing to build",
        ));
    }
    Ok(Containerfile {
        escape: file.escape,
        syntax: file.syntax,
        global_args,
        stages,
    })
}

/// Whether `name` (one path component) matches `pattern`, a COPY/ADD source component with
/// Go `filepath.Match` wildcards (`*`, `?`, `[a-z]`, `\` escapes), as docker matches them.
/// A malformed pattern matches nothing.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    glob::Glob::path_match(pattern).is_ok_and(|glob| glob.matches(name))
}
