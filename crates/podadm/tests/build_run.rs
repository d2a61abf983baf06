//! Images built by `imageadm build` and by `buildah bud` from the same Containerfile and
//! context, pushed to the loopback registry, then run by podman and by podadm: all four runs
//! print the same (the user by name from the image's passwd, the working directory, files
//! copied with owners by name, the environment, the entrypoint and command).
//!
//! Needs root, buildah, podman, docker-registry and skopeo; skipped otherwise through
//! `aurora_testkit::skip` (a failure when the run requires every test).

mod support;

use std::fs;
use std::process::Command;

use support::{stderr, stdout, World};

const CONTAINERFILE: &str = r#"FROM IMAGE
ARG GREETING=hello
ENV MODE="release build"
RUN echo "app:x:1000:1001:app:/home/app:/bin/sh" >> /etc/passwd && echo "appgrp:x:1001:" >> /etc/group && mkdir -p /home/app
WORKDIR /srv/app
RUN echo "$GREETING from the build" > greeting && chmod 644 greeting
COPY --chown=app:appgrp owned.txt /home/app/owned.txt
COPY show.sh /usr/local/bin/show
USER app
ENTRYPOINT ["/usr/local/bin/show"]
CMD ["with", "arguments"]
"#;

const SHOW: &str = "#!/bin/sh\nid -un\nid -gn\npwd\ncat /srv/app/greeting\necho \"$MODE\"\nls -ln /home/app/owned.txt | awk '{print $3, $4}'\necho \"$@\"\n";

/// Runs `command` and returns its standard output, asserting success.
fn output(what: &str, command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn images_built_by_both_tools_run_alike_under_podman_and_podadm() {
    let Some(world) = World::new("images_built_by_both_tools_run_alike_under_podman_and_podadm")
    else {
        return;
    };
    if !aurora_testkit::skip::tools_or_skip(
        "images_built_by_both_tools_run_alike_under_podman_and_podadm",
        &["buildah", "podman"],
    ) {
        return;
    }
    let context = world.dir.path().join("context");
    fs::create_dir_all(&context).unwrap();
    fs::write(
        context.join("Containerfile"),
        CONTAINERFILE.replace("IMAGE", &world.image),
    )
    .unwrap();
    fs::write(context.join("owned.txt"), "owned\n").unwrap();
    fs::write(context.join("show.sh"), SHOW).unwrap();
    let mut perms = fs::metadata(context.join("show.sh")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(context.join("show.sh"), perms).unwrap();

    let ours = world.registry.image_ref("built/ours:1");
    let imageadm = aurora_testkit::workspace_binary("imageadm", "imageadm");
    aurora_testkit::workspace_binary("runz", "runz");
    let store = world.dir.path().join("imageadm-store");
    let imageadm_command = |args: &[&str]| {
        let mut command = Command::new(&imageadm);
        command
            .arg("--root")
            .arg(&store)
            .args(["--storage", "overlay", "--quiet"])
            .args(args)
            .env("AURORA_CONFIG", "/nonexistent/aurora.toml");
        command
    };
    output(
        "imageadm build",
        imageadm_command(&["build", "-t", &ours]).arg(&context),
    );
    output("imageadm push", &mut imageadm_command(&["push", &ours]));

    let theirs = world.registry.image_ref("built/theirs:1");
    let buildah = |args: &[&str]| {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(world.dir.path().join("buildah-root"))
            .arg("--runroot")
            .arg(world.dir.path().join("buildah-run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        command
    };
    output(
        "buildah bud",
        buildah(&[
            "bud",
            "--tls-verify=false",
            "--isolation",
            "chroot",
            "-t",
            "theirs:1",
        ])
        .arg(&context),
    );
    output(
        "buildah push",
        &mut buildah(&[
            "push",
            "--tls-verify=false",
            "theirs:1",
            &format!("docker://{theirs}"),
        ]),
    );

    let mut runs = Vec::new();
    for image in [&ours, &theirs] {
        let podman = world.podman(&[
            "run",
            "--rm",
            "--tls-verify=false",
            "--network",
            "none",
            image,
        ]);
        assert!(
            podman.status.success(),
            "podman run {image}: {}",
            stderr(&podman)
        );
        runs.push((format!("podman {image}"), stdout(&podman)));
        let podadm = world.ok(&["run", "--rm", "--network", "none", image]);
        runs.push((format!("podadm {image}"), podadm));
    }
    let expected =
        "app\nappgrp\n/srv/app\nhello from the build\nrelease build\n1000 1001\nwith arguments\n";
    for (what, out) in &runs {
        assert_eq!(out, expected, "{what}");
    }
    let _ = buildah(&["rmi", "--all", "--force"]).output();
}
