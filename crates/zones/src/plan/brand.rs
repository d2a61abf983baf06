//! The brand, the IP type and the SMF milestone: what kind of zone the bundle becomes.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::plan::error::{value_error, PlanError};
use crate::plan::options::{annotations, BrandKind};
use crate::plan::planner::Planner;
use crate::zonecfg::IpType;

/// Brands that run virtual machines: an OCI rootfs is not a disk image.
pub(super) const VM_BRANDS: [&str; 2] = ["bhyve", "kvm"];

/// The brand: the option, else the annotation, else `lx` when the spec is for Linux (it has a
/// `linux` section, or Linux-only process fields), else the native default.
pub(super) fn choose_brand(p: &Planner) -> Result<(String, BrandKind), PlanError> {
    let spec = p.spec;
    let linux_process = spec.process().as_ref().is_some_and(|pr| {
        pr.capabilities().is_some()
            || pr.apparmor_profile().is_some()
            || pr.selinux_label().is_some()
            || pr.oom_score_adj().is_some()
    });
    let is_linux = spec.linux().is_some() || linux_process;
    let brand = match (&p.options.brand, p.annotation(annotations::BRAND)) {
        (Some(b), _) => b.clone(),
        (None, Some(b)) => b.to_string(),
        (None, None) if is_linux => "lx".to_string(),
        (None, None) => p.options.native_brand.clone(),
    };
    let well_formed = !brand.is_empty()
        && brand
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
    if !well_formed {
        return Err(PlanError::Brand {
            brand,
            reason: "a brand name is lower-case letters, digits, - and _",
        });
    }
    if VM_BRANDS.contains(&brand.as_str()) {
        return Err(PlanError::Brand {
            brand,
            reason: "this brand runs virtual machines, not a root filesystem",
        });
    }
    let kind = if brand == "lx" {
        BrandKind::Lx
    } else {
        BrandKind::Native
    };
    Ok((brand, kind))
}

pub(super) fn has_network_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network))
}

/// `exclusive` when the container has its own network (a network namespace, `solaris.anet`, a
/// NIC annotation) or the brand is lx (which needs it); `shared` otherwise. A namespace with a
/// path is refused: the zone cannot join another container's namespace.
pub(super) fn choose_ip_type(p: &mut Planner, kind: BrandKind) -> Result<IpType, PlanError> {
    let spec = p.spec;
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(path) = ns.path() {
            return Err(PlanError::JoinNamespace {
                namespace: ns.typ().to_string(),
                path: path.clone(),
            });
        }
        if ns.typ() == LinuxNamespaceType::User {
            p.warn(
                "linux.namespaces",
                "a user namespace has no zone equivalent: root in the zone is root limited by the zone's privileges",
            );
        }
    }
    let wants_net = spec
        .solaris()
        .as_ref()
        .and_then(|s| s.anet().as_ref())
        .is_some_and(|a| !a.is_empty())
        || p.annotation(annotations::PHYSICAL).is_some();
    match p.annotation(annotations::IP_TYPE) {
        Some("exclusive") => Ok(IpType::Exclusive),
        Some("shared") if kind == BrandKind::Lx => Err(PlanError::Annotation {
            key: annotations::IP_TYPE.into(),
            value: "shared".into(),
            reason: "lx zones need exclusive IP",
        }),
        Some("shared") if wants_net => Err(PlanError::Annotation {
            key: annotations::IP_TYPE.into(),
            value: "shared".into(),
            reason: "the zone's own network links (solaris.anet or a physical annotation) need exclusive IP",
        }),
        Some("shared") => Ok(IpType::Shared),
        Some(other) => Err(PlanError::Annotation {
            key: annotations::IP_TYPE.into(),
            value: other.into(),
            reason: "must be shared or exclusive",
        }),
        None => {
            let own_namespace = has_network_namespace(spec);
            if own_namespace || wants_net {
                Ok(IpType::Exclusive)
            } else if kind == BrandKind::Lx {
                p.warn(
                    "linux.namespaces",
                    "no network namespace (host networking), but lx zones need exclusive IP: the zone gets its own IP stack",
                );
                Ok(IpType::Exclusive)
            } else {
                if spec.linux().is_some() {
                    p.warn(
                        "linux.namespaces",
                        "no network namespace (host networking): the zone shares the global zone's IP stack (ip-type=shared) but sees only addresses given to it",
                    );
                }
                Ok(IpType::Shared)
            }
        }
    }
}

pub(super) fn milestone(p: &mut Planner, kind: BrandKind) -> Result<Option<String>, PlanError> {
    let Some(m) = p
        .spec
        .solaris()
        .as_ref()
        .and_then(|s| s.milestone().clone())
    else {
        return Ok(None);
    };
    if kind == BrandKind::Lx {
        p.warn(
            "solaris.milestone",
            "lx zones have no SMF milestones; ignored",
        );
        return Ok(None);
    }
    let ok = !m.is_empty()
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/:._-".contains(c));
    if !ok {
        return Err(value_error(
            "solaris.milestone",
            &m,
            "must be an SMF FMRI (letters, digits and / : . _ -)",
        ));
    }
    Ok(Some(m))
}
