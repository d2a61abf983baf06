//! The SMF manifests are well-formed XML and follow the service_bundle DTD's structure.
//!
//! No XML parser is among the workspace's dependencies and the DTD is not packaged for
//! Linux, so this test has its own small checker: it tokenises the document (prolog,
//! comments, tags, attributes, text), checks what XML 1.0 requires of those (balanced tags,
//! one root, quoted and escaped attribute values, unique attributes, no `--` in comments),
//! and then checks the parts of the DTD buildhelper relies on: the order of a `service`'s
//! children and the required attributes of each element it writes.

use std::collections::BTreeMap;
use std::path::Path;

use aurora_buildhelper::smf::{manifest, SmfService};
use aurora_podinit::services::RestartPolicyArg;

#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
}

fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').expect("an entity ends with ;") + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = entity
                    .strip_prefix('#')
                    .expect("a known entity or a character reference");
                char::from_u32(n.parse().expect("a decimal reference")).expect("a character")
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn parse_tag(inner: &str) -> (String, BTreeMap<String, String>) {
    let name_end = inner.find([' ', '\n']).unwrap_or(inner.len());
    let name = inner[..name_end].to_string();
    let mut attrs = BTreeMap::new();
    let mut rest = inner[name_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').expect("attribute=value");
        let key = rest[..eq].to_string();
        assert!(
            rest[eq + 1..].starts_with('"'),
            "{key}: value not double-quoted"
        );
        let value_end = rest[eq + 2..].find('"').expect("closing quote") + eq + 2;
        let raw = &rest[eq + 2..value_end];
        assert!(!raw.contains('<'), "{key}: raw < in a value");
        assert!(
            !raw.chars().any(|c| c.is_control()),
            "{key}: raw control character in a value"
        );
        assert!(
            attrs.insert(key.clone(), unescape(raw)).is_none(),
            "{key} given twice"
        );
        rest = rest[value_end + 1..].trim_start();
    }
    (name, attrs)
}

/// Parses a document into its root element, asserting well-formedness on the way.
fn parse(doc: &str) -> Element {
    let mut rest = doc;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<?") {
            let end = after.find("?>").expect("end of a processing instruction");
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").expect("end of a comment");
            assert!(!after[..end].contains("--"), "-- inside a comment");
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<!DOCTYPE") {
            assert!(root.is_none() && stack.is_empty(), "DOCTYPE after the root");
            let end = after.find('>').expect("end of DOCTYPE");
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').expect("end of a closing tag");
            let element = stack.pop().expect("a closing tag without an opening one");
            assert_eq!(element.name, &after[..end], "mismatched closing tag");
            match stack.last_mut() {
                Some(parent) => parent.children.push(element),
                None => {
                    assert!(root.replace(element).is_none(), "two root elements");
                }
            }
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let end = after.find('>').expect("end of a tag");
            let (inner, empty) = match after[..end].strip_suffix('/') {
                Some(inner) => (inner, true),
                None => (&after[..end], false),
            };
            let (name, attrs) = parse_tag(inner);
            let element = Element {
                name,
                attrs,
                children: Vec::new(),
                text: String::new(),
            };
            if empty {
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => assert!(root.replace(element).is_none(), "two root elements"),
                }
            } else {
                stack.push(element);
            }
            rest = &after[end + 1..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            assert!(!text.contains('>') || stack.is_empty(), "raw > in text");
            match stack.last_mut() {
                Some(parent) => parent.text.push_str(&unescape(text)),
                None => assert!(text.trim().is_empty(), "text outside the root"),
            }
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    root.expect("a root element")
}

/// The DTD's content model of `service`, as ranks: children must come in this order.
const SERVICE_ORDER: &[&str] = &[
    "create_default_instance",
    "single_instance",
    "restarter",
    "dependency",
    "dependent",
    "method_context",
    "exec_method",
    "property_group",
    "instance",
    "stability",
    "template",
];

