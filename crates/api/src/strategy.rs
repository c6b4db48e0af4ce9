//! Per-kind create and update strategies, as upstream's registry strategies: decode,
//! default, prepare (status reset, generation), validate, encode.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, Pod, PodCondition, PodStatus, Secret, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::admission::AdmitError;
use crate::defaults_pod::{admit_new_pod, canon_resource_list, canonicalize_pod_spec, default_pod};
use crate::defaults_workloads::{
    canonicalize_template, default_deployment, default_job, default_replica_set, default_secret,
    generate_job_selector, label_namespace, prepare_namespace_create,
};
use crate::pod::qos_class;
use crate::resources::Resource;
use crate::validation_meta::Errors;
use crate::{
    validation_apps as apps, validation_core as core, validation_pod as pods, validation_pod_update,
};

/// Go decoding ignores `null` for non-pointer fields; drop them so typed decoding agrees.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn decode<T: DeserializeOwned>(r: &Resource, mut v: Value) -> Result<T, AdmitError> {
    strip_nulls(&mut v);
    if !r.namespaced {
        // Cluster-scoped objects silently lose a namespace, as upstream's BeforeCreate does.
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
    }
    serde_json::from_value(v).map_err(decode_error)
}

/// The server prefixes it with `Kind in version "v" cannot be handled as a Kind: `.
fn decode_error(e: impl std::fmt::Display) -> AdmitError {
    AdmitError::Decode(e.to_string())
}

fn encode<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn finish<T: Serialize>(errs: Errors, obj: &T) -> Result<Value, AdmitError> {
    if errs.is_empty() {
        Ok(encode(obj))
    } else {
        Err(AdmitError::Invalid(errs))
    }
}

fn selector_present(raw: &Value) -> bool {
    raw.pointer("/spec/selector").is_some_and(|s| !s.is_null())
}

