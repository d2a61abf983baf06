//! `solaris.anet` and the network annotations → exclusive-IP `net` resources, per
//! distribution.

use crate::plan::error::{value_error, PlanError};
use crate::plan::options::{annotations, BrandKind, Distribution};
use crate::plan::planner::{text, Planner};
use crate::zonecfg::{IpType, Net, Text};

/// Exclusive-IP links. `solaris.anet` entries first; without any, the `physical` annotation.
pub(super) fn nets(
    p: &mut Planner,
    kind: BrandKind,
    ip_type: IpType,
) -> Result<Vec<Net>, PlanError> {
    let distribution = p.options.distribution;
    let mut nets = Vec::new();
    let anets = p
        .spec
        .solaris()
        .as_ref()
        .and_then(|s| s.anet().clone())
        .unwrap_or_default();
    for (i, a) in anets.iter().enumerate() {
        let field = format!("solaris.anet[{i}]");
        let physical = match a.linkname() {
            Some(l) => link_name(&format!("{field}.linkname"), l)?,
            None => text(&format!("{field}.linkname"), format!("net{i}"))?,
        };
        let global_nic = match (a.lower_link(), distribution) {
            (None, _) => None,
            (Some(l), Distribution::OmniOs | Distribution::SmartOs) => {
                Some(link_name(&format!("{field}.lowerLink"), l)?)
            }
            (Some(l), Distribution::Illumos) => {
                p.warn(
                    format!("{field}.lowerLink"),
                    format!("illumos does not create VNICs for zones: create {physical} over {l} with dladm first"),
                );
                None
            }
        };
        if a.link_protection().is_some() {
            p.warn(
                format!("{field}.linkProtection"),
                "Oracle Solaris only; on illumos allowed-address implies IP spoofing protection",
            );
        }
        if a.configure_allowed_address()
            .as_deref()
            .is_some_and(|v| v != "true")
        {
            p.warn(
                format!("{field}.configureAllowedAddress"),
                "Oracle Solaris only; the zone configures its own address",
            );
        }
        let allowed = a
            .allowed_address()
            .as_deref()
            .map(|v| text(&format!("{field}.allowedAddress"), v))
            .transpose()?;
        let defrouter = a
            .defrouter()
            .as_deref()
            .map(|v| text(&format!("{field}.defrouter"), v))
            .transpose()?;
        if defrouter.is_some() && allowed.is_none() {
            return Err(value_error(
                &format!("{field}.defrouter"),
                a.defrouter().as_deref().unwrap_or_default(),
                "zonecfg needs an allowedAddress with a defrouter",
            ));
        }
        let mut properties = Vec::new();
        if kind == BrandKind::Lx {
            if let Some(ips) = &allowed {
                properties.push((text("net.property", "ips")?, ips.clone()));
            }
            if let Some(gw) = &defrouter {
                properties.push((text("net.property", "gateway")?, gw.clone()));
            }
            if i == 0 && (allowed.is_some() || defrouter.is_some()) {
                properties.push((
                    text("net.property", "primary")?,
                    text("net.property", "true")?,
                ));
            }
        }
        nets.push(Net {
            physical,
            global_nic,
            allowed_address: allowed,
            defrouter,
            mac_addr: a
                .mac_address()
                .as_deref()
                .map(|v| mac_addr(&format!("{field}.macAddress"), v))
                .transpose()?,
            properties,
        });
    }
    if let Some(phys) = p.annotation(annotations::PHYSICAL) {
        if nets.is_empty() {
            let physical = link_name(annotations::PHYSICAL, phys)?;
            let global_nic = match p.annotation(annotations::GLOBAL_NIC) {
                None => None,
                Some(g) if distribution == Distribution::Illumos => {
                    p.warn(
                        annotations::GLOBAL_NIC,
                        format!("illumos does not create VNICs for zones: create {phys} over {g} with dladm first"),
                    );
                    None
                }
                Some(g) => Some(link_name(annotations::GLOBAL_NIC, g)?),
            };
            nets.push(Net {
                physical,
                global_nic,
                allowed_address: None,
                defrouter: None,
                mac_addr: None,
                properties: Vec::new(),
            });
        } else {
            p.warn(annotations::PHYSICAL, "solaris.anet is used instead");
        }
    }
    debug_assert!(nets.is_empty() || ip_type == IpType::Exclusive);
    Ok(nets)
}

/// A data-link name: letters, digits, `_` and `.`, ending in a digit (dladm's rule; `auto` is
/// OmniOS's word for "pick the link" in global-nic).
pub(super) fn link_name(field: &str, value: &str) -> Result<Text, PlanError> {
    let ok = value == "auto"
        || (value.len() <= 31
            && value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && value.chars().last().is_some_and(|c| c.is_ascii_digit())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c)));
    if !ok {
        return Err(value_error(
            field,
            value,
            "must be a data-link name (letters, digits, _ and ., ending in a digit)",
        ));
    }
    text(field, value)
}

pub(super) fn mac_addr(field: &str, value: &str) -> Result<Text, PlanError> {
    let octets: Vec<&str> = value.split(':').collect();
    let ok = octets.len() == 6
        && octets
            .iter()
            .all(|o| (1..=2).contains(&o.len()) && o.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(value_error(
            field,
            value,
            "must be a MAC address like 2:8:20:ab:cd:ef",
        ));
    }
    text(field, value)
}
