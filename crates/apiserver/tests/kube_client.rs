//! The API through a real kube-rs client, in process: CRUD semantics, errors as Status,
//! selectors, paging, patches, subresources, deletion and watches.

mod common;

use std::time::Duration;

use axum::body::Body;
use common::TestServer;
use futures::{StreamExt, TryStreamExt};
use http::Request;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;
use kube::runtime::WatchStreamExt;
use serde_json::{json, Value};

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
    }))
    .unwrap()
}

fn api_error(e: kube::Error) -> Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn created_pods_get_server_metadata_and_defaults() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    let created = pods
        .create(&PostParams::default(), &pod("web", json!({"app": "web"})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert!(
        meta.resource_version
            .as_deref()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(
        created.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    let got = pods.get("web").await.unwrap();
    assert_eq!(got.metadata.uid, meta.uid);
    assert_eq!(got.metadata.resource_version, meta.resource_version);
}

#[tokio::test]
async fn generate_name_makes_unique_names() {
    let t = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "cfg-"}, "data": {"a": "b"}}))
            .unwrap();
    let a = cms.create(&PostParams::default(), &cm).await.unwrap();
    let b = cms.create(&PostParams::default(), &cm).await.unwrap();
    let (an, bn) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(an.starts_with("cfg-") && an.len() == 9, "{an}");
    assert_ne!(an, bn);
}

#[tokio::test]
async fn duplicate_stale_missing_and_invalid_writes_are_rejected_with_status() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    let first = pods
        .create(&PostParams::default(), &pod("a", json!({})))
        .await
        .unwrap();
    let dup = api_error(
        pods.create(&PostParams::default(), &pod("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let mut stale = first.clone();
    stale.metadata.labels = Some([("x".to_string(), "1".to_string())].into());
    pods.replace("a", &PostParams::default(), &stale)
        .await
        .unwrap();
    let conflict = api_error(
        pods.replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));

    let missing = api_error(pods.get("nope").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));

    let mut bad = pod("bad", json!({}));
    bad.spec.as_mut().unwrap().containers[0].image = None;
    let invalid = api_error(pods.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid.message.contains("spec.containers[0].image"),
        "{}",
        invalid.message
    );
    assert!(
        pods.get_opt("bad").await.unwrap().is_none(),
        "a rejected create stores nothing"
    );
}

#[tokio::test]
async fn invalid_objects_name_the_field_in_status_causes() {
    let t = TestServer::start().await;
    let body = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
        "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "x"}]},
    });
    let req = Request::post("/api/v1/namespaces/default/pods")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (code, _, status) = t.raw(req).await;
    assert_eq!(code, 422);
    assert_eq!(status["kind"], "Status");
    let fields: Vec<&str> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{fields:?}");
    assert!(fields.contains(&"spec.restartPolicy"), "{fields:?}");
}

