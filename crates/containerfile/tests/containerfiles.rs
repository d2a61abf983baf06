//! Realistic Containerfiles, each parsed into its whole expected structure.

use aurora_containerfile::{
    parse, ArgDecl, Command, Containerfile, Copy, FromInstruction, Healthcheck, Heredoc,
    Instruction, InstructionKind, ParseError, Run, Stage,
};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn arg(name: &str, default: Option<&str>) -> ArgDecl {
    ArgDecl {
        name: name.into(),
        default: default.map(Into::into),
    }
}

fn ins(line: usize, text: &str, kind: InstructionKind) -> Instruction {
    Instruction {
        line,
        text: text.into(),
        kind,
    }
}

fn from(image: &str, platform: Option<&str>, line: usize) -> FromInstruction {
    FromInstruction {
        image: image.into(),
        platform: platform.map(Into::into),
        line,
    }
}

fn run(command: Command) -> Run {
    Run {
        command,
        heredocs: vec![],
        network: None,
        mounts: vec![],
        security: None,
    }
}

fn copy(sources: &[&str], dest: &str) -> Copy {
    Copy {
        sources: s(sources),
        dest: dest.into(),
        from: None,
        chown: None,
        chmod: None,
        link: false,
        heredocs: vec![],
        parents: false,
        exclude: vec![],
        checksum: None,
        keep_git_dir: None,
        unpack: None,
    }
}

fn heredoc(name: &str, content: &str, strip_tabs: bool, expand: bool) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        strip_tabs,
        expand,
    }
}

fn shell(text: &str) -> Command {
    Command::Shell(text.into())
}

fn assert_parses(text: &str, expected: Containerfile) {
    let parsed = parse(text).unwrap_or_else(|e| panic!("{e}"));
    // Stage by stage first, so that a difference is readable.
    assert_eq!(parsed.stages.len(), expected.stages.len());
    for (got, want) in parsed.stages.iter().zip(&expected.stages) {
        assert_eq!(got.from, want.from);
        for (g, w) in got.instructions.iter().zip(&want.instructions) {
            assert_eq!(g, w);
        }
        assert_eq!(got, want);
    }
    assert_eq!(parsed, expected);
}

const MULTI_STAGE: &str = r#"# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG BASE="alpine:3.19" EXTRA

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS Build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    # download modules first, for the cache
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
      go build -o /out/app ./cmd/app

FROM ${BASE} AS runtime
LABEL org.opencontainers.image.source="https://example.com/app" \
      maintainer=ops
COPY --from=build --chmod=0755 /out/app /usr/local/bin/app
USER 65534:65534
EXPOSE 8080/tcp
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/usr/local/bin/app", "health"]
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["serve"]
"#;

