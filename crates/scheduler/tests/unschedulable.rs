//! Pods that fit nowhere: upstream's message on the PodScheduled condition and a
//! FailedScheduling event; retried when a node or pod change may help, not by polling.

mod common;

use std::time::Duration;

use common::{requesting, Cluster};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

const NODE: &[(&str, &str)] = &[("cpu", "2"), ("memory", "4Gi"), ("pods", "110")];

#[tokio::test]
async fn an_unschedulable_pod_gets_upstreams_message_as_condition_and_event() {
    let c = Cluster::api_only().await;
    let _ssd = c
        .hollow(
            1,
            "ssd",
            &[("cpu", "4"), ("memory", "1Gi"), ("pods", "110")],
            &[("disktype", "ssd")],
        )
        .await;
    let _hdd = c.hollow(2, "hdd", NODE, &[]).await;
    c.start_scheduler(common::test_config()).await;
    c.create_pod(
        "big",
        json!({"nodeSelector": {"disktype": "ssd"}, "containers": [
        {"name": "c", "image": "busybox:1.36", "resources": {"requests": {"memory": "2Gi"}}}]}),
    )
    .await;
    let expected = "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector. \
                    preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    assert_eq!(c.wait_unschedulable("big").await, expected);
    assert_eq!(c.wait_event("big", "FailedScheduling").await, expected);
    let pod = c.pods().get("big").await.unwrap();
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));
}

#[tokio::test]
async fn scenario_10_waits_for_the_node_label_then_is_bound_and_runs() {
    let c = Cluster::api_only().await;
    let _n = c.hollow(2, "n", NODE, &[]).await;
    c.start_scheduler(common::test_config()).await;
    c.apply_yaml(include_str!("../../../examples/10-node-affinity.yaml"))
        .await;
    assert_eq!(
        c.wait_unschedulable("ssd-only").await,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    c.wait_event("ssd-only", "FailedScheduling").await;
    c.patch_node("n-1", json!({"metadata": {"labels": {"disktype": "ssd"}}}))
        .await;
    assert_eq!(c.wait_bound("ssd-only").await, "n-1");
    c.wait_pod("ssd-only", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    assert_eq!(
        c.wait_event("ssd-only", "Scheduled").await,
        "Successfully assigned default/ssd-only to n-1"
    );
    let pod = c.pods().get("ssd-only").await.unwrap();
    assert_eq!(common::scheduled_condition(&pod).unwrap().0, "True");
}

#[tokio::test]
async fn freed_resources_schedule_the_waiting_pod() {
    let c = Cluster::start().await;
    let _n = c.hollow(1, "n", NODE, &[]).await;
    c.create_pod("first", requesting(json!({"cpu": "2"}))).await;
    c.wait_bound("first").await;
    c.create_pod("second", requesting(json!({"cpu": "2"})))
        .await;
    let msg = c.wait_unschedulable("second").await;
    assert!(
        msg.starts_with("0/1 nodes are available: 1 Insufficient cpu."),
        "{msg}"
    );
    c.pods()
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    c.wait_gone("first").await;
    assert_eq!(c.wait_bound("second").await, "n-0");
}

#[tokio::test]
async fn a_new_node_schedules_a_pod_that_found_no_nodes() {
    let c = Cluster::start().await;
    c.create_pod("early", json!({})).await;
    assert_eq!(
        c.wait_unschedulable("early").await,
        "no nodes available to schedule pods"
    );
    let _n = c.hollow(1, "late", NODE, &[]).await;
    assert_eq!(c.wait_bound("early").await, "late-0");
}

#[tokio::test]
async fn unschedulable_pods_are_not_retried_without_an_event_that_concerns_them() {
    let c = Cluster::start().await;
    let _n = c.hollow(1, "n", NODE, &[]).await;
    c.create_pod("waiting", json!({"nodeSelector": {"disktype": "ssd"}}))
        .await;
    c.wait_unschedulable("waiting").await;
    // A pod coming and going frees resources, which does not help a selector mismatch.
    c.create_pod("other", json!({})).await;
    c.wait_bound("other").await;
    c.pods()
        .delete("other", &DeleteParams::default())
        .await
        .unwrap();
    c.wait_gone("other").await;
    // Well past the longest back-off of the test configuration (500 ms).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let failures: Vec<_> = c
        .events_for("waiting")
        .await
        .into_iter()
        .filter(|(r, _, _)| r == "FailedScheduling")
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].2, 1, "one attempt, no polling");
}

#[tokio::test]
async fn repeated_failures_bump_one_event_and_keep_backing_off() {
    let c = Cluster::start().await;
    let _n = c.hollow(1, "n", NODE, &[]).await;
    c.create_pod("waiting", json!({"nodeSelector": {"disktype": "ssd"}}))
        .await;
    c.wait_unschedulable("waiting").await;
    // Label changes that still do not match: each may retry, after the back-off.
    for i in 0..10 {
        c.patch_node(
            "n-0",
            json!({"metadata": {"labels": {"round": i.to_string()}}}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let failures: Vec<_> = c
        .events_for("waiting")
        .await
        .into_iter()
        .filter(|(r, _, _)| r == "FailedScheduling")
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "repeats aggregate into one event: {failures:?}"
    );
    let attempts = failures[0].2;
    // 1 s of label changes with back-offs of 100, 200, 400, 500 ms: a handful of attempts.
    assert!((2..=6).contains(&attempts), "attempts {attempts}");
}

#[tokio::test]
async fn pods_for_another_scheduler_or_behind_gates_are_left_alone() {
    let c = Cluster::start().await;
    let _n = c.hollow(1, "n", NODE, &[]).await;
    c.create_pod("elsewhere", json!({"schedulerName": "other-scheduler"}))
        .await;
    c.create_pod(
        "gated",
        json!({"schedulingGates": [{"name": "example.com/wait"}]}),
    )
    .await;
    c.create_pod("normal", json!({})).await;
    c.wait_bound("normal").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.node_of("elsewhere").await, None);
    assert_eq!(c.node_of("gated").await, None);
    c.pods()
        .patch(
            "gated",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"schedulingGates": null}})),
        )
        .await
        .unwrap();
    assert_eq!(c.wait_bound("gated").await, "n-0");
}
