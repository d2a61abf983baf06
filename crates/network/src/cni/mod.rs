//! The CNI backend: a namespace attached to CNI networks by running their plugins as the
//! CNI spec (0.3.0 to 1.0.0) says, the way kubelet's runtimes do through libcni.
//!
//! - Networks come from a conf dir (`conf`): a name, or `""` for its default network (the
//!   first file in lexical order that loads).
//! - ADD runs the list's plugins in order, each given the one before's result as
//!   `prevResult` and the capability arguments it declares (`portMappings`, `dns`) as
//!   `runtimeConfig`; a plugin that fails has the whole list DELeted (last first), and the
//!   networks attached before it too: a failed setup leaves nothing.
//! - What ADD was given and answered is cached (`cache`) under the directory the backend is
//!   given; DEL and CHECK read it, never the conf dir, so a teardown works after the
//!   configuration changed and from a process that knows only the cache directory.
//! - Plugins are run with bounded output and a deadline (`exec`); their error objects
//!   become [`NetworkError::Cni`] naming the network, plugin and command.

mod cache;
mod conf;
mod exec;
mod result;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::backend::{Attachment, NetworkBackend, SetupResult};
use crate::error::{NetworkError, Result};
use crate::port::PortMapping;
use cache::{Cache, Entry};
pub use conf::{NetworkConfList, DEFAULT_BIN_DIRS, DEFAULT_CONF_DIR};

/// How long one plugin may take (host-local, bridge and portmap take milliseconds; dhcp
/// waits for a lease).
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The `dns` capability: what the pod's resolv.conf should hold (kubelet's DNS config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniDns {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl CniDns {
    fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.searches.is_empty() && self.options.is_empty()
    }
}

/// The CNI plugin backend.
#[derive(Debug, Clone)]
pub struct Cni {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
    /// Where ADD's configuration and result are kept for DEL.
    pub cache_dir: PathBuf,
    args: Vec<(String, String)>,
    dns: Option<CniDns>,
    timeout: Duration,
}

impl Cni {
    pub fn new(conf_dir: &Path, bin_dirs: &[PathBuf], cache_dir: &Path) -> Cni {
        Cni {
            conf_dir: conf_dir.to_path_buf(),
            bin_dirs: bin_dirs.to_vec(),
            cache_dir: cache_dir.to_path_buf(),
            args: Vec::new(),
            dns: None,
            timeout: PLUGIN_TIMEOUT,
        }
    }

    /// The default conf dir and bin dirs.
    pub fn with_defaults(cache_dir: &Path) -> Cni {
        let bins: Vec<PathBuf> = DEFAULT_BIN_DIRS.iter().map(PathBuf::from).collect();
        Cni::new(Path::new(DEFAULT_CONF_DIR), &bins, cache_dir)
    }

    /// `CNI_ARGS` beyond `IgnoreUnknown=1` (kubelet's `K8S_POD_NAMESPACE`, …).
    pub fn with_args(mut self, args: Vec<(String, String)>) -> Cni {
        self.args = args;
        self
    }

    /// The `dns` capability argument.
    pub fn with_dns(mut self, dns: Option<CniDns>) -> Cni {
        self.dns = dns.filter(|d| !d.is_empty());
        self
    }

    /// How long one plugin may run.
    pub fn with_timeout(mut self, timeout: Duration) -> Cni {
        self.timeout = timeout;
        self
    }

    /// Network `name` of the conf dir (`""`: its default network).
    pub fn network(&self, name: &str) -> Result<NetworkConfList> {
        if name.is_empty() {
            conf::default_network(&self.conf_dir)
        } else {
            conf::find_network(&self.conf_dir, name)
        }
    }

    /// Whether pods can be networked: the default network loads and its plugins are
    /// installed. Its name, or why not.
    pub fn ready(&self) -> Result<String> {
        let network = self.network("")?;
        self.binaries(&network, &self.bin_dirs)?;
        Ok(network.name)
    }

    /// CNI CHECK of what `attachment` set up (CNI 0.4.0 and later, unless the list
    /// disables it).
    pub fn check(&self, attachment: &Attachment) -> Result<()> {
        for entry in Cache::new(&self.cache_dir).entries_of(&attachment.container_id) {
            let Some(result) = &entry.result else {
                continue;
            };
            if !entry.config.has_prev_result_on_del() || entry.config.disable_check {
                continue;
            }
            let bins = self.bin_dirs_of(&entry);
            for (plugin, kind) in entry.config.plugins.iter().zip(entry.config.plugin_types()) {
                let stdin = plugin_stdin(&entry, plugin, Some(result));
                self.run_plugin(
                    &entry,
                    kind,
                    "CHECK",
                    &stdin,
                    &bins,
                    netns_arg(&entry.netns),
                )?;
            }
        }
        Ok(())
    }

