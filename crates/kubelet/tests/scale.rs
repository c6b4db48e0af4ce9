//! Many pods at once on one node (fake runtime): the agent's own overhead.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use futures::future::join_all;
use kube::api::ListParams;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_pods_all_reach_running() {
    let c = Cluster::start().await;
    let began = Instant::now();
    join_all((0..100).map(|i| {
        c.create_pod(json!({"metadata": {"name": format!("p{i}")}, "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}))
    }))
    .await;
    let created = began.elapsed();
    loop {
        let pods = c.pods().list(&ListParams::default()).await.unwrap().items;
        let running = pods
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        if running == 100 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "only {running} of 100 running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "100 pods created in {created:?}, all Running after {:?}",
        began.elapsed()
    );
}
