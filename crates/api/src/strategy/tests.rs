//! End-to-end admission tests: the shared scenarios pass, invalid variants fail at the
//! right field path with upstream's messages, updates obey each kind's immutability.

use serde_json::{json, Value};

use crate::admission::{
    admit_create, admit_update, prepare_for_update, prepare_status_update, AdmitError, ErrorKind,
};
use crate::resources::{find_kind, Resource};

pub(super) fn res(kind: &str) -> &'static Resource {
    let group = match kind {
        "Deployment" | "ReplicaSet" => "apps",
        "Job" => "batch",
        "Lease" => "coordination.k8s.io",
        _ => "",
    };
    find_kind(group, kind).unwrap()
}

/// What the server does before admission: namespace for namespaced kinds, a uid.
pub(super) fn prepared(mut obj: Value) -> (Value, &'static Resource) {
    let r = res(obj["kind"].as_str().unwrap());
    let meta = obj
        .as_object_mut()
        .unwrap()
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if r.namespaced && meta.get("namespace").is_none() {
        meta["namespace"] = json!("default");
    }
    meta["uid"] = json!("0b5c8f62-0000-4000-8000-000000000001");
    (obj, r)
}

pub(super) fn create(obj: Value) -> Result<Value, AdmitError> {
    let (obj, r) = prepared(obj);
    admit_create(r, obj)
}

pub(super) fn ok(obj: Value) -> Value {
    match create(obj) {
        Ok(v) => v,
        Err(e) => panic!("admission failed: {e}"),
    }
}

pub(super) fn errors(obj: Value) -> Vec<String> {
    match create(obj) {
        Ok(_) => panic!("expected validation errors"),
        Err(AdmitError::Invalid(errs)) => errs.iter().map(|e| e.message()).collect(),
        Err(e) => panic!("expected validation errors, got {e}"),
    }
}

pub(super) fn fields(obj: Value) -> Vec<String> {
    match create(obj) {
        Err(AdmitError::Invalid(errs)) => errs.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected validation errors, got {other:?}"),
    }
}

pub(super) fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

pub(super) fn app() -> Value {
    json!({"name": "app", "image": "busybox:1.36"})
}

fn scenario_docs() -> Option<Vec<(String, Value)>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scenarios");
    let entries = std::fs::read_dir(&dir).ok()?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).ok()?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).expect("scenario yaml parses");
            if !v.is_null() {
                docs.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    }
    Some(docs)
}

