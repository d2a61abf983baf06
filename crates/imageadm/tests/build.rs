//! `imageadm build` against `buildah bud` (Debian's buildah) on the same Containerfiles and
//! contexts: the two images, unpacked, must be equal path by path (type, mode, owner,
//! content, links), and their configs equal in what both define. Then the cache: a second
//! build is all cache hits with the same image id; a changed context file rebuilds from the
//! first step that reads it; `--no-cache` runs everything; a cache pushed to a registry
//! serves a fresh store. Heredocs as docker documents them (build_hostile.rs has the rest).
//!
//! Needs root (mounts, owners), buildah, docker-registry and skopeo; skipped otherwise
//! through `aurora_testkit::skip` (a failure when the run requires every test).

mod common;

use std::fs;

use aurora_testkit::tree::diff;
use common::build::{comparable, context, imageadm_build, setup, Buildah};
use common::World;
use serde_json::Value;

#[test]
fn the_same_image_as_buildah() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        r#"# a comment
ARG BASE={base}
FROM $BASE AS tools
RUN mkdir -p /opt/tool && printf 'built\n' > /opt/tool/out.txt

FROM ${{BASE}}
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MODE="release build"
WORKDIR $APP_HOME
RUN echo "$GREETING from $(pwd)" > greeting.txt && chmod 640 greeting.txt
COPY files/ ./files/
COPY --chown=app:appgrp owned.txt /home/app/
COPY --chmod=700 run.sh /usr/local/bin/run.sh
COPY --from=tools /opt/tool/out.txt /opt/
RUN mkdir -p /var/lib/app && echo "$MODE" > /var/lib/app/mode && ln -s /var/lib/app/mode /var/lib/app/current
USER app
LABEL org.example.role=test "with space"="a b"
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/run.sh"]
CMD ["--serve"]
"#
    );
    let context = context(
        dir.path(),
        &containerfile,
        &[
            ("files/a.txt", "a\n"),
            ("files/sub/b.txt", "b\n"),
            ("files/skipped.log", "ignored\n"),
            ("owned.txt", "owned\n"),
            ("run.sh", "#!/bin/sh\necho run\n"),
            (".dockerignore", "files/*.log\n"),
        ],
    );
    let (ours, our_config, _) = imageadm_build(&World::new(), &context, &[]);
    let (mut theirs, their_config) = Buildah::new(dir.path()).build(&context, &[]);
    // buildah's RUN leaves /run behind, the mount point of its own tmpfs there (imageadm
    // mounts nothing on /run, so a step sees the image's).
    if !ours.contains_key("run")
        && theirs.get("run").is_some_and(|n| n.kind == 'd')
        && !theirs.keys().any(|k| k.starts_with("run/"))
    {
        theirs.remove("run");
    }
    if let Some(d) = diff("imageadm", &ours, "buildah", &theirs) {
        panic!("the roots differ:\n{d}");
    }
    assert_eq!(comparable(&our_config), comparable(&their_config));
    assert_eq!(
        ours["srv/app/greeting.txt"].content.as_deref(),
        Some("hello from /srv/app\n")
    );
    assert!(!ours.contains_key("srv/app/files/skipped.log"));
}

#[test]
fn a_second_build_is_all_cache_hits_and_the_same_image() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nENV X=1\nCMD [\"sh\"]\n"
    );
    let context = context(dir.path(), &containerfile, &[("a.txt", "first\n")]);
    let world = World::new();
    let build = |extra: &[&str]| -> Value {
        let mut args = vec!["--quiet", "build", "--format", "json", "-t", "cached:1"];
        args.extend_from_slice(extra);
        let context_arg = context.display().to_string();
        args.push(&context_arg);
        world.ok(&args).json()
    };
    let cached = |report: &Value| -> Vec<bool> {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|s| s["cached"].as_bool().unwrap())
            .collect()
    };
    let first = build(&[]);
    assert_eq!(cached(&first), [false; 5]);
    let second = build(&[]);
    assert_eq!(cached(&second), [true; 5]);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["manifest"], first["manifest"]);
    // A changed file: the COPY that reads it and every step after run again.
    fs::write(context.join("a.txt"), "second\n").unwrap();
    let third = build(&[]);
    assert_eq!(cached(&third), [true, false, false, false, false]);
    assert_ne!(third["id"], first["id"]);
    let bundle = world.dir.path().join("b3");
    world.ok(&[
        "--quiet",
        "unpack",
        "cached:1",
        &bundle.display().to_string(),
    ]);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/copy")).unwrap(),
        "second\n"
    );
    world.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
    let fourth = build(&["--no-cache"]);
    assert_eq!(cached(&fourth), [false; 5]);
}

