use std::io::{Read, Write};
use std::net::TcpStream;

use aurora_testkit::{
    require_tools, sha256_digest, skopeo_inspect_raw, skopeo_push, BuiltImage, Fault, FaultProxy,
    PushOpts, Registry,
};

use crate::small_image;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An HTTP client that reports statuses instead of failing on them and
/// never follows redirects.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

/// A registry holding `app:v1`, and the image pushed there.
fn registry_with_image() -> (Registry, BuiltImage) {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().expect("tempdir");
    let image = small_image(layout.path(), "v1");
    skopeo_push(
        layout.path(),
        "v1",
        &registry.image_ref("app:v1"),
        &PushOpts::default(),
    );
    (registry, image)
}

/// A raw `GET` returning the head as text and the body bytes received
/// before the server closed, to see exactly what a fault sent.
fn raw_get(host: &str, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(host).expect("connecting to proxy");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("sending request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("reading response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    (head, response[split + 4..].to_vec())
}

fn blob_path(image: &BuiltImage) -> String {
    format!("/v2/app/blobs/{}", image.layers[0].digest)
}

#[test]
fn forwards_requests_and_records_them() {
    let (registry, image) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    let url = format!("http://{}/v2/app/manifests/v1", proxy.host());

    let mut response = agent()
        .get(&url)
        .header("Accept", OCI_MANIFEST)
        .call()
        .expect("manifest request");

    assert_eq!(response.status(), 200);
    let digest = response
        .headers()
        .get("docker-content-digest")
        .expect("digest header");
    assert_eq!(digest.to_str().expect("ascii"), image.manifest_digest);
    assert_eq!(
        response.body_mut().read_to_vec().expect("body"),
        image.manifest
    );
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/v2/app/manifests/v1");
    assert_eq!(requests[0].status, Some(200));
    assert!(!requests[0].authorization);
}

#[test]
fn forwards_range_requests() {
    let (registry, image) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    let url = format!("http://{}{}", proxy.host(), blob_path(&image));

    let mut response = agent()
        .get(&url)
        .header("Range", "bytes=10-")
        .call()
        .expect("range request");

    assert_eq!(response.status(), 206);
    let content_range = response
        .headers()
        .get("content-range")
        .expect("Content-Range");
    let size = image.layers[0].size;
    assert_eq!(
        content_range.to_str().expect("ascii"),
        format!("bytes 10-{}/{size}", size - 1)
    );
    let body = response.body_mut().read_to_vec().expect("body");
    assert_eq!(body.len() as u64, size - 10);
    let blob_requests = proxy.requests_to("/blobs/");
    assert_eq!(blob_requests[0].range.as_deref(), Some("bytes=10-"));
}

#[test]
fn status_fault_applies_the_given_number_of_times() {
    let (registry, _) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.push_fault(Fault::Status {
        path_contains: "/manifests/".into(),
        status: 503,
        times: 2,
    });
    let url = format!("http://{}/v2/app/manifests/v1", proxy.host());
    let status = || {
        let response = agent().get(&url).header("Accept", OCI_MANIFEST).call();
        response.expect("request").status().as_u16()
    };

    assert_eq!([status(), status(), status()], [503, 503, 200]);
    assert!(proxy.pending_faults().is_empty());
    let recorded: Vec<_> = proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(recorded, [Some(503), Some(503), Some(200)]);
}

#[test]
fn truncate_fault_keeps_content_length_and_drops_the_connection() {
    let (registry, image) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.push_fault(Fault::Truncate {
        path_contains: "/blobs/".into(),
        after_bytes: 7,
        times: 1,
    });

    let (head, body) = raw_get(&proxy.host(), &blob_path(&image));

    let size = image.layers[0].size;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(&format!("Content-Length: {size}")), "{head}");
    assert_eq!(body.len(), 7);
    let url = format!("http://{}{}", proxy.host(), blob_path(&image));
    let mut retry = agent().get(&url).call().expect("retry");
    assert_eq!(
        retry.body_mut().read_to_vec().expect("full body").len() as u64,
        size
    );
}

#[test]
fn truncated_body_is_an_error_for_a_real_client() {
    let (registry, image) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.push_fault(Fault::Truncate {
        path_contains: "/blobs/".into(),
        after_bytes: 3,
        times: 1,
    });
    let url = format!("http://{}{}", proxy.host(), blob_path(&image));

    let mut response = agent().get(&url).call().expect("head arrives");

    assert!(response.body_mut().read_to_vec().is_err());
}

#[test]
fn corrupt_fault_changes_the_digest() {
    let (registry, image) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.push_fault(Fault::CorruptBody {
        path_contains: "/blobs/".into(),
        times: 1,
    });

    let (head, body) = raw_get(&proxy.host(), &blob_path(&image));

    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.len() as u64, image.layers[0].size);
    assert_ne!(sha256_digest(&body), image.layers[0].digest);
}

