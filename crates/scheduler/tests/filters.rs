//! Every filter, end to end: API server, scheduler and hollow nodes in process.

mod common;

use common::{requesting, Cluster};
use serde_json::json;

const NODE: &[(&str, &str)] = &[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")];

#[tokio::test]
async fn a_pod_of_three_1gi_containers_goes_to_the_3gi_node_never_the_2_5gi_one() {
    let c = Cluster::start().await;
    let _small = c
        .hollow(
            1,
            "small",
            &[("cpu", "4"), ("memory", "2560Mi"), ("pods", "110")],
            &[],
        )
        .await;
    let _big = c
        .hollow(
            1,
            "big",
            &[("cpu", "4"), ("memory", "3Gi"), ("pods", "110")],
            &[],
        )
        .await;
    let container = |n: &str| json!({"name": n, "image": "busybox:1.36", "resources": {"requests": {"memory": "1Gi"}}});
    let spec = json!({"containers": [container("a"), container("b"), container("c")]});
    c.create_pod("three", spec.clone()).await;
    assert_eq!(c.wait_bound("three").await, "big-0");
    c.wait_pod("three", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;

    c.create_pod("again", spec).await;
    let expected = "0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: \
                    1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.";
    c.wait_pod("again", |p| {
        common::scheduled_condition(p).is_some_and(|(_, _, m)| m == expected)
    })
    .await;
    assert_eq!(c.node_of("again").await, None, "never the 2.5Gi node");
}

#[tokio::test]
async fn init_containers_and_overhead_count_in_the_effective_request() {
    let c = Cluster::start().await;
    let _small = c
        .hollow(
            1,
            "small",
            &[("cpu", "4"), ("memory", "1Gi"), ("pods", "110")],
            &[],
        )
        .await;
    let _big = c
        .hollow(
            1,
            "big",
            &[("cpu", "4"), ("memory", "2Gi"), ("pods", "110")],
            &[],
        )
        .await;
    c.create_pod("init", json!({
        "initContainers": [{"name": "i", "image": "busybox:1.36", "resources": {"requests": {"memory": "1536Mi"}}}],
        "containers": [{"name": "c", "image": "busybox:1.36", "resources": {"requests": {"memory": "256Mi"}}}],
    }))
    .await;
    assert_eq!(c.wait_bound("init").await, "big-0");
    c.create_pod("overhead", json!({
        "containers": [{"name": "c", "image": "busybox:1.36", "resources": {"requests": {"memory": "1Gi"}}}],
        "overhead": {"memory": "1Mi"},
    }))
    .await;
    let msg = c.wait_unschedulable("overhead").await;
    assert!(
        msg.starts_with("0/2 nodes are available: 2 Insufficient memory."),
        "{msg}"
    );
}

#[tokio::test]
async fn assumed_pods_count_so_a_burst_never_overcommits_a_node() {
    let c = Cluster::start().await;
    let _nodes = c
        .hollow(
            2,
            "n",
            &[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")],
            &[],
        )
        .await;
    for i in 0..9 {
        c.create_pod(&format!("p{i}"), requesting(json!({"cpu": "1"})))
            .await;
    }
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..8 {
        *per_node
            .entry(c.wait_bound(&format!("p{i}")).await)
            .or_default() += 1;
    }
    let msg = c.wait_unschedulable("p8").await;
    assert!(
        msg.starts_with("0/2 nodes are available: 2 Insufficient cpu."),
        "{msg}"
    );
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), [4, 4]);
}

#[tokio::test]
async fn pod_count_extended_resources_and_ephemeral_storage_must_fit() {
    let c = Cluster::start().await;
    let _gpu = c
        .hollow(
            1,
            "gpu",
            &[
                ("cpu", "4"),
                ("memory", "8Gi"),
                ("pods", "2"),
                ("example.com/gpu", "1"),
                ("ephemeral-storage", "10Gi"),
            ],
            &[],
        )
        .await;
    let gpu = json!({"containers": [{"name": "c", "image": "busybox:1.36",
        "resources": {"limits": {"example.com/gpu": "1"}}}]});
    c.create_pod("g1", gpu.clone()).await;
    assert_eq!(c.wait_bound("g1").await, "gpu-0");
    c.create_pod("g2", gpu).await;
    let msg = c.wait_unschedulable("g2").await;
    assert!(
        msg.starts_with("0/1 nodes are available: 1 Insufficient example.com/gpu."),
        "{msg}"
    );
    c.create_pod("disk", requesting(json!({"ephemeral-storage": "20Gi"})))
        .await;
    let msg = c.wait_unschedulable("disk").await;
    assert!(msg.contains("1 Insufficient ephemeral-storage"), "{msg}");
    c.create_pod("filler", json!({})).await;
    assert_eq!(c.wait_bound("filler").await, "gpu-0");
    c.create_pod("one-too-many", json!({})).await;
    let msg = c.wait_unschedulable("one-too-many").await;
    assert!(
        msg.starts_with("0/1 nodes are available: 1 Too many pods."),
        "{msg}"
    );
}

#[tokio::test]
async fn cordoned_nodes_take_no_pods_unless_they_tolerate_the_unschedulable_taint() {
    let c = Cluster::start().await;
    let _n = c.hollow(1, "cordoned", NODE, &[]).await;
    c.patch_node("cordoned-0", json!({"spec": {"unschedulable": true}}))
        .await;
    c.create_pod("plain", json!({})).await;
    let msg = c.wait_unschedulable("plain").await;
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: \
         1 Preemption is not helpful for scheduling."
    );
    c.create_pod("tolerant", json!({"tolerations": [
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}))
    .await;
    assert_eq!(c.wait_bound("tolerant").await, "cordoned-0");
    c.patch_node("cordoned-0", json!({"spec": {"unschedulable": false}}))
        .await;
    assert_eq!(
        c.wait_bound("plain").await,
        "cordoned-0",
        "uncordon retries the waiting pod"
    );
}

#[tokio::test]
async fn pods_naming_their_node_bypass_the_scheduler_and_count_against_it() {
    let c = Cluster::start().await;
    let _n = c
        .hollow(
            2,
            "n",
            &[("cpu", "2"), ("memory", "8Gi"), ("pods", "110")],
            &[],
        )
        .await;
    c.create_pod(
        "pinned",
        json!({"nodeName": "n-1", "containers": [
        {"name": "c", "image": "busybox:1.36", "resources": {"requests": {"cpu": "2"}}}]}),
    )
    .await;
    c.wait_pod("pinned", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    assert!(c
        .events_for("pinned")
        .await
        .iter()
        .all(|(r, _, _)| r != "Scheduled"));
    c.create_pod("next", requesting(json!({"cpu": "2"}))).await;
    assert_eq!(
        c.wait_bound("next").await,
        "n-0",
        "n-1 is full with the pinned pod"
    );
}

#[tokio::test]
async fn node_selector_and_required_affinity_operators_pick_matching_nodes() {
    let c = Cluster::start().await;
    let _a = c
        .hollow(
            1,
            "a",
            NODE,
            &[("zone", "a"), ("cores", "8"), ("disktype", "ssd")],
        )
        .await;
    let _b = c
        .hollow(1, "b", NODE, &[("zone", "b"), ("cores", "2")])
        .await;
    let required = |exprs: serde_json::Value| {
        json!({"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}}}})
    };
    let cases = [
        (
            "selector",
            json!({"nodeSelector": {"disktype": "ssd"}}),
            "a-0",
        ),
        (
            "in",
            required(json!([{"key": "zone", "operator": "In", "values": ["b"]}])),
            "b-0",
        ),
        (
            "notin",
            required(json!([{"key": "zone", "operator": "NotIn", "values": ["b"]}])),
            "a-0",
        ),
        (
            "exists",
            required(json!([{"key": "disktype", "operator": "Exists"}])),
            "a-0",
        ),
        (
            "doesnotexist",
            required(json!([{"key": "disktype", "operator": "DoesNotExist"}])),
            "b-0",
        ),
        (
            "gt",
            required(json!([{"key": "cores", "operator": "Gt", "values": ["4"]}])),
            "a-0",
        ),
        (
            "lt",
            required(json!([{"key": "cores", "operator": "Lt", "values": ["4"]}])),
            "b-0",
        ),
        (
            "fields",
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b-0"]}]}]}}}}),
            "b-0",
        ),
    ];
    for (name, spec, _) in &cases {
        c.create_pod(name, spec.clone()).await;
    }
    for (name, _, node) in &cases {
        assert_eq!(c.wait_bound(name).await, *node, "{name}");
    }
    c.create_pod("nowhere", json!({"nodeSelector": {"zone": "c"}}))
        .await;
    assert_eq!(
        c.wait_unschedulable("nowhere").await,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
}

#[tokio::test]
async fn match_fields_pins_a_node_and_reports_the_others_as_prefiltered() {
    let c = Cluster::start().await;
    let _n = c
        .hollow(
            3,
            "n",
            &[("cpu", "1"), ("memory", "8Gi"), ("pods", "110")],
            &[],
        )
        .await;
    c.create_pod("pinned", json!({
        "containers": [{"name": "c", "image": "busybox:1.36", "resources": {"requests": {"cpu": "2"}}}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n-2"]}]}]}}}}))
    .await;
    assert_eq!(
        c.wait_unschedulable("pinned").await,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
}

#[tokio::test]
async fn untolerated_no_schedule_and_no_execute_taints_keep_pods_off() {
    let c = Cluster::start().await;
    let _n = c.hollow(1, "gpu", NODE, &[]).await;
    c.patch_node(
        "gpu-0",
        json!({"spec": {"taints": [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "maintenance", "effect": "NoExecute"}]}}),
    )
    .await;
    c.create_pod("plain", json!({})).await;
    assert_eq!(
        c.wait_unschedulable("plain").await,
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. \
         preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    c.create_pod(
        "half",
        json!({"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
    )
    .await;
    let msg = c.wait_unschedulable("half").await;
    assert!(
        msg.contains("1 node(s) had untolerated taint {maintenance: }"),
        "{msg}"
    );
    c.create_pod("both", json!({"tolerations": [
        {"key": "dedicated", "operator": "Exists"}, {"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}]}))
    .await;
    assert_eq!(c.wait_bound("both").await, "gpu-0");
    c.patch_node("gpu-0", json!({"spec": {"taints": null}}))
        .await;
    assert_eq!(
        c.wait_bound("plain").await,
        "gpu-0",
        "removing the taints retries waiting pods"
    );
}

#[tokio::test]
async fn a_used_host_port_sends_the_next_pod_elsewhere() {
    let c = Cluster::start().await;
    let _n = c.hollow(2, "n", NODE, &[]).await;
    let with_port = json!({"containers": [{"name": "c", "image": "busybox:1.36",
        "ports": [{"containerPort": 80, "hostPort": 8080}]}]});
    c.create_pod("first", with_port.clone()).await;
    let first = c.wait_bound("first").await;
    c.create_pod("second", with_port.clone()).await;
    let second = c.wait_bound("second").await;
    assert_ne!(first, second);
    c.create_pod("third", with_port).await;
    assert_eq!(
        c.wait_unschedulable("third").await,
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. \
         preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
}
