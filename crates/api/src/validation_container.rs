//! Validation of one container (app, init or ephemeral): name, image, ports, environment,
//! volume mounts, resources, probes, lifecycle handlers and security context.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, LifecycleHandler, ObjectFieldSelector, Probe,
    ResourceFieldSelector, ResourceRequirements, SeccompProfile, SecurityContext, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::admission::FieldError;
use crate::names;
use crate::quantity::ParsedQuantity;
use crate::validation_meta::{
    child, index, json_value, key, nonnegative, Errors, IS_NEGATIVE_ERROR,
};

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

const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// upstream `IsOvercommitAllowed`: extended resources and hugepages need requests == limits.
fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn is_integer_resource(name: &str) -> bool {
    !is_native_resource(name) || matches!(name, "pods" | "services" | "secrets" | "configmaps")
}

/// `validateContainerResourceName` (or the general resource name check for overhead).
pub(crate) fn validate_resource_name(name: &str, container: bool, path: &str) -> Errors {
    let mut errs: Errors = names::is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, name, m))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name)
            && !is_hugepages(name)
            && !name.starts_with("requests.hugepages-")
        {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if container && !STANDARD_CONTAINER_RESOURCES.contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if container && !is_native_resource(name) {
        let quota_name = format!("requests.{name}");
        if !names::is_qualified_name(&quota_name).is_empty() {
            errs.push(FieldError::invalid(
                path,
                name,
                "doesn't follow extended resource name standard",
            ));
        }
    }
    errs
}

/// `ValidateResourceQuantityValue`: non-negative, whole for integer resources.
pub(crate) fn validate_quantity_value(name: &str, q: &Quantity, path: &str) -> Errors {
    let Ok(v) = ParsedQuantity::parse(&q.0) else {
        return vec![FieldError::invalid(
            path,
            &q.0,
            "must be a valid resource quantity",
        )];
    };
    let mut errs = Errors::new();
    if v.is_negative() {
        errs.push(FieldError::invalid(path, v.canonical(), IS_NEGATIVE_ERROR));
    }
    if is_integer_resource(name) && v.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            v.canonical(),
            "must be an integer",
        ));
    }
    errs
}