#[tokio::test]
async fn malformed_unauthenticated_oversized_and_wrong_media_requests_get_status_codes() {
    let t = TestServer::start().await;
    let post = |body: Body, ct: &str| {
        Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", ct)
            .body(body)
            .unwrap()
    };
    let (code, _, s) = t
        .raw(post(Body::from("{not json"), "application/json"))
        .await;
    assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _, s) = t.raw(post(Body::from("x"), "application/cbor")).await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, _, s) = t
        .raw(post(
            Body::from("k8s\0garbage"),
            "application/vnd.kubernetes.protobuf",
        ))
        .await;
    assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
    let big = format!(
        r#"{{"metadata":{{"name":"big"}},"data":{{"a":"{}"}}}}"#,
        "x".repeat(4 << 20)
    );
    let (code, _, _) = t.raw(post(Body::from(big), "application/json")).await;
    assert_eq!(code, 413);
    let unauth = Request::get("/api/v1/pods")
        .header("authorization", "Bearer wrong")
        .body(Body::empty())
        .unwrap();
    let (code, _, s) = t.raw(unauth).await;
    assert_eq!((code, s["reason"].as_str()), (401, Some("Unauthorized")));
    let (code, _, s) = t
        .raw(
            Request::put("/api/v1/namespaces/default/pods")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        pods.create(&PostParams::default(), &pod(name, json!({"app": app})))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<Pod>| {
        l.items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app notin (web)"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("status.phase=Pending,metadata.name!=a"))
                .await
                .unwrap()
        ),
        ["b", "c"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName="))
                .await
                .unwrap()
        )
        .len(),
        3
    );
    let e = api_error(
        pods.list(&ListParams::default().fields("spec.bogus=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    let all: Api<Pod> = Api::all(t.client.clone());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
}

#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let t = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    for i in 0..7 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("cm{i}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let first = cms.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.metadata.remaining_item_count, Some(4));
    let token = first.metadata.continue_.clone().unwrap();
    // A write between pages does not show up: the pages read one snapshot.
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm9"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let second = cms
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    let third = cms
        .list(
            &ListParams::default()
                .limit(3)
                .continue_token(second.metadata.continue_.as_ref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(third.items.len(), 1);
    assert!(third.metadata.continue_.is_none());
    let mut names: Vec<String> = [first, second, third]
        .into_iter()
        .flat_map(|l| l.items)
        .map(|c| c.metadata.name.unwrap())
        .collect();
    names.dedup();
    assert_eq!(names, (0..7).map(|i| format!("cm{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn merge_strategic_and_json_patches_apply() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    pods.create(&PostParams::default(), &pod("p", json!({"a": "1"})))
        .await
        .unwrap();
    let pp = PatchParams::default();
    let merged = pods
        .patch(
            "p",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"b": "2"}}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.as_ref().unwrap().len(), 2);
    let strategic = pods
        .patch(
            "p",
            &pp,
            &Patch::Strategic(
                json!({"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}),
            ),
        )
        .await
        .unwrap();
    let c = &strategic.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("busybox:1.37"));
    assert_eq!(
        c.command.as_ref().unwrap()[0],
        "sleep",
        "the container merged by name kept its command"
    );
    let json_patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/metadata/labels/a"}])).unwrap();
    let patched = pods
        .patch("p", &pp, &Patch::<()>::Json(json_patch))
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.labels.unwrap().keys().collect::<Vec<_>>(),
        ["b"]
    );
    let immutable = pods
        .patch(
            "p",
            &pp,
            &Patch::Merge(json!({"spec": {"restartPolicy": "Never"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(immutable).code, 422);
}

#[tokio::test]
async fn status_and_main_resource_ignore_each_other() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    pods.create(&PostParams::default(), &pod("s", json!({})))
        .await
        .unwrap();
    let pp = PatchParams::default();
    let after = pods
        .patch(
            "s",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"x": "y"}}, "status": {"phase": "Running"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        after.status.unwrap().phase.as_deref(),
        Some("Pending"),
        "main resource ignores status"
    );
    assert_eq!(after.metadata.labels.unwrap()["x"], "y");
    let after = pods
        .patch_status(
            "s",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"x": "z"}}, "status": {"phase": "Running"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(
        after.metadata.labels.unwrap()["x"],
        "y",
        "status ignores the rest"
    );
}

#[tokio::test]
async fn generation_moves_only_on_spec_changes() {
    let t = TestServer::start().await;
    let deploys: Api<Deployment> = Api::default_namespaced(t.client.clone());
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}},
    }))
    .unwrap();
    let created = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(1));
    let pp = PatchParams::default();
    let labelled = deploys
        .patch(
            "d",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"l": "v"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = deploys
        .patch("d", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    let scale = deploys.get_scale("d").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    deploys
        .patch_scale("d", &pp, &Patch::Merge(json!({"spec": {"replicas": 5}})))
        .await
        .unwrap();
    assert_eq!(
        deploys.get("d").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let t = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("f", &DeleteParams::default()).await.unwrap();
    let held = cms.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("f").await.unwrap().is_none());
}

#[tokio::test]
async fn bound_pods_are_deleted_gracefully_and_unbound_ones_at_once() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    pods.create(&PostParams::default(), &pod("unbound", json!({})))
        .await
        .unwrap();
    pods.delete("unbound", &DeleteParams::default())
        .await
        .unwrap();
    assert!(pods.get_opt("unbound").await.unwrap().is_none());

    pods.create(&PostParams::default(), &pod("bound", json!({})))
        .await
        .unwrap();
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "n1"}});
    let req = Request::post("/api/v1/namespaces/default/pods/bound/binding")
        .header("content-type", "application/json")
        .body(Body::from(binding.to_string()))
        .unwrap();
    assert_eq!(t.raw(req).await.0, 201);
    let again = Request::post("/api/v1/namespaces/default/pods/bound/binding")
        .header("content-type", "application/json")
        .body(Body::from(binding.to_string()))
        .unwrap();
    assert_eq!(t.raw(again).await.0, 409, "a pod is bound once");
    let bound = pods.get("bound").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("n1"));

    pods.delete("bound", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = pods.get("bound").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete("bound", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(pods.get_opt("bound").await.unwrap().is_none());
}

#[tokio::test]
async fn system_namespaces_exist_and_deleting_a_namespace_removes_its_contents() {
    let t = TestServer::start().await;
    let nss: Api<Namespace> = Api::all(t.client.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&ns.to_string()), "{names:?}");
    }
    let e = api_error(
        nss.delete("default", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);

    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(t.server.clone().run(shutdown.clone()));
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), "scratch");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    nss.delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    let refused = api_error(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "y"}})).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        refused.code, 403,
        "no new content in a terminating namespace"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while nss.get_opt("scratch").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace was not finalized"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    let missing = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn watches_see_changes_from_a_resource_version_and_selector_transitions() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    let created = pods
        .create(&PostParams::default(), &pod("w", json!({"app": "a"})))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let mut all = pods
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let mut selected = pods
        .watch(&WatchParams::default().labels("app=a").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let pp = PatchParams::default();
    pods.patch(
        "w",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"app": "b"}}})),
    )
    .await
    .unwrap();
    pods.delete("w", &DeleteParams::default()).await.unwrap();
    let kinds = |e: WatchEvent<Pod>| match e {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        WatchEvent::Bookmark(_) => "BOOKMARK",
        WatchEvent::Error(_) => "ERROR",
    };
    let mut seen = vec![];
    while seen.len() < 2 {
        let e = all.try_next().await.unwrap().unwrap();
        if !matches!(e, WatchEvent::Bookmark(_)) {
            seen.push(kinds(e));
        }
    }
    assert_eq!(seen, ["MODIFIED", "DELETED"]);
    let first = loop {
        let e = selected.try_next().await.unwrap().unwrap();
        if !matches!(e, WatchEvent::Bookmark(_)) {
            break kinds(e);
        }
    };
    assert_eq!(
        first, "DELETED",
        "a pod that stops matching is deleted for a selecting watcher"
    );
}

