//! What kubectl relies on in the documents.

use super::*;

fn api_v1() -> &'static Value {
    v3_group_version("api/v1").expect("api/v1 is served")
}

/// The definition a `$ref` points at, inside `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` string anywhere in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The schema a property leads to, following `allOf[0]` and `$ref` as
/// `strategicpatch.PatchMetaFromOpenAPIV3` does.
fn follow<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    if let Some(first) = schema.pointer("/allOf/0") {
        schema = first;
    }
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, r).expect("ref resolves"),
        None => schema,
    }
}

#[test]
fn index_lists_every_group_version_and_its_document() {
    let paths = v3_index()["paths"].as_object().unwrap();
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/coordination.k8s.io/v1"
        ]
    );
    for (gv, entry) in paths {
        let url = entry["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
        assert!(v3_group_version(gv).is_some());
        assert!(v3_group_version(&format!("/{gv}")).is_some());
    }
    assert!(v3_group_version("apis/nope/v1").is_none());
}

#[test]
fn pod_schema_carries_its_gvk_and_does_not_require_metadata() {
    let pod = &api_v1()["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    assert!(pod.get("required").is_none());
    let list = &api_v1()["components"]["schemas"]["io.k8s.api.core.v1.PodList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "PodList"
    );
    let apps = v3_group_version("apis/apps/v1").unwrap();
    let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
}

#[test]
fn every_write_of_pods_accepts_field_validation() {
    let pods = json!({"group": "", "kind": "Pod", "version": "v1"});
    let mut patches = 0;
    for (path, item) in api_v1()["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch"] {
            let Some(op) = item.get(method) else { continue };
            if op["x-kubernetes-action"] == "connect" {
                continue;
            }
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert!(names.contains(&"fieldValidation"), "{method} {path}");
            if method == "patch" && op["x-kubernetes-group-version-kind"] == pods {
                patches += 1;
                let content = &op["requestBody"]["content"];
                assert!(content
                    .get("application/strategic-merge-patch+json")
                    .is_some());
            }
        }
    }
    // pods/{name} and pods/{name}/status.
    assert_eq!(patches, 2);
}

#[test]
fn explain_finds_the_gvk_on_the_resource_paths_and_the_schema_by_it() {
    let doc = api_v1();
    let op = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"];
    let gvk = &op["x-kubernetes-group-version-kind"];
    assert_eq!(gvk, &json!({"group": "", "kind": "Pod", "version": "v1"}));
    let found: Vec<&String> = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(gvk))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(found, ["io.k8s.api.core.v1.Pod"]);
    let node = &doc["paths"]["/api/v1/nodes/{name}"]["get"]["x-kubernetes-group-version-kind"];
    assert_eq!(node["kind"], "Node");
}

#[test]
fn every_ref_resolves_inside_its_document() {
    let mut docs: Vec<&Value> = v3_documents().values().collect();
    docs.push(v2());
    for doc in docs {
        let mut all = Vec::new();
        refs(doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            assert!(
                resolve(doc, r).is_some_and(Value::is_object),
                "unresolved {r}"
            );
        }
    }
    let mut all = Vec::new();
    refs(v2(), &mut all);
    assert!(all.iter().all(|r| r.starts_with("#/definitions/")));
}

#[test]
fn containers_merge_by_name_along_the_patch_meta_path() {
    let doc = api_v1();
    let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    let spec = follow(doc, &pod["properties"]["spec"]);
    let containers = &spec["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    let container = follow(doc, &containers["items"]);
    let env = &container["properties"]["env"];
    assert_eq!(env["x-kubernetes-patch-merge-key"], "name");
    let ports = &container["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    let tolerations = &spec["properties"]["tolerations"];
    assert!(tolerations.get("x-kubernetes-patch-strategy").is_none());
    let meta = follow(doc, &pod["properties"]["metadata"]);
    assert_eq!(
        meta["properties"]["finalizers"]["x-kubernetes-patch-strategy"],
        "merge"
    );
    assert!(meta["properties"]["finalizers"]
        .get("x-kubernetes-patch-merge-key")
        .is_none());
}

#[test]
fn subresources_carry_the_gvk_of_what_they_exchange() {
    let apps = v3_group_version("apis/apps/v1").unwrap();
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );
    assert!(apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_object());
    let eviction = &api_v1()["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"];
    assert_eq!(
        eviction["post"]["x-kubernetes-group-version-kind"]["kind"],
        "Eviction"
    );
    let exec = &api_v1()["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"];
    assert_eq!(exec["post"]["x-kubernetes-action"], "connect");
    assert_eq!(
        exec["get"]["operationId"],
        "connectCoreV1GetNamespacedPodExec"
    );
    let all = &api_v1()["paths"]["/api/v1/pods"]["get"];
    assert_eq!(all["operationId"], "listCoreV1PodForAllNamespaces");
    let collection = &api_v1()["paths"]["/api/v1/namespaces/{namespace}/pods"];
    assert_eq!(
        collection["delete"]["operationId"],
        "deleteCoreV1CollectionNamespacedPod"
    );
    assert_eq!(
        collection["delete"]["x-kubernetes-action"],
        "deletecollection"
    );
}

#[test]
fn v2_patch_operations_carry_gvk_and_field_validation() {
    let doc = v2();
    assert_eq!(doc["swagger"], "2.0");
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
    assert!(patch["consumes"]
        .as_array()
        .unwrap()
        .contains(&json!("application/strategic-merge-patch+json")));
    let params = patch["parameters"].as_array().unwrap();
    assert!(params
        .iter()
        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
    assert!(params.iter().any(|p| p["in"] == "body"));
    let spec = &doc["definitions"]["io.k8s.api.core.v1.Pod"]["properties"]["spec"];
    assert_eq!(spec["$ref"], "#/definitions/io.k8s.api.core.v1.PodSpec");
    assert!(doc["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"].is_object());
}
