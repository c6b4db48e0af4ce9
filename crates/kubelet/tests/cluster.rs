//! The node agent against a real in-process API server (SQLite store), on the fake runtime
//! and fake images: registration, pod lifecycles, deletion, re-adoption, Events, logs.

mod common;

use std::time::Duration;

use common::{condition, container, Cluster, NODE};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node};
use kube::api::{Api, DeleteParams, ListParams};
use runtime::fake::{Behavior, Call};
use serde_json::json;

#[tokio::test]
async fn the_agent_registers_its_node_and_renews_its_lease() {
    let c = Cluster::start().await;
    let node = Api::<Node>::all(c.client.clone()).get(NODE).await.unwrap();
    let status = node.status.unwrap();
    let ready = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");
    assert_eq!(status.capacity.as_ref().unwrap()["pods"].0, "110");
    assert!(status
        .allocatable
        .as_ref()
        .unwrap()
        .contains_key("ephemeral-storage"));
    let addresses = status.addresses.unwrap();
    assert_eq!(
        (addresses[0].type_.as_str(), addresses[0].address.as_str()),
        ("InternalIP", "192.168.50.2")
    );
    assert!(status
        .node_info
        .unwrap()
        .container_runtime_version
        .starts_with("orca://"));
    assert_eq!(
        status
            .daemon_endpoints
            .unwrap()
            .kubelet_endpoint
            .unwrap()
            .port,
        10250
    );
    assert_eq!(
        node.metadata.labels.unwrap()["kubernetes.io/hostname"],
        NODE
    );
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-node-lease");
    let first = leases.get(NODE).await.unwrap();
    assert_eq!(
        first.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some(NODE)
    );
    assert_eq!(first.metadata.owner_references.unwrap()[0].kind, "Node");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let later = leases.get(NODE).await.unwrap();
    assert_ne!(
        first.spec.unwrap().renew_time,
        later.spec.unwrap().renew_time,
        "renewed every quarter of its duration"
    );
}