/// The required attributes of the elements buildhelper writes.
fn required(name: &str) -> &'static [&'static str] {
    match name {
        "service_bundle" => &["type", "name"],
        "service" => &["name", "version", "type"],
        "create_default_instance" => &["enabled"],
        "dependency" => &["name", "grouping", "restart_on", "type"],
        "service_fmri" => &["value"],
        "exec_method" => &["type", "name", "exec", "timeout_seconds"],
        "method_credential" => &["user"],
        "envvar" => &["name", "value"],
        "property_group" => &["name", "type"],
        "propval" => &["name", "type", "value"],
        "stability" => &["value"],
        "loctext" => &["xml:lang"],
        _ => &[],
    }
}

fn check_structure(e: &Element) {
    for attr in required(&e.name) {
        assert!(e.attrs.contains_key(*attr), "<{}> lacks {attr}", e.name);
    }
    if e.name == "service" {
        let ranks: Vec<usize> = e
            .children
            .iter()
            .map(|c| {
                SERVICE_ORDER
                    .iter()
                    .position(|n| *n == c.name)
                    .unwrap_or_else(|| panic!("<{}> is not a child of <service>", c.name))
            })
            .collect();
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "service children out of DTD order"
        );
        for once in [
            "create_default_instance",
            "single_instance",
            "stability",
            "template",
        ] {
            assert!(
                e.children.iter().filter(|c| c.name == once).count() <= 1,
                "{once} twice"
            );
        }
    }
    for c in &e.children {
        check_structure(c);
    }
}

fn find<'a>(e: &'a Element, name: &str) -> Vec<&'a Element> {
    let mut found = Vec::new();
    if e.name == name {
        found.push(e);
    }
    for c in &e.children {
        found.extend(find(c, name));
    }
    found
}

#[test]
fn golden_manifests_are_well_formed_and_follow_the_dtd() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "xml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with("<?xml version=\"1.0\"?>\n<!DOCTYPE service_bundle SYSTEM \"/usr/share/lib/xml/dtd/service_bundle.dtd.1\">\n"));
            let root = parse(&text);
            assert_eq!(root.name, "service_bundle");
            check_structure(&root);
            checked += 1;
        }
    }
    assert_eq!(checked, 3);
}

/// Values full of XML's and the shell's special characters come back out of the XML as they
/// went in (the command once re-quoted for /sbin/sh -c and with `%` doubled for SMF).
#[test]
fn awkward_values_survive_the_round_trip() {
    let nasty = "<a href=\"x\">&amp; 'q' -- %s\t\n\r]]> é ✓";
    let args = vec!["/bin/app".to_string(), nasty.to_string()];
    let env = vec![format!("NASTY={nasty}"), "PATH=/bin".to_string()];
    let deps = vec!["db".to_string()];
    let service = SmfService {
        name: "app",
        args: &args,
        user: Some("app:staff"),
        workdir: Some("/srv/a b&c"),
        env: &env,
        depends_on: &deps,
        restart: RestartPolicyArg::UnlessStopped,
    };
    let text = manifest(&service).unwrap();
    let root = parse(&text);
    check_structure(&root);
    let start = find(&root, "exec_method")
        .into_iter()
        .find(|m| m.attrs["name"] == "start")
        .unwrap();
    let want = format!(
        "exec /bin/app {}",
        aurora_buildhelper::words::quote(nasty).replace('%', "%%")
    );
    assert_eq!(start.attrs["exec"], want);
    let envvar = &find(&root, "envvar")[0];
    assert_eq!(
        (
            envvar.attrs["name"].as_str(),
            envvar.attrs["value"].as_str()
        ),
        ("NASTY", nasty)
    );
    assert_eq!(
        find(&root, "method_context")[0].attrs["working_directory"],
        "/srv/a b&c"
    );
    let cred = &find(&root, "method_credential")[0];
    assert_eq!(
        (cred.attrs["user"].as_str(), cred.attrs["group"].as_str()),
        ("app", "staff")
    );
    assert_eq!(find(&root, "loctext")[0].text, "app");
}
