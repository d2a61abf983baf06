//! Golden-file tests of config.json → zonecfg. Each `golden/NAME.json` is a config.json; its
//! plan must render to `golden/NAME.zonecfg` and warn exactly `golden/NAME.warnings` (one per
//! line). `golden/NAME.options.json` may change the options (`distribution`, `brand`,
//! `native_brand`). `AURORA_UPDATE_GOLDEN=1` rewrites the expected files.

use std::fs;
use std::path::{Path, PathBuf};

use aurora_zones::{plan, Distribution, PlanOptions, ZoneName};
use oci_spec::runtime::Spec;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Overrides {
    distribution: Option<String>,
    brand: Option<String>,
    native_brand: Option<String>,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn options(case: &Path) -> PlanOptions {
    let mut o = PlanOptions::new(ZoneName::new("ctr1").unwrap(), "/zones/ctr1", "/zones/ctr1");
    let path = case.with_extension("options.json");
    if let Ok(text) = fs::read_to_string(&path) {
        let over: Overrides = serde_json::from_str(&text).expect("options.json");
        if let Some(p) = over.distribution {
            o.distribution = match p.as_str() {
                "Illumos" => Distribution::Illumos,
                "OmniOs" => Distribution::OmniOs,
                "SmartOs" => Distribution::SmartOs,
                other => panic!("{}: unknown distribution {other}", path.display()),
            };
        }
        o.brand = over.brand;
        if let Some(b) = over.native_brand {
            o.native_brand = b;
        }
    }
    o
}

fn check(path: &Path, got: &str, update: bool, failures: &mut Vec<String>) {
    if update {
        fs::write(path, got).unwrap();
        return;
    }
    match fs::read_to_string(path) {
        Ok(want) if want == got => {}
        Ok(want) => failures.push(format!(
            "{} differs:\n--- want\n{want}--- got\n{got}",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (AURORA_UPDATE_GOLDEN=1 writes it); got:\n{got}",
            path.display()
        )),
    }
}

#[test]
fn golden_plans() {
    let update = std::env::var_os("AURORA_UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json") && !name.ends_with(".options.json")
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 12,
        "expected a dozen golden cases, found {}",
        cases.len()
    );

    let mut failures = Vec::new();
    for case in &cases {
        let text = fs::read_to_string(case).unwrap();
        let spec: Spec =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let plan = match plan(&spec, &options(case)) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: {e}", case.display()));
                continue;
            }
        };
        check(
            &case.with_extension("zonecfg"),
            &plan.zonecfg(),
            update,
            &mut failures,
        );
        let warnings: String = plan.warnings.iter().map(|w| format!("{w}\n")).collect();
        check(
            &case.with_extension("warnings"),
            &warnings,
            update,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