    /// Each plugin's binary, or which one is missing.
    fn binaries(&self, network: &NetworkConfList, bin_dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
        network
            .plugin_types()
            .map(|kind| {
                exec::find_plugin(kind, bin_dirs).ok_or_else(|| NetworkError::Cni {
                    network: network.name.clone(),
                    plugin: kind.to_string(),
                    command: "ADD",
                    message: format!("no plugin binary {kind:?} in {}", show_dirs(bin_dirs)),
                })
            })
            .collect()
    }

    /// The cached bin dirs first, then ours (the caller's may differ from the adder's).
    fn bin_dirs_of(&self, entry: &Entry) -> Vec<PathBuf> {
        let mut dirs = entry.bin_dirs.clone();
        for dir in &self.bin_dirs {
            if !dirs.contains(dir) {
                dirs.push(dir.clone());
            }
        }
        dirs
    }

    /// `CNI_ARGS`.
    fn cni_args(&self) -> Result<String> {
        let mut args = vec!["IgnoreUnknown=1".to_string()];
        for (key, value) in &self.args {
            let bad = key.is_empty() || key.contains([';', '=']) || value.contains(';');
            if bad {
                return Err(NetworkError::Refused {
                    network: String::new(),
                    reason: format!("CNI argument {key:?}={value:?} cannot be passed"),
                });
            }
            args.push(format!("{key}={value}"));
        }
        Ok(args.join(";"))
    }

    /// The capability arguments: `portMappings` (one per port of a range) and `dns`.
    fn runtime_config(&self, ports: &[PortMapping]) -> Map<String, Value> {
        let mut config = Map::new();
        let mappings: Vec<Value> = ports
            .iter()
            .flat_map(|p| {
                (0..p.range.max(1)).map(move |i| {
                    let mut mapping = serde_json::json!({
                        "hostPort": u32::from(p.host_port) + u32::from(i),
                        "containerPort": u32::from(p.container_port) + u32::from(i),
                        "protocol": p.protocol.as_str(),
                    });
                    if let Some(ip) = p.host_ip {
                        mapping["hostIP"] = Value::String(ip.to_string());
                    }
                    mapping
                })
            })
            .collect();
        if !mappings.is_empty() {
            config.insert("portMappings".into(), Value::Array(mappings));
        }
        if let Some(dns) = &self.dns {
            config.insert("dns".into(), serde_json::json!(dns));
        }
        config
    }

    /// One network's ADD: its entry cached, the plugins run in order; on a failure the list
    /// is DELeted and the entry dropped.
    fn add(&self, mut entry: Entry, binaries: &[PathBuf]) -> Result<Entry> {
        let cache = Cache::new(&self.cache_dir);
        cache.save(&entry)?;
        let netns = entry.netns.display().to_string();
        let mut previous: Option<Value> = None;
        for ((plugin, kind), binary) in entry
            .config
            .plugins
            .iter()
            .zip(entry.config.plugin_types())
            .zip(binaries)
        {
            let stdin = plugin_stdin(&entry, plugin, previous.as_ref());
            let answer = self
                .run_binary(&entry, kind, binary, "ADD", &stdin, &entry.bin_dirs, &netns)
                .and_then(|out| {
                    result::parse(&out).map_err(|message| NetworkError::Cni {
                        network: entry.config.name.clone(),
                        plugin: kind.to_string(),
                        command: "ADD",
                        message,
                    })
                });
            match answer {
                Ok(value) => previous = Some(value),
                Err(e) => {
                    entry.result = previous;
                    if let Err(undo) = self.delete(&entry) {
                        tracing::warn!("undoing a failed CNI ADD: {undo}");
                    }
                    let _ = cache.remove(&entry);
                    return Err(e);
                }
            }
        }
        entry.result = previous;
        cache.save(&entry)?;
        Ok(entry)
    }

