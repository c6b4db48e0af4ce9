use super::*;
use crate::pod_worker::Msg;
use runtime::fake::Behavior;

fn deleting(mut p: Pod, grace: i64) -> Pod {
    p.metadata.deletion_timestamp = Some(crate::clock::k8s_time(chrono::Utc::now()));
    p.metadata.deletion_grace_period_seconds = Some(grace);
    p
}

#[tokio::test(start_paused = true)]
async fn deletion_runs_pre_stop_then_stops_within_the_grace_period_and_deletes_the_pod() {
    // 03-lifecycle-hooks.yaml: httpd as PID 1 ignores SIGTERM.
    let h = Harness::new();
    h.runtime
        .script("lifecycle", vec![Behavior::runs().ignoring_sigterm()]);
    let spec = json!({"terminationGracePeriodSeconds": 10, "containers": [{"name": "lifecycle", "image": "nginx:1.27",
        "lifecycle": {
            "postStart": {"exec": {"command": ["sh", "-c", "echo Hello > /usr/share/message"]}},
            "preStop": {"exec": {"command": ["sh", "-c", "echo preStop ran > /proc/1/fd/1; sleep 1"]}}}}]});
    let handle = h.start(pod(spec.clone())).await;
    h.wait_phase("Running").await;
    let began = h.now();
    handle.send(Msg::Update(Box::new(deleting(pod(spec), 10))));
    for _ in 0..200 {
        if !h.api.lock().deleted.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deleted = h.api.lock().deleted.clone();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].uid, "uid-1");
    let took = (h.now() - began).num_seconds();
    assert!(
        (10..=11).contains(&took),
        "SIGKILL at the end of the 10 s grace period, took {took}"
    );
    let log = h.call_log();
    let tail: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .skip_while(|l| !l.contains("preStop"))
        .collect();
    assert_eq!(
        tail[0],
        "exec lifecycle sh -c echo preStop ran > /proc/1/fd/1; sleep 1"
    );
    assert_eq!(tail[1], "stop lifecycle SIGTERM");
    assert_eq!(tail[2], "remove sandbox");
    let s = h.last();
    assert_eq!(
        s.phase.as_deref(),
        Some("Failed"),
        "killed containers end the pod Failed, as upstream"
    );
    assert_eq!(exit_code(&s, "lifecycle"), Some(137));
    assert!(
        !h.tmp.path().join("pods/default_p_uid-1").exists(),
        "the pod's directory is removed"
    );
    assert!(h.runtime.containers().is_empty());
    assert!(h.api.reasons().contains(&"Killing"));
}

#[tokio::test(start_paused = true)]
async fn sidecars_stop_after_the_app_containers_in_reverse_order() {
    let h = Harness::new();
    let spec = json!({"initContainers": [
            {"name": "side-a", "image": "busybox:1.36", "restartPolicy": "Always"},
            {"name": "side-b", "image": "busybox:1.36", "restartPolicy": "Always"}],
        "containers": [{"name": "app1", "image": "busybox:1.36"}, {"name": "app2", "image": "busybox:1.36"}]});
    let handle = h.start(pod(spec.clone())).await;
    h.wait_phase("Running").await;
    handle.send(Msg::Update(Box::new(deleting(pod(spec), 30))));
    for _ in 0..100 {
        if !h.api.lock().deleted.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stops: Vec<String> = h
        .call_log()
        .into_iter()
        .filter(|l| l.starts_with("stop"))
        .collect();
    assert_eq!(stops.len(), 4);
    let mut apps = stops[..2].to_vec();
    apps.sort();
    assert_eq!(apps, vec!["stop app1 SIGTERM", "stop app2 SIGTERM"]);
    assert_eq!(
        stops[2..],
        [
            "stop side-b SIGTERM".to_string(),
            "stop side-a SIGTERM".to_string()
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_force_deleted_pod_is_stopped_without_hooks_and_not_deleted_again() {
    let h = Harness::new();
    h.runtime
        .script("app", vec![Behavior::runs().ignoring_sigterm()]);
    let handle = h
        .start(pod(
            json!({"containers": [{"name": "app", "image": "busybox:1.36",
        "lifecycle": {"preStop": {"exec": {"command": ["slow"]}}}}]}),
        ))
        .await;
    h.wait_phase("Running").await;
    let began = h.now();
    handle.send(Msg::Gone);
    for _ in 0..100 {
        if h.runtime.sandbox_ids().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(h.runtime.sandbox_ids().is_empty());
    assert!((h.now() - began).num_seconds() <= 2);
    assert!(!h.call_log().iter().any(|l| l.contains("slow")));
    assert!(
        h.api.lock().deleted.is_empty(),
        "the pod is already gone from the API"
    );
}

#[tokio::test(start_paused = true)]
async fn deleting_a_pod_that_is_still_pulling_cancels_the_pull() {
    let h = Harness::new();
    h.images.add_remote(
        "big:1",
        FakeImages::image("docker.io/library/big:1", &["/big"], &[]),
    );
    h.images.set_pull_delay(Duration::from_secs(600));
    let spec = json!({"containers": [{"name": "app", "image": "big:1"}]});
    let handle = h.start(pod(spec.clone())).await;
    h.settle(Duration::from_secs(2)).await;
    handle.send(Msg::Update(Box::new(deleting(pod(spec), 30))));
    h.settle(Duration::from_secs(3)).await;
    assert_eq!(h.api.lock().deleted.len(), 1);
    assert!(h.starts("app").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_finished_pod_keeps_its_logs_until_it_is_deleted() {
    let h = Harness::new();
    h.runtime.script(
        "app",
        vec![Behavior::exits(0, Duration::from_secs(1)).with_output(&["done"])],
    );
    let spec =
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox:1.36"}]});
    let handle = h.start(pod(spec.clone())).await;
    h.wait_phase("Succeeded").await;
    let log = h.tmp.path().join("pods/default_p_uid-1/app/0.log");
    assert!(log.exists());
    handle.send(Msg::Update(Box::new(deleting(pod(spec), 0))));
    h.settle(Duration::from_secs(1)).await;
    assert!(!log.exists());
    assert_eq!(h.api.lock().deleted.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_sandbox_removal_is_retried_and_the_pod_stays_until_it_is_gone() {
    let h = Harness::new();
    let spec = json!({"terminationGracePeriodSeconds": 1,
        "containers": [{"name": "app", "image": "busybox:1.36"}]});
    let handle = h.start(pod(spec.clone())).await;
    h.wait_phase("Running").await;
    h.runtime
        .fail_sandbox_removals(3, "device or resource busy");
    handle.send(Msg::Update(Box::new(deleting(pod(spec), 1))));
    h.settle(Duration::from_millis(1000)).await;
    assert!(
        h.api.lock().deleted.is_empty(),
        "the pod is not deleted while its sandbox is still there"
    );
    for _ in 0..100 {
        if !h.api.lock().deleted.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        h.api.lock().deleted.len(),
        1,
        "deleted once the removal worked"
    );
    let failures = h
        .api
        .events()
        .into_iter()
        .filter(|e| e.reason == "FailedKillPod")
        .collect::<Vec<_>>();
    assert_eq!(failures.len(), 3);
    assert!(failures[0].message.contains("device or resource busy"));
    assert!(h.call_log().contains(&"remove sandbox".to_string()));
    use runtime::Runtime as _;
    assert!(h.runtime.list_sandboxes().await.unwrap().is_empty());
}
