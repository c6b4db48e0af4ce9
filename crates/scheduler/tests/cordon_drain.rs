//! `kubectl cordon`, `uncordon` and `drain` as kubectl does them: `spec.unschedulable`
//! (which the node lifecycle controller turns into the unschedulable taint) and evictions.

mod common;

use common::Cluster;
use k8s_openapi::api::core::v1::Node;
use kube::api::EvictParams;
use serde_json::json;

const NODE: &[(&str, &str)] = &[("cpu", "2"), ("memory", "4Gi"), ("pods", "110")];

fn taint_keys(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_taints(c: &Cluster, node: &str, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let n = c.nodes().get(node).await.unwrap();
        if taint_keys(&n) == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "taints {:?}, want {want:?}",
            taint_keys(&n)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cordon_taints_the_node_and_keeps_new_pods_off_until_uncordon() {
    let c = Cluster::start().await;
    c.start_controllers(Default::default()).await;
    let _n = c.hollow(1, "n", NODE, &[]).await;
    c.patch_node("n-0", json!({"spec": {"unschedulable": true}}))
        .await;
    wait_taints(&c, "n-0", &["node.kubernetes.io/unschedulable:NoSchedule"]).await;
    c.create_pod("waiting", json!({})).await;
    assert_eq!(
        c.wait_unschedulable("waiting").await,
        "0/1 nodes are available: 1 node(s) were unschedulable. \
         preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    c.patch_node("n-0", json!({"spec": {"unschedulable": null}}))
        .await;
    wait_taints(&c, "n-0", &[]).await;
    assert_eq!(c.wait_bound("waiting").await, "n-0");
}

#[tokio::test]
async fn drain_evicts_the_pods_of_a_cordoned_node_and_replacements_go_elsewhere() {
    let c = Cluster::start().await;
    c.start_controllers(Default::default()).await;
    let _n = c.hollow(2, "n", NODE, &[]).await;
    let on_n0 = json!({"nodeSelector": {"kubernetes.io/hostname": "n-0"}});
    for name in ["a", "b"] {
        c.create_pod(name, on_n0.clone()).await;
        assert_eq!(c.wait_bound(name).await, "n-0");
    }
    // kubectl drain: cordon, then evict every pod.
    c.patch_node("n-0", json!({"spec": {"unschedulable": true}}))
        .await;
    for name in ["a", "b"] {
        c.pods().evict(name, &EvictParams::default()).await.unwrap();
    }
    for name in ["a", "b"] {
        c.wait_gone(name).await;
    }
    c.create_pod("replacement", json!({})).await;
    assert_eq!(c.wait_bound("replacement").await, "n-1");
}
