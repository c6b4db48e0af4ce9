//! Root e2e: the shared scenarios on `orca server` with its node agent, real containers
//! from busybox-based images built at test time. Each test asserts what the comment at the
//! top of its scenario file says can be observed.

mod common;
mod e2e_support;
mod runtime_support;

use std::time::Duration;

use e2e_support::*;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams};

fn started_at(pod: &Pod, name: &str) -> i64 {
    let s = must(pod, name).state.as_ref().unwrap();
    s.running
        .as_ref()
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| s.terminated.as_ref().and_then(|t| t.started_at.as_ref()))
        .unwrap_or_else(|| panic!("container {name} has no startedAt"))
        .0
        .as_second()
}

fn finished_at(pod: &Pod, name: &str) -> i64 {
    let t = must(pod, name).state.as_ref().unwrap().terminated.as_ref();
    t.and_then(|t| t.finished_at.as_ref())
        .unwrap_or_else(|| panic!("container {name} has no finishedAt"))
        .0
        .as_second()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_01_two_containers_share_a_volume_and_the_pod_ip_serves_what_one_wrote() {
    let Some(node) = Node::start(&[TestImage::Busybox, TestImage::Nginx]).await else {
        return;
    };
    node.create(scenario_pod("01-two-containers.yaml")).await;
    let pod = node
        .wait(
            "two-containers",
            POD_TIMEOUT,
            "Running with the writer done",
            |p| {
                phase(p) == "Running"
                    && is_running(p, "nginx-container")
                    && terminated(p, "debian-container").is_some()
            },
        )
        .await;
    assert_eq!(
        terminated(&pod, "debian-container"),
        Some((0, "Completed".into()))
    );
    let ip = pod_ip(&pod);
    assert!(ip.to_string().starts_with("10.88."), "pod IP {ip}");
    let body = http_get(ip, 80, "/", Duration::from_secs(10)).await;
    assert_eq!(body, "Hello from the debian container\n");

    let status = pod.status.as_ref().unwrap();
    assert_eq!(
        status.host_ip.as_deref(),
        Some(node.node_ip().await.to_string().as_str())
    );
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    for c in ["nginx-container", "debian-container"] {
        let cs = must(&pod, c);
        assert!(
            cs.container_id
                .as_deref()
                .is_some_and(|id| id.starts_with("orca://")),
            "{cs:?}"
        );
        assert_eq!(cs.restart_count, 0);
        assert!(!cs.image_id.is_empty());
    }
    assert!(must(&pod, "nginx-container").ready);
    // The writer ended, so the pod is not Ready, but it stays Running while the web
    // container runs (restartPolicy Never: nothing is restarted).
    assert_eq!(condition(&pod, "Ready"), "False");
    assert_eq!(condition(&pod, "Initialized"), "True");
    assert_eq!(condition(&pod, "PodScheduled"), "True");
    // Each container's Events: image present, created, started (written asynchronously).
    let has_all = |events: &[k8s_openapi::api::core::v1::Event]| {
        ["nginx-container", "debian-container"].iter().all(|c| {
            ["Pulled", "Created", "Started"].iter().all(|reason| {
                events.iter().any(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.involved_object.field_path.as_deref()
                            == Some(&format!("spec.containers{{{c}}}"))
                })
            })
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut events = node.events("two-containers").await;
    while !has_all(&events) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        events = node.events("two-containers").await;
    }
    assert!(
        has_all(&events),
        "Pulled, Created, Started missing: {events:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = node.pods().get("two-containers").await.unwrap();
    assert_eq!(phase(&later), "Running");
    assert_eq!(restarts(&later, "debian-container"), 0);
    assert_eq!(
        http_get(ip, 80, "/", Duration::from_secs(5)).await,
        "Hello from the debian container\n"
    );
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_02_an_init_container_copies_the_war_and_the_host_port_serves_it_on_the_node_ip() {
    let Some(node) = Node::start(&[TestImage::Sample, TestImage::Tomcat]).await else {
        return;
    };
    let mut manifest = scenario_pod("02-init-war.yaml");
    manifest["metadata"]["namespace"] = "default".into();
    node.create(manifest).await;
    let mut init_running_shown = Vec::new();
    let pod = node
        .wait("javaweb-2", POD_TIMEOUT, "Running with tomcat up", |p| {
            if is_running(p, "war") {
                init_running_shown.push(api::pod::display_status(p));
            }
            phase(p) == "Running" && is_running(p, "tomcat")
        })
        .await;
    // Whenever the init container was seen running, kubectl showed Init:0/1.
    for shown in &init_running_shown {
        assert_eq!(shown, "Init:0/1");
    }
    assert_eq!(terminated(&pod, "war"), Some((0, "Completed".into())));
    assert!(finished_at(&pod, "war") <= started_at(&pod, "tomcat"));
    assert_eq!(condition(&pod, "Initialized"), "True");
    assert_eq!(api::pod::display_status(&pod), "Running");

    let node_ip = node.node_ip().await;
    let body = http_get(node_ip, 8001, "/sample.war", Duration::from_secs(10)).await;
    assert_eq!(body, SAMPLE_WAR, "GET http://{node_ip}:8001/sample.war");
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_04_the_init_container_runs_to_completion_before_the_app_container_starts() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    node.create(scenario_pod("04-init-then-main.yaml")).await;
    let mut while_init = Vec::new();
    let pod = node
        .wait("myapp-pod", POD_TIMEOUT, "Running with the app up", |p| {
            if is_running(p, "init-container") {
                while_init.push((
                    api::pod::display_status(p),
                    phase(p).to_string(),
                    waiting(p, "myapp-container").map(|w| w.0),
                ));
            }
            phase(p) == "Running" && is_running(p, "myapp-container")
        })
        .await;
    assert!(
        !while_init.is_empty(),
        "the init container (10 s) was never seen running"
    );
    for (shown, phase, app) in &while_init {
        assert_eq!(
            (shown.as_str(), phase.as_str(), app.as_deref()),
            ("Init:0/1", "Pending", Some("PodInitializing"))
        );
    }
    assert_eq!(
        terminated(&pod, "init-container"),
        Some((0, "Completed".into()))
    );
    let init_start = started_at(&pod, "init-container");
    let app_start = started_at(&pod, "myapp-container");
    assert!(
        app_start - init_start >= 10,
        "the app started {}s after the init container",
        app_start - init_start
    );
    assert!(finished_at(&pod, "init-container") <= app_start);
    // Limits alone (requests default to them) on one container but none on the init
    // container: Burstable.
    assert_eq!(
        pod.status.as_ref().unwrap().qos_class.as_deref(),
        Some("Burstable")
    );

    // The init container's log stays readable: the date it printed.
    let log = node
        .logs(
            "myapp-pod",
            &Logs {
                container: Some("init-container"),
                ..Default::default()
            },
        )
        .await;
    let year = chrono::Datelike::year(&chrono::Utc::now()).to_string();
    assert_eq!(log.lines().count(), 1, "{log:?}");
    assert!(
        log.trim_end().ends_with(&year) && log.contains(':'),
        "not a date: {log:?}"
    );
    // The app container printed the date too (it may take a moment to reach its log).
    let app_log = node
        .wait_log_until(
            "myapp-pod",
            Some("myapp-container"),
            Duration::from_secs(10),
            |l| !l.is_empty(),
        )
        .await;
    assert!(app_log.trim_end().ends_with(&year), "{app_log:?}");
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_06_env_references_expand_in_args_and_between_env_entries() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    node.create(scenario_pod("06-env-expansion.yaml")).await;
    let pod = node.wait_phase("env-expansion", "Succeeded").await;
    assert_eq!(terminated(&pod, "myapp"), Some((0, "Completed".into())));
    assert_eq!(restarts(&pod, "myapp"), 0);
    let log = node.logs("env-expansion", &Logs::default()).await;
    assert_eq!(
        log,
        "hello world\n\
         UNCHANGED_REFERENCE=$(PROTOCAL)://192.168.99.102:31111\n\
         SERVICE=https://192.168.99.102:31111\n\
         ESCAPED_SERVICE=$(PROTOCAL)://192.168.99.102:31111\n"
    );
    assert_eq!(api::pod::display_status(&pod), "Completed");
    node.finish().await;
}

/// Scenario 07 with `command: [env]`: busybox `sh` drops variables whose names are not
/// identifiers (`db-url`), so `sh -c env` cannot show them; `env` itself does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_07_env_from_a_config_map_reaches_the_container_environment() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    let docs = scenario("07-configmap-envfrom.yaml");
    let cm: ConfigMap = serde_json::from_value(
        docs.iter()
            .find(|d| d["kind"] == "ConfigMap")
            .unwrap()
            .clone(),
    )
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(node.client.clone(), "default");
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut manifest = scenario_pod("07-configmap-envfrom.yaml");
    manifest["spec"]["containers"][0]["command"] = serde_json::json!(["env"]);
    node.create(manifest).await;
    let pod = node.wait_phase("configmap-env", "Succeeded").await;
    assert_eq!(terminated(&pod, "myapp"), Some((0, "Completed".into())));
    let log = node.logs("configmap-env", &Logs::default()).await;
    assert!(
        log.lines().any(|l| l == "db-url=localhost"),
        "no db-url=localhost in {log:?}"
    );
    node.finish().await;
}
