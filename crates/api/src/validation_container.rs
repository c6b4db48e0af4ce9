//! Validation of one container (app, init or ephemeral): name, image, ports, environment,
//! volume mounts; resources, probes and security context have modules of their own.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, ObjectFieldSelector, ResourceFieldSelector,
    Volume, VolumeMount,
};

use crate::admission::FieldError;
use crate::names;
use crate::quantity::ParsedQuantity;
use crate::validation_meta::{child, index, Errors};
use crate::validation_resources::validate_resource_requirements;
use crate::validation_security::validate_security_context;

/// What container validation needs from the surrounding pod spec.
pub(crate) struct SpecContext<'a> {
    /// The pod's valid volumes, by name.
    pub volumes: BTreeMap<&'a str, &'a Volume>,
    pub grace_period: Option<i64>,
    pub host_users: bool,
}

/// `validateContainerCommon`: checks shared by every kind of container.
pub(crate) fn validate_container_common(c: &Container, ctx: &SpecContext, path: &str) -> Errors {
    let mut errs = Errors::new();
    let name_path = child(path, "name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for m in names::is_dns1123_label(&c.name) {
            errs.push(FieldError::invalid(&name_path, &c.name, m));
        }
    }
    if c.image.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    let tmp_path = child(path, "terminationMessagePolicy");
    match c.termination_message_policy.as_deref().unwrap_or("") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(tmp_path, "")),
        other => errs.push(FieldError::not_supported(
            tmp_path,
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_ports(
        c.ports.as_deref().unwrap_or(&[]),
        &child(path, "ports"),
    ));
    errs.extend(validate_env(
        c.env.as_deref().unwrap_or(&[]),
        &child(path, "env"),
    ));
    errs.extend(validate_env_from(
        c.env_from.as_deref().unwrap_or(&[]),
        &child(path, "envFrom"),
    ));
    errs.extend(validate_volume_mounts(c, ctx, path));
    let pull_path = child(path, "imagePullPolicy");
    match c.image_pull_policy.as_deref().unwrap_or("") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(pull_path, "")),
        other => errs.push(FieldError::not_supported(
            pull_path,
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    if let Some(r) = &c.resources {
        errs.extend(validate_resource_requirements(
            r,
            true,
            &child(path, "resources"),
        ));
    }
    for (i, p) in c.resize_policy.iter().flatten().enumerate() {
        let p_path = child(path, "resizePolicy");
        if !matches!(p.resource_name.as_str(), "cpu" | "memory") {
            errs.push(FieldError::not_supported(
                &p_path,
                &p.resource_name,
                &["cpu", "memory"],
            ));
        }
        if !matches!(
            p.restart_policy.as_str(),
            "NotRequired" | "RestartContainer"
        ) {
            errs.push(FieldError::not_supported(
                index(&p_path, i),
                &p.restart_policy,
                &["NotRequired", "RestartContainer"],
            ));
        }
    }
    if let Some(sc) = &c.security_context {
        errs.extend(validate_security_context(
            sc,
            ctx.host_users,
            &child(path, "securityContext"),
        ));
    }
    errs
}

/// `validateContainerPorts`.
pub(crate) fn validate_ports(ports: &[ContainerPort], path: &str) -> Errors {
    let mut errs = Errors::new();
    let mut names_seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let idx = index(path, i);
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(child(&idx, "name"), name, m));
                }
            } else if !names_seen.insert(name) {
                errs.push(FieldError::duplicate(child(&idx, "name"), name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(child(&idx, "containerPort"), ""));
        } else {
            for m in names::is_valid_port_num(p.container_port as i64) {
                errs.push(FieldError::invalid(
                    child(&idx, "containerPort"),
                    p.container_port,
                    m,
                ));
            }
        }
        if let Some(hp) = p.host_port.filter(|hp| *hp != 0) {
            for m in names::is_valid_port_num(hp as i64) {
                errs.push(FieldError::invalid(child(&idx, "hostPort"), hp, m));
            }
        }
        match p.protocol.as_deref().unwrap_or("") {
            "TCP" | "UDP" | "SCTP" => {}
            "" => errs.push(FieldError::required(child(&idx, "protocol"), "")),
            other => errs.push(FieldError::not_supported(
                child(&idx, "protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
    }
    errs
}

/// Host ports may not collide across the given containers (`checkHostPortConflicts`).
pub(crate) fn check_host_port_conflicts<'a>(
    containers: impl Iterator<Item = (usize, &'a Container)>,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    let mut seen = BTreeSet::new();
    for (ci, c) in containers {
        for (pi, p) in c.ports.iter().flatten().enumerate() {
            let hp = p.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let k = format!(
                "{}/{}/{}",
                p.protocol.as_deref().unwrap_or(""),
                p.host_ip.as_deref().unwrap_or(""),
                hp
            );
            if !seen.insert(k.clone()) {
                errs.push(FieldError::duplicate(
                    child(&index(&child(&index(path, ci), "ports"), pi), "hostPort"),
                    k,
                ));
            }
        }
    }
    errs
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
pub(crate) const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
    "spec.host",
];
const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['app']` → (`metadata.labels`, `app`).
pub(crate) fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let s = path.strip_suffix("']")?;
    let (base, sub) = s.split_once("['")?;
    (!base.is_empty()).then_some((base, sub))
}

/// `validateObjectFieldSelector`.
pub(crate) fn validate_object_field_selector(
    fs: &ObjectFieldSelector,
    allowed: &[&str],
    path: &str,
) -> Errors {
    let version = fs.api_version.as_deref().unwrap_or("");
    if version.is_empty() {
        return vec![FieldError::required(child(path, "apiVersion"), "")];
    }
    if fs.field_path.is_empty() {
        return vec![FieldError::required(child(path, "fieldPath"), "")];
    }
    let fp = fs.field_path.as_str();
    let convert_err = if version != "v1" {
        Some(format!("unsupported pod version: {version}"))
    } else if let Some((base, _)) = split_subscript(fp) {
        (!matches!(base, "metadata.annotations" | "metadata.labels"))
            .then(|| format!("field label does not support subscript: {fp}"))
    } else {
        (!CONVERTIBLE_FIELD_PATHS.contains(&fp)).then(|| format!("field label not supported: {fp}"))
    };
    if let Some(e) = convert_err {
        return vec![FieldError::invalid(
            child(path, "fieldPath"),
            fp,
            format!("error converting fieldPath: {e}"),
        )];
    }
    let fp = if fp == "spec.host" {
        "spec.nodeName"
    } else {
        fp
    };
    match split_subscript(fp) {
        Some((base, sub)) => {
            let sub = if base == "metadata.annotations" {
                sub.to_lowercase()
            } else {
                sub.to_string()
            };
            names::is_qualified_name(&sub)
                .into_iter()
                .map(|m| FieldError::invalid(path, sub.as_str(), m))
                .collect()
        }
        None if !allowed.contains(&fp) => {
            let mut sorted = allowed.to_vec();
            sorted.sort();
            vec![FieldError::not_supported(
                child(path, "fieldPath"),
                fp,
                &sorted,
            )]
        }
        None => vec![],
    }
}

/// `validateContainerResourceFieldSelector`.
pub(crate) fn validate_resource_field_selector(
    fs: &ResourceFieldSelector,
    volume: bool,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    if volume && fs.container_name.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(child(path, "containerName"), ""));
    } else if fs.resource.is_empty() {
        errs.push(FieldError::required(child(path, "resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&fs.resource.as_str())
        && !fs.resource.starts_with("requests.hugepages-")
        && !fs.resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            child(path, "resource"),
            &fs.resource,
            RESOURCE_FIELD_PATHS,
        ));
    }
    if let Some(d) = fs
        .divisor
        .as_ref()
        .and_then(|d| ParsedQuantity::parse(&d.0).ok())
        .filter(|d| !d.is_zero())
    {
        let d = d.canonical();
        let r = fs.resource.as_str();
        let mem_like = [
            "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
        ];
        let bad = match r {
            "limits.cpu" | "requests.cpu" => (!["1m", "1"].contains(&d.as_str()))
                .then_some("only divisor's values 1m and 1 are supported with the cpu resource"),
            "limits.memory" | "requests.memory" => (!mem_like.contains(&d.as_str())).then_some(
                "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
            ),
            "limits.ephemeral-storage" | "requests.ephemeral-storage" => (!mem_like.contains(&d.as_str())).then_some(
                "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
            ),
            _ => None,
        };
        if let Some(m) = bad {
            errs.push(FieldError::invalid(child(path, "divisor"), r, m));
        }
    }
    errs
}

fn validate_key_selector(name: &str, k: &str, path: &str) -> Errors {
    let mut errs: Errors = names::name_is_dns_subdomain(name, false)
        .into_iter()
        .map(|m| FieldError::invalid(child(path, "name"), name, m))
        .collect();
    if k.is_empty() {
        errs.push(FieldError::required(child(path, "key"), ""));
    } else {
        for m in names::is_config_map_key(k) {
            errs.push(FieldError::invalid(child(path, "key"), k, m));
        }
    }
    errs
}

/// `ValidateEnv` (relaxed variable names, the default since 1.32).
pub(crate) fn validate_env(vars: &[EnvVar], path: &str) -> Errors {
    let mut errs = Errors::new();
    for (i, ev) in vars.iter().enumerate() {
        let idx = index(path, i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(child(&idx, "name"), ""));
        } else {
            for m in names::is_relaxed_env_var_name(&ev.name) {
                errs.push(FieldError::invalid(child(&idx, "name"), &ev.name, m));
            }
        }
        let Some(from) = &ev.value_from else { continue };
        let from_path = child(&idx, "valueFrom");
        let mut sources = 0;
        if let Some(f) = &from.field_ref {
            sources += 1;
            errs.extend(validate_object_field_selector(
                f,
                ENV_FIELD_PATHS,
                &child(&from_path, "fieldRef"),
            ));
        }
        if let Some(r) = &from.resource_field_ref {
            sources += 1;
            errs.extend(validate_resource_field_selector(
                r,
                false,
                &child(&from_path, "resourceFieldRef"),
            ));
        }
        if let Some(s) = &from.config_map_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(
                &s.name,
                &s.key,
                &child(&from_path, "configMapKeyRef"),
            ));
        }
        if let Some(s) = &from.secret_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(
                &s.name,
                &s.key,
                &child(&from_path, "secretKeyRef"),
            ));
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &from_path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !ev.value.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::invalid(
                &from_path,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &from_path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `ValidateEnvFrom`.
pub(crate) fn validate_env_from(vars: &[EnvFromSource], path: &str) -> Errors {
    let mut errs = Errors::new();
    for (i, ev) in vars.iter().enumerate() {
        let idx = index(path, i);
        if let Some(p) = ev.prefix.as_deref().filter(|p| !p.is_empty()) {
            for m in names::is_relaxed_env_var_name(p) {
                errs.push(FieldError::invalid(child(&idx, "prefix"), p, m));
            }
        }
        let refs = [
            (
                "configMapRef",
                ev.config_map_ref.as_ref().map(|r| r.name.as_str()),
            ),
            ("secretRef", ev.secret_ref.as_ref().map(|r| r.name.as_str())),
        ];
        let mut sources = 0;
        for (field, name) in refs {
            let Some(name) = name else { continue };
            sources += 1;
            let p = child(&child(&idx, field), "name");
            if name.is_empty() {
                errs.push(FieldError::required(p, ""));
            } else {
                for m in names::name_is_dns_subdomain(name, true) {
                    errs.push(FieldError::invalid(&p, name, m));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `validateLocalDescendingPath`: relative, no `..` element.
pub(crate) fn validate_local_descending_path(target: &str, path: &str) -> Errors {
    let mut errs = Errors::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(validate_path_no_backsteps(target, path));
    errs
}

pub(crate) fn validate_path_no_backsteps(target: &str, path: &str) -> Errors {
    if target.split('/').any(|p| p == "..") {
        vec![FieldError::invalid(path, target, "must not contain '..'")]
    } else {
        vec![]
    }
}

fn validate_volume_mounts(c: &Container, ctx: &SpecContext, container_path: &str) -> Errors {
    let mut errs = Errors::new();
    let path = child(container_path, "volumeMounts");
    let path = path.as_str();
    let mounts: &[VolumeMount] = c.volume_mounts.as_deref().unwrap_or(&[]);
    let devices: BTreeMap<&str, &str> = c
        .volume_devices
        .iter()
        .flatten()
        .map(|d| (d.name.as_str(), d.device_path.as_str()))
        .collect();
    let mut mount_points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let idx = index(path, i);
        if m.name.is_empty() {
            errs.push(FieldError::required(child(&idx, "name"), ""));
        }
        if !ctx.volumes.contains_key(m.name.as_str()) {
            errs.push(FieldError::not_found(child(&idx, "name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(child(&idx, "mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                child(&idx, "mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
        if devices.contains_key(m.name.as_str()) {
            errs.push(FieldError::invalid(
                child(&idx, "name"),
                &m.name,
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|p| *p == m.mount_path) {
            errs.push(FieldError::invalid(
                child(&idx, "mountPath"),
                &m.mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = m.sub_path.as_deref().unwrap_or("");
        let sub_expr = m.sub_path_expr.as_deref().unwrap_or("");
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                sub_path,
                &child(path, "subPath"),
            ));
        }
        if !sub_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    child(&idx, "subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                sub_expr,
                &child(path, "subPathExpr"),
            ));
        }
        if let Some(prop) = &m.mount_propagation {
            let p = child(path, "mountPropagation");
            if !matches!(prop.as_str(), "Bidirectional" | "HostToContainer" | "None") {
                errs.push(FieldError::not_supported(
                    &p,
                    prop,
                    &["Bidirectional", "HostToContainer", "None"],
                ));
            }
            let privileged = c
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false);
            if prop == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &p,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = &m.recursive_read_only {
            let p = child(path, "recursiveReadOnly");
            match rro.as_str() {
                "Disabled" => {}
                "IfPossible" | "Enabled" => {
                    if m.read_only != Some(true) {
                        errs.push(FieldError::forbidden(
                            &p,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                        errs.push(FieldError::forbidden(
                            &p,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(
                    &p,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
    for (i, d) in c.volume_devices.iter().flatten().enumerate() {
        let idx = index(&child(container_path, "volumeDevices"), i);
        match ctx.volumes.get(d.name.as_str()) {
            None => errs.push(FieldError::not_found(child(&idx, "name"), &d.name)),
            Some(v) if v.persistent_volume_claim.is_none() && v.ephemeral.is_none() => errs.push(FieldError::invalid(
                child(&idx, "name"),
                &d.name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            _ => {}
        }
        if d.device_path.is_empty() {
            errs.push(FieldError::required(child(&idx, "devicePath"), ""));
        }
    }
    errs
}