#[test]
fn replace_body_fault_serves_the_given_body() {
    let (registry, _) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    let huge = vec![b' '; 5 << 20];
    proxy.push_fault(Fault::ReplaceBody {
        path_contains: "/manifests/v1".into(),
        status: 200,
        content_type: "application/vnd.example.unknown+json".into(),
        body: huge.clone(),
        times: 1,
    });
    let url = format!("http://{}/v2/app/manifests/v1", proxy.host());

    let mut response = agent().get(&url).call().expect("request");

    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .expect("Content-Type");
    assert_eq!(content_type, "application/vnd.example.unknown+json");
    let body = response
        .body_mut()
        .with_config()
        .limit(6 << 20)
        .read_to_vec()
        .expect("body");
    assert_eq!(body, huge);
}

#[test]
fn relays_auth_challenges_and_credentials() {
    require_tools(&["docker-registry", "htpasswd"]);
    let registry = Registry::basic_auth("dave", "pw");
    let proxy = FaultProxy::in_front_of(&registry);
    let url = format!("http://{}/v2/", proxy.host());

    let challenge = agent().get(&url).call().expect("anonymous request");
    let authorized = agent()
        .get(&url)
        .header("Authorization", "Basic ZGF2ZTpwdw==") // dave:pw
        .call()
        .expect("authorized request");

    assert_eq!(challenge.status(), 401);
    let www_authenticate = challenge
        .headers()
        .get("www-authenticate")
        .expect("challenge");
    assert!(www_authenticate
        .to_str()
        .expect("ascii")
        .starts_with("Basic"));
    assert_eq!(authorized.status(), 200);
    let flags: Vec<bool> = proxy.requests().iter().map(|r| r.authorization).collect();
    assert_eq!(flags, [false, true]);
}

#[test]
fn skopeo_pushes_and_pulls_through_the_proxy() {
    // A full upload (POST, chunked PATCH, PUT with Location redirects to
    // the proxy's own host) and a token-authenticated inspect, both relayed.
    require_tools(&["docker-registry", "skopeo", "openssl"]);
    let registry = Registry::token_auth("erin", "pw");
    let proxy = FaultProxy::in_front_of(&registry);
    let layout = tempfile::tempdir().expect("tempdir");
    let image = small_image(layout.path(), "v1");
    let reference = format!("{}/app:v1", proxy.host());
    let opts = PushOpts {
        creds: registry.credentials(),
        ..PushOpts::default()
    };

    skopeo_push(layout.path(), "v1", &reference, &opts);
    let raw = skopeo_inspect_raw(&reference, registry.credentials().as_ref());

    assert_eq!(raw, image.manifest);
    let requests = proxy.requests();
    assert!(requests.iter().any(|r| r.method == "PATCH"));
    assert!(requests
        .iter()
        .any(|r| r.method == "PUT" && r.path.contains("/manifests/")));
    assert!(requests.iter().any(|r| r.status == Some(401)));
    assert!(registry.token_requests() > 0);
}

#[test]
fn serves_concurrent_connections() {
    let (registry, image) = registry_with_image();
    let proxy = FaultProxy::in_front_of(&registry);
    let url = format!("http://{}{}", proxy.host(), blob_path(&image));

    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let mut response = agent().get(&url).call().expect("blob request");
                let body = response.body_mut().read_to_vec().expect("blob body");
                assert_eq!(sha256_digest(&body), image.layers[0].digest);
            });
        }
    });
    assert_eq!(proxy.requests().len(), 8);
}

#[test]
fn redirect_fault_sends_the_client_to_another_origin() {
    let (registry, image) = registry_with_image();
    let front = FaultProxy::in_front_of(&registry);
    let storage = FaultProxy::in_front_of(&registry);
    front.push_fault(Fault::Redirect {
        path_contains: "/blobs/".into(),
        to: storage.base_url(),
        status: 307,
        times: 1,
    });

    let (head, body) = raw_get(&front.host(), &blob_path(&image));

    assert!(head.starts_with("HTTP/1.1 307"), "{head}");
    let location = format!("Location: {}{}", storage.base_url(), blob_path(&image));
    assert!(head.contains(&location), "{head}");
    assert!(body.is_empty());
    assert!(front.pending_faults().is_empty());
    assert!(storage.requests().is_empty(), "a redirect is not followed");

    // A client following the redirect gets the blob from the other origin.
    front.push_fault(Fault::Redirect {
        path_contains: "/blobs/".into(),
        to: storage.base_url(),
        status: 307,
        times: 1,
    });
    let url = format!("http://{}{}", front.host(), blob_path(&image));
    let following = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(1)
        .build()
        .new_agent();
    let mut response = following
        .get(&url)
        .header("Range", "bytes=1-")
        .call()
        .expect("redirected request");
    assert_eq!(response.status(), 206);
    let rest = response.body_mut().read_to_vec().expect("body");
    assert_eq!(rest.len() as u64, image.layers[0].size - 1);
    let statuses: Vec<_> = front.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(307), Some(307)]);
    let followed = storage.requests();
    assert_eq!(followed.len(), 1);
    assert_eq!(followed[0].path, blob_path(&image));
    assert_eq!(followed[0].range.as_deref(), Some("bytes=1-"));
    assert_eq!(followed[0].status, Some(206));
}