#[tokio::test]
async fn watch_from_a_compacted_revision_is_gone() {
    let t = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    let first = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
        )
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap(),
    )
    .await
    .unwrap();
    let rev = t.store.current_revision().await.unwrap();
    t.store.compact(rev).await.unwrap();
    let old = first.metadata.resource_version.unwrap();
    let mut w = cms
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match w.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_runtime_watcher_and_discovery_work() {
    let t = TestServer::start().await;
    let discovery = kube::Discovery::new(t.client.clone()).run().await.unwrap();
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(r, _)| r.kind)
        .collect();
    for k in ["Pod", "Deployment", "Job", "Lease", "Node"] {
        assert!(kinds.contains(&k.to_string()), "{kinds:?}");
    }
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    pods.create(&PostParams::default(), &pod("seen", json!({})))
        .await
        .unwrap();
    let store = kube::runtime::watcher(pods.clone(), kube::runtime::watcher::Config::default());
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::reflector(writer, store).applied_objects();
    tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), 1);
    pods.create(&PostParams::default(), &pod("later", json!({})))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while reader.state().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tables_answer_kubectl_get() {
    let t = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client.clone());
    pods.create(&PostParams::default(), &pod("tbl", json!({})))
        .await
        .unwrap();
    let req = Request::get("/api/v1/namespaces/default/pods")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Body::empty())
        .unwrap();
    let (code, _, table) = t.raw(req).await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "tbl");
    assert_eq!(table["rows"][0]["cells"][2], "Pending");
}

#[tokio::test]
async fn delete_collection_removes_only_selected_objects() {
    let t = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"l": l}}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("l=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn unknown_fields_are_rejected_when_strict_and_warned_otherwise() {
    let t = TestServer::start().await;
    let body = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo"}, "dataa": {"a": "b"},
    });
    let post = |q: &str| {
        Request::post(format!("/api/v1/namespaces/default/configmaps{q}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (code, _, status) = t.raw(post("?fieldValidation=Strict")).await;
    assert_eq!(code, 400);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains(r#"strict decoding error: unknown field "dataa""#),
        "{status}"
    );
    let resp = t.response(post("")).await;
    assert_eq!(resp.status(), 201);
    let warning = resp
        .headers()
        .get("warning")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(warning.contains("unknown field"), "{warning}");
}

#[tokio::test]
async fn watches_send_initial_events_bookmarks_and_end_at_their_timeout() {
    let t = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
    )
    .await
    .unwrap();
    let req = Request::get(
        "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    )
    .body(Body::empty())
    .unwrap();
    let started = std::time::Instant::now();
    let resp = t.response(req).await;
    assert_eq!(resp.status(), 200);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the stream ends at timeoutSeconds, not before"
    );
    let events: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "a");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert!(
        events[2..].iter().any(|e| e["type"] == "BOOKMARK"),
        "periodic bookmarks follow: {events:?}"
    );
}

#[tokio::test]
async fn protobuf_bodies_from_kubectl_create_are_accepted() {
    let t = TestServer::start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src/protobuf/testdata");
    for (file, path) in [
        (
            "kubectl-1.33-create-configmap.pb",
            "/api/v1/namespaces/default/configmaps",
        ),
        (
            "kubectl-1.33-create-deployment.pb",
            "/apis/apps/v1/namespaces/default/deployments",
        ),
        ("kubectl-1.33-create-namespace.pb", "/api/v1/namespaces"),
    ] {
        let body = std::fs::read(dir.join(file)).unwrap();
        let req = Request::post(path)
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .body(Body::from(body))
            .unwrap();
        let (code, _, obj) = t.raw(req).await;
        assert_eq!(code, 201, "{file}: {obj}");
        assert!(obj["metadata"]["uid"].is_string(), "{file}: {obj}");
    }
}
