use super::*;
use crate::lines;

fn one(text: &str) -> Result<Parsed, String> {
    let file = lines::split(text).map_err(|e| e.message)?;
    let logical = file.lines.first().expect("a line");
    parse(logical, file.escape)
}

fn kind(text: &str) -> InstructionKind {
    match one(text) {
        Ok(Parsed::Other(kind)) => kind,
        other => panic!("{text}: {other:?}"),
    }
}

fn err(text: &str) -> String {
    match one(text) {
        Err(e) => e,
        Ok(p) => panic!("{text} parsed: {p:?}"),
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn from_forms() {
    let Ok(Parsed::From { from, name }) =
        one("from --platform=$BUILDPLATFORM golang:1.22 As Build")
    else {
        panic!()
    };
    assert_eq!(from.image, "golang:1.22");
    assert_eq!(from.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(name.as_deref(), Some("build"));
    let Ok(Parsed::From { from, name }) = one("FROM ${BASE:-alpine}") else {
        panic!()
    };
    assert_eq!((from.image.as_str(), name), ("${BASE:-alpine}", None));
    assert!(err("FROM").contains("one or three"));
    assert!(err("FROM a b").contains("one or three"));
    assert!(err("FROM a to b").contains("one or three"));
    assert!(err("FROM a AS 1st").contains("invalid name"));
    assert!(err("FROM a AS x/y").contains("invalid name"));
    assert_eq!(err("FROM --plat=x a"), "unknown flag for FROM: --plat");
}

#[test]
fn run_forms() {
    let InstructionKind::Run(run) =
        kind("RUN --mount=type=cache,target=/root/.cache --network=none apt-get update")
    else {
        panic!()
    };
    assert_eq!(run.command, Command::Shell("apt-get update".into()));
    assert_eq!(run.mounts, s(&["type=cache,target=/root/.cache"]));
    assert_eq!(run.network.as_deref(), Some("none"));
    let InstructionKind::Run(run) = kind(r#"run ["/bin/echo", "a b"]"#) else {
        panic!()
    };
    assert_eq!(run.command, Command::Exec(s(&["/bin/echo", "a b"])));
    let InstructionKind::Run(run) = kind("RUN [ invalid json") else {
        panic!()
    };
    assert_eq!(run.command, Command::Shell("[ invalid json".into()));
    let InstructionKind::Run(run) = kind("RUN --mount=a --mount=b --security=insecure true") else {
        panic!()
    };
    assert_eq!(
        (run.mounts, run.security.as_deref()),
        (s(&["a", "b"]), Some("insecure"))
    );
    assert!(err("RUN --network=bridge x").contains("unsupported network mode"));
    assert!(err("RUN --security=x y").contains("unsupported security mode"));
    assert!(err("RUN --network=none --network=host x").contains("duplicate"));
    assert!(err("RUN --device=x y").contains("unknown flag"));
    assert!(err("RUN").contains("at least one"));
    assert!(err("RUN []").contains("at least one"));
    assert!(err(r#"RUN ["a", {"b": 1}]"#).contains("strings only"));
}

#[test]
fn run_heredocs() {
    let InstructionKind::Run(run) = kind("RUN <<EOF\necho $HOME\nEOF\n") else {
        panic!()
    };
    assert_eq!(run.command, Command::Shell("<<EOF".into()));
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].content, "echo $HOME\n");
    assert!(run.heredocs[0].expand);
    let InstructionKind::Run(run) = kind("RUN python3 <<'PY'\nprint('hi')\nPY\n") else {
        panic!()
    };
    assert_eq!(run.command, Command::Shell("python3 <<'PY'".into()));
    assert!(!run.heredocs[0].expand);
}

#[test]
fn copy_and_add() {
    let InstructionKind::Copy(c) =
        kind("COPY --from=build --chown=1000:1000 --chmod=755 --link a b /dst/")
    else {
        panic!()
    };
    assert_eq!(c.sources, s(&["a", "b"]));
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.chmod.as_deref(), Some("755"));
    assert!(c.link);
    let InstructionKind::Copy(c) = kind(r#"COPY ["a b", "$X", "/d e/"]"#) else {
        panic!()
    };
    assert_eq!((c.sources, c.dest.as_str()), (s(&["a b", "$X"]), "/d e/"));
    // Quotes do not group outside the JSON form (docker splits on whitespace).
    let InstructionKind::Copy(c) = kind(r#"COPY "a b" /x"#) else {
        panic!()
    };
    assert_eq!(c.sources, s(&["\"a", "b\""]));
    let InstructionKind::Copy(c) = kind("COPY --parents --exclude=*.md --exclude=*.txt . /src")
    else {
        panic!()
    };
    assert!(c.parents);
    assert_eq!(c.exclude, s(&["*.md", "*.txt"]));
    let InstructionKind::Add(a) =
        kind("ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://x/y.tgz /")
    else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(
        (a.keep_git_dir, a.unpack, a.link),
        (Some(true), Some(false), false)
    );
    assert!(err("ADD --from=x a b").contains("unknown flag for ADD: --from"));
    assert!(err("COPY --checksum=x a b").contains("unknown flag"));
    assert!(err("COPY a").contains("at least two"));
    assert!(err("COPY").contains("at least two"));
    assert!(err("COPY a <<EOF\nx\nEOF").contains("heredoc as a destination"));
    assert!(err("COPY --link=maybe a b").contains("boolean"));
    assert!(err("COPY --chown a b").contains("missing a value"));
}

#[test]
fn copy_heredocs() {
    let InstructionKind::Copy(c) = kind("COPY <<-\"EOF\" <<two /etc/\n\tx\n\tEOF\ny\ntwo\n") else {
        panic!()
    };
    assert_eq!(c.sources, s(&["<<-\"EOF\"", "<<two"]));
    assert_eq!(c.dest, "/etc/");
    assert_eq!(
        c.heredoc_for("<<-\"EOF\"").map(|d| d.content.as_str()),
        Some("x\n")
    );
    assert_eq!(
        c.heredoc_for("<<two").map(|d| d.content.as_str()),
        Some("y\n")
    );
    assert!(c.heredoc_for("two").is_none());
    assert!(c.heredoc_for("<<three").is_none());
}

#[test]
fn env_and_label() {
    assert_eq!(
        kind(r#"ENV a=1 b="x y" c=x\ y d='$e'"#),
        InstructionKind::Env(pairs(&[
            ("a", "1"),
            ("b", "\"x y\""),
            ("c", r"x\ y"),
            ("d", "'$e'")
        ]))
    );
    assert_eq!(
        kind("ENV key  the rest  of it"),
        InstructionKind::Env(pairs(&[("key", "the rest  of it")]))
    );
    assert_eq!(
        kind("ENV empty="),
        InstructionKind::Env(pairs(&[("empty", "")]))
    );
    assert_eq!(
        kind(r#"LABEL org.opencontainers.image.title="My app" version=1"#),
        InstructionKind::Label(pairs(&[
            ("org.opencontainers.image.title", "\"My app\""),
            ("version", "1")
        ]))
    );
    assert_eq!(
        kind(r#"LABEL "key" value"#),
        InstructionKind::Label(pairs(&[("\"key\"", "value")]))
    );
    assert!(err("ENV").contains("at least one"));
    assert!(err("ENV onlykey").contains("two arguments"));
    assert!(err("ENV a=1 b").contains("can't find ="));
    assert!(err("ENV =x").contains("blank"));
    assert!(err("LABEL --x=y a=b").contains("unknown flag"));
}

#[test]
fn args() {
    assert_eq!(
        kind(r#"ARG a b=2 c="x y" d="#),
        InstructionKind::Arg(vec![
            ArgDecl {
                name: "a".into(),
                default: None
            },
            ArgDecl {
                name: "b".into(),
                default: Some("2".into())
            },
            ArgDecl {
                name: "c".into(),
                default: Some("\"x y\"".into())
            },
            ArgDecl {
                name: "d".into(),
                default: Some(String::new())
            },
        ])
    );
    assert!(err("ARG").contains("at least one"));
    assert!(err("ARG =x").contains("blank"));
}

#[test]
fn simple_strings() {
    assert_eq!(
        kind("WORKDIR /app dir"),
        InstructionKind::Workdir("/app dir".into())
    );
    assert_eq!(
        kind("user 1000:1000"),
        InstructionKind::User("1000:1000".into())
    );
    assert_eq!(
        kind("STOPSIGNAL SIGTERM"),
        InstructionKind::StopSignal("SIGTERM".into())
    );
    assert_eq!(
        kind("MAINTAINER Jo <jo@example.com>"),
        InstructionKind::Maintainer("Jo <jo@example.com>".into())
    );
    for bad in ["WORKDIR", "USER  ", "STOPSIGNAL", "MAINTAINER"] {
        assert!(err(bad).contains("exactly one"), "{bad}");
    }
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        kind(r#"CMD ["nginx", "-g", "daemon off;"]"#),
        InstructionKind::Cmd(Command::Exec(s(&["nginx", "-g", "daemon off;"])))
    );
    assert_eq!(kind("CMD []"), InstructionKind::Cmd(Command::Exec(vec![])));
    assert_eq!(
        kind("ENTRYPOINT exec  app"),
        InstructionKind::Entrypoint(Command::Shell("exec  app".into()))
    );
    assert_eq!(
        kind(r#"SHELL ["powershell", "-Command"]"#),
        InstructionKind::Shell(s(&["powershell", "-Command"]))
    );
    assert!(err("SHELL /bin/bash -c").contains("JSON"));
    assert!(err("SHELL []").contains("at least one"));
    assert!(err("CMD").contains("at least one"));
    assert!(err("CMD --help").contains("unknown flag"));
    assert!(err("ENTRYPOINT").contains("at least one"));
}

#[test]
fn expose_volume() {
    assert_eq!(
        kind("EXPOSE 80/tcp  443 $PORT"),
        InstructionKind::Expose(s(&["80/tcp", "443", "$PORT"]))
    );
    assert_eq!(
        kind(r#"VOLUME ["/data", "/var/log"]"#),
        InstructionKind::Volume(s(&["/data", "/var/log"]))
    );
    assert_eq!(
        kind("VOLUME /data /logs"),
        InstructionKind::Volume(s(&["/data", "/logs"]))
    );
    assert!(err("EXPOSE").contains("at least one"));
    assert!(err("VOLUME").contains("at least one"));
    assert!(err(r#"VOLUME ["/a", " "]"#).contains("empty string"));
    assert!(err("VOLUME []").contains("at least one"));
}

#[test]
fn onbuild() {
    assert_eq!(
        kind("ONBUILD  RUN make \\\n  install"),
        InstructionKind::Onbuild("RUN make   install".into())
    );
    assert_eq!(
        kind("onbuild copy . /src"),
        InstructionKind::Onbuild("copy . /src".into())
    );
    assert!(err("ONBUILD").contains("at least one"));
    assert!(err("ONBUILD ONBUILD RUN x").contains("chaining"));
    assert!(err("ONBUILD FROM x").contains("isn't allowed"));
    assert!(err("ONBUILD maintainer x").contains("isn't allowed"));
    assert!(err("ONBUILD COPY onlyone").contains("at least two"));
    assert!(err("ONBUILD BOGUS x").contains("unknown instruction: BOGUS"));
}

#[test]
fn unknown() {
    assert_eq!(err("FROBNICATE x"), "unknown instruction: FROBNICATE");
    assert_eq!(err("RUNX x"), "unknown instruction: RUNX");
}
