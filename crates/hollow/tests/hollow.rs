//! Hollow nodes against a real in-process API server: registration, leases, pods run
//! without containers, deletion finished, heartbeats stopped and resumed.

use std::sync::Arc;
use std::time::Duration;

use apiserver::{ApiServer, Config};
use axum::body::Body;
use http::{HeaderValue, Request};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token";

async fn api() -> (kube::Client, ApiServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn store::Store> =
        Arc::new(store::sqlite::SqliteStore::open(&dir.path().join("state.db")).unwrap());
    let config = Config {
        admin_tokens: vec![TOKEN.into()],
        bookmark_interval: Duration::from_secs(5),
    };
    let server = ApiServer::new(store, config).await.unwrap();
    let header = HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap();
    let router = server.router();
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let router = router.clone();
        let header = header.clone();
        async move {
            let (mut parts, body) = req.into_parts();
            parts.headers.insert(http::header::AUTHORIZATION, header);
            router
                .oneshot(Request::from_parts(parts, Body::new(body)))
                .await
        }
    });
    (kube::Client::new(service, "default"), server, dir)
}

async fn renew_time(leases: &Api<Lease>, name: &str) -> String {
    let lease = leases.get(name).await.unwrap();
    lease.spec.unwrap().renew_time.unwrap().0.to_string()
}

#[tokio::test]
async fn hollow_nodes_register_renew_leases_run_pods_and_finish_deletions() {
    let (client, _server, _dir) = api().await;
    let shutdown = CancellationToken::new();
    let mut config = hollow::HollowConfig::new(
        2,
        "hollow",
        hollow::capacity(&[
            ("cpu", "8"),
            ("memory", "16Gi"),
            ("pods", "50"),
            ("example.com/gpu", "2"),
        ]),
        [("zone".to_string(), "a".to_string())].into(),
    );
    config.lease_renew_interval = Duration::from_millis(100);
    let nodes = hollow::HollowNodes::start(client.clone(), config, shutdown.clone())
        .await
        .unwrap();
    assert_eq!(nodes.names(), ["hollow-0", "hollow-1"]);

    let node = Api::<Node>::all(client.clone())
        .get("hollow-1")
        .await
        .unwrap();
    let labels = node.metadata.labels.unwrap();
    assert_eq!(labels["zone"], "a");
    assert_eq!(labels["kubernetes.io/hostname"], "hollow-1");
    let status = node.status.unwrap();
    assert_eq!(status.allocatable.unwrap()["example.com/gpu"].0, "2");
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let first = renew_time(&leases, "hollow-0").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = renew_time(&leases, "hollow-0").await;
    assert_ne!(first, renewed, "the lease is renewed");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "hollow-0",
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [{"name": "a", "image": "busybox:1.36"}, {"name": "b", "image": "busybox:1.36"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods.clone(), "p", |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Running")
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let status = running.status.unwrap();
    assert!(status.pod_ip.unwrap().starts_with("10."));
    assert_eq!(status.host_ip.as_deref(), Some("172.16.0.1"));
    let cs = status.container_statuses.unwrap();
    assert_eq!(cs.len(), 2);
    assert!(cs
        .iter()
        .all(|c| c.ready && c.state.as_ref().unwrap().running.is_some()));
    let init = status.init_container_statuses.unwrap();
    assert_eq!(
        init[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );

    pods.delete("p", &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods.clone(), "p", |p: Option<&Pod>| p.is_none()),
    )
    .await
    .unwrap()
    .unwrap();

    nodes.stop_heartbeats("hollow-0");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = renew_time(&leases, "hollow-0").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stopped,
        renew_time(&leases, "hollow-0").await,
        "a silent node renews nothing"
    );
    nodes.resume("hollow-0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_ne!(
        stopped,
        renew_time(&leases, "hollow-0").await,
        "renewals resume"
    );

    shutdown.cancel();
    nodes.wait().await;
}
