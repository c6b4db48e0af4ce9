use super::*;
use runtime::fake::Behavior;

#[tokio::test(start_paused = true)]
async fn a_restarted_agent_adopts_running_containers_without_restarting_them() {
    let h = Harness::new();
    h.runtime
        .script("init", vec![Behavior::exits(0, Duration::from_secs(1))]);
    let spec = json!({"restartPolicy": "OnFailure", "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}, {"name": "job", "image": "busybox:1.36"}]});
    h.start(pod(spec.clone())).await;
    let before = h.wait_phase("Running").await;
    // The agent stops; containers keep running. One ends meanwhile.
    h.shutdown.cancel();
    h.settle(Duration::from_secs(1)).await;
    h.runtime.exit_container(&key("job"), 0);
    h.runtime.clear_calls();

    let h2 = Harness {
        shutdown: CancellationToken::new(),
        ..h
    };
    let mut p = pod(spec);
    p.status = Some(before.clone());
    h2.start(p).await;
    let s = h2
        .wait_for("the exit is reported", |s| exit_code(s, "job") == Some(0))
        .await;
    h2.settle(Duration::from_secs(30)).await;
    assert!(
        h2.call_log()
            .iter()
            .all(|l| !l.starts_with("start") && l != "sandbox"),
        "{:?}",
        h2.call_log()
    );
    assert!(running(&s, "app"));
    assert_eq!(cs(&s, "app").container_id, cs(&before, "app").container_id);
    assert_eq!(exit_code(&s, "init"), Some(0));
    assert_eq!(s.pod_ip, before.pod_ip);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(cs(&s, "app").ready, "readiness carries over from the API");
    // Failing later still restarts by policy, as a new attempt.
    h2.runtime.exit_container(&key("app"), 1);
    let s = h2
        .wait_for("app restarted", |s| {
            running(s, "app") && cs(s, "app").restart_count == 1
        })
        .await;
    assert_eq!(
        cs(&s, "app")
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_pod_the_api_has_as_terminal_is_left_alone_and_its_leftovers_removed() {
    let h = Harness::new();
    let spec =
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox:1.36"}]});
    h.start(pod(spec.clone())).await;
    let running_status = h.wait_phase("Running").await;
    h.shutdown.cancel();
    h.settle(Duration::from_secs(1)).await;
    let h2 = Harness {
        shutdown: CancellationToken::new(),
        ..h
    };
    let mut p = pod(spec);
    let mut done = running_status;
    done.phase = Some("Succeeded".into());
    p.status = Some(done);
    let published = h2.api.statuses().len();
    h2.start(p).await;
    h2.settle(Duration::from_secs(2)).await;
    assert!(
        h2.runtime.sandbox_ids().is_empty(),
        "the stale sandbox is removed"
    );
    assert_eq!(
        h2.api.statuses().len(),
        published,
        "a terminal pod's status is not rewritten"
    );
}

#[tokio::test(start_paused = true)]
async fn a_sandbox_whose_infra_died_is_replaced_and_its_containers_restart() {
    let h = Harness::new();
    let spec = json!({"containers": [{"name": "app", "image": "busybox:1.36"}]});
    h.start(pod(spec.clone())).await;
    let before = h.wait_phase("Running").await;
    h.shutdown.cancel();
    h.settle(Duration::from_secs(1)).await;
    let old = h.runtime.sandbox_ids()[0].clone();
    h.runtime.kill_sandbox(&old);
    let h2 = Harness {
        shutdown: CancellationToken::new(),
        ..h
    };
    let mut p = pod(spec);
    p.status = Some(before);
    h2.start(p).await;
    let s = h2
        .wait_for("running again", |s| {
            running(s, "app") && cs(s, "app").restart_count == 1
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let ids = h2.runtime.sandbox_ids();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], old);
}
