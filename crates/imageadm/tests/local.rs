//! imageadm's local commands (images, inspect, tag, rm, gc), its output, and stores it must
//! refuse: the real binary against a real docker-registry, the store checked file by file.

mod common;

use common::pull::*;
use std::collections::BTreeSet;
use std::fs;

use aurora_testkit::{
    host_platform, require_tools, sha256_digest, skopeo_inspect_raw, skopeo_push, BuiltImage,
    PushOpts, Registry,
};
use common::{blob_path, push, skopeo_inspect_store, snapshot, World};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// 1. Local commands.

#[test]
fn images_and_inspect_describe_what_was_pulled() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = push(
        &registry,
        &app(&[("data/x.txt", "x\n")]).label("org.example.k", "v"),
        "team/app:1",
        &PushOpts::default(),
    );
    let world = World::new();
    let reference = registry.image_ref("team/app:1");
    world.ok(&["--quiet", "pull", &reference]);

    let listed = world.ok(&["--format", "json", "images"]).json();
    assert_eq!(
        listed,
        json!([{
            "repository": registry.image_ref("team/app"),
            "tag": "1",
            "digest": built.manifest_digest,
            "media_type": OCI_MANIFEST,
            "size": built.manifest_size + fetched_bytes(&built),
            "created": CREATED,
            "platforms": [host_platform()],
        }])
    );

    let table = world.ok(&["images"]).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], registry.image_ref("team/app"));
    assert_eq!(row[1], "1");
    assert_eq!(row[2], short(&built.manifest_digest));
    assert_eq!(row[row.len() - 1], CREATED);
    // The columns line up under their headings.
    let column = |heading: &str| &lines[1][lines[0].find(heading).unwrap()..];
    assert!(column("TAG").starts_with("1 "), "{table}");
    assert!(
        column("DIGEST").starts_with(short(&built.manifest_digest)),
        "{table}"
    );
    assert!(
        column("SIZE").starts_with(|c: char| c.is_ascii_digit()),
        "{table}"
    );
    assert_eq!(column("CREATED"), CREATED, "{table}");

    let shown = world.ok(&["inspect", &reference]).json();
    assert_eq!(shown["name"], reference);
    assert_eq!(shown["digest"], built.manifest_digest);
    assert_eq!(shown["media_type"], OCI_MANIFEST);
    assert_eq!(shown["manifest"], parse(&built.manifest));
    assert_eq!(shown["config"], parse(&built.config));
    assert_eq!(shown["config"]["config"]["Labels"]["org.example.k"], "v");
    assert!(shown.get("index").is_none(), "{shown}");

    // By digest, by a digest prefix with or without `sha256:`, by name@digest.
    let hex = &built.manifest_digest["sha256:".len()..];
    for lookup in [
        built.manifest_digest.clone(),
        hex[..12].to_string(),
        hex[..6].to_string(),
        format!("sha256:{}", &hex[..12]),
        format!(
            "{}@{}",
            registry.image_ref("team/app"),
            built.manifest_digest
        ),
    ] {
        let shown = world.ok(&["inspect", &lookup]).json();
        assert_eq!(shown["name"], reference, "{lookup}");
        assert_eq!(shown["manifest"], parse(&built.manifest), "{lookup}");
    }
    // Too short a prefix, or one nothing has: not found.
    world
        .run(&["inspect", &hex[..5]])
        .assert_fails(3, &[&hex[..5]]);
    let other = &sha256_digest(b"other")["sha256:".len()..];
    let unknown = if other.starts_with(&hex[..1]) {
        "000000"
    } else {
        &other[..12]
    };
    world.run(&["inspect", unknown]).assert_fails(3, &[unknown]);
    world
        .run(&["inspect", &registry.image_ref("team/app:2")])
        .assert_fails(3, &["team/app:2"]);
}

