use super::*;
use runtime::ExecResult;
use std::sync::atomic::{AtomicBool, Ordering};

fn exec_result(ok: bool) -> ExecResult {
    ExecResult {
        exit_code: if ok { 0 } else { 1 },
        stdout: vec![],
        stderr: b"cat: can't open '/tmp/ready'".to_vec(),
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_gates_the_ready_condition_until_the_probe_passes() {
    // 15-readiness.yaml.
    let h = Harness::new();
    let ready = Arc::new(AtomicBool::new(false));
    let r = ready.clone();
    h.runtime
        .on_exec("app", move |_| exec_result(r.load(Ordering::SeqCst)));
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}}]}),
    ))
    .await;
    let s = h.wait_phase("Running").await;
    assert_eq!(condition(&s, "Ready"), "False");
    assert_eq!(condition(&s, "ContainersReady"), "False");
    assert!(!cs(&s, "app").ready);
    h.settle(Duration::from_secs(5)).await;
    assert_eq!(condition(&h.last(), "Ready"), "False");
    let unhealthy = h
        .api
        .events()
        .into_iter()
        .find(|e| e.reason == "Unhealthy")
        .unwrap();
    assert_eq!(
        unhealthy.message,
        "Readiness probe failed: cat: can't open '/tmp/ready'"
    );
    ready.store(true, Ordering::SeqCst);
    let before = h.now();
    let s = h
        .wait_for("ready", |s| condition(s, "Ready") == "True")
        .await;
    assert!(
        h.now() - before <= chrono::Duration::seconds(2),
        "within a probe period or two"
    );
    assert!(cs(&s, "app").ready);
    ready.store(false, Ordering::SeqCst);
    h.wait_for("unready again", |s| condition(s, "Ready") == "False")
        .await;
    assert_eq!(
        cs(&h.last(), "app").restart_count,
        0,
        "readiness never restarts"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_liveness_probe_kills_and_restarts_the_container() {
    // 05-liveness-http.yaml, with an exec probe (no pod network in unit tests).
    let h = Harness::new();
    h.runtime.on_exec("myapp", |_| exec_result(false));
    h.start(pod(json!({"containers": [{"name": "myapp", "image": "nginx:1.27",
        "livenessProbe": {"exec": {"command": ["check"]}, "initialDelaySeconds": 3, "periodSeconds": 3}}]}))).await;
    let s = h
        .wait_for("restarted", |s| {
            cs(s, "myapp").restart_count >= 1 && running(s, "myapp")
        })
        .await;
    let last = cs(&s, "myapp")
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(last.exit_code, 143);
    let events = h.api.events();
    let killing = events.iter().find(|e| e.reason == "Killing").unwrap();
    assert_eq!(
        killing.message,
        "Container myapp failed liveness probe, will be restarted"
    );
    assert!(events
        .iter()
        .any(|e| e.reason == "Unhealthy" && e.message.starts_with("Liveness probe failed")));
    let starts = h.starts("myapp");
    // Checks at 3, 6 and 9 s fail; the third kills it and it restarts at once.
    assert_eq!((starts[1] - starts[0]).num_seconds(), 9);
    h.wait_for("more restarts", |s| cs(s, "myapp").restart_count >= 3)
        .await;
    let starts = h.starts("myapp");
    assert_eq!(
        (starts[2] - starts[1]).num_seconds(),
        9 + 10,
        "later restarts back off"
    );
}

#[tokio::test(start_paused = true)]
async fn a_startup_probe_holds_back_liveness_and_readiness_until_it_passes() {
    let h = Harness::new();
    let up = Arc::new(AtomicBool::new(false));
    let u = up.clone();
    h.runtime.on_exec("app", move |cmd| {
        exec_result(cmd[0] != "startup" || u.load(Ordering::SeqCst))
    });
    h.start(pod(json!({"containers": [{"name": "app", "image": "busybox:1.36",
        "startupProbe": {"exec": {"command": ["startup"]}, "periodSeconds": 1, "failureThreshold": 30},
        "livenessProbe": {"exec": {"command": ["live"]}, "periodSeconds": 1},
        "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 1}}]}))).await;
    let s = h.wait_phase("Running").await;
    assert_eq!(cs(&s, "app").started, Some(false));
    h.settle(Duration::from_secs(5)).await;
    let execs: Vec<String> = h
        .call_log()
        .into_iter()
        .filter(|l| l.starts_with("exec"))
        .collect();
    assert!(execs.iter().all(|e| e == "exec app startup"), "{execs:?}");
    up.store(true, Ordering::SeqCst);
    let s = h.wait_for("ready", |s| cs(s, "app").ready).await;
    assert_eq!(cs(&s, "app").started, Some(true));
    assert!(h.call_log().iter().any(|l| l == "exec app live"));
}

#[tokio::test(start_paused = true)]
async fn a_startup_probe_that_never_passes_restarts_the_container() {
    let h = Harness::new();
    h.runtime.on_exec("app", |_| exec_result(false));
    h.start(pod(json!({"containers": [{"name": "app", "image": "busybox:1.36",
        "startupProbe": {"exec": {"command": ["startup"]}, "periodSeconds": 2, "failureThreshold": 3}}]}))).await;
    h.wait_for("restarted", |s| cs(s, "app").restart_count >= 1)
        .await;
    assert!(h
        .api
        .events()
        .iter()
        .any(|e| e.message == "Container app failed startup probe, will be restarted"));
}