#[test]
fn multi_stage() {
    let mut from_build = copy(&["/out/app"], "/usr/local/bin/app");
    from_build.from = Some("build".into());
    from_build.chmod = Some("0755".into());
    let mut download = run(shell("go mod download"));
    download.command = shell("go mod download");
    download.mounts = s(&["type=cache,target=/go/pkg/mod"]);
    assert_parses(
        MULTI_STAGE,
        Containerfile {
            escape: '\\',
            syntax: Some("docker/dockerfile:1.7".into()),
            global_args: vec![
                arg("GO_VERSION", Some("1.22")),
                arg("BASE", Some("\"alpine:3.19\"")),
                arg("EXTRA", None),
            ],
            stages: vec![
                Stage {
                    index: 0,
                    name: Some("build".into()),
                    from: from("golang:${GO_VERSION}", Some("$BUILDPLATFORM"), 5),
                    instructions: vec![
                        ins(6, "WORKDIR /src", InstructionKind::Workdir("/src".into())),
                        ins(7, "COPY go.mod go.sum ./", InstructionKind::Copy(copy(&["go.mod", "go.sum"], "./"))),
                        ins(
                            8,
                            "RUN --mount=type=cache,target=/go/pkg/mod go mod download",
                            InstructionKind::Run(download),
                        ),
                        ins(11, "COPY . .", InstructionKind::Copy(copy(&["."], "."))),
                        ins(
                            12,
                            "ARG TARGETOS TARGETARCH",
                            InstructionKind::Arg(vec![arg("TARGETOS", None), arg("TARGETARCH", None)]),
                        ),
                        ins(
                            13,
                            "RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app",
                            InstructionKind::Run(run(shell(
                                "CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH       go build -o /out/app ./cmd/app",
                            ))),
                        ),
                    ],
                },
                Stage {
                    index: 1,
                    name: Some("runtime".into()),
                    from: from("${BASE}", None, 16),
                    instructions: vec![
                        ins(
                            17,
                            r#"LABEL org.opencontainers.image.source="https://example.com/app" maintainer=ops"#,
                            InstructionKind::Label(pairs(&[
                                ("org.opencontainers.image.source", "\"https://example.com/app\""),
                                ("maintainer", "ops"),
                            ])),
                        ),
                        ins(
                            19,
                            "COPY --from=build --chmod=0755 /out/app /usr/local/bin/app",
                            InstructionKind::Copy(from_build),
                        ),
                        ins(20, "USER 65534:65534", InstructionKind::User("65534:65534".into())),
                        ins(21, "EXPOSE 8080/tcp", InstructionKind::Expose(s(&["8080/tcp"]))),
                        ins(
                            22,
                            r#"HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/usr/local/bin/app", "health"]"#,
                            InstructionKind::Healthcheck(Healthcheck {
                                test: Some(s(&["CMD", "/usr/local/bin/app", "health"])),
                                interval: Some(30_000_000_000),
                                timeout: Some(3_000_000_000),
                                start_period: None,
                                start_interval: None,
                                retries: Some(3),
                            }),
                        ),
                        ins(
                            23,
                            r#"ENTRYPOINT ["/usr/local/bin/app"]"#,
                            InstructionKind::Entrypoint(Command::Exec(s(&["/usr/local/bin/app"]))),
                        ),
                        ins(24, r#"CMD ["serve"]"#, InstructionKind::Cmd(Command::Exec(s(&["serve"])))),
                    ],
                },
            ],
        },
    );
    let file = parse(MULTI_STAGE).unwrap();
    assert_eq!(file.stage_named("BUILD").map(|s| s.index), Some(0));
    assert_eq!(file.stage_named("1").map(|s| s.index), Some(1));
    assert!(file.stage_named("alpine").is_none());
}

const WINDOWS: &str = "# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL [\"powershell\", \"-Command\", \"$ErrorActionPreference = 'Stop';\"]
ENV APP_HOME=C:\\app `
    PATH=\"C:\\app\\bin;C:\\Windows\\system32\"
WORKDIR C:\\app
COPY testfile.txt c:\\
RUN New-Item -ItemType Directory C:\\data ; `
    Write-Host done
";

#[test]
fn windows_escape() {
    assert_parses(
        WINDOWS,
        Containerfile {
            escape: '`',
            syntax: None,
            global_args: vec![],
            stages: vec![Stage {
                index: 0,
                name: None,
                from: from("mcr.microsoft.com/windows/servercore:ltsc2022", None, 3),
                instructions: vec![
                    ins(
                        4,
                        r#"SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]"#,
                        InstructionKind::Shell(s(&[
                            "powershell",
                            "-Command",
                            "$ErrorActionPreference = 'Stop';",
                        ])),
                    ),
                    ins(
                        5,
                        r#"ENV APP_HOME=C:\app PATH="C:\app\bin;C:\Windows\system32""#,
                        InstructionKind::Env(pairs(&[
                            ("APP_HOME", r"C:\app"),
                            ("PATH", r#""C:\app\bin;C:\Windows\system32""#),
                        ])),
                    ),
                    ins(
                        7,
                        r"WORKDIR C:\app",
                        InstructionKind::Workdir(r"C:\app".into()),
                    ),
                    ins(
                        8,
                        r"COPY testfile.txt c:\",
                        InstructionKind::Copy(copy(&["testfile.txt"], r"c:\")),
                    ),
                    ins(
                        9,
                        r"RUN New-Item -ItemType Directory C:\data ; Write-Host done",
                        InstructionKind::Run(run(shell(
                            r"New-Item -ItemType Directory C:\data ;     Write-Host done",
                        ))),
                    ),
                ],
            }],
        },
    );
    // The builder expands with the file's escape: backslashes stay.
    let file = parse(WINDOWS).unwrap();
    let path = file
        .lexer()
        .process_word(r#""C:\app\bin;C:\Windows\system32""#, &|_| None)
        .unwrap();
    assert_eq!(path, r"C:\app\bin;C:\Windows\system32");
}

const HEREDOCS: &str = "FROM debian:bookworm
RUN <<EOF
set -e
apt-get update
EOF
RUN <<-EOT bash -e
\techo \"tabs stripped\"
\t\tEOT
COPY <<robots.txt <<humans.txt /usr/share/nginx/html/
User-agent: *
robots.txt
team: us
humans.txt
RUN python3 <<'PY' > /out.txt
print(\"$NOT_EXPANDED\")
PY
COPY --chmod=0644 <<\"CONF\" /etc/app.conf
key=${VALUE}

CONF
RUN echo done
";

#[test]
fn heredocs() {
    let mut script = run(shell("<<EOF"));
    script.heredocs = vec![heredoc("EOF", "set -e\napt-get update\n", false, true)];
    let mut stripped = run(shell("<<-EOT bash -e"));
    stripped.heredocs = vec![heredoc("EOT", "echo \"tabs stripped\"\n", true, true)];
    let mut two = copy(&["<<robots.txt", "<<humans.txt"], "/usr/share/nginx/html/");
    two.heredocs = vec![
        heredoc("robots.txt", "User-agent: *\n", false, true),
        heredoc("humans.txt", "team: us\n", false, true),
    ];
    let mut stdin = run(shell("python3 <<'PY' > /out.txt"));
    stdin.heredocs = vec![heredoc("PY", "print(\"$NOT_EXPANDED\")\n", false, false)];
    let mut conf = copy(&["<<\"CONF\""], "/etc/app.conf");
    conf.chmod = Some("0644".into());
    conf.heredocs = vec![heredoc("CONF", "key=${VALUE}\n\n", false, false)];
    assert_parses(
        HEREDOCS,
        Containerfile {
            escape: '\\',
            syntax: None,
            global_args: vec![],
            stages: vec![Stage {
                index: 0,
                name: None,
                from: from("debian:bookworm", None, 1),
                instructions: vec![
                    ins(2, "RUN <<EOF\nset -e\napt-get update\nEOF", InstructionKind::Run(script)),
                    ins(
                        6,
                        "RUN <<-EOT bash -e\n\techo \"tabs stripped\"\n\t\tEOT",
                        InstructionKind::Run(stripped),
                    ),
                    ins(
                        9,
                        "COPY <<robots.txt <<humans.txt /usr/share/nginx/html/\nUser-agent: *\nrobots.txt\nteam: us\nhumans.txt",
                        InstructionKind::Copy(two.clone()),
                    ),
                    ins(
                        14,
                        "RUN python3 <<'PY' > /out.txt\nprint(\"$NOT_EXPANDED\")\nPY",
                        InstructionKind::Run(stdin),
                    ),
                    ins(
                        17,
                        "COPY --chmod=0644 <<\"CONF\" /etc/app.conf\nkey=${VALUE}\n\nCONF",
                        InstructionKind::Copy(conf.clone()),
                    ),
                    ins(21, "RUN echo done", InstructionKind::Run(run(shell("echo done")))),
                ],
            }],
        },
    );
    assert_eq!(
        two.heredoc_for("<<humans.txt").unwrap().content,
        "team: us\n"
    );
    assert_eq!(conf.heredoc_for("<<\"CONF\"").unwrap().name, "CONF");
}

const CONTINUATIONS: &str = "FROM alpine:3.19
RUN apk add --no-cache \\
# the compiler
    gcc \\

    musl-dev \\
    # and make
    make
ENV A=1 \\
    # a comment inside ENV
    B=\"two words\"
ENV LEGACY value with  spaces
onbuild RUN echo \\
  triggered
StopSignal SIGQUIT
VOLUME /data
MAINTAINER Someone <someone@example.com>
HEALTHCHECK NONE
   # an indented comment
\tEXPOSE 80 \\
   443
";

#[test]
fn continuations_with_comments() {
    assert_parses(
        CONTINUATIONS,
        Containerfile {
            escape: '\\',
            syntax: None,
            global_args: vec![],
            stages: vec![Stage {
                index: 0,
                name: None,
                from: from("alpine:3.19", None, 1),
                instructions: vec![
                    ins(
                        2,
                        "RUN apk add --no-cache gcc musl-dev make",
                        InstructionKind::Run(run(shell(
                            "apk add --no-cache     gcc     musl-dev     make",
                        ))),
                    ),
                    ins(
                        9,
                        "ENV A=1 B=\"two words\"",
                        InstructionKind::Env(pairs(&[("A", "1"), ("B", "\"two words\"")])),
                    ),
                    ins(
                        12,
                        "ENV LEGACY value with  spaces",
                        InstructionKind::Env(pairs(&[("LEGACY", "value with  spaces")])),
                    ),
                    ins(
                        13,
                        "onbuild RUN echo triggered",
                        InstructionKind::Onbuild("RUN echo   triggered".into()),
                    ),
                    ins(
                        15,
                        "StopSignal SIGQUIT",
                        InstructionKind::StopSignal("SIGQUIT".into()),
                    ),
                    ins(16, "VOLUME /data", InstructionKind::Volume(s(&["/data"]))),
                    ins(
                        17,
                        "MAINTAINER Someone <someone@example.com>",
                        InstructionKind::Maintainer("Someone <someone@example.com>".into()),
                    ),
                    ins(
                        18,
                        "HEALTHCHECK NONE",
                        InstructionKind::Healthcheck(Healthcheck {
                            test: Some(s(&["NONE"])),
                            interval: None,
                            timeout: None,
                            start_period: None,
                            start_interval: None,
                            retries: None,
                        }),
                    ),
                    ins(
                        20,
                        "EXPOSE 80 443",
                        InstructionKind::Expose(s(&["80", "443"])),
                    ),
                ],
            }],
        },
    );
}

fn error(text: &str) -> ParseError {
    parse(text).expect_err(text)
}

#[test]
fn errors_name_their_line() {
    let e = error("# comment\nRUN echo hi\nFROM alpine\n");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.to_string(),
        "line 2: RUN before the first FROM: only ARG may come before FROM"
    );
    let e = error("FROM alpine\n\nRUN ok\nBOGUS x\n");
    assert_eq!(e.to_string(), "line 4: unknown instruction: BOGUS");
    let e = error("FROM alpine\nRUN a \\\n  b\nCOPY --bogus=1 a b\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (4, "unknown flag for COPY: --bogus")
    );
    let e = error("FROM alpine\nRUN <<EOF\necho never ends\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("unterminated heredoc"));
    let e = error("FROM alpine\nSHELL /bin/bash -c\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("JSON"));
    let e = error("FROM a AS x\nFROM b AS X\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "duplicate stage name \"x\"")
    );
    assert_eq!(error("").line, 1);
    assert_eq!(error("# only a comment\n\n").line, 1);
    let e = error("ARG A=1\nARG B\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("no FROM"));
    assert!(error("FROM a\nHEALTHCHECK --interval=soon CMD x")
        .message
        .contains("--interval"));
    assert!(error("FROM a\nWORKDIR\n").message.contains("WORKDIR"));
    assert!(error("FROM a\nONBUILD FROM b\n")
        .message
        .contains("ONBUILD"));
}

#[test]
fn crlf_and_bom() {
    let file = parse("\u{feff}FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\nRUN b \\\r\n  c\r\n").unwrap();
    let steps = &file.stages[0].instructions;
    let InstructionKind::Run(script) = &steps[0].kind else {
        panic!()
    };
    assert_eq!(script.heredocs[0].content, "x\n");
    assert_eq!(steps[1].kind, InstructionKind::Run(run(shell("b   c"))));
}