#[test]
fn tag_rm_and_gc_manage_names_and_blobs() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let (one, two) = push_two_versions(&registry);
    let world = World::new();
    let root = world.root();
    let ref1 = registry.image_ref("team/app:1");
    let ref2 = registry.image_ref("team/app:2");
    world.ok(&["--quiet", "pull", &ref1]);
    world.ok(&["--quiet", "pull", &ref2]);
    let all: BTreeSet<String> = image_blobs(&one)
        .union(&image_blobs(&two))
        .cloned()
        .collect();
    assert_eq!(stored_blobs(&root), all);

    // tag: a second name for the same descriptor, which skopeo reads.
    let copy = registry.image_ref("team/app:copy");
    let tagged = world.ok(&["tag", &ref1, &copy]);
    assert_eq!(tagged.stdout, format!("Tagged {copy}\n"));
    let tagged = world
        .ok(&[
            "--format",
            "json",
            "tag",
            &one.manifest_digest[..19],
            "local/mine",
        ])
        .json();
    assert_eq!(tagged, json!({"tagged": "docker.io/local/mine:latest"}));
    let mut expected = vec![
        ref1.clone(),
        ref2.clone(),
        copy.clone(),
        "docker.io/local/mine:latest".to_string(),
    ];
    expected.sort();
    assert_eq!(names(&root), expected);
    let (original, renamed) = (entry(&root, &ref1), entry(&root, &copy));
    assert_eq!(renamed["digest"], original["digest"]);
    assert_eq!(renamed["size"], original["size"]);
    assert_eq!(renamed["mediaType"], original["mediaType"]);
    assert_eq!(skopeo_inspect_store(&root, &copy), one.manifest);
    assert_eq!(stored_blobs(&root), all, "tag writes no blob");
    let listed = world.ok(&["--format", "json", "images"]).json();
    let tags: BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["tag"].as_str())
        .collect();
    assert_eq!(tags, ["1", "2", "copy", "latest"].into_iter().collect());

    // A target with a digest is refused, and changes nothing.
    let before = snapshot(&root);
    world
        .run(&[
            "tag",
            &ref1,
            &format!("{}@{}", registry.image_ref("team/app"), one.manifest_digest),
        ])
        .assert_fails(1, &["digest"]);
    world
        .run(&[
            "tag",
            &ref1,
            &format!(
                "{}@{}",
                registry.image_ref("team/app:x"),
                one.manifest_digest
            ),
        ])
        .assert_fails(1, &["digest"]);
    world
        .run(&["tag", &registry.image_ref("team/app:9"), "local/other"])
        .assert_fails(3, &["team/app:9"]);
    assert_eq!(snapshot(&root), before);

    // rm: the name goes, the blobs stay.
    let removed = world.ok(&["--format", "json", "rm", &ref1, "local/mine"]);
    let lines: Vec<Value> = removed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"removed": ref1, "digest": one.manifest_digest}),
            json!({"removed": "docker.io/local/mine:latest", "digest": one.manifest_digest}),
        ]
    );
    let mut expected = vec![ref2.clone(), copy.clone()];
    expected.sort();
    assert_eq!(names(&root), expected);
    assert_eq!(stored_blobs(&root), all);
    world.run(&["rm", &ref1]).assert_fails(3, &["team/app:1"]);

    // gc while `copy` still names image one: nothing is unreferenced.
    let gc = world.ok(&["--format", "json", "gc"]).json();
    assert_eq!(
        gc,
        json!({"removed": [], "partials_removed": 0, "freed_bytes": 0, "layers_removed": []})
    );
    assert_eq!(stored_blobs(&root), all);

    // Once image one has no name, exactly its own blobs go; busybox stays for image two.
    world.ok(&["--quiet", "rm", &copy]);
    let gc = world.ok(&["--format", "json", "gc"]).json();
    let mut own: Vec<(String, u64)> = vec![
        (one.manifest_digest.clone(), one.manifest_size),
        (one.config_digest.clone(), one.config_size),
        (one.layers[1].digest.clone(), one.layers[1].size),
    ];
    own.sort();
    let removed: Vec<(String, u64)> = gc["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["digest"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(removed, own);
    assert_eq!(gc["freed_bytes"], own.iter().map(|(_, s)| s).sum::<u64>());
    assert_eq!(stored_blobs(&root), image_blobs(&two));
    assert_eq!(skopeo_inspect_store(&root, &ref2), two.manifest);
    let text = world.ok(&["gc"]).stdout;
    assert_eq!(
        text,
        "Removed 0 blobs, 0 partial downloads and 0 layers, freed 0 B of blobs\n"
    );

    // The last name gone, gc empties blobs/.
    world.ok(&["rm", &ref2]);
    world.ok(&["gc"]);
    assert_eq!(stored_blobs(&root), BTreeSet::new());
    assert!(index_entries(&root).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 2. Output.

#[test]
fn output_goes_where_scripts_expect_it() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = push_app(&registry, ("data/o.txt", "o\n"), "team/app:1");
    let reference = registry.image_ref("team/app:1");

    // Not on a terminal: plain progress lines on stderr, one result line on stdout.
    let world = World::new();
    let run = world.ok(&["pull", &reference]);
    let prefix = format!(
        "Pulled {reference} ({}): 3 blobs fetched (",
        built.manifest_digest
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run}");
    assert!(lines[0].starts_with(&prefix), "{run}");
    assert!(lines[0].ends_with("), 0 already present"), "{run}");
    let progress: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        progress[0],
        format!("Resolved {reference} to {}", built.manifest_digest)
    );
    for digest in fetched_blobs(&built) {
        let short = short(&digest);
        assert!(
            progress
                .iter()
                .any(|l| l.starts_with(&format!("Fetching blob {short} ("))),
            "{run}"
        );
        assert!(
            progress.contains(&format!("Blob {short} done").as_str()),
            "{run}"
        );
    }
    assert_eq!(progress.len(), 1 + 2 * 3, "{run}");
    assert!(
        !run.stderr.contains('\r') && !run.stderr.contains('\x1b'),
        "no bars: {run}"
    );

    // Again: every blob already present.
    let run = world.ok(&["pull", &reference]);
    assert!(
        run.stdout
            .ends_with(": 0 blobs fetched (0 B), 3 already present\n"),
        "{run}"
    );
    for digest in fetched_blobs(&built) {
        assert!(
            run.stderr
                .contains(&format!("Blob {} already present\n", short(&digest))),
            "{run}"
        );
    }

    // --quiet: nothing at all, fresh or not.
    let quiet = World::new();
    for _ in 0..2 {
        let run = quiet.ok(&["--quiet", "pull", &reference]);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str()),
            ("", ""),
            "{run}"
        );
    }
    assert_eq!(
        entry(&quiet.root(), &reference)["digest"],
        built.manifest_digest
    );

    // --format json: one JSON document on stdout and nothing else anywhere.
    let json_world = World::new();
    let run = json_world.ok(&["--format", "json", "pull", &reference]);
    assert_eq!(run.stderr, "", "{run}");
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert_eq!(
        run.json(),
        json!({
            "name": reference,
            "digest": built.manifest_digest,
            "source_digest": built.manifest_digest,
            "media_type": OCI_MANIFEST,
            "blobs_fetched": 3,
            "bytes_fetched": fetched_bytes(&built),
            "blobs_present": 0,
        })
    );

    // A failure: the message on stderr, nothing on stdout, even with --quiet.
    let run = json_world.run(&["--quiet", "pull", &registry.image_ref("team/app:nope")]);
    run.assert_fails(3, &["imageadm: ", "nope"]);
    assert_eq!(run.stdout, "");
}

