//! Config maps an image defines (buildhelper's `configmap add`, in
//! [`IMAGE_CONFIGMAPS_PATH`]): each definition is a podinit [`ConfigMap`] without its data;
//! the data comes from the container's environment when podinit starts as its init. For
//! config map `NAME`, every variable `AURORA_CM_<NAME>_<KEY>=VALUE` (`NAME` upper-cased, its
//! `-` and `.` as `_`) gives key `KEY`, with `__` standing for `.` (`server__port` is
//! `server.port`, a nested key).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::configmap::ConfigMap;

/// Where an image keeps its config map definitions.
pub const IMAGE_CONFIGMAPS_PATH: &str = "/etc/aurora/configmaps.json";

/// The prefix of the variables that carry config maps' data.
pub const ENV_PREFIX: &str = "AURORA_CM_";

/// The config maps of `definitions` (the file's bytes) with their data from `env`.
pub fn image_config_maps(
    definitions: &[u8],
    env: &[(String, String)],
) -> Result<Vec<ConfigMap>, String> {
    let file: Value = serde_json::from_slice(definitions).map_err(|e| e.to_string())?;
    let Some(maps) = file.get("configMaps").and_then(Value::as_object) else {
        return Err("no configMaps object".into());
    };
    let mut out = Vec::with_capacity(maps.len());
    for (name, definition) in maps {
        let Value::Object(mut object) = definition.clone() else {
            return Err(format!("config map {name:?} is not an object"));
        };
        let data = data_for(name, env);
        object.insert(
            "data".into(),
            serde_json::to_value(data).map_err(|e| e.to_string())?,
        );
        let map: ConfigMap = serde_json::from_value(Value::Object(object))
            .map_err(|e| format!("config map {name:?}: {e}"))?;
        map.validate()
            .map_err(|e| format!("config map {name:?}: {e}"))?;
        out.push(map);
    }
    Ok(out)
}

fn data_for(name: &str, env: &[(String, String)]) -> BTreeMap<String, String> {
    let prefix = format!(
        "{ENV_PREFIX}{}_",
        name.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    env.iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(&prefix)?;
            (!key.is_empty()).then(|| (key.replace("__", "."), v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &str = r#"{"configMaps": {
        "app": {"path": "/etc/app.toml", "format": "toml", "mode": "0640"},
        "web-site": {"path": "/etc/site.json", "format": "json", "mode": "0644"}
    }}"#;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_map_takes_its_own_variables() {
        let vars = env(&[
            ("AURORA_CM_APP_server__port", "8080"),
            ("AURORA_CM_APP_name", "demo"),
            ("AURORA_CM_WEB_SITE_title", "hello"),
            ("AURORA_CM_APPX_other", "not app's"),
            ("PATH", "/bin"),
        ]);
        let maps = image_config_maps(DEFS.as_bytes(), &vars).unwrap();
        assert_eq!(maps.len(), 2);
        let app = &maps[0];
        assert_eq!(app.path, "/etc/app.toml");
        assert_eq!(app.mode(), 0o640);
        assert_eq!(
            app.data,
            BTreeMap::from([
                ("name".to_string(), "demo".to_string()),
                ("server.port".to_string(), "8080".to_string()),
            ])
        );
        let rendered = String::from_utf8(app.render().unwrap()).unwrap();
        assert!(rendered.contains("[server]"), "{rendered}");
        assert_eq!(maps[1].data.len(), 1);
    }

    #[test]
    fn broken_definitions_are_refused() {
        assert!(image_config_maps(b"not json", &[]).is_err());
        assert!(image_config_maps(b"{}", &[]).is_err());
        assert!(image_config_maps(br#"{"configMaps": {"a": {"format": "toml"}}}"#, &[]).is_err());
        assert!(image_config_maps(
            br#"{"configMaps": {"a": {"path": "relative", "format": "toml"}}}"#,
            &[]
        )
        .is_err());
    }
}
