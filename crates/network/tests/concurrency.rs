//! Allocation and creation from many threads and processes at once never hand out the same
//! address, subnet or bridge twice.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use aurora_network::{NetworkCreate, Networks};

/// Set for the child processes of `processes_never_share_an_address`: the store to use.
const CHILD_STORE: &str = "AURORA_NETWORK_TEST_CHILD_STORE";
const CHILD_PREFIX: &str = "AURORA_NETWORK_TEST_CHILD_PREFIX";
const PER_WORKER: usize = 20;

fn open(dir: &Path) -> Networks {
    Networks::open(&dir.join("root"), &dir.join("run")).unwrap()
}

/// Allocates `PER_WORKER` addresses for containers `PREFIX-N` on network `shared`; the
/// addresses, one a line.
fn allocate_batch(dir: &Path, prefix: &str) -> Vec<String> {
    let networks = open(dir);
    let network = networks.inspect("shared").unwrap();
    let ipam = networks.ipam();
    (0..PER_WORKER)
        .map(|i| {
            ipam.allocate(&network, &format!("{prefix}-{i}"), &[])
                .unwrap()[0]
                .to_string()
        })
        .collect()
}

fn shared_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path())
        .create(&NetworkCreate {
            name: "shared".into(),
            subnet: Some("10.99.220.0/24".into()),
            ..Default::default()
        })
        .unwrap();
    dir
}

fn assert_unique(addresses: &[String], expected: usize) {
    let unique: BTreeSet<&String> = addresses.iter().collect();
    assert_eq!(addresses.len(), expected);
    assert_eq!(
        unique.len(),
        expected,
        "an address was handed out twice: {addresses:?}"
    );
    assert!(
        !unique.contains(&"10.99.220.1".to_string()),
        "the gateway was handed out"
    );
}

#[test]
fn threads_never_share_an_address() {
    let dir = shared_store();
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || allocate_batch(&path, &format!("thread{t}")))
        })
        .collect();
    let addresses: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_unique(&addresses, 8 * PER_WORKER);
    // The table agrees with what each container was told.
    let ipam = open(dir.path()).ipam();
    let held = ipam.addresses_of("shared", "thread3-7").unwrap();
    assert_eq!(held.len(), 1);
    assert!(addresses.contains(&held[0].to_string()));
}

#[test]
fn processes_never_share_an_address() {
    let dir = shared_store();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "helper_process_allocates",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_STORE, dir.path())
                .env(CHILD_PREFIX, format!("process{p}"))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut addresses = allocate_batch(dir.path(), "parent");
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        addresses.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                // The harness's "test NAME ... " may precede the first line.
                .filter_map(|l| l.split_once("ADDRESS ").map(|(_, a)| a.to_string())),
        );
    }
    assert_unique(&addresses, 5 * PER_WORKER);
}

/// Not a test of its own: the body of each child process of
/// `processes_never_share_an_address` (does nothing unless that test started it).
#[test]
fn helper_process_allocates() {
    let (Some(store), Some(prefix)) = (
        std::env::var_os(CHILD_STORE),
        std::env::var(CHILD_PREFIX).ok(),
    ) else {
        return;
    };
    for address in allocate_batch(Path::new(&store), &prefix) {
        println!("ADDRESS {address}");
    }
}

#[test]
fn concurrent_creates_get_different_subnets_and_bridges() {
    let dir = tempfile::tempdir().unwrap();
    let workers: Vec<_> = (0..6)
        .map(|t| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                open(&path)
                    .create(&NetworkCreate {
                        name: format!("net{t}"),
                        ..Default::default()
                    })
                    .unwrap()
            })
        })
        .collect();
    let made: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let subnets: BTreeSet<String> = made
        .iter()
        .map(|n| n.subnets[0].subnet.to_string())
        .collect();
    let bridges: BTreeSet<&str> = made.iter().map(|n| n.network_interface.as_str()).collect();
    assert_eq!((subnets.len(), bridges.len()), (6, 6), "{made:#?}");
    assert_eq!(open(dir.path()).list().unwrap().len(), 7);
}