    /// One network's DEL: its plugins last first, with the cached result (0.4.0 and later).
    /// Every plugin is asked even after one failed; the first failure is returned.
    fn delete(&self, entry: &Entry) -> Result<()> {
        let bins = self.bin_dirs_of(entry);
        let previous = entry
            .result
            .as_ref()
            .filter(|_| entry.config.has_prev_result_on_del());
        let netns = netns_arg(&entry.netns);
        let mut first_error = None;
        let plugins: Vec<(&Map<String, Value>, &str)> = entry
            .config
            .plugins
            .iter()
            .zip(entry.config.plugin_types())
            .collect();
        for (plugin, kind) in plugins.into_iter().rev() {
            let stdin = plugin_stdin(entry, plugin, previous);
            if let Err(e) = self.run_plugin(entry, kind, "DEL", &stdin, &bins, netns) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn run_plugin(
        &self,
        entry: &Entry,
        kind: &str,
        command: &'static str,
        stdin: &[u8],
        bin_dirs: &[PathBuf],
        netns: &str,
    ) -> Result<Vec<u8>> {
        let binary = exec::find_plugin(kind, bin_dirs).ok_or_else(|| NetworkError::Cni {
            network: entry.config.name.clone(),
            plugin: kind.to_string(),
            command,
            message: format!("no plugin binary {kind:?} in {}", show_dirs(bin_dirs)),
        })?;
        self.run_binary(entry, kind, &binary, command, stdin, bin_dirs, netns)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_binary(
        &self,
        entry: &Entry,
        kind: &str,
        binary: &Path,
        command: &'static str,
        stdin: &[u8],
        bin_dirs: &[PathBuf],
        netns: &str,
    ) -> Result<Vec<u8>> {
        let call = exec::Invocation {
            command,
            container_id: &entry.container_id,
            netns,
            ifname: &entry.if_name,
            args: &entry.cni_args,
            bin_dirs,
            timeout: self.timeout,
        };
        exec::run(binary, &call, stdin).map_err(|failure| NetworkError::Cni {
            network: entry.config.name.clone(),
            plugin: kind.to_string(),
            command,
            message: failure.to_string(),
        })
    }
}

impl NetworkBackend for Cni {
    fn setup(&self, attachment: &Attachment) -> Result<SetupResult> {
        check_container_id(&attachment.container_id)?;
        let args = self.cni_args()?;
        // A host port of 0 is not published (kubelet passes only mappings with a host port).
        let ports: Vec<PortMapping> = attachment
            .ports
            .iter()
            .filter(|p| p.host_port != 0)
            .cloned()
            .collect();
        let runtime_config = self.runtime_config(&ports);
        let mut done: Vec<Entry> = Vec::new();
        let mut statuses = Vec::new();
        for (index, (name, per)) in attachment.networks.iter().enumerate() {
            let added = check_ifname(&per.interface_name)
                .and_then(|()| self.network(name))
                .and_then(|network| {
                    let binaries = self.binaries(&network, &self.bin_dirs)?;
                    let entry = Entry::new(
                        &attachment.container_id,
                        &per.interface_name,
                        index,
                        &attachment.netns,
                        args.clone(),
                        runtime_config.clone(),
                        network,
                        self.bin_dirs.clone(),
                    );
                    self.add(entry, &binaries)
                });
            match added {
                Ok(entry) => {
                    let answer = entry.result.clone().unwrap_or_default();
                    statuses.push(result::status(&entry.config.name, &entry.if_name, &answer));
                    done.push(entry);
                }
                Err(e) => {
                    let cache = Cache::new(&self.cache_dir);
                    for entry in done.iter().rev() {
                        if self.delete(entry).is_ok() {
                            let _ = cache.remove(entry);
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(SetupResult {
            networks: statuses,
            ports,
        })
    }

    /// DELs every network the cache holds for the container (nothing cached: nothing to
    /// do). An entry whose DEL failed stays cached for the next teardown.
    fn teardown(&self, attachment: &Attachment) -> Result<()> {
        check_container_id(&attachment.container_id)?;
        let cache = Cache::new(&self.cache_dir);
        let mut first_error = None;
        for entry in cache.entries_of(&attachment.container_id) {
            match self.delete(&entry) {
                Ok(()) => cache.remove(&entry)?,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A plugin's stdin: its object with the list's name and version, the previous result and
/// the capability arguments it declares.
fn plugin_stdin(entry: &Entry, plugin: &Map<String, Value>, previous: Option<&Value>) -> Vec<u8> {
    let mut object = plugin.clone();
    object.insert("name".into(), Value::String(entry.config.name.clone()));
    object.insert(
        "cniVersion".into(),
        Value::String(entry.config.cni_version.clone()),
    );
    object.remove("prevResult");
    object.remove("runtimeConfig");
    if let Some(previous) = previous {
        object.insert("prevResult".into(), previous.clone());
    }
    let mut runtime = Map::new();
    if let Some(Value::Object(capabilities)) = plugin.get("capabilities") {
        for (capability, enabled) in capabilities {
            if enabled.as_bool() == Some(true) {
                if let Some(value) = entry.runtime_config.get(capability) {
                    runtime.insert(capability.clone(), value.clone());
                }
            }
        }
    }
    if !runtime.is_empty() {
        object.insert("runtimeConfig".into(), Value::Object(runtime));
    }
    serde_json::to_vec(&Value::Object(object)).unwrap_or_default()
}

/// `CNI_NETNS` for DEL and CHECK: the path while it is a namespace, else empty (the
/// namespace is gone: plugins then release what lives outside it).
fn netns_arg(path: &Path) -> &str {
    const NSFS_MAGIC: u64 = 0x6e73_6673;
    let is_netns = rustix::fs::statfs(path).is_ok_and(|fs| fs.f_type as u64 == NSFS_MAGIC);
    if is_netns {
        path.to_str().unwrap_or_default()
    } else {
        ""
    }
}

fn show_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The CNI spec's container ID: letters, digits, `_`, `.` and `-` (it names cache files).
fn check_container_id(id: &str) -> Result<()> {
    let valid = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(NetworkError::Refused {
            network: String::new(),
            reason: format!("{id:?} is not a CNI container ID"),
        })
    }
}

/// The CNI spec's interface names: at most 15 bytes, no `/`, `:` or space.
fn check_ifname(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace());
    if valid {
        Ok(())
    } else {
        Err(NetworkError::Refused {
            network: String::new(),
            reason: format!("{name:?} is not an interface name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Protocol;

    #[test]
    fn plugins_get_only_the_capabilities_they_declare() {
        let dir = tempfile::tempdir().unwrap();
        let cni = Cni::new(dir.path(), &[], dir.path()).with_dns(Some(CniDns {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }));
        let ports = [PortMapping {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
            range: 2,
        }];
        let config = NetworkConfList::parse(
            Path::new("x.conflist"),
            br#"{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"bridge"},
                {"type":"portmap","capabilities":{"portMappings":true,"dns":false}}]}"#,
        )
        .unwrap();
        let entry = Entry::new(
            "c1",
            "eth0",
            0,
            Path::new("/run/netns/c1"),
            cni.cni_args().unwrap(),
            cni.runtime_config(&ports),
            config.clone(),
            Vec::new(),
        );
        let bridge: Value =
            serde_json::from_slice(&plugin_stdin(&entry, &config.plugins[0], None)).unwrap();
        assert_eq!(
            bridge,
            serde_json::json!({"type":"bridge","name":"k8s","cniVersion":"1.0.0"})
        );
        let previous = serde_json::json!({"cniVersion":"1.0.0","ips":[]});
        let portmap: Value =
            serde_json::from_slice(&plugin_stdin(&entry, &config.plugins[1], Some(&previous)))
                .unwrap();
        assert_eq!(portmap["prevResult"], previous);
        assert_eq!(
            portmap["runtimeConfig"],
            serde_json::json!({"portMappings":[
                {"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"},
                {"hostPort":8081,"containerPort":81,"protocol":"tcp","hostIP":"127.0.0.1"}]})
        );
        assert_eq!(entry.cni_args, "IgnoreUnknown=1");
    }

    #[test]
    fn arguments_ids_and_interface_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cni = Cni::new(dir.path(), &[], dir.path()).with_args(vec![
            ("K8S_POD_NAMESPACE".into(), "default".into()),
            ("K8S_POD_NAME".into(), "web-0".into()),
        ]);
        assert_eq!(
            cni.cni_args().unwrap(),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"
        );
        let bad = cni.with_args(vec![("K".into(), "a;b".into())]);
        assert!(bad.cni_args().is_err());
        assert!(check_container_id("abc-1.2_3").is_ok());
        assert!(check_container_id("../x").is_err());
        assert!(check_container_id("").is_err());
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("sixteen-chars-xx").is_err());
    }
}
