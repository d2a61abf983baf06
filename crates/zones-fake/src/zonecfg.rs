//! `zonecfg -z NAME -f FILE` (a command file: `create -b`, `set`, `add … end`, `commit`),
//! `zonecfg -z NAME delete [-F]` and `zonecfg -z NAME info`.

use std::path::PathBuf;

use aurora_zones::{ZoneName, ZoneState};

use crate::store::{FsResource, Store, Zone};
use crate::{zone_arg, Outcome, Refusal};

pub fn main(args: &[String]) -> Outcome {
    let (name, rest) = zone_arg("zonecfg", args)?;
    let store = Store::open()?;
    match rest {
        [flag, file] if flag == "-f" => configure(&store, name, file),
        [verb, rest @ ..] if verb == "delete" => delete(&store, name, rest),
        [verb] if verb == "info" => info(&store, name),
        _ => Err(Refusal::usage(format!(
            "zonecfg: unknown command {rest:?} (the fake knows -f FILE, delete [-F], info)"
        ))),
    }
}

/// A command file: the configuration is kept only at `commit`, after `verify`'s checks.
fn configure(store: &Store, name: &str, file: &str) -> Outcome {
    if let Err(e) = ZoneName::new(name) {
        return Err(Refusal::error(format!("zonecfg: {e}")));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| Refusal::error(format!("zonecfg: cannot read {file}: {e}")))?;
    let existing = store.get(name)?;
    let mut zone: Option<Zone> = existing.clone();
    let mut in_resource = false;
    // The `fs` being added, if the resource is one.
    let mut fs: Option<FsResource> = None;
    for (number, line) in text.lines().flat_map(|l| l.split(';')).enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at =
            |why: String| Refusal::error(format!("zonecfg:{name}:{file}:{}: {why}", number + 1));
        match words.as_slice() {
            [] => {}
            ["create", ..] => {
                if existing.is_some() {
                    return Err(at(format!(
                        "Zone {name} already exists; create not allowed."
                    )));
                }
                zone = Some(blank(name));
            }
            ["add", kind] => {
                in_resource = true;
                fs = (*kind == "fs").then(FsResource::default);
            }
            ["end"] => {
                in_resource = false;
                if let (Some(done), Some(zone)) = (fs.take(), zone.as_mut()) {
                    zone.fs.push(done);
                }
            }
            ["set", assignment] if in_resource && fs.is_some() => {
                let (property, value) = assignment
                    .split_once('=')
                    .ok_or_else(|| at(format!("syntax error at {assignment}")))?;
                let value = value.trim_matches('"').to_string();
                if let Some(fs) = fs.as_mut() {
                    match property {
                        "dir" => fs.dir = value,
                        "special" => fs.special = value,
                        "type" => fs.fs_type = value,
                        _ => {}
                    }
                }
            }
            ["set", assignment] | ["set", assignment, ..] if !in_resource => {
                let Some(zone) = zone.as_mut() else {
                    return Err(at("No such zone configured: create it first".into()));
                };
                let (property, value) = line
                    .trim()
                    .trim_start_matches("set")
                    .trim()
                    .split_once('=')
                    .ok_or_else(|| at(format!("syntax error at {assignment}")))?;
                let value = value.trim().trim_matches('"').to_string();
                match property.trim() {
                    "zonepath" => zone.zonepath = PathBuf::from(value),
                    "brand" => zone.brand = value,
                    "ip-type" => zone.ip_type = value,
                    "bootargs" => zone.bootargs = value,
                    _ => {}
                }
            }
            ["set", ..] => {}
            ["commit"] | ["exit"] => {
                let Some(zone) = zone.as_ref() else {
                    return Err(at("No such zone configured".into()));
                };
                verify(zone).map_err(&at)?;
                if store.injected_failure("zonecfg", "commit") {
                    return Err(at("commit failed (injected)".into()));
                }
                store.put(zone)?;
            }
            [word, ..] => return Err(at(format!("syntax error at {word}"))),
        }
    }
    Ok(0)
}

fn blank(name: &str) -> Zone {
    Zone {
        name: name.to_string(),
        state: ZoneState::Configured.as_str().to_string(),
        zonepath: PathBuf::new(),
        brand: "sparse".to_string(),
        ip_type: "shared".to_string(),
        bootargs: String::new(),
        uuid: format!("{:08x}-fake-uuid", name.len() as u32 ^ std::process::id()),
        zoneid: None,
        init_pid: None,
        generation: 0,
        fs: Vec::new(),
    }
}

/// What zonecfg's `verify` checks before a commit, as far as the fake cares.
fn verify(zone: &Zone) -> Result<(), String> {
    if zone.zonepath.as_os_str().is_empty() {
        return Err("zonepath cannot be empty.".into());
    }
    if !zone.zonepath.is_absolute() {
        return Err(format!(
            "zonepath {} must be an absolute path.",
            zone.zonepath.display()
        ));
    }
    if !matches!(zone.ip_type.as_str(), "shared" | "exclusive") {
        return Err(format!(
            "ip-type {} is not shared or exclusive.",
            zone.ip_type
        ));
    }
    Ok(())
}

/// `delete -F`: only a configuration with nothing installed can go.
fn delete(store: &Store, name: &str, rest: &[String]) -> Outcome {
    let Some(zone) = store.get(name)? else {
        return Err(Refusal::error(format!(
            "zonecfg: {name}: No such zone configured"
        )));
    };
    if !rest.iter().any(|a| a == "-F") {
        return Err(Refusal::error(format!(
            "zonecfg: delete of zone {name} needs -F when not interactive"
        )));
    }
    if !matches!(zone.state(), ZoneState::Configured | ZoneState::Incomplete) {
        return Err(Refusal::error(format!(
            "zonecfg: Zone {name} is {}; delete not allowed (uninstall or detach it first).",
            zone.state
        )));
    }
    store.remove(name)?;
    Ok(0)
}

fn info(store: &Store, name: &str) -> Outcome {
    let Some(zone) = store.get(name)? else {
        return Err(Refusal::error(format!(
            "zonecfg: {name}: No such zone configured"
        )));
    };
    println!("zonename: {}", zone.name);
    println!("zonepath: {}", zone.zonepath.display());
    println!("brand: {}", zone.brand);
    println!("ip-type: {}", zone.ip_type);
    println!("bootargs: {}", zone.bootargs);
    Ok(0)
}
