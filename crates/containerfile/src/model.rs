//! The parsed Containerfile: stages of typed instructions. Words are kept raw (quotes and
//! escapes as written, `$VAR` unexpanded) because what they expand to depends on the build
//! arguments and the stage's environment at that step, which only the builder knows; it
//! expands them with [`crate::Lexer`].

/// A whole Containerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containerfile {
    /// The escape character, from the `# escape=` directive; `\` by default.
    pub escape: char,
    /// The `# syntax=` directive's value, if any. Recorded (a builder may warn that it does
    /// not load frontends), never acted on.
    pub syntax: Option<String>,
    /// ARGs before the first FROM: usable in FROM lines, and in a stage that redeclares them.
    pub global_args: Vec<ArgDecl>,
    /// The stages in order; never empty.
    pub stages: Vec<Stage>,
}

impl Containerfile {
    /// The lexer for this file's words (its escape character).
    pub fn lexer(&self) -> crate::Lexer {
        crate::Lexer {
            escape: self.escape,
        }
    }

    /// The stage a `--from` or FROM names: a stage name (case-insensitive) or an index.
    /// `None` means the name is an image.
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        if let Some(stage) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(stage);
        }
        // Docker accepts a stage's index, but only when no stage is named like it.
        lower.parse::<usize>().ok().and_then(|i| self.stages.get(i))
    }
}

/// One FROM and the instructions up to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages, from 0.
    pub index: usize,
    /// The `AS` name, lowercased (docker compares stage names case-insensitively).
    pub name: Option<String>,
    pub from: FromInstruction,
    /// The instructions after FROM (FROM itself is `from`).
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstruction {
    /// The image as written; may hold `$ARG`s (expanded with the global ARGs only).
    pub image: String,
    /// `--platform=` as written; may hold `$BUILDPLATFORM` and the like.
    pub platform: Option<String>,
    /// 1-based line of the FROM.
    pub line: usize,
}

/// An instruction other than FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The instruction as written: continuation lines joined with single spaces (comments
    /// and empty lines inside it dropped), trimmed; for RUN, COPY and ADD with heredocs,
    /// followed by each heredoc's lines and terminator as written, one per line, so that a
    /// cache key built from it changes when a heredoc's content does.
    pub text: String,
    pub kind: InstructionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    Run(Run),
    Copy(Copy),
    Add(Copy),
    /// Key/value pairs as raw words (quotes kept). The legacy `ENV key rest of line` form
    /// gives one pair whose value is the rest of the line.
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    Cmd(Command),
    Entrypoint(Command),
    /// Always from a JSON array; never empty.
    Shell(Vec<String>),
    /// Key/value pairs as raw words (quotes kept), like ENV.
    Label(Vec<(String, String)>),
    /// Raw whitespace-separated words.
    Expose(Vec<String>),
    /// From a JSON array (already unquoted by JSON) or raw whitespace-separated words.
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger as written (`RUN make`), recorded in the image config as is. The
    /// trigger has been parsed once, so a broken one is refused here.
    Onbuild(String),
    Maintainer(String),
}

/// The two forms of RUN, CMD and ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The shell form: the text after the instruction and its flags, continuations joined
    /// as docker joins them (nothing inserted), run through the stage's SHELL.
    Shell(String),
    /// The JSON array form. A line that starts with `[` but is not valid JSON is the shell
    /// form, as in docker.
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: Command,
    /// The heredocs the line opens, in order. When the command is only `<<EOF`, the first
    /// heredoc is the script; otherwise (`python3 <<EOF`) the shell reads them itself.
    pub heredocs: Vec<Heredoc>,
    /// `--network=none|host|default` (checked to be one of these).
    pub network: Option<String>,
    /// `--mount=` values, raw, in order; the builder may refuse them.
    pub mounts: Vec<String>,
    /// `--security=sandbox|insecure` (checked to be one of these); the builder may refuse
    /// `insecure`.
    pub security: Option<String>,
}

/// COPY and ADD. Flags that only one of them accepts are refused on the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Raw words; `<<EOF`-style words name heredocs (see [`Copy::heredoc_for`]).
    pub sources: Vec<String>,
    pub dest: String,
    /// COPY `--from=`: a stage name, a stage index or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// `--link` (`--link=false` gives `false`).
    pub link: bool,
    pub heredocs: Vec<Heredoc>,
    /// COPY `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns, raw, in order.
    pub exclude: Vec<String>,
    /// ADD `--checksum=`.
    pub checksum: Option<String>,
    /// ADD `--keep-git-dir` (`None` when not given).
    pub keep_git_dir: Option<bool>,
    /// ADD `--unpack` (`None` when not given: docker's default applies).
    pub unpack: Option<bool>,
}

impl Copy {
    /// The heredoc a source word names (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`), if it is
    /// one of this instruction's heredocs.
    pub fn heredoc_for(&self, source: &str) -> Option<&Heredoc> {
        let marker = crate::heredoc::parse_marker(source)?;
        self.heredocs.iter().find(|doc| doc.name == marker.name)
    }
}

/// A here-document: the lines after the instruction up to the line that is its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The lines, each ending in `\n` (empty for an empty heredoc). For `<<-`, leading tabs
    /// are already stripped from every line.
    pub content: String,
    /// Opened with `<<-`.
    pub strip_tabs: bool,
    /// `false` when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): the content is not to
    /// be expanded.
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// Raw (quotes kept); `Some("")` for `ARG name=`.
    pub default: Option<String>,
}

/// HEALTHCHECK in the image config's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD-SHELL", command]` or `["CMD", arg, ...]`; always `Some` from the
    /// parser (the option lets a builder express "inherit").
    pub test: Option<Vec<String>>,
    /// Nanoseconds; `None` when the flag was not given. `Some(0)` means "the default".
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<u32>,
}
