use super::*;
use runtime::fake::Behavior;

fn crashing(policy: &str) -> Pod {
    pod(json!({"restartPolicy": policy, "containers": [{"name": "app", "image": "busybox:1.36"}]}))
}

#[tokio::test(start_paused = true)]
async fn a_crashing_container_backs_off_10_20_40_seconds_up_to_five_minutes() {
    let h = Harness::new();
    h.runtime
        .script("app", vec![Behavior::exits(1, Duration::from_secs(1))]);
    h.start(crashing("Always")).await;
    let s = h
        .wait_for("crash loop", |s| {
            waiting_reason(s, "app").as_deref() == Some("CrashLoopBackOff")
        })
        .await;
    assert_eq!(
        s.phase.as_deref(),
        Some("Running"),
        "Always: the pod runs while restarting"
    );
    let app = cs(&s, "app");
    assert_eq!(app.restart_count, 1);
    let last = app
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let msg = waiting_message(&s, "app").unwrap();
    assert_eq!(
        msg,
        "back-off 10s restarting failed container=app pod=p_default(uid-1)"
    );
    let mut p = crashing("Always");
    p.status = Some(s);
    assert_eq!(api::pod::display_status(&p), "CrashLoopBackOff");

    h.wait_for("9 restarts", |s| cs(s, "app").restart_count >= 9)
        .await;
    let starts = h.starts("app");
    // Each run lasts 1 s; the gap after each exit is the back-off.
    let gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds() - 1)
        .collect();
    assert_eq!(gaps[..9], [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    let backoffs = h
        .api
        .events()
        .into_iter()
        .filter(|e| e.reason == "BackOff")
        .count();
    assert!(backoffs >= 8);
}

#[tokio::test(start_paused = true)]
async fn the_back_off_starts_over_after_ten_minutes_of_running() {
    let h = Harness::new();
    h.runtime.script(
        "app",
        vec![
            Behavior::exits(1, Duration::from_secs(1)),
            Behavior::exits(1, Duration::from_secs(1)),
            Behavior::exits(1, Duration::from_secs(1)),
            Behavior::exits(1, Duration::from_secs(11 * 60)),
            Behavior::exits(1, Duration::from_secs(1)),
            Behavior::runs(),
        ],
    );
    h.start(crashing("Always")).await;
    h.wait_for("5 restarts", |s| cs(s, "app").restart_count >= 5)
        .await;
    let starts = h.starts("app");
    let gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .collect();
    // 0 + 1 s, 10 + 1 s, 20 + 1 s, then a long run of 11 min resets: the next restart is
    // at once again, and the one after waits 10 s.
    assert_eq!(gaps, vec![1, 11, 21, 11 * 60, 11]);
}

#[tokio::test(start_paused = true)]
async fn on_failure_restarts_failed_containers_and_the_pod_succeeds_once_they_exit_zero() {
    let h = Harness::new();
    h.runtime.script(
        "app",
        vec![
            Behavior::exits(3, Duration::from_secs(1)),
            Behavior::exits(0, Duration::from_secs(1)),
        ],
    );
    h.start(crashing("OnFailure")).await;
    let s = h.wait_phase("Succeeded").await;
    let app = cs(&s, "app");
    assert_eq!(app.restart_count, 1);
    assert_eq!(exit_code(&s, "app"), Some(0));
    assert_eq!(
        app.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        3
    );
    assert_eq!(condition(&s, "Ready"), "False");
    let ready = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
    assert!(h.runtime.sandbox_ids().is_empty());
    // Terminal: nothing restarts later.
    h.settle(Duration::from_secs(600)).await;
    assert_eq!(h.starts("app").len(), 2);
    assert_eq!(h.last().phase.as_deref(), Some("Succeeded"));
}

#[tokio::test(start_paused = true)]
async fn never_leaves_a_failed_container_terminated_and_fails_the_pod() {
    let h = Harness::new();
    h.runtime
        .script("app", vec![Behavior::exits(1, Duration::from_secs(2))]);
    h.start(crashing("Never")).await;
    let s = h.wait_phase("Failed").await;
    let t = cs(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (1, Some("Error")));
    assert!(t.started_at.is_some() && t.finished_at.is_some());
    assert_eq!(cs(&s, "app").restart_count, 0);
    assert_eq!(h.starts("app").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn always_restarts_even_a_container_that_succeeded() {
    let h = Harness::new();
    h.runtime.script(
        "app",
        vec![Behavior::exits(0, Duration::from_secs(1)), Behavior::runs()],
    );
    h.start(crashing("Always")).await;
    let s = h
        .wait_for("restarted", |s| {
            cs(s, "app").restart_count == 1 && running(s, "app")
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let last = cs(&s, "app")
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(last.reason.as_deref(), Some("Completed"));
}

#[tokio::test(start_paused = true)]
async fn an_oom_killed_container_reports_oomkilled_and_137() {
    // 12-oom.yaml.
    let h = Harness::new();
    h.runtime
        .script("hog", vec![Behavior::oom_killed(Duration::from_secs(1))]);
    h.start(pod(json!({"restartPolicy": "Never", "volumes": [{"name": "mem", "emptyDir": {"medium": "Memory"}}],
        "containers": [{"name": "hog", "image": "busybox:1.36", "volumeMounts": [{"name": "mem", "mountPath": "/mem"}],
            "resources": {"limits": {"memory": "32Mi"}}}]}))).await;
    let s = h.wait_phase("Failed").await;
    let t = cs(&s, "hog")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    assert!(
        h.host.mounted().is_empty(),
        "the memory volume is unmounted with the finished pod"
    );
}

#[tokio::test(start_paused = true)]
async fn the_termination_message_comes_from_the_file_or_the_log_on_error() {
    let h = Harness::new();
    h.runtime.script("app", vec![Behavior::exits(1, Duration::from_secs(1)).with_output(&["first", "fatal: disk full"])]);
    h.start(pod(
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox:1.36",
        "terminationMessagePolicy": "FallbackToLogsOnError"}]}),
    ))
    .await;
    let s = h.wait_phase("Failed").await;
    let t = cs(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.message.as_deref(), Some("first\nfatal: disk full\n"));
}

#[tokio::test(start_paused = true)]
async fn a_pod_past_its_active_deadline_is_stopped_and_fails() {
    let h = Harness::new();
    h.start(pod(json!({"activeDeadlineSeconds": 30, "containers": [{"name": "app", "image": "busybox:1.36"}]}))).await;
    h.wait_phase("Running").await;
    let began = h.now();
    let s = h.wait_phase("Failed").await;
    assert!((h.now() - began).num_seconds() <= 31);
    assert_eq!(s.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        s.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert_eq!(exit_code(&s, "app"), Some(143));
    assert!(h.runtime.sandbox_ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_changed_image_restarts_the_container_with_it() {
    let h = Harness::new();
    let handle = h
        .start(pod(
            json!({"containers": [{"name": "app", "image": "busybox:1.36"}]}),
        ))
        .await;
    h.wait_phase("Running").await;
    handle.send(crate::pod_worker::Msg::Update(Box::new(pod(
        json!({"containers": [{"name": "app", "image": "nginx:1.27"}]}),
    ))));
    let s = h
        .wait_for("new image", |s| {
            running(s, "app") && cs(s, "app").restart_count == 1
        })
        .await;
    assert_eq!(cs(&s, "app").image, "docker.io/library/nginx:1.27");
    assert!(h
        .api
        .events()
        .iter()
        .any(|e| e.message == "Container app definition changed, will be restarted"));
}
