//! Admission of workloads and the small core kinds: defaults, field errors, updates.

use serde_json::{json, Value};

use super::tests::{app, errors, ok, res};
use crate::admission::{admit_update, AdmitError};

fn deployment(selector: Option<Value>, labels: Value) -> Value {
    let mut spec =
        json!({"template": {"metadata": {"labels": labels}, "spec": {"containers": [app()]}}});
    if let Some(s) = selector {
        spec["selector"] = s;
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
}

#[test]
fn deployments_default_and_validate() {
    let out = ok(deployment(
        Some(json!({"matchLabels": {"app": "web"}})),
        json!({"app": "web"}),
    ));
    assert_eq!(out["spec"]["replicas"], 1);
    assert_eq!(
        out["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": "25%", "maxUnavailable": "25%"})
    );
    assert_eq!(out["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(out["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(out["metadata"]["generation"], 1);
    assert_eq!(out["status"], json!({}));
    assert_eq!(out["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert!(out["spec"]["template"]["spec"]
        .get("serviceAccountName")
        .is_none());

    let m = errors(deployment(None, json!({"app": "web"})));
    assert_eq!(
        m,
        vec![
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
        ]
    );
    let m = errors(deployment(
        Some(json!({"matchLabels": {"app": "db"}})),
        json!({"app": "web"}),
    ));
    assert_eq!(m, vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"]);
    let m = errors(deployment(Some(json!({})), json!({"app": "web"})));
    assert_eq!(m, vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"]);
    let mut d = deployment(
        Some(json!({"matchLabels": {"app": "web"}})),
        json!({"app": "web"}),
    );
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(errors(d), vec!["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""]);
}

#[test]
fn deployment_updates_keep_the_selector_and_bump_generation() {
    let r = res("Deployment");
    let old = ok(deployment(
        Some(json!({"matchLabels": {"app": "web"}})),
        json!({"app": "web", "v": "1"}),
    ));
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(3);
    let out = admit_update(r, new, &old).unwrap();
    assert_eq!(out["metadata"]["generation"], 2);
    let same = admit_update(r, old.clone(), &old).unwrap();
    assert_eq!(same["metadata"]["generation"], 1);
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"v": "1"}});
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(
        errs[0].message(),
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"v\":\"1\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    );
}

#[test]
fn replica_sets() {
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [app()]}}}});
    let out = ok(rs.clone());
    assert_eq!(out["spec"]["replicas"], 1);
    let mut bad = rs.clone();
    bad["spec"]["replicas"] = json!(-1);
    assert_eq!(
        errors(bad),
        vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    );
    let mut new = out.clone();
    new["spec"]["selector"]["matchLabels"]["app"] = json!("other");
    new["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let Err(AdmitError::Invalid(errs)) = admit_update(res("ReplicaSet"), new, &out) else {
        panic!()
    };
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec.selector");
}

fn job(template_spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"template": {"spec": template_spec}}})
}

#[test]
fn jobs_default_generate_a_selector_and_validate() {
    let out = ok(job(
        json!({"containers": [app()], "restartPolicy": "Never"}),
    ));
    let spec = &out["spec"];
    assert_eq!(
        (
            spec["completions"].clone(),
            spec["parallelism"].clone(),
            spec["backoffLimit"].clone()
        ),
        (json!(1), json!(1), json!(6))
    );
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(spec["template"]["metadata"]["labels"]["job-name"], "pi");
    assert_eq!(
        out["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "pi"
    );
    assert_eq!(out["metadata"]["generation"], 1);
    let m = errors(job(json!({"containers": [app()]})));
    assert_eq!(m, vec!["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""]);
    let mut manual = job(json!({"containers": [app()], "restartPolicy": "Never"}));
    manual["spec"]["manualSelector"] = json!(true);
    assert_eq!(
        errors(manual.clone()),
        vec!["spec.selector: Required value"]
    );
    manual["spec"]["selector"] = json!({"matchLabels": {"app": "pi"}});
    manual["spec"]["template"]["metadata"] = json!({"labels": {"app": "pi"}});
    ok(manual);
}

#[test]
fn job_templates_are_immutable() {
    let r = res("Job");
    let old = ok(job(
        json!({"containers": [app()], "restartPolicy": "Never"}),
    ));
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:1.37");
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec.template");
    assert!(errs[0].message().ends_with(": field is immutable"));
    let mut new = old.clone();
    new["spec"]["parallelism"] = json!(2);
    assert_eq!(
        admit_update(r, new, &old).unwrap()["metadata"]["generation"],
        2
    );
}

#[test]
fn namespaces() {
    let out = ok(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "namespace": "ignored"}}),
    );
    assert_eq!(out["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(out["status"]["phase"], "Active");
    assert_eq!(
        out["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    assert!(out["metadata"].get("namespace").is_none());
    let m =
        errors(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team.a"}}));
    assert_eq!(
        m,
        vec!["metadata.name: Invalid value: \"team.a\": must not contain dots"]
    );
}

#[test]
fn secrets_and_config_maps() {
    let out = ok(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}),
    );
    assert_eq!(out["type"], "Opaque");
    assert_eq!(out["data"]["k"], "dg==");
    let m = errors(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"bad key": "dg=="}}),
    );
    assert!(m[0].starts_with(
        "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of"
    ));
    let m = errors(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"..": "x"}}),
    );
    assert_eq!(m, vec!["data[..]: Invalid value: \"..\": must not be '..'"]);
}

#[test]
fn nodes_events_leases_and_service_accounts() {
    let node = ok(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"capacity": {"cpu": "2", "memory": "4096Mi"}}}),
    );
    assert_eq!(node["status"]["capacity"]["memory"], "4Gi");
    ok(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}));
    ok(
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}),
    );
    ok(
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Scheduled", "message": "ok"}),
    );
    let m =
        errors(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "Bad"}}));
    assert!(m[0].starts_with("metadata.name: Invalid value: \"Bad\""));
}
