//! Every score, end to end: the feasible node the plugins rate best gets the pod.

mod common;

use common::{requesting, Cluster};
use serde_json::json;

const NODE: &[(&str, &str)] = &[("cpu", "4"), ("memory", "4Gi"), ("pods", "110")];

#[tokio::test]
async fn least_allocated_spreads_pods_evenly_over_equal_nodes() {
    let c = Cluster::api_only().await;
    let _n = c.hollow(3, "n", NODE, &[]).await;
    c.start_scheduler(common::test_config()).await;
    for i in 0..6 {
        c.create_pod(
            &format!("p{i}"),
            requesting(json!({"cpu": "1", "memory": "512Mi"})),
        )
        .await;
    }
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..6 {
        *per_node
            .entry(c.wait_bound(&format!("p{i}")).await)
            .or_default() += 1;
    }
    assert_eq!(
        per_node.values().copied().collect::<Vec<_>>(),
        [2, 2, 2],
        "{per_node:?}"
    );
}

#[tokio::test]
async fn balanced_allocation_breaks_a_least_allocated_tie_toward_even_cpu_and_memory_use() {
    let c = Cluster::api_only().await;
    let _a = c.hollow(1, "a", NODE, &[]).await;
    let _b = c.hollow(1, "b", NODE, &[]).await;
    // a: 2 cpu, no memory used; b: 1 cpu and 1Gi used. With the new pod both are half
    // free (LeastAllocated 50 each), but only b uses cpu and memory evenly.
    let pinned = |node: &str, cpu: &str, memory: &str| {
        json!({"nodeName": node, "containers": [
        {"name": "c", "image": "busybox:1.36", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]})
    };
    c.create_pod("on-a", pinned("a-0", "2", "0")).await;
    c.create_pod("on-b", pinned("b-0", "1", "1Gi")).await;
    c.wait_pod("on-b", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    c.wait_pod("on-a", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    c.start_scheduler(common::test_config()).await;
    c.create_pod("new", requesting(json!({"cpu": "1", "memory": "1Gi"})))
        .await;
    assert_eq!(c.wait_bound("new").await, "b-0");
}

#[tokio::test]
async fn preferred_node_affinity_weights_pick_the_heavier_match() {
    let c = Cluster::api_only().await;
    let _a = c.hollow(1, "a", NODE, &[("zone", "a")]).await;
    let _b = c.hollow(1, "b", NODE, &[("zone", "b")]).await;
    let _z = c.hollow(1, "z", NODE, &[]).await;
    c.start_scheduler(common::test_config()).await;
    let prefer = |weights: &[(&str, i32)]| {
        let terms: Vec<_> = weights
            .iter()
            .map(|(zone, w)| {
                json!({"weight": w, "preference": {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": [zone]}]}})
            })
            .collect();
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}})
    };
    c.create_pod("likes-b", prefer(&[("a", 10), ("b", 50)]))
        .await;
    assert_eq!(c.wait_bound("likes-b").await, "b-0");
    c.create_pod("likes-a", prefer(&[("a", 80), ("b", 50)]))
        .await;
    assert_eq!(c.wait_bound("likes-a").await, "a-0");
}

#[tokio::test]
async fn prefer_no_schedule_taints_steer_pods_away_but_do_not_forbid() {
    let c = Cluster::api_only().await;
    let _x = c.hollow(1, "x", NODE, &[]).await;
    let _y = c
        .hollow(
            1,
            "y",
            &[("cpu", "4"), ("memory", "4Gi"), ("pods", "1")],
            &[],
        )
        .await;
    c.patch_node(
        "x-0",
        json!({"spec": {"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]}}),
    )
    .await;
    c.start_scheduler(common::test_config()).await;
    c.create_pod("first", json!({})).await;
    assert_eq!(c.wait_bound("first").await, "y-0");
    c.create_pod("second", json!({})).await;
    assert_eq!(
        c.wait_bound("second").await,
        "x-0",
        "the tainted node is still feasible"
    );
}
