//! The node lifecycle with shortened timeouts: silent nodes turn Unknown and are tainted,
//! their pods turn not ready and are evicted after their tolerationSeconds, and a node that
//! comes back is untainted while its pods report again.

mod common;

use std::time::Duration;

use common::{condition, fast_lifecycle, node_condition, taints, Cluster};
use serde_json::json;

const UNREACHABLE: [&str; 2] = [
    "node.kubernetes.io/unreachable:NoSchedule",
    "node.kubernetes.io/unreachable:NoExecute",
];

fn tolerate_unreachable_for(seconds: i64) -> serde_json::Value {
    json!({"tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
        "effect": "NoExecute", "tolerationSeconds": seconds}]})
}

#[tokio::test]
async fn a_silent_node_turns_unknown_is_tainted_and_its_pods_turn_not_ready() {
    let c = Cluster::start(fast_lifecycle()).await;
    let nodes = c.hollow(2, "n").await;
    c.running_pod("web", "n-0", json!({})).await;
    c.running_pod("other", "n-1", json!({})).await;

    nodes.stop_heartbeats("n-0");
    let node = c.wait_node("n-0", |n| taints(n) == UNREACHABLE).await;
    assert_eq!(
        node_condition(&node, "Ready"),
        Some(("Unknown".into(), "NodeStatusUnknown".into()))
    );
    for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(node_condition(&node, t).unwrap().0, "Unknown", "{t}");
    }
    let pod = c
        .wait_pod("web", |p| condition(p, "Ready") == Some("False".into()))
        .await;
    assert_eq!(condition(&pod, "ContainersReady"), Some("False".into()));
    c.wait_event("default", "web", "NodeNotReady").await;
    c.wait_event("default", "n-0", "NodeNotReady").await;

    let healthy = c.nodes().get("n-1").await.unwrap();
    assert!(taints(&healthy).is_empty());
    assert_eq!(node_condition(&healthy, "Ready").unwrap().0, "True");
    let other = c.pods().get("other").await.unwrap();
    assert_eq!(condition(&other, "Ready"), Some("True".into()));
}

#[tokio::test]
async fn pods_are_evicted_from_an_unreachable_node_after_their_toleration_seconds() {
    let c = Cluster::start(fast_lifecycle()).await;
    let nodes = c.hollow(1, "n").await;
    c.running_pod("short", "n-0", tolerate_unreachable_for(1))
        .await;
    c.running_pod("defaulted", "n-0", json!({})).await;
    c.running_pod(
        "forever",
        "n-0",
        json!({"tolerations": [{"operator": "Exists"}]}),
    )
    .await;
    let defaulted = c.pods().get("defaulted").await.unwrap();
    let seconds: Vec<_> = defaulted
        .spec
        .unwrap()
        .tolerations
        .unwrap()
        .iter()
        .map(|t| t.toleration_seconds)
        .collect();
    assert_eq!(
        seconds,
        [Some(300), Some(300)],
        "admission's default tolerations"
    );

    nodes.stop_heartbeats("n-0");
    c.wait_node("n-0", |n| taints(n) == UNREACHABLE).await;
    let tainted_at = tokio::time::Instant::now();
    let evicted = c
        .wait_pod("short", |p| p.metadata.deletion_timestamp.is_some())
        .await;
    assert!(
        tainted_at.elapsed() >= Duration::from_millis(700),
        "evicted only after its toleration ran out"
    );
    assert_eq!(condition(&evicted, "DisruptionTarget"), Some("True".into()));
    c.wait_event("default", "short", "TaintManagerEviction")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for name in ["defaulted", "forever"] {
        let p = c.pods().get(name).await.unwrap();
        assert!(
            p.metadata.deletion_timestamp.is_none(),
            "{name} tolerates the taint for longer"
        );
    }
}

#[tokio::test]
async fn a_node_that_comes_back_is_untainted_and_its_pods_report_ready_again() {
    let c = Cluster::start(fast_lifecycle()).await;
    let nodes = c.hollow(1, "n").await;
    c.running_pod("web", "n-0", tolerate_unreachable_for(30))
        .await;
    nodes.stop_heartbeats("n-0");
    c.wait_node("n-0", |n| taints(n) == UNREACHABLE).await;
    c.wait_pod("web", |p| condition(p, "Ready") == Some("False".into()))
        .await;

    nodes.resume("n-0").await;
    let node = c
        .wait_node("n-0", |n| {
            taints(n).is_empty() && node_condition(n, "Ready").is_some_and(|(s, _)| s == "True")
        })
        .await;
    assert_eq!(node_condition(&node, "Ready").unwrap().1, "KubeletReady");
    c.wait_pod("web", |p| condition(p, "Ready") == Some("True".into()))
        .await;
    // The eviction countdown was cancelled with the taint.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c
        .pods()
        .get("web")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none());
}

#[tokio::test]
async fn a_no_execute_taint_evicts_pods_that_do_not_tolerate_it_at_once() {
    let c = Cluster::start(fast_lifecycle()).await;
    let _nodes = c.hollow(1, "n").await;
    c.running_pod("plain", "n-0", json!({})).await;
    c.running_pod("tolerant", "n-0", json!({"tolerations": [
        {"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3600}]}))
    .await;
    c.patch_node(
        "n-0",
        json!({"spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}}),
    )
    .await;
    c.wait_gone("plain").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c
        .pods()
        .get("tolerant")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none());
}

#[tokio::test]
async fn cordon_adds_the_unschedulable_taint_and_uncordon_removes_it() {
    let c = Cluster::start(fast_lifecycle()).await;
    let _nodes = c.hollow(1, "n").await;
    c.patch_node("n-0", json!({"spec": {"unschedulable": true}}))
        .await;
    let node = c.wait_node("n-0", |n| !taints(n).is_empty()).await;
    assert_eq!(
        taints(&node),
        ["node.kubernetes.io/unschedulable:NoSchedule"]
    );
    assert!(node.spec.unwrap().taints.unwrap()[0].time_added.is_some());
    c.patch_node("n-0", json!({"spec": {"unschedulable": false}}))
        .await;
    c.wait_node("n-0", |n| taints(n).is_empty()).await;
}
