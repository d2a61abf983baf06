//! Whatever the input, every entry point answers `Ok` or `Err` and never panics (nor
//! overflows its stack): truncated real files, and garbage built from the syntax's own
//! pieces so that it reaches deep into the parsers rather than failing on the first byte.

use std::panic::{catch_unwind, AssertUnwindSafe};

use aurora_containerfile::{parse, pattern_matches, IgnoreRules, Lexer};

const SAMPLES: &[&str] = &[
    "# syntax=docker/dockerfile:1\nARG BASE=\"alpine:3.19\"\nFROM --platform=$BUILDPLATFORM ${BASE:-x} AS build\n\
     RUN --mount=type=cache,target=/c \\\n  # comment\n  make\nCOPY --from=build --chmod=755 a b /d/\n\
     ENV a=1 b=\"x y\" c='z'\nHEALTHCHECK --interval=1m30s --retries=3 CMD [\"x\", \"y\"]\n\
     ONBUILD RUN echo hi\nSHELL [\"/bin/sh\", \"-c\"]\nVOLUME [\"/data\"]\nEXPOSE 80/tcp\n",
    "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir c:\\ ; `\n  echo done\nCOPY a c:\\\n",
    "FROM x\nRUN <<EOF\necho $HOME\nEOF\nRUN <<-\"A\" <<B cat\n\ta\n\tA\nb\nB\nCOPY <<'C' /c\n${x}\nC\n",
];

/// Pieces of the grammar, glued at random.
const PIECES: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "CMD ",
    "ENTRYPOINT ",
    "SHELL ",
    "HEALTHCHECK ",
    "ONBUILD ",
    "VOLUME ",
    "EXPOSE ",
    "WORKDIR ",
    "USER ",
    "STOPSIGNAL ",
    "MAINTAINER ",
    "AS ",
    "NONE",
    "CMD",
    "--",
    "--from=",
    "--mount=",
    "--network=",
    "--link",
    "--interval=",
    "--retries=",
    "1m30s",
    "500ms",
    "-1",
    "\n",
    "\r\n",
    "\\\n",
    "`\n",
    " ",
    "\t",
    "#",
    "# escape=`\n",
    "# escape=\\\n",
    "# syntax=x\n",
    "<<",
    "<<-",
    "EOF",
    "\nEOF\n",
    "'",
    "\"",
    "\\",
    "`",
    "$",
    "${",
    "}",
    ":-",
    ":+",
    ":?",
    "#",
    "##",
    "%",
    "%%",
    "/",
    "//",
    "=",
    "[",
    "]",
    "[\"",
    "\", \"",
    "\"]",
    "{",
    "*",
    "**",
    "?",
    "!",
    "a",
    "b",
    "x=1",
    "é",
    "\u{feff}",
    "\0",
    "..",
    ".",
    "0",
    "9999999999999999999999h",
];

/// xorshift64*: a fixed seed, so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn garbage(rng: &mut Rng) -> String {
    let len = rng.below(80);
    (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

/// Feeds `text` to every entry point; a panic fails with the input shown.
fn exercise(text: &str) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(file) = parse(text) {
            assert!(!file.stages.is_empty());
        }
        let vars = |name: &str| name.len().is_multiple_of(2).then(|| format!("v {name}"));
        for escape in ['\\', '`'] {
            let lexer = Lexer { escape };
            for line in text.lines().take(20) {
                let _ = lexer.process_word(line, &vars);
                let _ = lexer.process_words(line, &vars);
            }
        }
        if let Ok(rules) = IgnoreRules::parse(text) {
            for path in text.lines().take(10) {
                let _ = rules.is_excluded(path);
                let _ = rules.may_include_under(path);
            }
        }
        for line in text.lines().take(10) {
            let _ = pattern_matches(line, "abc");
        }
    }));
    if outcome.is_err() {
        panic!("panicked on input {text:?}");
    }
}

#[test]
fn truncated_real_files() {
    for sample in SAMPLES {
        for (at, _) in sample.char_indices() {
            exercise(&sample[..at]);
            exercise(&sample[at..]);
        }
    }
}

#[test]
fn random_garbage() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for _ in 0..3000 {
        exercise(&garbage(&mut rng));
    }
}

#[test]
fn hostile_shapes() {
    let deep = "${a:-".repeat(50_000);
    exercise(&format!("FROM x\nRUN {deep}"));
    assert!(Lexer::default().process_word(&deep, &|_| None).is_err());
    exercise(&"[".repeat(10_000));
    exercise(&format!("FROM x\nRUN {}", "[".repeat(10_000)));
    exercise(&format!("FROM x\nRUN {}", "\\\n".repeat(10_000)));
    exercise(&format!("FROM x\nRUN {}\n", "<<A ".repeat(2_000)));
    let stars = format!("{}b", "*a".repeat(200));
    assert!(!pattern_matches(&stars, &"a".repeat(5_000)));
    let rules = IgnoreRules::parse(&format!(
        "{}b\n!{}c\n",
        "**/a".repeat(100),
        "*/".repeat(100)
    ))
    .unwrap();
    assert!(!rules.is_excluded(&"a/".repeat(500)));
    let _ = rules.may_include_under(&"a/".repeat(500));
}