/// Heredocs (buildah 1.28 has none: checked against docker's documented behaviour): a RUN
/// whose command is a heredoc runs it as the script, one that feeds a command gives it as
/// stdin, a COPY heredoc is a file; a quoted delimiter keeps `$` as it is.
#[test]
fn heredocs_as_docker_documents_them() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nENV WHO=world\nRUN <<EOF\nmkdir -p /h\necho \"hello $WHO\" > /h/script\nEOF\n\
         RUN cat > /h/stdin <<'EOF'\nkept $WHO\nEOF\n\
         COPY <<EOF /h/copied\nfor $WHO\nEOF\n\
         COPY <<\"EOF\" /h/literal\nnot $WHO\nEOF\n\
         RUN <<EOF\n#!/bin/busybox sh\necho \"$0\" > /h/interpreted\nEOF\n"
    );
    let context = context(dir.path(), &containerfile, &[]);
    let (tree, _, _) = imageadm_build(&World::new(), &context, &[]);
    let text = |p: &str| tree[p].content.clone().unwrap_or_default();
    assert_eq!(text("h/script"), "hello world\n");
    assert_eq!(text("h/stdin"), "kept $WHO\n");
    assert_eq!(text("h/copied"), "for world\n");
    assert_eq!(text("h/literal"), "not $WHO\n");
    // A heredoc with a `#!` line runs as a file by its interpreter, as docker runs it.
    assert_eq!(text("h/interpreted"), "/dev/.aurora-build/script\n");
    assert_eq!(tree["h/copied"].mode, 0o644);
}

/// A cache pushed to the loopback registry by one store is used by a build in a fresh one:
/// every step a hit, the same image id.
#[test]
fn a_cache_in_a_registry_serves_a_fresh_store() {
    let Some((registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nRUN echo one > /one\nCOPY a.txt /a.txt\nENV X=1\nRUN cat /a.txt /one > /both\n"
    );
    let context = context(dir.path(), &containerfile, &[("a.txt", "shared\n")]);
    let context_arg = context.display().to_string();
    let cache_ref = registry.image_ref("cache/app:buildcache");
    let first = World::new();
    let made = first
        .ok(&[
            "--quiet",
            "build",
            "--format",
            "json",
            "--cache-to",
            &cache_ref,
            "-t",
            "app:1",
            &context_arg,
        ])
        .json();
    let fresh = World::new();
    let reused = fresh
        .ok(&[
            "--quiet",
            "build",
            "--format",
            "json",
            "--cache-from",
            &cache_ref,
            "-t",
            "app:1",
            &context_arg,
        ])
        .json();
    let cached: Vec<bool> = reused["steps"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|s| s["cached"].as_bool().unwrap())
        .collect();
    assert_eq!(cached, [true; 4]);
    assert_eq!(reused["id"], made["id"]);
    // The image runs as built: its files are there.
    let bundle = fresh.dir.path().join("b");
    fresh.ok(&["--quiet", "unpack", "app:1", &bundle.display().to_string()]);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/both")).unwrap(),
        "shared\none\n"
    );
    fresh.ok(&["--quiet", "rm-bundle", &bundle.display().to_string()]);
    // A name that is no cache is refused with a warning, and the build goes on.
    let other = World::new();
    let run = other.run(&["build", "--cache-from", &base, "-t", "app:2", &context_arg]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("is not a build cache"),
        "{}",
        run.stderr
    );
}

/// More of what users write, side by side with buildah: `--target` (only the stages it
/// needs), `--build-arg` over ARG defaults (global and in a stage), ADD of a local archive
/// (extracted) and of a plain file, SHELL, USER by name seen by a later RUN, `--label`;
/// then `--squash` and `--iidfile`.
#[test]
fn targets_args_add_and_users_as_buildah() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        r#"ARG BASE={base}
ARG FLAVOUR=plain
FROM $BASE AS first
ARG FLAVOUR
ARG LEVEL=1
RUN echo "$FLAVOUR at $LEVEL" > /flavour
ADD bundle.tar.gz /opt/
ADD notes.txt /opt/notes/
SHELL ["/bin/sh", "-ec"]
RUN mkdir -p /home/app/work && chown app:appgrp /home/app/work
USER app
RUN id -un > /home/app/work/whoami && id -gn >> /home/app/work/whoami
USER root:appgrp
RUN id -u > /ids && id -g >> /ids

