//! Defaulting of workloads (Deployment, ReplicaSet, Job) and of the core kinds with
//! defaults of their own (Namespace, Secret), and the Job selector upstream generates.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentStrategy, ReplicaSet, RollingUpdateDeployment,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, PodTemplateSpec, Secret};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use serde_json::{Map, Value};

use crate::defaults_pod::{canonicalize_pod_spec, default_pod_spec};

/// Label keys the Job controller's pods carry.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";

/// Defaults of a pod template (the spec defaults; nothing pod-only).
pub(crate) fn default_template(t: &mut PodTemplateSpec) {
    default_pod_spec(t.spec.get_or_insert_with(Default::default));
}

pub(crate) fn canonicalize_template(t: &mut PodTemplateSpec) -> Result<(), String> {
    match &mut t.spec {
        Some(spec) => canonicalize_pod_spec(spec),
        None => Ok(()),
    }
}

/// upstream apps/v1 `SetDefaults_Deployment`.
pub(crate) fn default_deployment(d: &mut Deployment) {
    let spec = d.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    if strategy.type_.as_deref().unwrap_or("").is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        ru.max_unavailable
            .get_or_insert_with(|| IntOrString::String("25%".to_string()));
        ru.max_surge
            .get_or_insert_with(|| IntOrString::String("25%".to_string()));
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    default_template(&mut spec.template);
}

/// upstream apps/v1 `SetDefaults_ReplicaSet`.
pub(crate) fn default_replica_set(rs: &mut ReplicaSet) {
    let spec = rs.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    default_template(spec.template.get_or_insert_with(Default::default));
}

/// upstream batch/v1 `SetDefaults_Job`.
pub(crate) fn default_job(job: &mut Job) {
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        });
    }
    if spec.completion_mode.as_deref().unwrap_or("").is_empty() {
        spec.completion_mode = Some("NonIndexed".to_string());
    }
    spec.suspend.get_or_insert(false);
    spec.manual_selector.get_or_insert(false);
    if let Some(pfp) = &mut spec.pod_failure_policy {
        for rule in &mut pfp.rules {
            for pattern in rule.on_pod_conditions.iter_mut().flatten() {
                if pattern.status.is_empty() {
                    pattern.status = "True".to_string();
                }
            }
        }
    }
    if spec
        .pod_replacement_policy
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        let policy = if spec.pod_failure_policy.is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    copy_template_labels(job);
    if let Some(spec) = &mut job.spec {
        default_template(&mut spec.template);
    }
}

/// A job without labels takes its template's labels.
fn copy_template_labels(job: &mut Job) {
    let template_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    if let Some(labels) = template_labels {
        if job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            job.metadata.labels = Some(labels);
        }
    }
}

/// The labels and selector upstream generates for a Job that does not ask for a manual
/// selector: `job-name`/`batch.kubernetes.io/job-name` = name and
/// `controller-uid`/`batch.kubernetes.io/controller-uid` = uid on the pod template, and a
/// selector on `batch.kubernetes.io/controller-uid`. Call it once `metadata.uid` is set;
/// without a uid, or with `spec.manualSelector: true`, the job is left as it is. A job
/// without labels then takes the template's, as upstream shows it when read back.
pub fn generate_job_selector(job: &mut Value) {
    let meta = job.get("metadata");
    let uid = meta
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let manual = job
        .pointer("/spec/manualSelector")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if uid.is_empty() || manual {
        return;
    }
    let Some(root) = job.as_object_mut() else {
        return;
    };
    let labels = ensure_object(
        ensure_object(
            ensure_object(ensure_object(root, "spec"), "template"),
            "metadata",
        ),
        "labels",
    );
    for (k, v) in [
        (LEGACY_JOB_NAME_LABEL, &name),
        (JOB_NAME_LABEL, &name),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (CONTROLLER_UID_LABEL, &uid),
    ] {
        labels
            .entry(k.to_string())
            .or_insert_with(|| Value::String(v.clone()));
    }
    let template_labels = labels.clone();
    let selector = ensure_object(
        ensure_object(ensure_object(root, "spec"), "selector"),
        "matchLabels",
    );
    selector
        .entry(CONTROLLER_UID_LABEL.to_string())
        .or_insert_with(|| Value::String(uid.clone()));
    let meta = ensure_object(root, "metadata");
    let has_labels = meta
        .get("labels")
        .and_then(Value::as_object)
        .is_some_and(|l| !l.is_empty());
    if !has_labels {
        meta.insert("labels".to_string(), Value::Object(template_labels));
    }
}

/// The object at `key` of an object, created (or replacing a non-object) if needed.
fn ensure_object<'a>(v: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let e = v
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !e.is_object() {
        *e = Value::Object(Map::new());
    }
    e.as_object_mut().expect("just made an object")
}

