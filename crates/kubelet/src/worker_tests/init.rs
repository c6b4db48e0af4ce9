use super::*;
use runtime::fake::Behavior;

#[tokio::test(start_paused = true)]
async fn init_containers_run_in_order_before_app_containers() {
    // 04-init-then-main.yaml, with two init containers.
    let h = Harness::new();
    h.runtime
        .script("init-a", vec![Behavior::exits(0, Duration::from_secs(10))]);
    h.runtime
        .script("init-b", vec![Behavior::exits(0, Duration::from_secs(5))]);
    h.start(pod(json!({"initContainers": [
            {"name": "init-a", "image": "busybox:1.36", "command": ["sh", "-c", "date && sleep 10"]},
            {"name": "init-b", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}))).await;
    let s = h.wait_for("init-a running", |s| running(s, "init-a")).await;
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(condition(&s, "Initialized"), "False");
    assert_eq!(
        waiting_reason(&s, "init-b").as_deref(),
        Some("PodInitializing")
    );
    assert_eq!(
        waiting_reason(&s, "app").as_deref(),
        Some("PodInitializing")
    );
    let pod_now = {
        let mut p = pod(
            json!({"initContainers": [{"name": "init-a"}, {"name": "init-b"}], "containers": [{"name": "app"}]}),
        );
        p.status = Some(s.clone());
        p
    };
    assert_eq!(api::pod::display_status(&pod_now), "Init:0/2");
    let s = h.wait_phase("Running").await;
    assert_eq!(condition(&s, "Initialized"), "True");
    assert_eq!(exit_code(&s, "init-a"), Some(0));
    assert_eq!(exit_code(&s, "init-b"), Some(0));
    assert_eq!(
        h.call_log(),
        vec!["sandbox", "start init-a#0", "start init-b#0", "start app#0"]
    );
    let a = h.starts("init-a")[0];
    let app = h.starts("app")[0];
    assert_eq!(
        (app - a).num_seconds(),
        15,
        "the app starts after both init containers ran"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_init_container_fails_a_pod_that_never_restarts() {
    let h = Harness::new();
    h.runtime
        .script("init", vec![Behavior::exits(2, Duration::from_secs(1))]);
    h.start(pod(json!({"restartPolicy": "Never", "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}))).await;
    let s = h.wait_phase("Failed").await;
    assert_eq!(exit_code(&s, "init"), Some(2));
    assert_eq!(
        waiting_reason(&s, "app").as_deref(),
        Some("PodInitializing")
    );
    assert_eq!(condition(&s, "Initialized"), "False");
    assert!(h.starts("app").is_empty());
    assert!(
        h.runtime.sandbox_ids().is_empty(),
        "a finished pod's sandbox is released"
    );
    assert!(s.pod_ip.is_some(), "the pod IP stays in the status");
}

#[tokio::test(start_paused = true)]
async fn a_failed_init_container_is_retried_with_back_off_before_the_app_starts() {
    let h = Harness::new();
    h.runtime.script(
        "init",
        vec![
            Behavior::exits(1, Duration::from_secs(1)),
            Behavior::exits(1, Duration::from_secs(1)),
            Behavior::exits(0, Duration::from_secs(1)),
        ],
    );
    h.start(pod(json!({"restartPolicy": "OnFailure", "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}))).await;
    let s = h
        .wait_for("init crash loop", |s| {
            waiting_reason(s, "init").as_deref() == Some("CrashLoopBackOff")
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let mut p = pod(json!({"initContainers": [{"name": "init"}], "containers": [{"name": "app"}]}));
    p.status = Some(s);
    assert_eq!(api::pod::display_status(&p), "Init:CrashLoopBackOff");
    let s = h.wait_phase("Running").await;
    assert_eq!(cs(&s, "init").restart_count, 2);
    let starts = h.starts("init");
    assert_eq!(
        (starts[1] - starts[0]).num_seconds(),
        1,
        "the first restart is immediate"
    );
    assert_eq!(
        (starts[2] - starts[1]).num_seconds(),
        11,
        "then 10 s of back-off after the exit"
    );
}

#[tokio::test(start_paused = true)]
async fn sidecars_start_before_the_app_keep_running_and_stop_when_the_app_completes() {
    // 13-sidecar-logs.yaml, with an app that finishes.
    let h = Harness::new();
    h.runtime
        .script("app", vec![Behavior::exits(0, Duration::from_secs(30))]);
    h.runtime
        .script("setup", vec![Behavior::exits(0, Duration::from_secs(1))]);
    h.start(pod(json!({"restartPolicy": "Never",
        "initContainers": [{"name": "log-shipper", "image": "busybox:1.36", "restartPolicy": "Always"},
                           {"name": "setup", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}))).await;
    let s = h.wait_phase("Running").await;
    assert!(running(&s, "log-shipper"));
    assert_eq!(cs(&s, "log-shipper").started, Some(true));
    assert_eq!(
        condition(&s, "Ready"),
        "True",
        "sidecars count for readiness"
    );
    let mut p = pod(
        json!({"initContainers": [{"name": "log-shipper", "restartPolicy": "Always"}, {"name": "setup"}], "containers": [{"name": "app"}]}),
    );
    p.status = Some(s);
    assert_eq!(api::pod::ready_count(&p), (2, 2));
    let s = h.wait_phase("Succeeded").await;
    assert_eq!(exit_code(&s, "app"), Some(0));
    assert!(
        exit_code(&s, "log-shipper").is_some(),
        "the sidecar was stopped"
    );
    let log = h.call_log();
    let order: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("start") || l.starts_with("stop"))
        .collect();
    assert_eq!(
        order,
        vec![
            "start log-shipper#0",
            "start setup#0",
            "start app#0",
            "stop log-shipper SIGTERM"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_crashing_sidecar_is_restarted_even_in_a_never_pod() {
    let h = Harness::new();
    h.runtime.script(
        "side",
        vec![Behavior::exits(1, Duration::from_secs(5)), Behavior::runs()],
    );
    h.start(pod(json!({"restartPolicy": "Never",
        "initContainers": [{"name": "side", "image": "busybox:1.36", "restartPolicy": "Always"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]})))
        .await;
    let s = h
        .wait_for("sidecar restarted", |s| {
            cs(s, "side").restart_count == 1 && running(s, "side")
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(running(&s, "app"));
}