// ---------------------------------------------------------------------------------------------
// 3. A directory that is not a store.

#[test]
fn a_foreign_directory_is_refused_and_left_untouched() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("notes.txt"), "my notes\n").unwrap();
    fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
    let before = full_tree(&root);
    let root_text = root.display().to_string();
    for args in [
        vec!["images"],
        vec!["gc"],
        vec!["rm", "anything"],
        vec!["tag", "a", "b"],
        vec!["inspect", "a"],
        vec!["pull", "127.0.0.1:9/app:1"],
    ] {
        let run = world.run(&args);
        run.assert_fails(
            1,
            &[
                &root_text,
                "not an OCI image layout",
                "oci-layout",
                "not empty",
            ],
        );
        assert_eq!(run.stdout, "", "{args:?}");
        assert_untouched(&root, &before, &format!("imageadm {args:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing the tests above: each test states the right behaviour and is
// ignored until the code is fixed.

#[test]
fn rm_reports_each_unknown_name_once() {
    let world = World::new();
    let run = world.run(&["rm", "nothing-here"]);
    run.assert_fails(3, &["no image nothing-here in the store"]);
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    let run = world.run(&["rm", "first-missing", "second-missing"]);
    run.assert_fails(3, &["first-missing", "second-missing"]);
    assert_eq!(run.stderr.lines().count(), 2, "{run}");
}

#[test]
fn local_lookup_of_tag_and_digest_honours_the_digest() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let (one, two) = push_two_versions(&registry);
    let world = World::new();
    let root = world.root();
    let tagged = registry.image_ref("team/app:2");
    world.ok(&["--quiet", "pull", &tagged]);
    assert_eq!(entry(&root, &tagged)["digest"], two.manifest_digest);

    // Image one is nowhere in the store: asking for app:2 pinned to it must not give image two.
    let pinned = format!("{tagged}@{}", one.manifest_digest);
    let run = world.run(&["inspect", &pinned]);
    assert_eq!(
        run.code, 3,
        "inspect {pinned} answered with another image:\n{run}"
    );
    let before = snapshot(&root);
    world
        .run(&["rm", &pinned])
        .assert_fails(3, &[&one.manifest_digest]);
    assert_eq!(
        snapshot(&root),
        before,
        "rm {pinned} removed app:2, which is image two"
    );
}

#[test]
fn a_directory_with_only_a_foreign_index_json_is_left_untouched() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("index.json"), "{\"title\": \"my web page\"}\n").unwrap();
    let before = full_tree(&root);
    let run = world.run(&["images"]);
    assert_untouched(&root, &before, &run.to_string());
    run.assert_fails(1, &["not an OCI image layout"]);
}

