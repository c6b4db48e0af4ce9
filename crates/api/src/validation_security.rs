//! Validation of security contexts, pod and container: user and group ids, seccomp and
//! AppArmor profiles, proc mounts, sysctls and privilege escalation.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, SeccompProfile, SecurityContext};

use crate::admission::FieldError;
use crate::names;
use crate::validation_container::validate_local_descending_path;
use crate::validation_meta::{child, index, json_value, Errors};

pub(crate) fn validate_seccomp_profile(sp: Option<&SeccompProfile>, path: &str) -> Errors {
    let Some(sp) = sp else { return vec![] };
    let mut errs = Errors::new();
    let tp = child(path, "type");
    match sp.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            &tp,
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            &tp,
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let lp = child(path, "localhostProfile");
    match (&*sp.type_, &sp.localhost_profile) {
        ("Localhost", None) => errs.push(FieldError::required(
            lp,
            "must be set when seccomp type is Localhost",
        )),
        ("Localhost", Some(p)) => errs.extend(validate_local_descending_path(p, &lp)),
        (_, Some(_)) => errs.push(FieldError::invalid(
            lp,
            json_value(sp),
            "can only be set when seccomp type is Localhost",
        )),
        _ => {}
    }
    errs
}

/// `ValidateSecurityContext` for a container.
pub(crate) fn validate_security_context(
    sc: &SecurityContext,
    host_users: bool,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    for (field, id) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        if let Some(id) = id {
            for m in names::is_valid_id(id) {
                errs.push(FieldError::invalid(child(path, field), id, m));
            }
        }
    }
    if let Some(pm) = &sc.proc_mount {
        let p = child(path, "procMount");
        match pm.as_str() {
            "Default" => {}
            "Unmasked" if host_users => {
                errs.push(FieldError::invalid(
                    &p,
                    pm,
                    "`hostUsers` must be false to use `Unmasked`",
                ));
            }
            "Unmasked" => {}
            other => errs.push(FieldError::not_supported(
                &p,
                other,
                &["Default", "Unmasked"],
            )),
        }
    }
    errs.extend(validate_seccomp_profile(
        sc.seccomp_profile.as_ref(),
        &child(path, "seccompProfile"),
    ));
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                json_value(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| a.iter().any(|c| c == "CAP_SYS_ADMIN"))
        {
            errs.push(FieldError::invalid(
                path,
                json_value(sc),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    if let Some(a) = &sc.app_armor_profile {
        errs.extend(validate_app_armor(a, &child(path, "appArmorProfile")));
    }
    errs
}

pub(crate) fn validate_app_armor(
    a: &k8s_openapi::api::core::v1::AppArmorProfile,
    path: &str,
) -> Errors {
    let lp = child(path, "localhostProfile");
    match a.type_.as_str() {
        "Localhost" => match a.localhost_profile.as_deref() {
            None | Some("") => vec![FieldError::required(
                lp,
                "must be set when AppArmor type is Localhost",
            )],
            Some(p) if p.trim() != p => vec![FieldError::invalid(
                lp,
                p,
                "must not be padded with whitespace",
            )],
            _ => vec![],
        },
        "RuntimeDefault" | "Unconfined" => match &a.localhost_profile {
            Some(p) => vec![FieldError::invalid(
                lp,
                p,
                "can only be set when AppArmor type is Localhost",
            )],
            None => vec![],
        },
        "" => vec![FieldError::required(
            child(path, "type"),
            "type is required when appArmorProfile is set",
        )],
        other => vec![FieldError::not_supported(
            child(path, "type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )],
    }
}

pub(crate) fn validate_pod_security_context(
    sc: &PodSecurityContext,
    spec: &PodSpec,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    for (field, id) in [
        ("fsGroup", sc.fs_group),
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        if let Some(id) = id {
            errs.extend(
                names::is_valid_id(id)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(path, field), id, m)),
            );
        }
    }
    for (i, gid) in sc.supplemental_groups.iter().flatten().enumerate() {
        let p = index(&child(path, "supplementalGroups"), i);
        errs.extend(
            names::is_valid_id(*gid)
                .into_iter()
                .map(|m| FieldError::invalid(&p, *gid, m)),
        );
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            child(path, "shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in sc.sysctls.iter().flatten().enumerate() {
        let p = child(&index(&child(path, "sysctls"), i), "name");
        if s.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if !is_valid_sysctl_name(&s.name) {
            errs.push(FieldError::invalid(
                &p,
                &s.name,
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !seen.insert(s.name.as_str()) {
            errs.push(FieldError::duplicate(&p, &s.name));
        }
    }
    if let Some(p) = &sc.fs_group_change_policy {
        if !matches!(p.as_str(), "OnRootMismatch" | "Always") {
            errs.push(FieldError::not_supported(
                child(path, "fsGroupChangePolicy"),
                p,
                &["Always", "OnRootMismatch"],
            ));
        }
    }
    errs.extend(validate_seccomp_profile(
        sc.seccomp_profile.as_ref(),
        &child(path, "seccompProfile"),
    ));
    if let Some(a) = &sc.app_armor_profile {
        errs.extend(validate_app_armor(a, &child(path, "appArmorProfile")));
    }
    if let Some(p) = &sc.supplemental_groups_policy {
        if !matches!(p.as_str(), "Merge" | "Strict") {
            errs.push(FieldError::not_supported(
                child(path, "supplementalGroupsPolicy"),
                p,
                &["Merge", "Strict"],
            ));
        }
    }
    if let Some(p) = &sc.se_linux_change_policy {
        if !matches!(p.as_str(), "MountOption" | "Recursive") {
            errs.push(FieldError::not_supported(
                child(path, "seLinuxChangePolicy"),
                p,
                &["MountOption", "Recursive"],
            ));
        }
    }
    errs
}

fn is_valid_sysctl_name(name: &str) -> bool {
    let segment_ok = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
    };
    name.len() <= 253 && name.split(['.', '/']).all(segment_ok)
}
