//! Validation of pods, pod specs and pod templates (upstream `ValidatePodCreate`,
//! `ValidatePodSpec`, `ValidatePodTemplateSpec`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, Pod, PodAffinityTerm, PodDNSConfig,
    PodSecurityContext, PodSpec, PodTemplateSpec, Toleration,
};

use crate::admission::FieldError;
use crate::defaults_pod::ephemeral_as_container;
use crate::names;
use crate::validation_container::{
    check_host_port_conflicts, validate_app_armor, validate_container_common,
    validate_lifecycle_and_probes, validate_resource_requirements, validate_seccomp_profile,
    SpecContext,
};
use crate::validation_meta::{
    child, index, json_value, validate_annotations, validate_label_name, validate_label_selector,
    validate_labels, validate_object_meta, Errors,
};
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

fn validate_pod_security_context(sc: &PodSecurityContext, spec: &PodSpec, path: &str) -> Errors {
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

/// `ValidateTolerations`.
pub(crate) fn validate_tolerations(tolerations: &[Toleration], path: &str) -> Errors {
    let mut errs = Errors::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = index(path, i);
        let key = t.key.as_deref().unwrap_or("");
        let op = t.operator.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &child(&p, "key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                child(&p, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                child(&p, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let m = names::is_valid_label_value(value);
                if !m.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        value,
                        m.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        json_value(t),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&p, "operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(FieldError::not_supported(
                child(&p, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

fn validate_node_selector_requirement(
    r: &NodeSelectorRequirement,
    strict_values: bool,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    let n = r.values.as_ref().map_or(0, Vec::len);
    match r.operator.as_str() {
        "In" | "NotIn" if n == 0 => errs.push(FieldError::required(
            child(path, "values"),
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        "Exists" | "DoesNotExist" if n > 0 => errs.push(FieldError::forbidden(
            child(path, "values"),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "Gt" | "Lt" if n != 1 => errs.push(FieldError::required(
            child(path, "values"),
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        other => errs.push(FieldError::invalid(
            child(path, "operator"),
            other,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&r.key, &child(path, "key")));
    if strict_values {
        for (i, v) in r.values.iter().flatten().enumerate() {
            let vp = index(&child(path, "values"), i);
            errs.extend(
                names::is_valid_label_value(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(&vp, v, m)),
            );
        }
    }
    errs
}

fn validate_node_selector_term(
    term: &k8s_openapi::api::core::v1::NodeSelectorTerm,
    strict: bool,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    for (j, r) in term.match_expressions.iter().flatten().enumerate() {
        errs.extend(validate_node_selector_requirement(
            r,
            strict,
            &index(&child(path, "matchExpressions"), j),
        ));
    }
    for (j, r) in term.match_fields.iter().flatten().enumerate() {
        let p = index(&child(path, "matchFields"), j);
        match r.operator.as_str() {
            "In" | "NotIn" if r.values.as_ref().map_or(0, Vec::len) != 1 => errs.push(FieldError::required(
                child(&p, "values"),
                "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
            )),
            "In" | "NotIn" => {}
            other => errs.push(FieldError::invalid(child(&p, "operator"), other, "not a valid selector operator")),
        }
        if r.key != "metadata.name" {
            errs.push(FieldError::invalid(
                child(&p, "key"),
                &r.key,
                "not a valid field selector key",
            ));
        }
    }
    errs
}

fn validate_node_selector(ns: &NodeSelector, path: &str) -> Errors {
    let tp = child(path, "nodeSelectorTerms");
    if ns.node_selector_terms.is_empty() {
        return vec![FieldError::required(
            tp,
            "must have at least one node selector term",
        )];
    }
    ns.node_selector_terms
        .iter()
        .enumerate()
        .flat_map(|(i, t)| validate_node_selector_term(t, true, &index(&tp, i)))
        .collect()
}

fn validate_pod_affinity_term(t: &PodAffinityTerm, path: &str) -> Errors {
    let mut errs = Errors::new();
    if let Some(sel) = &t.label_selector {
        errs.extend(validate_label_selector(sel, &child(path, "labelSelector")));
    }
    for ns in t.namespaces.iter().flatten() {
        errs.extend(
            names::name_is_dns_label(ns, false)
                .into_iter()
                .map(|m| FieldError::invalid(child(path, "namespace"), ns, m)),
        );
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(
            child(path, "topologyKey"),
            "can not be empty",
        ));
    }
    errs.extend(validate_label_name(
        &t.topology_key,
        &child(path, "topologyKey"),
    ));
    errs
}

fn validate_affinity(a: &Affinity, path: &str) -> Errors {
    let mut errs = Errors::new();
    if let Some(na) = &a.node_affinity {
        let p = child(path, "nodeAffinity");
        if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
            errs.extend(validate_node_selector(
                req,
                &child(&p, "requiredDuringSchedulingIgnoredDuringExecution"),
            ));
        }
        for (i, t) in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let tp = index(
                &child(&p, "preferredDuringSchedulingIgnoredDuringExecution"),
                i,
            );
            if !(1..=100).contains(&t.weight) {
                errs.push(FieldError::invalid(
                    child(&tp, "weight"),
                    t.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_node_selector_term(
                &t.preference,
                false,
                &child(&tp, "preference"),
            ));
        }
    }
    let pod_terms = [
        (
            "podAffinity",
            a.pod_affinity.as_ref().map(|p| {
                (
                    &p.required_during_scheduling_ignored_during_execution,
                    &p.preferred_during_scheduling_ignored_during_execution,
                )
            }),
        ),
        (
            "podAntiAffinity",
            a.pod_anti_affinity.as_ref().map(|p| {
                (
                    &p.required_during_scheduling_ignored_during_execution,
                    &p.preferred_during_scheduling_ignored_during_execution,
                )
            }),
        ),
    ];
    for (field, terms) in pod_terms {
        let Some((required, preferred)) = terms else {
            continue;
        };
        let p = child(path, field);
        for (i, t) in required.iter().flatten().enumerate() {
            errs.extend(validate_pod_affinity_term(
                t,
                &index(
                    &child(&p, "requiredDuringSchedulingIgnoredDuringExecution"),
                    i,
                ),
            ));
        }
        for (i, w) in preferred.iter().flatten().enumerate() {
            let wp = index(
                &child(&p, "preferredDuringSchedulingIgnoredDuringExecution"),
                i,
            );
            if !(1..=100).contains(&w.weight) {
                errs.push(FieldError::invalid(
                    child(&wp, "weight"),
                    w.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_pod_affinity_term(
                &w.pod_affinity_term,
                &child(&wp, "podAffinityTerm"),
            ));
        }
    }
    errs
}

fn validate_dns_config(cfg: Option<&PodDNSConfig>, policy: Option<&str>, path: &str) -> Errors {
    let mut errs = Errors::new();
    if policy == Some("None") {
        match cfg {
            None => {
                return vec![FieldError::required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )]
            }
            Some(c) if c.nameservers.as_ref().is_none_or(Vec::is_empty) => {
                return vec![FieldError::required(
                    child(path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )]
            }
            _ => {}
        }
    }
    let Some(cfg) = cfg else { return errs };
    let ns = cfg.nameservers.as_deref().unwrap_or(&[]);
    if ns.len() > 3 {
        errs.push(FieldError::invalid(
            child(path, "nameservers"),
            json_value(&ns),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        let p = index(&child(path, "nameservers"), i);
        errs.extend(
            names::is_valid_ip(n)
                .into_iter()
                .map(|m| FieldError::invalid(&p, n, m)),
        );
    }
    let searches = cfg.searches.as_deref().unwrap_or(&[]);
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            child(path, "searches"),
            json_value(&searches),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            child(path, "searches"),
            json_value(&searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        if s == "." {
            continue;
        }
        let trimmed = s.strip_suffix('.').unwrap_or(s).replace('_', "a");
        let p = index(&child(path, "searches"), i);
        errs.extend(
            names::is_dns1123_subdomain(&trimmed)
                .into_iter()
                .map(|m| FieldError::invalid(&p, s.as_str(), m)),
        );
    }
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        if o.name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(
                index(&child(path, "options"), i),
                "must not be empty",
            ));
        }
    }
    errs
}

fn validate_topology_spread(spec: &PodSpec, path: &str) -> Errors {
    let mut errs = Errors::new();
    let mut seen = BTreeSet::new();
    for (i, c) in spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
    {
        let p = index(path, i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                child(&p, "maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                child(&p, "topologyKey"),
                "can not be empty",
            ));
        } else {
            errs.extend(validate_label_name(
                &c.topology_key,
                &child(&p, "topologyKey"),
            ));
        }
        match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" | "ScheduleAnyway" => {}
            "" => errs.push(FieldError::required(child(&p, "whenUnsatisfiable"), "")),
            other => errs.push(FieldError::not_supported(
                child(&p, "whenUnsatisfiable"),
                other,
                &["DoNotSchedule", "ScheduleAnyway"],
            )),
        }
        let pair = (c.topology_key.clone(), c.when_unsatisfiable.clone());
        if !seen.insert(pair) {
            errs.push(FieldError::duplicate(
                child(&p, "{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(sel) = &c.label_selector {
            errs.extend(validate_label_selector(sel, &child(&p, "labelSelector")));
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