#[test]
fn gc_deletes_nothing_in_a_directory_that_is_not_a_store() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(root.join("blobs/holiday")).unwrap();
    fs::write(root.join("blobs/holiday/photo.jpg"), "not a blob").unwrap();
    let before = full_tree(&root);
    let run = world.run(&["gc"]);
    assert!(
        root.join("blobs/holiday/photo.jpg").exists(),
        "gc deleted a file of a directory that is not a store:\n{run}"
    );
    assert_untouched(&root, &before, &run.to_string());
    run.assert_fails(1, &["not an OCI image layout"]);
}

#[test]
fn a_layout_of_another_version_is_refused_and_left_untouched() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"9.9.9"}"#).unwrap();
    fs::write(
        root.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    let before = full_tree(&root);
    let run = world.run(&["gc"]);
    run.assert_fails(1, &["not an OCI image layout", "9.9.9"]);
    assert_untouched(&root, &before, &run.to_string());
}

#[test]
fn images_counts_a_shared_blob_once() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = push_index(&registry, &multi_platform(), "team/multi:1");
    let world = World::new();
    let reference = registry.image_ref("team/multi:1");
    world.ok(&["--quiet", "pull", "--all-platforms", &reference]);
    // The store holds this image alone: its size is the size of blobs/.
    let on_disk: u64 = stored_blobs(&world.root())
        .iter()
        .map(|d| fs::metadata(blob_path(&world.root(), d)).unwrap().len())
        .sum();
    let shared = &built.images[0].layers[0];
    let listed = world.ok(&["--format", "json", "images"]).json();
    assert_eq!(
        listed[0]["size"],
        on_disk,
        "the layer shared by {} platforms is {} bytes",
        built.images.len(),
        shared.size
    );
}

/// A Docker manifest list pulled with --all-platforms: the list and every child are stored in
/// OCI form, the index pointing at the converted children, readable by skopeo.
#[test]
fn docker_manifest_lists_are_stored_as_oci_indexes() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().unwrap();
    multi_platform().write(layout.path(), "t");
    let reference = registry.image_ref("team/dlist:1");
    let opts = PushOpts {
        all_platforms: true,
        docker_v2s2: true,
        ..PushOpts::default()
    };
    skopeo_push(layout.path(), "t", &reference, &opts);
    let served = parse(&skopeo_inspect_raw(&reference, None));
    assert_eq!(
        served["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );

    let world = World::new();
    let root = world.root();
    world.ok(&["--quiet", "pull", "--all-platforms", &reference]);
    let named = entry(&root, &reference);
    assert_eq!(named["mediaType"], OCI_INDEX);
    let index = parse(&fs::read(blob_path(&root, named["digest"].as_str().unwrap())).unwrap());
    assert_eq!(index["mediaType"], OCI_INDEX);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), PLATFORMS.len());
    for (entry, served_entry) in entries.iter().zip(served["manifests"].as_array().unwrap()) {
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["platform"], served_entry["platform"]);
        let child = fs::read(blob_path(&root, entry["digest"].as_str().unwrap())).unwrap();
        assert_eq!(entry["size"], child.len());
        assert_eq!(parse(&child)["mediaType"], OCI_MANIFEST);
    }
    assert_blobs_verified(&root);
    skopeo_copy_out(&root, &reference, &world.dir.path().join("copied"));
}

/// Versions one and two of `team/app`, each with its own `data/v.txt`.
fn push_two_versions(registry: &Registry) -> (BuiltImage, BuiltImage) {
    (
        push_app(registry, ("data/v.txt", "one\n"), "team/app:1"),
        push_app(registry, ("data/v.txt", "two\n"), "team/app:2"),
    )
}
