//! zonecfg(8) command files: the one place that knows zonecfg's resource and property names,
//! its value syntax and its quoting.
//!
//! A [`ZoneConfig`] is a set of typed structs (one per zonecfg resource) whose fields are either
//! numbers or [`Text`], a string already checked to be writable. [`ZoneConfig::render`] is the
//! only function that turns them into zonecfg syntax; the names it writes come from
//! [`Prop::name`] and [`Resource::name`], the only tables of zonecfg words in the crate.
//!
//! Quoting (from illumos' `zonecfg_lex.l`): an unquoted value may not contain whitespace or any
//! of `" ; = [ ] ( )`, nor `,` inside a list or a complex value. A double-quoted value may
//! contain anything except `"` and a newline: there is no escape character, so such values
//! cannot be written at all and [`Text::new`] refuses them. Keywords (`swap`, `default`, `net`
//! …) are accepted as values by the grammar, so they need no quotes. Quoted tokens inside a
//! complex value `(name=…,value=…)` are lexed by illumos since the 2011 Joyent changes to
//! `zonecfg_lex.l`; Aurora's complex values (net properties: addresses, `true`) stay unquoted.

use std::fmt;

/// Why a string cannot be a zonecfg value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value:?} cannot be written to a zonecfg file: {reason}")]
pub struct UnwritableValue {
    /// The configuration field the value came from (`mounts[2].source`, `hostname`, …).
    pub field: String,
    pub value: String,
    pub reason: &'static str,
}

/// A string that zonecfg can read back unchanged: no `"`, no newline, no other control
/// character (a NUL would cut the C string short; a carriage return or tab is never meant).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    /// Checks `value`; `field` names where it came from, for the error.
    pub fn new(field: &str, value: impl Into<String>) -> Result<Text, UnwritableValue> {
        let value = value.into();
        let reason = if value.contains('"') {
            Some("zonecfg has no escape for a double quote")
        } else if value.contains('\n') {
            Some("zonecfg has no escape for a newline")
        } else if value.chars().any(char::is_control) {
            Some("control characters are not allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(UnwritableValue {
                field: field.to_string(),
                value,
                reason,
            }),
            None => Ok(Text(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// zonecfg resource types used by Aurora.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Fs,
    Net,
    Device,
    Attr,
    CappedMemory,
    CappedCpu,
    DedicatedCpu,
}

impl Resource {
    /// The resource's name in zonecfg.
    pub const fn name(self) -> &'static str {
        match self {
            Resource::Fs => "fs",
            Resource::Net => "net",
            Resource::Device => "device",
            Resource::Attr => "attr",
            Resource::CappedMemory => "capped-memory",
            Resource::CappedCpu => "capped-cpu",
            Resource::DedicatedCpu => "dedicated-cpu",
        }
    }
}

/// zonecfg property names used by Aurora (global ones and resource ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prop {
    // global
    Brand,
    Zonepath,
    Autoboot,
    IpType,
    Bootargs,
    Limitpriv,
    CpuShares,
    MaxLwps,
    MaxProcesses,
    MaxShmMemory,
    // fs
    Dir,
    Special,
    Type,
    Options,
    // net (physical is also capped-memory's)
    Physical,
    AllowedAddress,
    Defrouter,
    GlobalNic,
    MacAddr,
    Property,
    // device
    Match,
    // attr and net property
    Name,
    Value,
    // capped-memory, capped-cpu, dedicated-cpu
    Swap,
    Ncpus,
}

