//! Root e2e: restart policies on real containers (a failing container under Always,
//! OnFailure and Never) and the agent's re-adoption of running pods after `kill -9` of
//! `orca server`.

mod common;
mod e2e_support;
mod runtime_support;

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_support::*;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

/// (startedAt, finishedAt) in seconds of every terminated incarnation of container `name`
/// the pod shows (state and lastState), by container ID.
fn record_ends(pod: &Pod, name: &str, into: &mut BTreeMap<String, (i64, i64)>) {
    let Some(cs) = status(pod, name) else {
        return;
    };
    for t in [
        cs.state.as_ref().and_then(|s| s.terminated.as_ref()),
        cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()),
    ]
    .into_iter()
    .flatten()
    {
        if let (Some(id), Some(s), Some(f)) = (&t.container_id, &t.started_at, &t.finished_at) {
            into.insert(id.clone(), (s.0.as_second(), f.0.as_second()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policy_always_restarts_a_failing_container_with_back_off_into_crash_loop_back_off()
{
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    node.create(json!({
        "metadata": {"name": "crash-always"},
        "spec": {
            "restartPolicy": "Always",
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": ["sh", "-c", "echo run; exit 3"]}],
        },
    }))
    .await;
    let mut ends = BTreeMap::new();
    let mut phases = std::collections::BTreeSet::new();
    let pod = node
        .wait(
            "crash-always",
            Duration::from_secs(45),
            "restarted twice",
            |p| {
                record_ends(p, "c", &mut ends);
                phases.insert(phase(p).to_string());
                restarts(p, "c") >= 2 && ends.len() >= 3
            },
        )
        .await;
    // Three incarnations ended: the first restart came at once, the second after the
    // 10 s back-off.
    let mut runs: Vec<(i64, i64)> = ends.values().copied().collect();
    runs.sort();
    let gap1 = runs[1].0 - runs[0].1;
    let gap2 = runs[2].0 - runs[1].1;
    assert!(gap1 <= 3, "first restart after {gap1}s: {runs:?}");
    assert!(
        (9..=16).contains(&gap2),
        "second restart after {gap2}s, not the 10 s back-off: {runs:?}"
    );
    assert!(
        phases.iter().all(|p| p == "Pending" || p == "Running"),
        "{phases:?}"
    );
    let last = must(&pod, "c")
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));

    // In back-off now (20 s): CrashLoopBackOff with upstream's message.
    let pod = node
        .wait(
            "crash-always",
            Duration::from_secs(10),
            "in CrashLoopBackOff",
            |p| waiting(p, "c").is_some_and(|w| w.0 == "CrashLoopBackOff"),
        )
        .await;
    let (_, message) = waiting(&pod, "c").unwrap();
    assert!(
        message.starts_with("back-off 20s restarting failed container=c pod=crash-always_default("),
        "{message}"
    );
    assert_eq!(phase(&pod), "Running");
    assert_eq!(api::pod::display_status(&pod), "CrashLoopBackOff");
    let events = node.events("crash-always").await;
    assert!(
        events.iter().any(
            |e| e.reason.as_deref() == Some("BackOff") && e.type_.as_deref() == Some("Warning")
        ),
        "no BackOff event: {events:?}"
    );
    // Each incarnation has its own log; the previous one is readable.
    let previous = node
        .logs(
            "crash-always",
            &Logs {
                previous: true,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(previous, "run\n");
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policy_on_failure_restarts_a_failing_container_until_it_succeeds() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    // Fails with 5 on its first run, succeeds on its second (a counter in an emptyDir).
    let script = "n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; \
                  echo attempt $n; [ $n -ge 2 ] && exit 0; exit 5";
    node.create(json!({
        "metadata": {"name": "on-failure"},
        "spec": {
            "restartPolicy": "OnFailure",
            "volumes": [{"name": "state", "emptyDir": {}}],
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": ["sh", "-c", script],
                            "volumeMounts": [{"name": "state", "mountPath": "/state"}]}],
        },
    }))
    .await;
    let pod = node.wait_phase("on-failure", "Succeeded").await;
    let cs = must(&pod, "c");
    assert_eq!(cs.restart_count, 1);
    assert_eq!(terminated(&pod, "c"), Some((0, "Completed".into())));
    let last = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (5, Some("Error")));
    assert_ne!(last.container_id, cs.container_id);
    assert_eq!(
        node.logs("on-failure", &Logs::default()).await,
        "attempt 2\n"
    );
    let previous = Logs {
        previous: true,
        ..Default::default()
    };
    assert_eq!(node.logs("on-failure", &previous).await, "attempt 1\n");
    // A succeeded container is not restarted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = node.pods().get("on-failure").await.unwrap();
    assert_eq!((phase(&later), restarts(&later, "c")), ("Succeeded", 1));
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policy_never_leaves_a_failed_container_failed_with_its_exit_code() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    node.create(json!({
        "metadata": {"name": "never"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": ["sh", "-c", "echo failing; exit 3"]}],
        },
    }))
    .await;
    // A failing init container under Never fails the pod; the app never starts.
    node.create(json!({
        "metadata": {"name": "never-init"},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "init", "image": "busybox:1.36",
                                "command": ["sh", "-c", "exit 9"]}],
            "containers": [{"name": "app", "image": "busybox:1.36",
                            "command": ["sh", "-c", "echo must not run"]}],
        },
    }))
    .await;
    let pod = node.wait_phase("never", "Failed").await;
    let cs = must(&pod, "c");
    assert_eq!(terminated(&pod, "c"), Some((3, "Error".into())));
    assert_eq!(cs.restart_count, 0);
    assert_eq!(api::pod::display_status(&pod), "Error");
    assert_eq!(node.logs("never", &Logs::default()).await, "failing\n");

    let init_pod = node.wait_phase("never-init", "Failed").await;
    assert_eq!(terminated(&init_pod, "init"), Some((9, "Error".into())));
    assert!(
        status(&init_pod, "app")
            .and_then(|c| c.state.as_ref())
            .is_none_or(|s| s.running.is_none() && s.terminated.is_none()),
        "the app container ran: {:?}",
        init_pod.status
    );
    assert_eq!(api::pod::display_status(&init_pod), "Init:Error");

    // Nothing is restarted later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = node.pods().get("never").await.unwrap();
    assert_eq!(phase(&later), "Failed");
    assert_eq!(must(&later, "c").container_id, cs.container_id);
    assert_eq!(restarts(&later, "c"), 0);
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_with_sigkill_stops_no_container_and_a_new_server_readopts_them() {
    let Some(mut node) = Node::start(&[TestImage::Busybox, TestImage::Nginx]).await else {
        return;
    };
    node.create(json!({
        "metadata": {"name": "web"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "nginx", "image": "nginx:1.27"},
                {"name": "sleeper", "image": "busybox:1.36", "command": ["sleep", "3600"]},
            ],
        },
    }))
    .await;
    // Ends with exit code 7 once the test creates /signal/exit, i.e. while no server runs.
    node.create(json!({
        "metadata": {"name": "ender"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "signal", "emptyDir": {}}],
            "containers": [{"name": "ender", "image": "busybox:1.36",
                            "command": ["sh", "-c",
                                "echo waiting; while [ ! -f /signal/exit ]; do sleep 0.1; done; echo ending; exit 7"],
                            "volumeMounts": [{"name": "signal", "mountPath": "/signal"}]}],
        },
    }))
    .await;
    let web = node.wait_all_running("web").await;
    let ender = node.wait_all_running("ender").await;
    let ip = pod_ip(&web);
    assert_eq!(
        http_get(ip, 80, "/", Duration::from_secs(10)).await,
        "Welcome\n"
    );
    let shims = {
        let mut s = shims_under(&node.dir);
        s.sort();
        s
    };
    assert_eq!(shims.len(), 2, "one shim per pod");

    node.kill9();
    // Nothing stopped: the shims live and the pod IP still answers.
    assert_eq!(
        http_get(ip, 80, "/", Duration::from_secs(5)).await,
        "Welcome\n"
    );
    let mut now = shims_under(&node.dir);
    now.sort();
    assert_eq!(now, shims);
    // The ender container exits while no agent watches.
    let signal = node.empty_dir(&ender, "signal");
    std::fs::write(signal.join("exit"), b"").unwrap();
    let uid = ender.metadata.uid.as_deref().unwrap();
    let log = node
        .dir
        .join(format!("kubelet/pods/default_ender_{uid}/ender/0.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("ending")
    {
        assert!(std::time::Instant::now() < deadline, "ender did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    node.restart().await;
    // The exit that happened while the server was down is reported, code and all.
    let ended = node.wait_phase("ender", "Failed").await;
    assert_eq!(terminated(&ended, "ender"), Some((7, "Error".into())));
    assert_eq!(
        must(&ended, "ender").container_id,
        must(&ender, "ender").container_id
    );
    assert_eq!(restarts(&ended, "ender"), 0);
    assert_eq!(
        node.logs("ender", &Logs::default()).await,
        "waiting\nending\n"
    );

    // Nothing was restarted: same containers, same start times, same IP.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = node.pods().get("web").await.unwrap();
    assert_eq!(phase(&after), "Running");
    for c in ["nginx", "sleeper"] {
        let (b, a) = (must(&web, c), must(&after, c));
        assert_eq!(a.container_id, b.container_id, "{c}");
        assert_eq!(a.restart_count, 0, "{c}");
        assert_eq!(a.state, b.state, "{c}");
        assert!(a.ready, "{c}");
    }
    assert_eq!(pod_ip(&after), ip);
    assert_eq!(condition(&after, "Ready"), "True");
    assert_eq!(
        http_get(ip, 80, "/", Duration::from_secs(5)).await,
        "Welcome\n"
    );
    // The web pod's shim is one of the shims from before the kill (the ended pod's may
    // have been released since).
    let now = shims_under(&node.dir);
    assert!(
        !now.is_empty() && now.iter().all(|p| shims.contains(p)),
        "{now:?} vs {shims:?}"
    );
    node.finish().await;
}