#[tokio::test]
async fn a_pod_bound_to_the_node_goes_from_pending_to_running() {
    let c = Cluster::start().await;
    c.create_pod(json!({"metadata": {"name": "web"}, "spec": {"containers": [
        {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}))
        .await;
    let pod = c.wait_phase("web", "Running", 10).await;
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ] {
        assert_eq!(condition(&pod, t), "True", "{t}");
    }
    let s = pod.status.as_ref().unwrap();
    assert_eq!(s.host_ip.as_deref(), Some("192.168.50.2"));
    assert!(s.pod_ip.is_some() && s.start_time.is_some());
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    let nginx = container(&pod, "nginx");
    assert!(
        nginx.ready
            && nginx
                .container_id
                .as_deref()
                .unwrap()
                .starts_with("orca://")
    );
    assert_eq!(api::pod::display_status(&pod), "Running");
    assert_eq!(api::pod::ready_count(&pod), (1, 1));
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let mut reasons = Vec::new();
    for _ in 0..100 {
        reasons = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect();
        if reasons.iter().any(|x| x == "Started") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in ["Pulled", "Created", "Started"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
}

#[tokio::test]
async fn failing_containers_follow_each_restart_policy() {
    let c = Cluster::start().await;
    c.runtime.script(
        "never",
        vec![Behavior::exits(1, Duration::from_millis(100))],
    );
    c.runtime.script(
        "onfailure",
        vec![
            Behavior::exits(1, Duration::from_millis(100)),
            Behavior::exits(0, Duration::from_millis(100)),
        ],
    );
    c.runtime.script(
        "always",
        vec![Behavior::exits(1, Duration::from_millis(100))],
    );
    for (name, policy) in [
        ("never", "Never"),
        ("onfailure", "OnFailure"),
        ("always", "Always"),
    ] {
        c.create_pod(
            json!({"metadata": {"name": name}, "spec": {"restartPolicy": policy,
            "containers": [{"name": name, "image": "busybox:1.36"}]}}),
        )
        .await;
    }
    let never = c.wait_phase("never", "Failed", 10).await;
    assert_eq!(api::pod::display_status(&never), "Error");
    let onfailure = c.wait_phase("onfailure", "Succeeded", 10).await;
    assert_eq!(container(&onfailure, "onfailure").restart_count, 1);
    assert_eq!(api::pod::display_status(&onfailure), "Completed");
    let always = c
        .wait_pod("always", 10, "crash loop", |p| {
            api::pod::display_status(p) == "CrashLoopBackOff"
        })
        .await;
    assert_eq!(
        always.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert_eq!(container(&always, "always").restart_count, 1);
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let mut backoff = None;
    for _ in 0..100 {
        backoff = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BackOff"));
        if backoff.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backoff = backoff.expect("a BackOff event");
    assert_eq!(
        backoff.involved_object.field_path.as_deref(),
        Some("spec.containers{always}")
    );
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
}

#[tokio::test]
async fn init_containers_run_in_order_before_the_app() {
    let c = Cluster::start().await;
    c.runtime.script(
        "first",
        vec![Behavior::exits(0, Duration::from_millis(300))],
    );
    c.runtime.script(
        "second",
        vec![Behavior::exits(0, Duration::from_millis(100))],
    );
    c.create_pod(json!({"metadata": {"name": "init"}, "spec": {
        "initContainers": [{"name": "first", "image": "busybox:1.36"}, {"name": "second", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}}))
        .await;
    let p = c
        .wait_pod("init", 10, "Init:0/2", |p| {
            api::pod::display_status(p) == "Init:0/2"
        })
        .await;
    assert_eq!(condition(&p, "Initialized"), "False");
    let p = c.wait_phase("init", "Running", 10).await;
    assert_eq!(condition(&p, "Initialized"), "True");
    let starts: Vec<String> = c
        .runtime
        .calls()
        .into_iter()
        .filter_map(|call| match call {
            Call::StartContainer { container, .. } => Some(container),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            "default/init/first",
            "default/init/second",
            "default/init/app"
        ]
    );
}

#[tokio::test]
async fn deleting_a_pod_stops_it_gracefully_and_removes_it_from_the_api() {
    let c = Cluster::start().await;
    c.create_pod(json!({"metadata": {"name": "bye"}, "spec": {"terminationGracePeriodSeconds": 5,
        "containers": [{"name": "app", "image": "busybox:1.36", "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo bye"]}}}}]}}))
        .await;
    c.wait_phase("bye", "Running", 10).await;
    c.pods()
        .delete("bye", &DeleteParams::default())
        .await
        .unwrap();
    let marked = c.pods().get("bye").await;
    if let Ok(p) = marked {
        assert!(
            p.metadata.deletion_timestamp.is_some(),
            "a running pod is deleted gracefully"
        );
    }
    c.wait_gone("bye", 10).await;
    let calls = c.runtime.calls();
    let exec = calls
        .iter()
        .position(|x| matches!(x, Call::ExecSync { command, .. } if command[2] == "echo bye"))
        .unwrap();
    let stop = calls
        .iter()
        .position(|x| matches!(x, Call::StopContainer { signal, grace, .. } if signal == "SIGTERM" && *grace <= Duration::from_secs(5)))
        .unwrap();
    assert!(exec < stop, "preStop runs before the stop signal");
    assert!(c.runtime.sandbox_ids().is_empty());
    assert!(
        !c.dir
            .path()
            .join("kubelet/pods")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "the pod's directory is gone"
    );
}

#[tokio::test]
async fn a_force_deleted_pod_is_stopped_too() {
    let c = Cluster::start().await;
    c.create_pod(json!({"metadata": {"name": "forced"}, "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}})).await;
    c.wait_phase("forced", "Running", 10).await;
    c.pods()
        .delete(
            "forced",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(c.pods().get_opt("forced").await.unwrap().is_none());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !c.runtime.sandbox_ids().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sandbox is removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(c.runtime.containers().is_empty());
}

#[tokio::test]
async fn a_restarted_agent_readopts_running_pods_and_removes_orphans() {
    let mut c = Cluster::start().await;
    c.create_pod(json!({"metadata": {"name": "keep"}, "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}})).await;
    c.create_pod(json!({"metadata": {"name": "gone"}, "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}})).await;
    let before = c.wait_phase("keep", "Running", 10).await;
    c.wait_phase("gone", "Running", 10).await;
    c.stop_agent().await;
    // While the agent is away: one pod is force-deleted, and its containers keep running.
    c.pods()
        .delete(
            "gone",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(c.runtime.sandbox_ids().len(), 2);
    c.runtime.clear_calls();
    c.start_agent().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while c.runtime.sandbox_ids().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphan's sandbox is removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = c.pods().get("keep").await.unwrap();
    assert_eq!(
        container(&after, "app").container_id,
        container(&before, "app").container_id
    );
    assert_eq!(container(&after, "app").restart_count, 0);
    assert!(
        !c.runtime
            .calls()
            .iter()
            .any(|x| matches!(x, Call::CreateContainer { .. } | Call::CreateSandbox { .. })),
        "nothing is re-created: {:?}",
        c.runtime.calls()
    );
    assert_eq!(after.status.unwrap().phase.as_deref(), Some("Running"));
}

#[tokio::test]
async fn env_and_projected_volumes_come_from_config_maps_and_secrets() {
    // 07-configmap-envfrom.yaml and 14-projected-volumes.yaml.
    let c = Cluster::start().await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::default_namespaced(c.client.clone());
    cms.create(
        &Default::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "my-db-config"}, "data": {"db-url": "localhost"}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::default_namespaced(c.client.clone());
    secrets
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "db-creds"}, "type": "Opaque",
            "stringData": {"username": "admin"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    c.create_pod(json!({"metadata": {"name": "projected", "labels": {"app": "projected"}}, "spec": {
        "containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "envFrom": [{"configMapRef": {"name": "my-db-config"}}],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds", "readOnly": true},
                             {"name": "podinfo", "mountPath": "/etc/podinfo"}]}],
        "volumes": [{"name": "creds", "secret": {"secretName": "db-creds"}},
                    {"name": "podinfo", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}}))
        .await;
    let pod = c.wait_phase("projected", "Running", 10).await;
    let cfg = c.runtime.config("default/projected/app").unwrap();
    assert!(cfg.env.contains(&"db-url=localhost".to_string()));
    assert!(cfg
        .env
        .contains(&format!("POD_IP={}", pod.status.unwrap().pod_ip.unwrap())));
    let creds = cfg
        .mounts
        .iter()
        .find(|m| m.container_path == "/etc/creds")
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(creds.host_path.join("username")).unwrap(),
        "admin"
    );
    let info = cfg
        .mounts
        .iter()
        .find(|m| m.container_path == "/etc/podinfo")
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(info.host_path.join("labels")).unwrap(),
        "app=\"projected\""
    );
}

#[tokio::test]
async fn container_logs_are_served_from_the_nodes_endpoint() {
    let c = Cluster::start().await;
    c.runtime.script(
        "printer",
        vec![Behavior::exits(0, Duration::from_millis(50)).with_output(&["Hello, Kubernetes!"])],
    );
    c.create_pod(
        json!({"metadata": {"name": "hello"}, "spec": {"restartPolicy": "OnFailure",
        "containers": [{"name": "printer", "image": "busybox:1.36"}]}}),
    )
    .await;
    c.wait_phase("hello", "Succeeded", 10).await;
    let router = kubelet::server_router(
        c.dir.path().join("kubelet"),
        std::sync::Arc::new(c.runtime.clone()),
    );
    use tower::ServiceExt;
    let resp = router
        .oneshot(
            http::Request::get("/containerLogs/default/hello/printer")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&body), "Hello, Kubernetes!\n");
}

#[tokio::test]
async fn repeated_events_are_aggregated_by_count() {
    // 15-readiness.yaml: the probe fails every second until /tmp/ready exists.
    let c = Cluster::start().await;
    c.runtime.on_exec("app", |_| runtime::ExecResult {
        exit_code: 1,
        stdout: vec![],
        stderr: b"no /tmp/ready".to_vec(),
    });
    c.create_pod(json!({"metadata": {"name": "readiness"}, "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}}]}}))
        .await;
    let pod = c.wait_phase("readiness", "Running", 10).await;
    assert_eq!(condition(&pod, "Ready"), "False");
    assert_eq!(api::pod::ready_count(&pod), (0, 1));
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let unhealthy: Vec<Event> = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
            .collect();
        if unhealthy.first().and_then(|e| e.count).unwrap_or(0) >= 2 {
            assert_eq!(unhealthy.len(), 1, "one Event object counts the repeats");
            let e = &unhealthy[0];
            assert_eq!(
                e.message.as_deref(),
                Some("Readiness probe failed: no /tmp/ready")
            );
            assert!(e.last_timestamp > e.first_timestamp || e.count.unwrap() >= 2);
            assert_eq!(e.source.as_ref().unwrap().host.as_deref(), Some(NODE));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no aggregated Unhealthy event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.runtime.on_exec("app", |_| runtime::ExecResult {
        exit_code: 0,
        stdout: vec![],
        stderr: vec![],
    });
    let pod = c
        .wait_pod("readiness", 10, "ready", |p| {
            condition(p, "Ready") == "True"
        })
        .await;
    assert_eq!(api::pod::ready_count(&pod), (1, 1));
}