#[test]
fn every_scenario_object_is_admitted() {
    let Some(docs) = scenario_docs() else {
        println!("SKIPPED: /work/shared/scenarios not found");
        return;
    };
    assert!(docs.len() >= 17, "found {} scenario objects", docs.len());
    for (file, doc) in docs {
        let out = create(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(out["kind"], doc["kind"], "{file}");
        // Admission is idempotent: the stored form admits to itself.
        let (_, r) = prepared(doc.clone());
        let again =
            admit_create(r, out.clone()).unwrap_or_else(|e| panic!("{file} re-admission: {e}"));
        assert_eq!(again, out, "{file}");
        // And an unchanged update is accepted.
        admit_update(r, out.clone(), &out).unwrap_or_else(|e| panic!("{file} no-op update: {e}"));
    }
}

#[test]
fn scenario_pods_get_their_expected_defaults() {
    let Some(docs) = scenario_docs() else {
        println!("SKIPPED: /work/shared/scenarios not found");
        return;
    };
    let find = |name: &str| {
        docs.iter()
            .find(|(f, _)| f.starts_with(name))
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    let two = ok(find("01-"));
    assert_eq!(two["spec"]["restartPolicy"], "Never");
    assert_eq!(two["status"]["qosClass"], "BestEffort");
    let res = ok(find("11-"));
    assert_eq!(
        res["spec"]["containers"][0]["resources"]["requests"],
        json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(res["status"]["qosClass"], "Burstable");
    let hooks = ok(find("03-"));
    assert_eq!(hooks["spec"]["terminationGracePeriodSeconds"], 10);
    assert_eq!(hooks["status"]["qosClass"], "Guaranteed");
    let live = ok(find("05-"));
    let probe = &live["spec"]["containers"][0]["livenessProbe"];
    assert_eq!(probe["httpGet"]["scheme"], "HTTP");
    assert_eq!(probe["periodSeconds"], 3);
    assert_eq!(probe["timeoutSeconds"], 1);
    let projected = docs
        .iter()
        .filter(|(f, _)| f.starts_with("14-"))
        .map(|(_, d)| d.clone())
        .find(|d| d["kind"] == "Pod")
        .unwrap();
    let projected = ok(projected);
    assert_eq!(
        projected["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
        "v1"
    );
    assert_eq!(
        projected["spec"]["volumes"][2]["downwardAPI"]["defaultMode"],
        420
    );
    let secret = docs
        .iter()
        .filter(|(f, _)| f.starts_with("14-"))
        .map(|(_, d)| d.clone())
        .find(|d| d["kind"] == "Secret")
        .unwrap();
    let secret = ok(secret);
    assert_eq!(secret["data"]["username"], "YWRtaW4=");
    assert!(secret.get("stringData").is_none());
    let job = ok(find("09-"));
    assert_eq!(job["spec"]["completions"], 5);
    assert_eq!(job["spec"]["parallelism"], 1);
    assert_eq!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        "0b5c8f62-0000-4000-8000-000000000001"
    );
}

#[test]
fn a_minimal_pod_gets_every_upstream_default() {
    let out = ok(pod(
        json!({"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}),
    ));
    let spec = &out["spec"];
    assert_eq!(out["apiVersion"], "v1");
    assert_eq!(out["kind"], "Pod");
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(c["resources"], json!({}));
    assert_eq!(
        out["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
}

#[test]
fn unknown_fields_are_dropped_and_status_is_reset() {
    let mut p = pod(json!({"containers": [app()], "bogus": 1}));
    p["status"] = json!({"phase": "Running", "podIP": "10.0.0.9"});
    p["extra"] = json!("x");
    let out = ok(p);
    assert!(out.get("extra").is_none());
    assert!(out["spec"].get("bogus").is_none());
    assert_eq!(out["status"]["phase"], "Pending");
    assert!(out["status"].get("podIP").is_none());
}

#[test]
fn bodies_that_do_not_fit_the_type_are_decode_errors() {
    let e = create(pod(json!({"containers": "nope"}))).unwrap_err();
    let AdmitError::Decode(m) = e else {
        panic!("{e:?}")
    };
    // The server adds `Pod in version "v1" cannot be handled as a Pod: `.
    assert!(
        m.contains("invalid type: string \"nope\", expected a sequence"),
        "{m}"
    );
    let e = create(pod(json!({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "lots"}}}]}))).unwrap_err();
    assert!(
        matches!(&e, AdmitError::Decode(m) if m.contains("quantities must match the regular expression")),
        "{e:?}"
    );
    let e = create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "not base64!"}})).unwrap_err();
    assert!(matches!(e, AdmitError::Decode(_)));
}

#[test]
fn pod_field_errors_have_upstream_paths_and_messages() {
    assert_eq!(
        errors(pod(json!({"containers": []}))),
        vec!["spec.containers: Required value"]
    );
    assert_eq!(
        errors(pod(json!({"containers": [{"name": "a"}]}))),
        vec!["spec.containers[0].image: Required value"]
    );
    let m = errors(pod(
        json!({"containers": [app()], "restartPolicy": "Sometimes"}),
    ));
    assert_eq!(m, vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""]);
    let mut p = pod(json!({"containers": [app()]}));
    p["metadata"]["name"] = json!("Bad_Name");
    let m = errors(p);
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"));
    let m = errors(pod(json!({"containers": [{"name": "Web", "image": "x"}]})));
    assert!(m[0].starts_with(
        "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label"
    ));
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes"}]}),
    ));
    assert_eq!(m, vec!["spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""]);
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "terminationMessagePolicy": "Log"}]}),
    ));
    assert_eq!(m, vec!["spec.containers[0].terminationMessagePolicy: Unsupported value: \"Log\": supported values: \"File\", \"FallbackToLogsOnError\""]);
    let m = errors(pod(json!({"containers": [app()], "dnsPolicy": "Google"})));
    assert!(m[0].starts_with("spec.dnsPolicy: Unsupported value: \"Google\""));
}

#[test]
fn container_names_are_unique_across_init_and_app() {
    let m = errors(pod(json!({"containers": [app(), app()]})));
    assert_eq!(m, vec!["spec.containers[1].name: Duplicate value: \"app\""]);
    let m = errors(pod(
        json!({"initContainers": [app()], "containers": [app()]}),
    ));
    assert_eq!(
        m,
        vec!["spec.initContainers[0].name: Duplicate value: \"app\""]
    );
}

