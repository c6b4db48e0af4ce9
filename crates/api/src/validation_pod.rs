//! Validation of pods, pod specs and pod templates (upstream `ValidatePodCreate`,
//! `ValidatePodSpec`, `ValidatePodTemplateSpec`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplateSpec};

use crate::admission::FieldError;
use crate::defaults_pod::ephemeral_as_container;
use crate::names;
use crate::validation_container::{
    check_host_port_conflicts, validate_container_common, SpecContext,
};
use crate::validation_meta::{
    child, index, json_value, validate_annotations, validate_labels, validate_object_meta, Errors,
};
use crate::validation_probes::validate_lifecycle_and_probes;
use crate::validation_resources::validate_resource_requirements;
use crate::validation_scheduling::{
    validate_affinity, validate_dns_config, validate_tolerations, validate_topology_spread,
};
use crate::validation_security::validate_pod_security_context;
use crate::validation_volumes::validate_volumes;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];

/// `ValidatePodSpec`. `is_pod` adds the checks that apply to pods but not templates.
pub(crate) fn validate_pod_spec(spec: &PodSpec, is_pod: bool, path: &str) -> Errors {
    let mut errs = Errors::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(
            child(path, "terminationGracePeriodSeconds"),
            "",
        ));
    }
    let host_users = spec.host_users.unwrap_or(true);
    let (volumes, verrs) = validate_volumes(
        spec.volumes.as_deref().unwrap_or(&[]),
        &child(path, "volumes"),
    );
    errs.extend(verrs);
    let ctx = SpecContext {
        volumes,
        grace_period: spec.termination_grace_period_seconds,
        host_users,
    };

    // Regular containers.
    let cpath = child(path, "containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    }
    let mut all_names = BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let p = index(&cpath, i);
        errs.extend(validate_container_common(c, &ctx, &p));
        if !all_names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(child(&p, "name"), &c.name));
        }
        errs.extend(validate_lifecycle_and_probes(c, ctx.grace_period, &p));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                child(&p, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(check_host_port_conflicts(
        spec.containers.iter().enumerate(),
        &cpath,
    ));

    // Init containers, including sidecars (restartPolicy Always).
    let ipath = child(path, "initContainers");
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = index(&ipath, i);
        errs.extend(validate_container_common(c, &ctx, &p));
        let mut sidecar = false;
        if let Some(rp) = &c.restart_policy {
            if rp == "Always" {
                sidecar = true;
            } else {
                errs.push(FieldError::not_supported(
                    child(&p, "restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
        }
        if all_names.contains(&c.name) {
            errs.push(FieldError::duplicate(child(&p, "name"), &c.name));
        } else if !c.name.is_empty() {
            all_names.insert(c.name.clone());
        }
        errs.extend(check_host_port_conflicts(std::iter::once((i, c)), &ipath));
        if sidecar {
            errs.extend(validate_lifecycle_and_probes(c, ctx.grace_period, &p));
        } else {
            for (field, set) in [
                ("lifecycle", c.lifecycle.is_some()),
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ] {
                if set {
                    errs.push(FieldError::forbidden(
                        child(&p, field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
        if c.resize_policy.as_ref().is_some_and(|r| !r.is_empty()) && !sidecar {
            errs.push(FieldError::invalid(
                child(&p, "resizePolicy"),
                json_value(&c.resize_policy),
                "must not be set for init containers",
            ));
        }
    }

    // Ephemeral containers (only ever added through their subresource).
    let epath = child(path, "ephemeralContainers");
    let others: BTreeSet<String> = all_names.clone();
    for (i, e) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let p = index(&epath, i);
        let c = ephemeral_as_container(e);
        errs.extend(validate_container_common(&c, &ctx, &p));
        if !all_names.insert(e.name.clone()) {
            errs.push(FieldError::duplicate(child(&p, "name"), &e.name));
        }
        if let Some(t) = e.target_container_name.as_deref().filter(|t| !t.is_empty()) {
            if !others.contains(t) {
                errs.push(FieldError::not_found(child(&p, "targetContainerName"), t));
            }
        }
        let not_allowed = [
            ("lifecycle", e.lifecycle.is_some()),
            ("livenessProbe", e.liveness_probe.is_some()),
            ("ports", e.ports.as_ref().is_some_and(|v| !v.is_empty())),
            ("readinessProbe", e.readiness_probe.is_some()),
            (
                "resizePolicy",
                e.resize_policy.as_ref().is_some_and(|v| !v.is_empty()),
            ),
            (
                "resources",
                e.resources
                    .as_ref()
                    .is_some_and(|r| *r != Default::default()),
            ),
            ("restartPolicy", e.restart_policy.is_some()),
            ("startupProbe", e.startup_probe.is_some()),
        ];
        for (field, set) in not_allowed {
            if set {
                errs.push(FieldError::forbidden(
                    child(&p, field),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        for (j, m) in e.volume_mounts.iter().flatten().enumerate() {
            let mp = index(&child(&p, "volumeMounts"), j);
            if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
                errs.push(FieldError::forbidden(
                    child(&mp, "subPath"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
            if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
                errs.push(FieldError::forbidden(
                    child(&mp, "subPathExpr"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
    }

    if spec.host_network == Some(true) {
        for (i, c) in spec.containers.iter().enumerate() {
            for (j, port) in c.ports.iter().flatten().enumerate() {
                let hp = port.host_port.unwrap_or(0);
                if (is_pod || hp != 0) && hp != port.container_port {
                    errs.push(FieldError::invalid(
                        child(&index(&child(&index(&cpath, i), "ports"), j), "hostPort"),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }

    let rp_path = child(path, "restartPolicy");
    match spec.restart_policy.as_deref().unwrap_or("") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(rp_path, "")),
        other => errs.push(FieldError::not_supported(rp_path, other, RESTART_POLICIES)),
    }
    let dns_path = child(path, "dnsPolicy");
    match spec.dns_policy.as_deref().unwrap_or("") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(dns_path, "")),
        other => errs.push(FieldError::not_supported(dns_path, other, DNS_POLICIES)),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &child(path, "nodeSelector"),
    ));
    if let Some(sc) = &spec.security_context {
        errs.extend(validate_pod_security_context(
            sc,
            spec,
            &child(path, "securityContext"),
        ));
    }
    if let Some(a) = &spec.affinity {
        errs.extend(validate_affinity(a, &child(path, "affinity")));
    }
    errs.extend(validate_dns_config(
        spec.dns_config.as_ref(),
        spec.dns_policy.as_deref(),
        &child(path, "dnsConfig"),
    ));
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = child(&index(&child(path, "readinessGates"), i), "conditionType");
        errs.extend(
            names::is_qualified_name(&g.condition_type)
                .into_iter()
                .map(|m| FieldError::invalid(&p, &g.condition_type, m)),
        );
    }
    let mut gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = index(&child(path, "schedulingGates"), i);
        errs.extend(
            names::is_qualified_name(&g.name)
                .into_iter()
                .map(|m| FieldError::invalid(&p, &g.name, m)),
        );
        if !gates.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&p, &g.name));
        }
    }
    errs.extend(validate_topology_spread(
        spec,
        &child(path, "topologySpreadConstraints"),
    ));
    if spec.host_users == Some(false) {
        for (field, set) in [
            ("hostNetwork", spec.host_network),
            ("HostPID", spec.host_pid),
            ("HostIPC", spec.host_ipc),
        ] {
            if set == Some(true) {
                errs.push(FieldError::forbidden(
                    child(path, field),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    for (field, value, f) in [
        (
            "serviceAccountName",
            &spec.service_account_name,
            names::name_is_dns_subdomain as names::NameFn,
        ),
        ("nodeName", &spec.node_name, names::name_is_dns_subdomain),
        (
            "priorityClassName",
            &spec.priority_class_name,
            names::name_is_dns_subdomain,
        ),
        (
            "runtimeClassName",
            &spec.runtime_class_name,
            names::name_is_dns_subdomain,
        ),
    ] {
        if let Some(v) = value
            .as_deref()
            .filter(|v| !v.is_empty() || field == "runtimeClassName")
        {
            errs.extend(
                f(v, false)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(path, field), v, m)),
            );
        }
    }
    if let Some(v) = spec.active_deadline_seconds {
        if !(1..=i32::MAX as i64).contains(&v) {
            errs.push(FieldError::invalid(
                child(path, "activeDeadlineSeconds"),
                v,
                names::inclusive_range_error(1, i32::MAX as i64),
            ));
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(
                names::is_dns1123_label(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(path, field), v, m)),
            );
        }
    }
    errs.extend(validate_tolerations(
        spec.tolerations.as_deref().unwrap_or(&[]),
        &child(path, "tolerations"),
    ));
    for (i, h) in spec.host_aliases.iter().flatten().enumerate() {
        let p = index(&child(path, "hostAliases"), i);
        errs.extend(
            names::is_valid_ip(&h.ip)
                .into_iter()
                .map(|m| FieldError::invalid(child(&p, "ip"), &h.ip, m)),
        );
        for (j, hn) in h.hostnames.iter().flatten().enumerate() {
            let hp = index(&child(&p, "hostnames"), j);
            errs.extend(
                names::is_dns1123_subdomain(hn)
                    .into_iter()
                    .map(|m| FieldError::invalid(&hp, hn, m)),
            );
        }
    }
    if let Some(pp) = &spec.preemption_policy {
        let p = child(path, "preemptionPolicy");
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(p, "")),
            other => errs.push(FieldError::not_supported(
                p,
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if spec.overhead.is_some() {
        let r = k8s_openapi::api::core::v1::ResourceRequirements {
            limits: spec.overhead.clone(),
            ..Default::default()
        };
        errs.extend(validate_resource_requirements(
            &r,
            false,
            &child(path, "overhead"),
        ));
    }
    if let Some(os) = &spec.os {
        let p = child(path, "os");
        match os.name.as_str() {
            "" => errs.push(FieldError::required(child(&p, "name"), "cannot be empty")),
            "linux" | "windows" => {}
            other => errs.push(FieldError::not_supported(&p, other, &["linux", "windows"])),
        }
    }
    errs
}

/// The checks on a pod's metadata and spec shared by create and update
/// (`validatePodMetadataAndSpec`).
pub(crate) fn validate_pod_metadata_and_spec(pod: &Pod) -> Errors {
    let mut errs = validate_object_meta(
        &pod.metadata,
        true,
        names::name_is_dns_subdomain,
        "metadata",
    );
    if let Some(v) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/config.mirror"))
    {
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("")
            .is_empty()
        {
            errs.push(FieldError::invalid(
                "metadata.annotations[kubernetes.io/config.mirror]",
                v,
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
    }
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    errs.extend(validate_pod_spec(spec, true, "spec"));
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        for (vi, v) in spec.volumes.iter().flatten().enumerate() {
            for (si, s) in v
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
                .enumerate()
            {
                if s.service_account_token.is_some() {
                    errs.push(FieldError::forbidden(
                        format!("spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (field, list) in [
        ("containers", Some(&spec.containers)),
        ("initContainers", spec.init_containers.as_ref()),
    ] {
        for (i, c) in list.into_iter().flatten().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    format!("spec.{field}[{i}].image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// `ValidatePodCreate`.
pub(crate) fn validate_pod_create(pod: &Pod) -> Errors {
    let mut errs = validate_pod_metadata_and_spec(pod);
    if let Some(spec) = &pod.spec {
        if spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                "cannot be set on create",
            ));
        }
        if !spec.node_name.as_deref().unwrap_or("").is_empty()
            && spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty())
        {
            errs.push(FieldError::forbidden(
                "spec.nodeName",
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
    }
    errs
}

/// `ValidatePodTemplateSpec`: labels, annotations and the spec of a template.
pub(crate) fn validate_pod_template_spec(t: &PodTemplateSpec, path: &str) -> Errors {
    let mut errs = Errors::new();
    let meta_path = child(path, "metadata");
    if let Some(m) = &t.metadata {
        errs.extend(validate_labels(
            m.labels.as_ref(),
            &child(&meta_path, "labels"),
        ));
        errs.extend(validate_annotations(
            m.annotations.as_ref(),
            &child(&meta_path, "annotations"),
        ));
    }
    let default_spec = PodSpec::default();
    let spec = t.spec.as_ref().unwrap_or(&default_spec);
    errs.extend(validate_pod_spec(spec, false, &child(path, "spec")));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            child(&child(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}