FROM $BASE AS unused
RUN exit 7
"#
    );
    let context = context(dir.path(), &containerfile, &[("notes.txt", "notes\n")]);
    let payload = dir.path().join("payload");
    fs::create_dir_all(payload.join("lib")).unwrap();
    fs::write(payload.join("lib/mod.txt"), "module\n").unwrap();
    let packed = std::process::Command::new("tar")
        .arg("czf")
        .arg(context.join("bundle.tar.gz"))
        .args(["--owner=0", "--group=0", "-C"])
        .arg(&payload)
        .arg("lib")
        .status()
        .unwrap();
    assert!(packed.success());
    let extra = [
        "--target",
        "first",
        "--build-arg",
        "LEVEL=9",
        "--build-arg",
        "FLAVOUR=spicy",
        "--label",
        "built.by=test",
    ];
    let world = World::new();
    let (ours, our_config, id) = imageadm_build(&world, &context, &extra);
    let (mut theirs, their_config) = Buildah::new(dir.path()).build(&context, &extra);
    if !ours.contains_key("run") && theirs.get("run").is_some_and(|n| n.kind == 'd') {
        theirs.remove("run");
    }
    if let Some(d) = diff("imageadm", &ours, "buildah", &theirs) {
        panic!("the roots differ:\n{d}");
    }
    assert_eq!(comparable(&our_config), comparable(&their_config));
    assert_eq!(ours["flavour"].content.as_deref(), Some("spicy at 9\n"));
    assert_eq!(
        ours["home/app/work/whoami"].content.as_deref(),
        Some("app\nappgrp\n")
    );
    assert_eq!(ours["opt/lib/mod.txt"].content.as_deref(), Some("module\n"));
    // --squash: one layer holding the same tree; --iidfile: the id.
    let iid = dir.path().join("iid");
    let context_arg = context.display().to_string();
    let iid_arg = iid.display().to_string();
    let mut args = vec![
        "--quiet",
        "build",
        "--squash",
        "--iidfile",
        &iid_arg,
        "-t",
        "squashed:1",
    ];
    args.extend_from_slice(&extra);
    args.push(&context_arg);
    world.ok(&args);
    let inspect = world.ok(&["inspect", "squashed:1"]).json();
    assert_eq!(inspect["manifest"]["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        fs::read_to_string(&iid).unwrap(),
        inspect["manifest"]["config"]["digest"].as_str().unwrap()
    );
    assert_ne!(fs::read_to_string(&iid).unwrap(), id);
}

/// Serves `body` to every GET on a loopback port, in a thread; returns the port.
fn serve(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

/// ADD of a URL: from a loopback server, saved under the URL's last segment with mode 0600
/// (not extracted); from any other host, refused before a connection is made.
#[test]
fn add_takes_urls_from_trusted_hosts_only() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let port = serve("downloaded\n");
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        "FROM {base}\nADD http://127.0.0.1:{port}/files/notes.txt?v=1 /opt/\nADD http://127.0.0.1:{port}/x /opt/renamed.txt\n"
    );
    let added = context(dir.path(), &containerfile, &[]);
    let (tree, _, _) = imageadm_build(&World::new(), &added, &[]);
    assert_eq!(
        tree["opt/notes.txt"].content.as_deref(),
        Some("downloaded\n")
    );
    assert_eq!(tree["opt/notes.txt"].mode, 0o600);
    assert_eq!(
        tree["opt/renamed.txt"].content.as_deref(),
        Some("downloaded\n")
    );
    let refused = context(
        &dir.path().join("refused"),
        &format!("FROM {base}\nADD http://downloads.example.invalid/tool.tar.gz /opt/\n"),
        &[],
    );
    let run = World::new().run(&[
        "--quiet",
        "build",
        "-t",
        "refused:1",
        &refused.display().to_string(),
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("neither a loopback host nor listed"),
        "{}",
        run.stderr
    );
    let copy = context(
        &dir.path().join("copy"),
        &format!("FROM {base}\nCOPY http://127.0.0.1:{port}/x /opt/\n"),
        &[],
    );
    let run = World::new().run(&[
        "--quiet",
        "build",
        "-t",
        "copy:1",
        &copy.display().to_string(),
    ]);
    assert!(run.stderr.contains("COPY takes no URLs"), "{}", run.stderr);
}

/// The rest of the instructions: FROM scratch with COPY --from an image (not a stage), RUN
/// in exec form, `--network none` (only lo), a predefined proxy ARG reaching RUN but not the
/// image, HEALTHCHECK, ONBUILD and MAINTAINER recorded in the config.
#[test]
fn scratch_exec_form_network_and_recorded_instructions() {
    let Some((_registry, base)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let containerfile = format!(
        r#"FROM {base} AS tools
RUN ["/bin/sh", "-c", "ls /sys/class/net > /nets && echo \"proxy=$HTTP_PROXY\" > /proxy"]
FROM scratch
COPY --from={base} /bin/busybox /bin/busybox
COPY --from=tools /nets /proxy /
HEALTHCHECK --interval=30s --retries=3 CMD ["/bin/busybox", "true"]
ONBUILD RUN echo child
MAINTAINER builders
CMD ["/bin/busybox", "sh"]
"#
    );
    let context = context(dir.path(), &containerfile, &[]);
    let world = World::new();
    let (tree, config, _) = imageadm_build(
        &world,
        &context,
        &[
            "--network",
            "none",
            "--build-arg",
            "HTTP_PROXY=http://proxy.test:3128",
        ],
    );
    let mut paths: Vec<&str> = tree.keys().map(String::as_str).collect();
    paths.sort();
    assert_eq!(paths, ["bin", "bin/busybox", "nets", "proxy"]);
    assert_eq!(tree["nets"].content.as_deref(), Some("lo\n"));
    assert_eq!(
        tree["proxy"].content.as_deref(),
        Some("proxy=http://proxy.test:3128\n")
    );
    let c = &config["config"];
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/bin/busybox", "true"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 3);
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo child"]));
    assert_eq!(config["author"], "builders");
    let env = c["Env"].as_array().cloned().unwrap_or_default();
    assert!(
        env.iter()
            .all(|e| !e.as_str().unwrap_or_default().contains("proxy")),
        "{env:?}"
    );
}