impl Prop {
    /// The property's name in zonecfg.
    pub const fn name(self) -> &'static str {
        match self {
            Prop::Brand => "brand",
            Prop::Zonepath => "zonepath",
            Prop::Autoboot => "autoboot",
            Prop::IpType => "ip-type",
            Prop::Bootargs => "bootargs",
            Prop::Limitpriv => "limitpriv",
            Prop::CpuShares => "cpu-shares",
            Prop::MaxLwps => "max-lwps",
            Prop::MaxProcesses => "max-processes",
            Prop::MaxShmMemory => "max-shm-memory",
            Prop::Dir => "dir",
            Prop::Special => "special",
            Prop::Type => "type",
            Prop::Options => "options",
            Prop::Physical => "physical",
            Prop::AllowedAddress => "allowed-address",
            Prop::Defrouter => "defrouter",
            Prop::GlobalNic => "global-nic",
            Prop::MacAddr => "mac-addr",
            Prop::Property => "property",
            Prop::Match => "match",
            Prop::Name => "name",
            Prop::Value => "value",
            Prop::Swap => "swap",
            Prop::Ncpus => "ncpus",
        }
    }
}

/// A property value in one of zonecfg's three shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    Simple(String),
    List(Vec<String>),
    Complex(Vec<(Prop, String)>),
}

/// One line inside a resource (or at the top level): `set p=v` or `add p v`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Set(Prop, Val),
    Add(Prop, Val),
}

fn set(prop: Prop, value: impl ToString) -> Line {
    Line::Set(prop, Val::Simple(value.to_string()))
}

fn set_opt<T: fmt::Display>(lines: &mut Vec<Line>, prop: Prop, value: &Option<T>) {
    if let Some(v) = value {
        lines.push(set(prop, v));
    }
}

/// `ip-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpType {
    Shared,
    Exclusive,
}

impl IpType {
    pub const fn as_str(self) -> &'static str {
        match self {
            IpType::Shared => "shared",
            IpType::Exclusive => "exclusive",
        }
    }
}

impl fmt::Display for IpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The global (zone-wide) properties that Aurora sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub brand: Text,
    pub zonepath: Text,
    pub autoboot: bool,
    pub ip_type: IpType,
    pub bootargs: Option<Text>,
    pub limitpriv: Option<Text>,
    pub cpu_shares: Option<u64>,
    pub max_lwps: Option<u64>,
    pub max_processes: Option<u64>,
    /// A size as zonecfg reads it: bytes, or a number with a K/M/G/T suffix.
    pub max_shm_memory: Option<Text>,
}

impl Global {
    fn lines(&self) -> Vec<Line> {
        // brand first: zonecfg checks later properties against the brand.
        let mut l = vec![
            set(Prop::Brand, &self.brand),
            set(Prop::Zonepath, &self.zonepath),
            set(Prop::Autoboot, self.autoboot),
            set(Prop::IpType, self.ip_type),
        ];
        set_opt(&mut l, Prop::Bootargs, &self.bootargs);
        set_opt(&mut l, Prop::Limitpriv, &self.limitpriv);
        set_opt(&mut l, Prop::CpuShares, &self.cpu_shares);
        set_opt(&mut l, Prop::MaxLwps, &self.max_lwps);
        set_opt(&mut l, Prop::MaxProcesses, &self.max_processes);
        set_opt(&mut l, Prop::MaxShmMemory, &self.max_shm_memory);
        l
    }
}

/// `fs`: a filesystem mounted into the zone when it is readied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fs {
    /// Where, inside the zone.
    pub dir: Text,
    /// What: a global-zone path for lofs, `swap` for tmpfs.
    pub special: Text,
    /// `lofs`, `tmpfs`.
    pub fs_type: Text,
    pub options: Vec<Text>,
}

impl Fs {
    fn lines(&self) -> Vec<Line> {
        let mut l = vec![
            set(Prop::Dir, &self.dir),
            set(Prop::Special, &self.special),
            set(Prop::Type, &self.fs_type),
        ];
        if !self.options.is_empty() {
            l.push(Line::Set(
                Prop::Options,
                Val::List(self.options.iter().map(Text::to_string).collect()),
            ));
        }
        l
    }
}