#[test]
fn volumes_and_mounts() {
    let mount = |name: &str, path: &str| json!({"name": name, "mountPath": path});
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [mount("data", "/d")]}]}),
    ));
    assert_eq!(
        m,
        vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\""]
    );
    let m = errors(pod(json!({"volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [{"name": "a", "image": "x", "volumeMounts": [mount("data", ""), mount("data", "/d"), mount("data", "/d")]}]})));
    assert_eq!(
        m,
        vec![
            "spec.containers[0].volumeMounts[0].mountPath: Required value",
            "spec.containers[0].volumeMounts[2].mountPath: Invalid value: \"/d\": must be unique"
        ]
    );
    let m = errors(pod(
        json!({"volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}], "containers": [app()]}),
    ));
    assert_eq!(m, vec!["spec.volumes[1].name: Duplicate value: \"data\""]);
    let m = errors(pod(
        json!({"volumes": [{"name": "s", "secret": {}}], "containers": [app()]}),
    ));
    assert_eq!(m, vec!["spec.volumes[0].secret.secretName: Required value"]);
    let f = fields(pod(
        json!({"volumes": [{"name": "h", "hostPath": {"path": "/x", "type": "Socket"}}],
        "containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "h", "mountPath": "/h", "subPath": "../up", "mountPropagation": "Bidirectional"}]}]}),
    ));
    assert_eq!(
        f,
        vec![
            "spec.containers[0].volumeMounts.subPath",
            "spec.containers[0].volumeMounts.mountPropagation"
        ]
    );
}

#[test]
fn ports() {
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "ports": [
        {"containerPort": 0}, {"containerPort": 70000}, {"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"},
        {"containerPort": 82, "name": "HTTP"}, {"containerPort": 83, "protocol": "ICMP"}]}]}),
    ));
    assert_eq!(
        m,
        vec![
            "spec.containers[0].ports[0].containerPort: Required value",
            "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[3].name: Duplicate value: \"http\"",
            "spec.containers[0].ports[4].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.containers[0].ports[5].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ]
    );
    let m = errors(pod(json!({"containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}]})));
    assert_eq!(
        m,
        vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
    );
}

#[test]
fn probes_need_exactly_one_handler() {
    let c = |probe: Value| {
        pod(json!({"containers": [{"name": "a", "image": "x", "livenessProbe": probe}]}))
    };
    let m = errors(c(
        json!({"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}),
    ));
    assert_eq!(m, vec!["spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"]);
    let m = errors(c(json!({"periodSeconds": 5})));
    assert_eq!(
        m,
        vec!["spec.containers[0].livenessProbe: Required value: must specify a handler type"]
    );
    let m = errors(c(
        json!({"exec": {"command": ["true"]}, "successThreshold": 2}),
    ));
    assert_eq!(
        m,
        vec!["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"]
    );
    let m = errors(c(json!({"httpGet": {"port": 0}})));
    assert_eq!(m, vec!["spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"]);
    let ok_readiness = pod(
        json!({"containers": [{"name": "a", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}, "successThreshold": 3}}]}),
    );
    ok(ok_readiness);
}

#[test]
fn sidecars_and_init_container_rules() {
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "restartPolicy": "Always"}]}),
    ));
    assert_eq!(
        m,
        vec!["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"]
    );
    let m = errors(pod(
        json!({"initContainers": [{"name": "i", "image": "x", "restartPolicy": "OnFailure"}], "containers": [app()]}),
    ));
    assert_eq!(m, vec!["spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""]);
    let m = errors(pod(
        json!({"initContainers": [{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}], "containers": [app()]}),
    ));
    assert_eq!(m, vec!["spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"]);
    ok(pod(
        json!({"initContainers": [{"name": "i", "image": "x", "restartPolicy": "Always", "readinessProbe": {"exec": {"command": ["true"]}}}], "containers": [app()]}),
    ));
}

#[test]
fn resources_must_parse_and_requests_fit_limits() {
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}),
    ));
    assert_eq!(m, vec!["spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"]);
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "-1"}}}]}),
    ));
    assert_eq!(m, vec!["spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"]);
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"gpu": "1"}}}]}),
    ));
    assert_eq!(
        m,
        vec![
            "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
            "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
        ]
    );
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"example.com/gpu": "1"}}}]}),
    ));
    assert_eq!(m, vec!["spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"]);
    let out = ok(pod(
        json!({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1000m", "memory": "0.5Gi"}}}]}),
    ));
    assert_eq!(
        out["spec"]["containers"][0]["resources"]["limits"],
        json!({"cpu": "1", "memory": "512Mi"})
    );
    assert_eq!(
        out["spec"]["containers"][0]["resources"]["requests"],
        json!({"cpu": "1", "memory": "512Mi"})
    );
    assert_eq!(out["status"]["qosClass"], "Guaranteed");
}

#[test]
fn env_and_metadata_checks() {
    let m = errors(pod(
        json!({"containers": [{"name": "a", "image": "x", "env": [
        {"name": ""}, {"name": "A", "valueFrom": {}}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}]}),
    ));
    assert_eq!(
        m,
        vec![
            "spec.containers[0].env[0].name: Required value",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            "spec.containers[0].env[2].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.bogus\": error converting fieldPath: field label not supported: spec.bogus",
        ]
    );
    ok(pod(
        json!({"containers": [{"name": "a", "image": "x", "env": [{"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}]}]}),
    ));
    let mut p = pod(json!({"containers": [app()]}));
    p["metadata"]["labels"] = json!({"app": "bad value"});
    assert!(errors(p)[0]
        .starts_with("metadata.labels: Invalid value: \"bad value\": a valid label must be"));
    let (mut obj, r) = prepared(pod(json!({"containers": [app()]})));
    obj["metadata"].as_object_mut().unwrap().remove("namespace");
    let Err(AdmitError::Invalid(e)) = admit_create(r, obj) else {
        panic!()
    };
    assert_eq!(e[0].message(), "metadata.namespace: Required value");
    assert_eq!(e[0].kind, ErrorKind::Required);
}

#[test]
fn ephemeral_containers_cannot_be_created() {
    let m = errors(pod(
        json!({"containers": [app()], "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}),
    ));
    assert_eq!(
        m,
        vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"]
    );
}

fn stored_pod() -> (Value, &'static Resource) {
    let out = ok(pod(
        json!({"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}],
        "activeDeadlineSeconds": 100}),
    ));
    (out, res("Pod"))
}

#[test]
fn pod_updates_may_change_images_only() {
    let (old, r) = stored_pod();
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    new["metadata"]["labels"] = json!({"app": "web"});
    let out = admit_update(r, new, &old).unwrap();
    assert_eq!(out["spec"]["containers"][0]["image"], "nginx:1.28");

    let mut new = old.clone();
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8080);
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec");
    assert_eq!(errs[0].kind, ErrorKind::Forbidden);
    assert!(errs[0].message().starts_with(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    ));
    assert!(errs[0]
        .detail
        .contains("containers[0].ports[0].containerPort: 80"));

    let mut new = old.clone();
    new["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "two", "image": "x"}));
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert!(errs.iter().any(|e| e.message()
        == "spec.containers: Forbidden: pod updates may not add or remove containers"));
}

#[test]
fn pod_update_deadlines_tolerations_and_identity() {
    let (old, r) = stored_pod();
    let mut new = old.clone();
    new["spec"]["activeDeadlineSeconds"] = json!(50);
    admit_update(r, new, &old).unwrap();
    let mut new = old.clone();
    new["spec"]["activeDeadlineSeconds"] = json!(200);
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(errs[0].message(), "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value");

    let mut new = old.clone();
    new["spec"]["tolerations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "x", "operator": "Exists"}));
    admit_update(r, new, &old).unwrap();
    let mut new = old.clone();
    new["spec"]["tolerations"].as_array_mut().unwrap().pop();
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(errs[0].message(), "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds");

    let mut new = old.clone();
    new["metadata"]["name"] = json!("other");
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(
        errs[0].message(),
        "metadata.name: Invalid value: \"other\": field is immutable"
    );
    let mut new = old.clone();
    new["metadata"]["uid"] = json!("different");
    let Err(AdmitError::Invalid(errs)) = admit_update(r, new, &old) else {
        panic!()
    };
    assert_eq!(errs[0].field, "metadata.uid");
    // An update that omits the uid keeps the stored one.
    let mut new = old.clone();
    new["metadata"].as_object_mut().unwrap().remove("uid");
    let out = admit_update(r, new, &old).unwrap();
    assert_eq!(out["metadata"]["uid"], old["metadata"]["uid"]);
}

#[test]
fn status_helpers_split_main_and_status_writes() {
    let (old, r) = stored_pod();
    let mut main = old.clone();
    main["status"] = json!({"phase": "Running"});
    prepare_for_update(r, &mut main, &old);
    assert_eq!(main["status"], old["status"]);
    let mut status_write = old.clone();
    status_write["status"]["phase"] = json!("Running");
    status_write["spec"]["containers"][0]["image"] = json!("ignored");
    let merged = prepare_status_update(r, &status_write, &old);
    assert_eq!(merged["status"]["phase"], "Running");
    assert_eq!(merged["spec"], old["spec"]);
    let out = admit_update(r, merged, &old).unwrap();
    assert_eq!(out["status"]["phase"], "Running");
}