/// `validateResourceRequirements` for a container (`container`) or pod overhead.
pub(crate) fn validate_resource_requirements(
    r: &ResourceRequirements,
    container: bool,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    let requests = r.requests.as_ref().unwrap_or(&empty);
    let mut has_cpu_or_memory = false;
    let mut has_hugepages = false;
    for (name, q) in limits {
        let p = key(&lim_path, name);
        errs.extend(validate_resource_name(name, container, &p));
        errs.extend(validate_quantity_value(name, q, &p));
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        has_hugepages |= is_hugepages(name);
    }
    for (name, q) in requests {
        let p = key(&req_path, name);
        errs.extend(validate_resource_name(name, container, &p));
        errs.extend(validate_quantity_value(name, q, &p));
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        has_hugepages |= is_hugepages(name);
        let Ok(req) = ParsedQuantity::parse(&q.0) else {
            continue;
        };
        match limits
            .get(name)
            .and_then(|l| ParsedQuantity::parse(&l.0).ok())
        {
            Some(lim) if req != lim && !overcommit_allowed(name) => errs.push(FieldError::invalid(
                &req_path,
                req.canonical(),
                format!("must be equal to {name} limit of {}", lim.canonical()),
            )),
            Some(lim) if req > lim => errs.push(FieldError::invalid(
                &req_path,
                req.canonical(),
                format!(
                    "must be less than or equal to {name} limit of {}",
                    lim.canonical()
                ),
            )),
            None if !overcommit_allowed(name) => errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
    }
    if has_hugepages && !has_cpu_or_memory {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs
}

fn validate_http_get(h: &k8s_openapi::api::core::v1::HTTPGetAction, path: &str) -> Errors {
    let mut errs = Errors::new();
    if h.path.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(validate_port_num_or_name(&h.port, &child(path, "port")));
    let scheme = h.scheme.as_deref().unwrap_or("");
    if !matches!(scheme, "HTTP" | "HTTPS") {
        errs.push(FieldError::not_supported(
            child(path, "scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for hdr in h.http_headers.iter().flatten() {
        for m in names::is_http_header_name(&hdr.name) {
            errs.push(FieldError::invalid(
                child(path, "httpHeaders"),
                &hdr.name,
                m,
            ));
        }
    }
    errs
}

/// `ValidatePortNumOrName`.
pub(crate) fn validate_port_num_or_name(port: &IntOrString, path: &str) -> Errors {
    match port {
        IntOrString::Int(n) => names::is_valid_port_num(*n as i64)
            .into_iter()
            .map(|m| FieldError::invalid(path, *n, m))
            .collect(),
        IntOrString::String(s) => names::is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s, m))
            .collect(),
    }
}

/// A probe or lifecycle handler reduced to its actions (`commonHandler`).
struct Handler<'a> {
    exec: Option<&'a k8s_openapi::api::core::v1::ExecAction>,
    http_get: Option<&'a k8s_openapi::api::core::v1::HTTPGetAction>,
    tcp_socket: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
    grpc: Option<&'a k8s_openapi::api::core::v1::GRPCAction>,
    sleep: Option<&'a k8s_openapi::api::core::v1::SleepAction>,
}

fn validate_handler(h: Handler, grace: Option<i64>, path: &str) -> Errors {
    let mut errs = Errors::new();
    let mut count = 0;
    let mut take = |errs: &mut Errors, field: &str, present: bool| -> bool {
        if !present {
            return false;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                child(path, field),
                "may not specify more than 1 handler type",
            ));
            return false;
        }
        count += 1;
        true
    };
    if take(&mut errs, "exec", h.exec.is_some())
        && h.exec
            .is_some_and(|e| e.command.as_ref().is_none_or(Vec::is_empty))
    {
        errs.push(FieldError::required(
            child(&child(path, "exec"), "command"),
            "",
        ));
    }
    if take(&mut errs, "httpGet", h.http_get.is_some()) {
        errs.extend(validate_http_get(
            h.http_get.unwrap(),
            &child(path, "httpGet"),
        ));
    }
    if take(&mut errs, "tcpSocket", h.tcp_socket.is_some()) {
        errs.extend(validate_port_num_or_name(
            &h.tcp_socket.unwrap().port,
            &child(&child(path, "tcpSocket"), "port"),
        ));
    }
    if take(&mut errs, "grpc", h.grpc.is_some()) {
        let port = h.grpc.unwrap().port;
        for m in names::is_valid_port_num(port as i64) {
            errs.push(FieldError::invalid(
                child(&child(path, "grpc"), "port"),
                port,
                m,
            ));
        }
    }
    if take(&mut errs, "sleep", h.sleep.is_some()) {
        let secs = h.sleep.unwrap().seconds;
        if let Some(g) = grace.filter(|g| secs < 0 || secs > *g) {
            errs.push(FieldError::invalid(
                child(path, "sleep"),
                secs,
                format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
            ));
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

pub(crate) fn validate_lifecycle_handler(
    h: &LifecycleHandler,
    grace: Option<i64>,
    path: &str,
) -> Errors {
    let handler = Handler {
        exec: h.exec.as_ref(),
        http_get: h.http_get.as_ref(),
        tcp_socket: h.tcp_socket.as_ref(),
        grpc: None,
        sleep: h.sleep.as_ref(),
    };
    validate_handler(handler, grace, path)
}

/// Which probe is checked: liveness and startup probes must have `successThreshold` 1,
/// readiness probes may not set `terminationGracePeriodSeconds`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

pub(crate) fn validate_probe(
    probe: &Probe,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &str,
) -> Errors {
    let handler = Handler {
        exec: probe.exec.as_ref(),
        http_get: probe.http_get.as_ref(),
        tcp_socket: probe.tcp_socket.as_ref(),
        grpc: probe.grpc.as_ref(),
        sleep: None,
    };
    let mut errs = validate_handler(handler, grace, path);
    for (field, v) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        errs.extend(nonnegative(v.unwrap_or(0) as i64, &child(path, field)));
    }
    if let Some(t) = probe.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(
            child(path, "terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let s = probe.success_threshold.unwrap_or(0);
            if s != 1 {
                errs.push(FieldError::invalid(
                    child(path, "successThreshold"),
                    s,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// Lifecycle and probes, allowed on app containers and sidecars.
pub(crate) fn validate_lifecycle_and_probes(
    c: &Container,
    grace: Option<i64>,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    if let Some(l) = &c.lifecycle {
        let lp = child(path, "lifecycle");
        if let Some(h) = &l.post_start {
            errs.extend(validate_lifecycle_handler(
                h,
                grace,
                &child(&lp, "postStart"),
            ));
        }
        if let Some(h) = &l.pre_stop {
            errs.extend(validate_lifecycle_handler(h, grace, &child(&lp, "preStop")));
        }
    }
    for (field, probe, kind) in [
        ("livenessProbe", &c.liveness_probe, ProbeKind::Liveness),
        ("readinessProbe", &c.readiness_probe, ProbeKind::Readiness),
        ("startupProbe", &c.startup_probe, ProbeKind::Startup),
    ] {
        if let Some(p) = probe {
            errs.extend(validate_probe(p, kind, grace, &child(path, field)));
        }
    }
    errs
}

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