/// `net` (exclusive-IP): the zone's data link and what may be configured on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    /// The link name inside the zone (a VNIC).
    pub physical: Text,
    /// OmniOS/SmartOS: the global-zone link over which the VNIC is created at boot.
    pub global_nic: Option<Text>,
    pub allowed_address: Option<Text>,
    pub defrouter: Option<Text>,
    pub mac_addr: Option<Text>,
    /// Brand-specific `property (name=…,value=…)` entries (lx on OmniOS: gateway, ips, primary).
    pub properties: Vec<(Text, Text)>,
}

impl Net {
    fn lines(&self) -> Vec<Line> {
        let mut l = vec![set(Prop::Physical, &self.physical)];
        set_opt(&mut l, Prop::GlobalNic, &self.global_nic);
        set_opt(&mut l, Prop::AllowedAddress, &self.allowed_address);
        set_opt(&mut l, Prop::Defrouter, &self.defrouter);
        set_opt(&mut l, Prop::MacAddr, &self.mac_addr);
        for (name, value) in &self.properties {
            l.push(Line::Add(
                Prop::Property,
                Val::Complex(vec![
                    (Prop::Name, name.to_string()),
                    (Prop::Value, value.to_string()),
                ]),
            ));
        }
        l
    }
}

/// `device`: global-zone device nodes matching a pattern appear in the zone's /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub matches: Text,
}

/// `attr` value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Int,
    Uint,
}

impl AttrType {
    pub const fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Int => "int",
            AttrType::Uint => "uint",
        }
    }
}

/// `attr`: a named, typed value the brand or platform reads (kernel-version, hostname, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: Text,
    pub attr_type: AttrType,
    pub value: Text,
}

/// `capped-memory`: at least one of the caps, each a size (bytes or K/M/G/T suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedMemory {
    pub physical: Option<Text>,
    pub swap: Option<Text>,
}

/// `capped-cpu`: `ncpus` may be fractional (1.5 = 150% of one CPU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedCpu {
    pub ncpus: Text,
}

/// `dedicated-cpu`: a processor set of `ncpus` CPUs for this zone alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedicatedCpu {
    pub ncpus: u64,
}

/// Everything written to the zonecfg command file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub global: Global,
    pub capped_memory: Option<CappedMemory>,
    pub capped_cpu: Option<CappedCpu>,
    pub dedicated_cpu: Option<DedicatedCpu>,
    pub fs: Vec<Fs>,
    pub net: Vec<Net>,
    pub devices: Vec<Device>,
    pub attrs: Vec<Attr>,
}

impl ZoneConfig {
    fn resources(&self) -> Vec<(Resource, Vec<Line>)> {
        let mut r = Vec::new();
        if let Some(m) = &self.capped_memory {
            let mut l = Vec::new();
            set_opt(&mut l, Prop::Physical, &m.physical);
            set_opt(&mut l, Prop::Swap, &m.swap);
            r.push((Resource::CappedMemory, l));
        }
        if let Some(c) = &self.capped_cpu {
            r.push((Resource::CappedCpu, vec![set(Prop::Ncpus, &c.ncpus)]));
        }
        if let Some(d) = &self.dedicated_cpu {
            r.push((Resource::DedicatedCpu, vec![set(Prop::Ncpus, d.ncpus)]));
        }
        r.extend(self.fs.iter().map(|f| (Resource::Fs, f.lines())));
        r.extend(self.net.iter().map(|n| (Resource::Net, n.lines())));
        r.extend(
            self.devices
                .iter()
                .map(|d| (Resource::Device, vec![set(Prop::Match, &d.matches)])),
        );
        r.extend(self.attrs.iter().map(|a| {
            (
                Resource::Attr,
                vec![
                    set(Prop::Name, &a.name),
                    set(Prop::Type, a.attr_type.as_str()),
                    set(Prop::Value, &a.value),
                ],
            )
        }));
        r
    }

