//! The warm pool: `pool set/ls/rm`, `run` claiming a ready sandbox, the refiller, crashes,
//! and a claimed sandbox indistinguishable from a fresh container.

mod support;

use support::{stderr, stdout, World};

/// `pool ls --format json` as (ready, filling) of the world's image.
fn counts(world: &World) -> Option<(u64, u64)> {
    let out = world.ok(&["pool", "ls", "--format", "json"]);
    let pools: serde_json::Value = serde_json::from_str(&out).expect("pool ls prints JSON");
    pools
        .as_array()?
        .iter()
        .find_map(|p| Some((p["ready"].as_u64()?, p["filling"].as_u64()?)))
}

fn wait_ready(world: &World, ready: u64) {
    world.wait_until(&format!("{ready} ready sandboxes"), || {
        counts(world) == Some((ready, 0))
    });
}

/// Sandbox ids (the directories of their monitors that hold a channel).
fn sandbox_dirs(world: &World) -> Vec<String> {
    let dir = world.runroot().join("podadm");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("sandbox").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// What a removal must leave: no clone, no netns file, no monitor, no mount.
fn assert_nothing_left(world: &World) {
    let containers = world.root().join("storage").join("containers");
    let clones: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(clones.is_empty(), "clones left: {clones:?}");
    let netns: Vec<_> = std::fs::read_dir(world.runroot().join("netns"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(netns.is_empty(), "network namespaces left: {netns:?}");
    assert!(sandbox_dirs(world).is_empty(), "monitors left");
    let mounts = world.mounts_under(&world.root());
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let bundles: Vec<_> = std::fs::read_dir(world.root().join("podadm").join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(bundles.is_empty(), "bundles left: {bundles:?}");
}

fn pull(world: &World) {
    // The first run pulls the image into the store; a pool needs it there.
    world.ok(&["run", "--rm", "--network", "none", &world.image, "true"]);
}

#[test]
fn run_claims_a_ready_sandbox_and_the_pool_refills() {
    let Some(world) = World::new("run_claims_a_ready_sandbox_and_the_pool_refills") else {
        return;
    };
    pull(&world);
    world.ok(&["pool", "set", &world.image, "--size", "2"]);
    wait_ready(&world, 2);
    let before = sandbox_dirs(&world);

    // A named, kept container: its id is one of the ready sandboxes'.
    let out = world.ok(&["run", "--name", "kept", &world.image, "hostname"]);
    let id = world.inspect("kept", "/Id");
    let id = id.as_str().expect("an id").to_string();
    assert!(
        before.contains(&id),
        "{id} is not one of the sandboxes {before:?}"
    );
    assert_eq!(
        out.trim(),
        &id[..12],
        "the hostname is the id's first 12 digits"
    );
    assert_eq!(world.inspect("kept", "/State/ExitCode"), 0);
    // It starts again as any container.
    let again = world.ok(&["start", "-a", "kept"]);
    assert_eq!(again.trim(), &id[..12]);
    world.ok(&["rm", "kept"]);

    let out = world.podadm(&["run", "--rm", &world.image, "echo", "hi"]);
    assert_eq!(stdout(&out), "hi\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // `ps -a` no longer shows a --rm container.
    let ps = world.ok(&["ps", "-a", "-q"]);
    assert_eq!(ps.trim(), "", "a --rm container is still listed");

    let out = world.podadm(&["run", "--rm", &world.image, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = world.podadm(&["run", "--rm", &world.image, "/no/such/command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));

    // Refilled in the background to 2 (three were claimed).
    wait_ready(&world, 2);
    let after = sandbox_dirs(&world);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_ne!(before, after, "no sandbox was claimed");

    world.ok(&["pool", "rm", &world.image]);
    assert!(world.ok(&["pool", "ls"]).lines().count() <= 1);
    assert_nothing_left(&world);
}
