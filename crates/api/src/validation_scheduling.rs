//! Validation of the scheduling parts of a pod spec: tolerations, node and pod affinity,
//! topology spread constraints and DNS configuration.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, PodAffinityTerm, PodDNSConfig, PodSpec,
    Toleration,
};

use crate::admission::FieldError;
use crate::names;
use crate::validation_meta::{
    child, index, json_value, validate_label_name, validate_label_selector, Errors,
};

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

pub(crate) fn validate_affinity(a: &Affinity, path: &str) -> Errors {
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

pub(crate) fn validate_dns_config(
    cfg: Option<&PodDNSConfig>,
    policy: Option<&str>,
    path: &str,
) -> Errors {
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

pub(crate) fn validate_topology_spread(spec: &PodSpec, path: &str) -> Errors {
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