/// Server-owned metadata a create may not carry.
fn prepare_meta_create(meta: &mut ObjectMeta) {
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

/// upstream `BeforeUpdate`: system fields come from the stored object.
fn carry_meta(new: &mut ObjectMeta, old: &ObjectMeta) {
    if new.uid.as_deref().unwrap_or("").is_empty() {
        new.uid = old.uid.clone();
    }
    if old.creation_timestamp.is_some() {
        new.creation_timestamp = old.creation_timestamp.clone();
    }
    if old.deletion_timestamp.is_some() {
        new.deletion_timestamp = old.deletion_timestamp.clone();
    }
    if old.deletion_grace_period_seconds.is_some() {
        new.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
    }
    new.generation = old.generation;
}

fn normalized<T: Serialize>(t: &T) -> Value {
    let mut v = encode(t);
    strip_nulls(&mut v);
    v
}

/// Generation starts at 1 and moves when the spec changes.
fn bump_generation<S: Serialize>(
    meta: &mut ObjectMeta,
    new_spec: &S,
    old_spec: &S,
    also_changed: bool,
) {
    if also_changed || normalized(new_spec) != normalized(old_spec) {
        meta.generation = Some(meta.generation.unwrap_or(0) + 1);
    }
}

fn unknown_kind(r: &Resource) -> AdmitError {
    AdmitError::Decode(format!(
        "no admission rules for {} {}",
        r.api_version(),
        r.kind
    ))
}

pub(crate) fn create(r: &Resource, raw: Value) -> Result<Value, AdmitError> {
    match (r.group, r.kind) {
        ("", "Pod") => {
            let mut pod: Pod = decode(r, raw)?;
            prepare_meta_create(&mut pod.metadata);
            canonicalize_pod_spec(pod.spec.get_or_insert_with(Default::default))
                .map_err(decode_error)?;
            default_pod(&mut pod);
            admit_new_pod(&mut pod);
            let spec = pod.spec.as_ref().expect("defaulted");
            let gated = spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty());
            pod.status = Some(PodStatus {
                phase: Some("Pending".to_string()),
                qos_class: Some(qos_class(spec).to_string()),
                conditions: gated.then(|| {
                    vec![PodCondition {
                        type_: "PodScheduled".to_string(),
                        status: "False".to_string(),
                        reason: Some("SchedulingGated".to_string()),
                        message: Some(
                            "Scheduling is blocked due to non-empty scheduling gates".to_string(),
                        ),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            });
            finish(pods::validate_pod_create(&pod), &pod)
        }
        ("apps", "Deployment") => {
            let present = selector_present(&raw);
            let mut d: Deployment = decode(r, raw)?;
            prepare_meta_create(&mut d.metadata);
            if let Some(spec) = &mut d.spec {
                canonicalize_template(&mut spec.template).map_err(decode_error)?;
            }
            default_deployment(&mut d);
            d.status = Some(Default::default());
            d.metadata.generation = Some(1);
            finish(apps::validate_deployment(&d, present), &d)
        }
        ("apps", "ReplicaSet") => {
            let present = selector_present(&raw);
            let mut rs: ReplicaSet = decode(r, raw)?;
            prepare_meta_create(&mut rs.metadata);
            if let Some(t) = rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
                canonicalize_template(t).map_err(decode_error)?;
            }
            default_replica_set(&mut rs);
            rs.status = Some(Default::default());
            rs.metadata.generation = Some(1);
            finish(apps::validate_replica_set(&rs, present), &rs)
        }
        ("batch", "Job") => {
            let mut job: Job = decode(r, raw)?;
            prepare_meta_create(&mut job.metadata);
            if let Some(spec) = &mut job.spec {
                canonicalize_template(&mut spec.template).map_err(decode_error)?;
            }
            default_job(&mut job);
            let mut v = encode(&job);
            generate_job_selector(&mut v);
            let mut job: Job = serde_json::from_value(v).map_err(decode_error)?;
            job.status = Some(Default::default());
            job.metadata.generation = Some(1);
            finish(apps::validate_job(&job), &job)
        }
        ("", "Namespace") => {
            let mut ns: Namespace = decode(r, raw)?;
            prepare_meta_create(&mut ns.metadata);
            label_namespace(&mut ns);
            prepare_namespace_create(&mut ns);
            finish(core::validate_namespace(&ns), &ns)
        }
        ("", "ConfigMap") => {
            let mut cm: ConfigMap = decode(r, raw)?;
            prepare_meta_create(&mut cm.metadata);
            finish(core::validate_config_map(&cm), &cm)
        }
        ("", "Secret") => {
            let mut s: Secret = decode(r, raw)?;
            prepare_meta_create(&mut s.metadata);
            default_secret(&mut s);
            finish(core::validate_secret(&s), &s)
        }
        ("", "ServiceAccount") => {
            let mut sa: ServiceAccount = decode(r, raw)?;
            prepare_meta_create(&mut sa.metadata);
            finish(core::validate_service_account(&sa), &sa)
        }
        ("", "Node") => {
            let mut n: Node = decode(r, raw)?;
            prepare_meta_create(&mut n.metadata);
            canon_node(&mut n)?;
            finish(core::validate_node(&n), &n)
        }
        ("", "Event") => {
            let mut e: Event = decode(r, raw)?;
            prepare_meta_create(&mut e.metadata);
            finish(core::validate_event(&e), &e)
        }
        ("coordination.k8s.io", "Lease") => {
            let mut l: Lease = decode(r, raw)?;
            prepare_meta_create(&mut l.metadata);
            finish(core::validate_lease(&l), &l)
        }
        _ => Err(unknown_kind(r)),
    }
}

fn canon_node(n: &mut Node) -> Result<(), AdmitError> {
    if let Some(s) = &mut n.status {
        canon_resource_list(&mut s.capacity).map_err(decode_error)?;
        canon_resource_list(&mut s.allocatable).map_err(decode_error)?;
    }
    Ok(())
}

pub(crate) fn update(r: &Resource, raw: Value, old_raw: &Value) -> Result<Value, AdmitError> {
    match (r.group, r.kind) {
        ("", "Pod") => {
            let mut new: Pod = decode(r, raw)?;
            let old: Pod = decode(r, old_raw.clone())?;
            canonicalize_pod_spec(new.spec.get_or_insert_with(Default::default))
                .map_err(decode_error)?;
            default_pod(&mut new);
            carry_meta(&mut new.metadata, &old.metadata);
            // The Priority plugin keeps the priority it computed at creation.
            if let (Some(ns), Some(os)) = (new.spec.as_mut(), old.spec.as_ref()) {
                if os.priority.is_some() {
                    ns.priority = os.priority;
                }
                if os.preemption_policy.is_some() {
                    ns.preemption_policy = os.preemption_policy.clone();
                }
            }
            finish(validation_pod_update::validate_pod_update(&new, &old), &new)
        }
        ("apps", "Deployment") => {
            let present = selector_present(&raw);
            let mut new: Deployment = decode(r, raw)?;
            let old: Deployment = decode(r, old_raw.clone())?;
            if let Some(spec) = &mut new.spec {
                canonicalize_template(&mut spec.template).map_err(decode_error)?;
            }
            default_deployment(&mut new);
            carry_meta(&mut new.metadata, &old.metadata);
            let annotations_changed =
                normalized(&new.metadata.annotations) != normalized(&old.metadata.annotations);
            bump_generation(&mut new.metadata, &new.spec, &old.spec, annotations_changed);
            finish(apps::validate_deployment_update(&new, &old, present), &new)
        }
        ("apps", "ReplicaSet") => {
            let present = selector_present(&raw);
            let mut new: ReplicaSet = decode(r, raw)?;
            let old: ReplicaSet = decode(r, old_raw.clone())?;
            if let Some(t) = new.spec.as_mut().and_then(|s| s.template.as_mut()) {
                canonicalize_template(t).map_err(decode_error)?;
            }
            default_replica_set(&mut new);
            carry_meta(&mut new.metadata, &old.metadata);
            bump_generation(&mut new.metadata, &new.spec, &old.spec, false);
            finish(apps::validate_replica_set_update(&new, &old, present), &new)
        }
        ("batch", "Job") => {
            let mut new: Job = decode(r, raw)?;
            let old: Job = decode(r, old_raw.clone())?;
            if let Some(spec) = &mut new.spec {
                canonicalize_template(&mut spec.template).map_err(decode_error)?;
            }
            default_job(&mut new);
            carry_meta(&mut new.metadata, &old.metadata);
            bump_generation(&mut new.metadata, &new.spec, &old.spec, false);
            finish(apps::validate_job_update(&new, &old), &new)
        }
        ("", "Namespace") => {
            let mut new: Namespace = decode(r, raw)?;
            let old: Namespace = decode(r, old_raw.clone())?;
            carry_meta(&mut new.metadata, &old.metadata);
            label_namespace(&mut new);
            finish(core::validate_namespace_update(&new, &old), &new)
        }
        ("", "ConfigMap") => {
            let mut new: ConfigMap = decode(r, raw)?;
            let old: ConfigMap = decode(r, old_raw.clone())?;
            carry_meta(&mut new.metadata, &old.metadata);
            finish(core::validate_config_map_update(&new, &old), &new)
        }
        ("", "Secret") => {
            let mut new: Secret = decode(r, raw)?;
            let old: Secret = decode(r, old_raw.clone())?;
            default_secret(&mut new);
            carry_meta(&mut new.metadata, &old.metadata);
            finish(core::validate_secret_update(&new, &old), &new)
        }
        ("", "ServiceAccount") => {
            let mut new: ServiceAccount = decode(r, raw)?;
            let old: ServiceAccount = decode(r, old_raw.clone())?;
            carry_meta(&mut new.metadata, &old.metadata);
            let mut errs = crate::validation_meta::validate_object_meta_update(
                &new.metadata,
                &old.metadata,
                "metadata",
            );
            errs.extend(core::validate_service_account(&new));
            finish(errs, &new)
        }
        ("", "Node") => {
            let mut new: Node = decode(r, raw)?;
            let old: Node = decode(r, old_raw.clone())?;
            canon_node(&mut new)?;
            carry_meta(&mut new.metadata, &old.metadata);
            finish(core::validate_node_update(&new, &old), &new)
        }
        ("", "Event") => {
            let mut new: Event = decode(r, raw)?;
            let old: Event = decode(r, old_raw.clone())?;
            carry_meta(&mut new.metadata, &old.metadata);
            finish(core::validate_event_update(&new, &old), &new)
        }
        ("coordination.k8s.io", "Lease") => {
            let mut new: Lease = decode(r, raw)?;
            let old: Lease = decode(r, old_raw.clone())?;
            carry_meta(&mut new.metadata, &old.metadata);
            let mut errs = crate::validation_meta::validate_object_meta_update(
                &new.metadata,
                &old.metadata,
                "metadata",
            );
            errs.extend(core::validate_lease(&new));
            finish(errs, &new)
        }
        _ => Err(unknown_kind(r)),
    }
}

fn set_or_remove(obj: &mut Value, key: &str, value: Option<&Value>) {
    if let Some(o) = obj.as_object_mut() {
        match value {
            Some(v) => {
                o.insert(key.to_string(), v.clone());
            }
            None => {
                o.remove(key);
            }
        }
    }
}

pub(crate) fn prepare_for_update(r: &Resource, new: &mut Value, old: &Value) {
    if r.has_status() {
        set_or_remove(new, "status", old.get("status"));
    }
    if r.kind == "Namespace" && r.group.is_empty() {
        let finalizers = old.pointer("/spec/finalizers").cloned();
        if let Some(spec) = new.as_object_mut().map(|o| {
            o.entry("spec")
                .or_insert_with(|| Value::Object(Default::default()))
        }) {
            set_or_remove(spec, "finalizers", finalizers.as_ref());
        }
    }
}

pub(crate) fn prepare_status_update(r: &Resource, new: &Value, old: &Value) -> Value {
    let mut out = new.clone();
    set_or_remove(&mut out, "spec", old.get("spec"));
    if let Some(meta) = out.get_mut("metadata") {
        set_or_remove(
            meta,
            "ownerReferences",
            old.pointer("/metadata/ownerReferences"),
        );
        set_or_remove(
            meta,
            "deletionTimestamp",
            old.pointer("/metadata/deletionTimestamp"),
        );
        if matches!(r.group, "apps" | "batch") {
            set_or_remove(meta, "labels", old.pointer("/metadata/labels"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_kinds;