    /// The zonecfg command file: `create -b`, the global properties, one `add … end` block per
    /// resource, `commit` (which also verifies). Meant for `zonecfg -z NAME -f FILE`.
    pub fn render(&self) -> String {
        let mut out = String::from("create -b\n");
        for line in self.global.lines() {
            render_line(&mut out, "", &line);
        }
        for (resource, lines) in self.resources() {
            out.push_str("add ");
            out.push_str(resource.name());
            out.push('\n');
            for line in &lines {
                render_line(&mut out, "\t", line);
            }
            out.push_str("end\n");
        }
        out.push_str("commit\n");
        out
    }
}

fn render_line(out: &mut String, indent: &str, line: &Line) {
    out.push_str(indent);
    match line {
        Line::Set(p, v) => {
            out.push_str("set ");
            out.push_str(p.name());
            out.push('=');
            render_val(out, v);
        }
        Line::Add(p, v) => {
            out.push_str("add ");
            out.push_str(p.name());
            out.push(' ');
            render_val(out, v);
        }
    }
    out.push('\n');
}

fn render_val(out: &mut String, v: &Val) {
    match v {
        Val::Simple(s) => out.push_str(&quote(s)),
        Val::List(items) => {
            out.push('[');
            out.push_str(&items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(","));
            out.push(']');
        }
        Val::Complex(pairs) => {
            out.push('(');
            out.push_str(
                &pairs
                    .iter()
                    .map(|(p, s)| format!("{}={}", p.name(), quote(s)))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push(')');
        }
    }
}

/// Quotes a value unless it consists only of characters that are plain in every lexer state
/// (simple, list and complex): letters, digits and `_ . / : @ + - % ~ ^`. The value must
/// already be a [`Text`] (no `"`, no newline), so the quoted form always reads back unchanged.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@+-%~^".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("\"{value}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_what_zonecfg_cannot_read() {
        for bad in ["a\"b", "a\nb", "a\0b", "a\rb", "\t"] {
            let err = Text::new("hostname", bad).unwrap_err();
            assert_eq!(err.field, "hostname");
            assert!(err.to_string().contains("hostname"), "{err}");
        }
        assert!(Text::new("x", "a b;c=d[e](f),g").is_ok());
    }

    /// Reads one value back the way `zonecfg_lex.l` does in a state: a quoted token runs to
    /// the next `"` (no escapes); an unquoted one stops at blanks, `"`, `;`, `=`, `(`, `)`, and
    /// also `[`, `]` (simple and list values) and `,` (list and complex values).
    fn lex_back(s: &str, stops: &str) -> Option<String> {
        if let Some(rest) = s.strip_prefix('"') {
            let end = rest.find(['"', '\n'])?;
            return (end + 1 == rest.len()).then(|| rest[..end].to_string());
        }
        let all_stops = format!(" \t\n\";=(){stops}");
        (!s.is_empty() && !s.chars().any(|c| all_stops.contains(c))).then(|| s.to_string())
    }

    #[test]
    fn quoted_values_read_back_unchanged_in_every_state() {
        let values = [
            "plain",
            "/a/b",
            "a b",
            "a,b",
            "a=b",
            "(x)",
            "[x]",
            "a;b",
            "",
            "swap",
            "#x",
            "'q'",
            "tab\tx",
            "é",
            "size=64m",
            "10.0.0.1/24",
            "~user",
            "a\\b",
        ];
        for v in values {
            if Text::new("f", v).is_err() {
                continue;
            }
            let q = quote(v);
            for (state, stops) in [("simple", "[]"), ("list", "[],"), ("complex", ",")] {
                assert_eq!(
                    lex_back(&q, stops).as_deref(),
                    Some(v),
                    "{v:?} as {q} in {state}"
                );
            }
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/export/zones/a"), "/export/zones/a");
        assert_eq!(quote("swap"), "swap");
        assert_eq!(quote("size=64m"), "\"size=64m\"");
        assert_eq!(quote("default,dtrace_proc"), "\"default,dtrace_proc\"");
        assert_eq!(quote("/with space"), "\"/with space\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a;b"), "\"a;b\"");
        assert_eq!(quote("[x]"), "\"[x]\"");
    }
}