/// Namespace creation: the `kubernetes` finalizer and phase `Active`.
pub(crate) fn prepare_namespace_create(ns: &mut Namespace) {
    let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
    let finalizers = spec.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == "kubernetes") {
        finalizers.push("kubernetes".to_string());
    }
    ns.status = Some(k8s_openapi::api::core::v1::NamespaceStatus {
        phase: Some("Active".to_string()),
        conditions: None,
    });
}

/// The `kubernetes.io/metadata.name` label every namespace carries.
pub(crate) fn label_namespace(ns: &mut Namespace) {
    if let Some(name) = ns.metadata.name.clone().filter(|n| !n.is_empty()) {
        ns.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("kubernetes.io/metadata.name".to_string(), name);
    }
}

/// Secret conversion and defaults: `stringData` merges into `data` (winning over it) and
/// is dropped; `type` defaults to `Opaque`.
pub(crate) fn default_secret(s: &mut Secret) {
    if let Some(string_data) = s.string_data.take() {
        let data = s.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    if s.type_.as_deref().unwrap_or("").is_empty() {
        s.type_ = Some("Opaque".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_defaults() {
        let mut d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        }))
        .unwrap();
        default_deployment(&mut d);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["spec"]["replicas"], 1);
        assert_eq!(v["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(v["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(
            v["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        );
        assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert!(v["spec"]["template"]["spec"]
            .get("enableServiceLinks")
            .is_none());
    }

    #[test]
    fn recreate_strategy_gets_no_rolling_update() {
        let mut d: Deployment = serde_json::from_value(
            json!({"spec": {"selector": {}, "template": {}, "strategy": {"type": "Recreate"}}}),
        )
        .unwrap();
        default_deployment(&mut d);
        assert!(d.spec.unwrap().strategy.unwrap().rolling_update.is_none());
    }

    #[test]
    fn job_defaults() {
        let mut j: Job = serde_json::from_value(
            json!({"spec": {"completions": 5, "template": {"metadata": {"labels": {"app": "x"}}}}}),
        )
        .unwrap();
        default_job(&mut j);
        let s = j.spec.as_ref().unwrap();
        assert_eq!(
            (s.completions, s.parallelism, s.backoff_limit),
            (Some(5), Some(1), Some(6))
        );
        assert_eq!(s.completion_mode.as_deref(), Some("NonIndexed"));
        assert_eq!((s.suspend, s.manual_selector), (Some(false), Some(false)));
        assert_eq!(
            s.pod_replacement_policy.as_deref(),
            Some("TerminatingOrFailed")
        );
        assert_eq!(j.metadata.labels.unwrap()["app"], "x");
        let mut j: Job = serde_json::from_value(json!({"spec": {"template": {}}})).unwrap();
        default_job(&mut j);
        let s = j.spec.unwrap();
        assert_eq!((s.completions, s.parallelism), (Some(1), Some(1)));
        let mut j: Job =
            serde_json::from_value(json!({"spec": {"parallelism": 3, "template": {}}})).unwrap();
        default_job(&mut j);
        assert_eq!(j.spec.unwrap().completions, None);
    }

    #[test]
    fn job_selector_generation() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"metadata": {"labels": {"app": "pi"}}}}});
        generate_job_selector(&mut j);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        let labels = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["job-name"], "pi");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], "u-1");
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], "u-1");
        assert_eq!(labels["app"], "pi");
        assert_eq!(j["metadata"]["labels"], *labels);

        let mut manual = json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"manualSelector": true, "template": {}}});
        let before = manual.clone();
        generate_job_selector(&mut manual);
        assert_eq!(manual, before);
        let mut no_uid = json!({"metadata": {"name": "pi"}, "spec": {}});
        generate_job_selector(&mut no_uid);
        assert!(no_uid["spec"].get("selector").is_none());
    }

    #[test]
    fn secrets_merge_string_data() {
        let mut s: Secret = serde_json::from_value(
            json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "new", "c": "z"}}),
        )
        .unwrap();
        default_secret(&mut s);
        let data = s.data.unwrap();
        assert_eq!(data["a"].0, b"x");
        assert_eq!(data["b"].0, b"new");
        assert_eq!(data["c"].0, b"z");
        assert!(s.string_data.is_none());
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
    }

    #[test]
    fn namespaces_get_the_kubernetes_finalizer() {
        let mut ns = Namespace::default();
        ns.metadata.name = Some("team".into());
        prepare_namespace_create(&mut ns);
        label_namespace(&mut ns);
        assert_eq!(ns.spec.unwrap().finalizers.unwrap(), vec!["kubernetes"]);
        assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
        assert_eq!(
            ns.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
            "team"
        );
    }
}
