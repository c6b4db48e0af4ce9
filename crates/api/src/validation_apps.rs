//! Validation of workloads: Deployment, ReplicaSet (apps/v1) and Job (batch/v1), on create
//! and update, following upstream `apps/validation` and `batch/validation`.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as MetaSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::admission::{BadValue, FieldError};
use crate::defaults_workloads::{
    CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
};
use crate::names;
use crate::selectors::LabelSelector;
use crate::validation_meta::{
    child, go_label_selector, go_map, immutable, json_value, nonnegative, validate_label_selector,
    validate_object_meta, validate_object_meta_update, Errors,
};
use crate::validation_pod::validate_pod_template_spec;

fn template_labels(t: &PodTemplateSpec) -> Option<&std::collections::BTreeMap<String, String>> {
    t.metadata.as_ref().and_then(|m| m.labels.as_ref())
}

/// `ValidatePodTemplateSpecForReplicaSet`: the selector must match the template, whose
/// pods must restart `Always` and have no deadline.
fn validate_template_for_replica_set(
    t: &PodTemplateSpec,
    selector: &LabelSelector,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    if !selector.is_empty() && !selector.matches_opt(template_labels(t)) {
        errs.push(FieldError::invalid(
            child(&child(path, "metadata"), "labels"),
            go_map(template_labels(t)),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template_spec(t, path));
    let spec = t.spec.as_ref();
    let rp = spec.and_then(|s| s.restart_policy.as_deref()).unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            child(&child(path, "spec"), "restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if spec.and_then(|s| s.active_deadline_seconds).is_some() {
        errs.push(FieldError::forbidden(
            child(&child(path, "spec"), "activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

/// The shared selector checks of Deployment and ReplicaSet specs; returns the selector to
/// match the template against.
fn validate_workload_selector(
    sel: &MetaSelector,
    present: bool,
    path: &str,
    errs: &mut Errors,
) -> Option<LabelSelector> {
    let p = child(path, "selector");
    if !present {
        errs.push(FieldError::required(&p, ""));
        return Some(LabelSelector::nothing());
    }
    errs.extend(validate_label_selector(sel, &p));
    let count = sel.match_labels.as_ref().map_or(0, |m| m.len())
        + sel.match_expressions.as_ref().map_or(0, |e| e.len());
    if count == 0 {
        errs.push(FieldError::invalid(
            &p,
            go_label_selector(Some(sel)),
            "empty selector is invalid for deployment",
        ));
    }
    match LabelSelector::from_metav1(sel) {
        Ok(s) => Some(s),
        Err(_) => {
            errs.push(FieldError::invalid(
                &p,
                go_label_selector(Some(sel)),
                "invalid label selector",
            ));
            None
        }
    }
}

fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(n) => *n as i64,
        IntOrString::String(s) => s.trim_end_matches('%').parse().unwrap_or(0),
    }
}

fn show(v: &IntOrString) -> BadValue {
    match v {
        IntOrString::Int(n) => BadValue::Raw(n.to_string()),
        IntOrString::String(s) => BadValue::Raw(s.clone()),
    }
}

fn validate_positive_int_or_percent(v: &IntOrString, path: &str) -> Errors {
    match v {
        IntOrString::String(s) => names::is_valid_percent(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, show(v), m))
            .collect(),
        IntOrString::Int(n) => nonnegative(*n as i64, path),
    }
}

fn validate_strategy(s: Option<&DeploymentStrategy>, path: &str) -> Errors {
    let mut errs = Errors::new();
    let default = DeploymentStrategy::default();
    let s = s.unwrap_or(&default);
    match s.type_.as_deref().unwrap_or("") {
        "Recreate" => {
            if s.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    child(path, "rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &s.rolling_update {
            None => errs.push(FieldError::required(
                child(path, "rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = child(path, "rollingUpdate");
                let zero = IntOrString::Int(0);
                let mu = ru.max_unavailable.as_ref().unwrap_or(&zero);
                let ms = ru.max_surge.as_ref().unwrap_or(&zero);
                errs.extend(validate_positive_int_or_percent(
                    mu,
                    &child(&rp, "maxUnavailable"),
                ));
                errs.extend(validate_positive_int_or_percent(
                    ms,
                    &child(&rp, "maxSurge"),
                ));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(FieldError::invalid(
                        child(&rp, "maxUnavailable"),
                        show(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if matches!(mu, IntOrString::String(_)) && int_or_percent_value(mu) > 100 {
                    errs.push(FieldError::invalid(
                        child(&rp, "maxUnavailable"),
                        show(mu),
                        "must not be greater than 100%",
                    ));
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            path,
            json_value(s),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

/// `ValidateDeployment`; `selector_present` says whether the body carried `spec.selector`.
pub(crate) fn validate_deployment(d: &Deployment, selector_present: bool) -> Errors {
    let mut errs =
        validate_object_meta(&d.metadata, true, names::name_is_dns_subdomain, "metadata");
    let default_spec = Default::default();
    let spec = d.spec.as_ref().unwrap_or(&default_spec);
    let path = "spec";
    errs.extend(nonnegative(
        spec.replicas.unwrap_or(0) as i64,
        &child(path, "replicas"),
    ));
    if let Some(sel) = validate_workload_selector(&spec.selector, selector_present, path, &mut errs)
    {
        errs.extend(validate_template_for_replica_set(
            &spec.template,
            &sel,
            &child(path, "template"),
        ));
    }
    errs.extend(validate_strategy(
        spec.strategy.as_ref(),
        &child(path, "strategy"),
    ));
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(nonnegative(
        min_ready as i64,
        &child(path, "minReadySeconds"),
    ));
    if let Some(r) = spec.revision_history_limit {
        errs.extend(nonnegative(r as i64, &child(path, "revisionHistoryLimit")));
    }
    if let Some(p) = spec.progress_deadline_seconds {
        errs.extend(nonnegative(
            p as i64,
            &child(path, "progressDeadlineSeconds"),
        ));
        if p <= min_ready {
            errs.push(FieldError::invalid(
                child(path, "progressDeadlineSeconds"),
                p,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// `ValidateDeploymentUpdate`: the apps/v1 selector is immutable.
pub(crate) fn validate_deployment_update(
    new: &Deployment,
    old: &Deployment,
    selector_present: bool,
) -> Errors {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_deployment(new, selector_present));
    let ns = new.spec.as_ref().map(|s| &s.selector);
    let os = old.spec.as_ref().map(|s| &s.selector);
    errs.extend(immutable(&ns, &os, go_label_selector(ns), "spec.selector"));
    errs
}

/// `ValidateReplicaSet`.
pub(crate) fn validate_replica_set(rs: &ReplicaSet, selector_present: bool) -> Errors {
    let mut errs =
        validate_object_meta(&rs.metadata, true, names::name_is_dns_subdomain, "metadata");
    let default_spec = Default::default();
    let spec = rs.spec.as_ref().unwrap_or(&default_spec);
    let path = "spec";
    errs.extend(nonnegative(
        spec.replicas.unwrap_or(0) as i64,
        &child(path, "replicas"),
    ));
    errs.extend(nonnegative(
        spec.min_ready_seconds.unwrap_or(0) as i64,
        &child(path, "minReadySeconds"),
    ));
    if let Some(sel) = validate_workload_selector(&spec.selector, selector_present, path, &mut errs)
    {
        let default_template = PodTemplateSpec::default();
        let t = spec.template.as_ref().unwrap_or(&default_template);
        errs.extend(validate_template_for_replica_set(
            t,
            &sel,
            &child(path, "template"),
        ));
    }
    errs
}

/// `ValidateReplicaSetUpdate`: the apps/v1 selector is immutable.
pub(crate) fn validate_replica_set_update(
    new: &ReplicaSet,
    old: &ReplicaSet,
    selector_present: bool,
) -> Errors {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_replica_set(new, selector_present));
    let ns = new.spec.as_ref().map(|s| &s.selector);
    let os = old.spec.as_ref().map(|s| &s.selector);
    errs.extend(immutable(&ns, &os, go_label_selector(ns), "spec.selector"));
    errs
}

fn validate_has_label(t: &PodTemplateSpec, key: &str, expected: &str) -> Errors {
    let labels = template_labels(t);
    match labels.and_then(|l| l.get(key)) {
        None => vec![FieldError::required(
            format!("spec.template.metadata.labels[{key}]"),
            format!("must be '{expected}'"),
        )],
        Some(v) if v != expected => {
            vec![FieldError::invalid(
                format!("spec.template.metadata.labels[{key}]"),
                go_map(labels),
                format!("must be '{expected}'"),
            )]
        }
        _ => vec![],
    }
}

/// `validateGeneratedSelector`: a job with a generated selector must carry what was generated.
fn validate_generated_selector(job: &Job) -> Errors {
    let spec = match &job.spec {
        Some(s) if s.manual_selector != Some(true) => s,
        _ => return vec![],
    };
    let uid = job.metadata.uid.as_deref().unwrap_or("");
    let name = job.metadata.name.as_deref().unwrap_or("");
    if uid.is_empty() {
        return vec![];
    }
    let mut errs = Errors::new();
    errs.extend(validate_has_label(
        &spec.template,
        LEGACY_CONTROLLER_UID_LABEL,
        uid,
    ));
    errs.extend(validate_has_label(
        &spec.template,
        LEGACY_JOB_NAME_LABEL,
        name,
    ));
    errs.extend(validate_has_label(
        &spec.template,
        CONTROLLER_UID_LABEL,
        uid,
    ));
    errs.extend(validate_has_label(&spec.template, JOB_NAME_LABEL, name));
    if let Some(sel) = &spec.selector {
        let expected =
            std::collections::BTreeMap::from([(CONTROLLER_UID_LABEL.to_string(), uid.to_string())]);
        match LabelSelector::from_metav1(sel) {
            Err(_) => errs.push(FieldError::invalid(
                "spec.selector",
                go_label_selector(Some(sel)),
                "invalid label selector",
            )),
            Ok(s) if !s.matches(&expected) => errs.push(FieldError::invalid(
                "spec.selector",
                go_label_selector(Some(sel)),
                "`selector` not auto-generated",
            )),
            _ => {}
        }
    }
    errs
}

/// `ValidateJob`.
pub(crate) fn validate_job(job: &Job) -> Errors {
    let mut errs = validate_object_meta(
        &job.metadata,
        true,
        names::name_is_dns_subdomain,
        "metadata",
    );
    errs.extend(validate_generated_selector(job));
    let default_spec = Default::default();
    let spec = job.spec.as_ref().unwrap_or(&default_spec);
    let path = "spec";
    for (field, v) in [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        (
            "ttlSecondsAfterFinished",
            spec.ttl_seconds_after_finished.map(i64::from),
        ),
        (
            "backoffLimitPerIndex",
            spec.backoff_limit_per_index.map(i64::from),
        ),
        ("maxFailedIndexes", spec.max_failed_indexes.map(i64::from)),
    ] {
        if let Some(v) = v {
            errs.extend(nonnegative(v, &child(path, field)));
        }
    }
    if let Some(mode) = &spec.completion_mode {
        match mode.as_str() {
            "NonIndexed" => {}
            "Indexed" => {
                if spec.completions.is_none() {
                    errs.push(FieldError::required(
                        child(path, "completions"),
                        "when completion mode is Indexed",
                    ));
                }
                if spec.parallelism.is_some_and(|p| p > 100_000) {
                    errs.push(FieldError::invalid(
                        child(path, "parallelism"),
                        spec.parallelism.unwrap_or(0),
                        "must be less than or equal to 100000 when completion mode is Indexed",
                    ));
                }
                if let (Some(n), Some(c)) = (
                    job.metadata.name.as_deref(),
                    spec.completions.filter(|c| *c > 0),
                ) {
                    let host = format!("{n}-{}", c - 1);
                    if !names::is_dns1123_label(&host).is_empty() {
                        errs.push(FieldError::invalid(
                            "metadata.name",
                            n,
                            format!("will not able to create pod with invalid DNS label: {host}"),
                        ));
                    }
                }
            }
            other => errs.push(FieldError::not_supported(
                child(path, "completionMode"),
                other,
                &["NonIndexed", "Indexed"],
            )),
        }
    }
    if let Some(p) = &spec.pod_replacement_policy {
        if !matches!(p.as_str(), "TerminatingOrFailed" | "Failed") {
            errs.push(FieldError::not_supported(
                child(path, "podReplacementPolicy"),
                p,
                &["TerminatingOrFailed", "Failed"],
            ));
        }
    }
    let tpath = child(path, "template");
    errs.extend(validate_pod_template_spec(&spec.template, &tpath));
    let rp = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    let rp_path = child(&child(&tpath, "spec"), "restartPolicy");
    if rp != "OnFailure" && rp != "Never" {
        errs.push(FieldError::not_supported(
            &rp_path,
            rp,
            &["OnFailure", "Never"],
        ));
    } else if rp == "OnFailure" && spec.pod_failure_policy.is_some() {
        errs.push(FieldError::invalid(
            &rp_path,
            rp,
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    match &spec.selector {
        None => errs.push(FieldError::required(child(path, "selector"), "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &child(path, "selector")));
            if let Ok(s) = LabelSelector::from_metav1(sel) {
                if !s.matches_opt(template_labels(&spec.template)) {
                    errs.push(FieldError::invalid(
                        child(&child(&tpath, "metadata"), "labels"),
                        go_map(template_labels(&spec.template)),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
    }
    errs
}

/// `ValidateJobUpdate`: selector, template, completion mode and completions are fixed.
pub(crate) fn validate_job_update(new: &Job, old: &Job) -> Errors {
    let mut errs = validate_job(new);
    errs.extend(validate_object_meta_update(
        &new.metadata,
        &old.metadata,
        "metadata",
    ));
    let default_spec = Default::default();
    let ns = new.spec.as_ref().unwrap_or(&default_spec);
    let os = old.spec.as_ref().unwrap_or(&default_spec);
    let indexed = ns.completion_mode.as_deref() == Some("Indexed");
    let elastic = indexed && ns.completions == ns.parallelism && os.completions == os.parallelism;
    if !elastic {
        errs.extend(immutable(
            &ns.completions,
            &os.completions,
            ns.completions,
            "spec.completions",
        ));
    }
    errs.extend(immutable(
        &ns.selector,
        &os.selector,
        go_label_selector(ns.selector.as_ref()),
        "spec.selector",
    ));
    errs.extend(immutable(
        &ns.template,
        &os.template,
        json_value(&ns.template),
        "spec.template",
    ));
    errs.extend(immutable(
        &ns.completion_mode,
        &os.completion_mode,
        ns.completion_mode.clone(),
        "spec.completionMode",
    ));
    errs.extend(immutable(
        &ns.pod_failure_policy,
        &os.pod_failure_policy,
        json_value(&ns.pod_failure_policy),
        "spec.podFailurePolicy",
    ));
    errs.extend(immutable(
        &ns.backoff_limit_per_index,
        &os.backoff_limit_per_index,
        ns.backoff_limit_per_index,
        "spec.backoffLimitPerIndex",
    ));
    errs.extend(immutable(
        &ns.managed_by,
        &os.managed_by,
        ns.managed_by.clone(),
        "spec.managedBy",
    ));
    errs.extend(immutable(
        &ns.success_policy,
        &os.success_policy,
        json_value(&ns.success_policy),
        "spec.successPolicy",
    ));
    errs
}
