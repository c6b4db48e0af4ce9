//! Root e2e: a hundred pods created at once and deleted through the API leave nothing on
//! the host — mounts, network namespaces, veths, cgroups, iptables rules, processes, and
//! files of the runtime and the node agent are counted before and after.

mod common;
mod e2e_support;
mod runtime_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e_support::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use serde_json::json;

const PODS: usize = 100;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "leak-check"}},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": ["sleep", "3600"],
                            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_pods_created_and_deleted_leave_nothing_behind() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    let runtime_root = node.dir.join("runtime");
    // One pod first: what the first pod creates once and keeps (the orca0 bridge, the
    // kubepods cgroup parents, CNI's IPAM files and iptables chains) is not a leak.
    node.pods()
        .create(&PostParams::default(), &pod("warm-up"))
        .await
        .unwrap();
    node.wait_all_running("warm-up").await;
    node.delete("warm-up").await;
    let before = runtime_support::host_counts(&runtime_root);
    let before_files = node.pod_dirs().len();

    let t = Instant::now();
    let creates = (0..PODS).map(|i| {
        let api = node.pods();
        async move {
            api.create(&PostParams::default(), &pod(&format!("p-{i:03}")))
                .await
                .unwrap()
        }
    });
    futures::future::join_all(creates).await;
    let selector = ListParams::default().labels("app=leak-check");
    let deadline = Instant::now() + Duration::from_secs(180);
    let running = loop {
        let list = node.pods().list(&selector).await.unwrap().items;
        let running: Vec<Pod> = list
            .into_iter()
            .filter(|p| phase(p) == "Running" && is_running(p, "c"))
            .collect();
        if running.len() == PODS {
            break running;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {PODS} pods running:\n{}",
            running.len(),
            node.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("{PODS} pods Running after {:?}", t.elapsed());
    let ips: BTreeSet<String> = running.iter().map(|p| pod_ip(p).to_string()).collect();
    assert_eq!(ips.len(), PODS, "pod IPs are not distinct");
    let during = runtime_support::host_counts(&runtime_root);
    assert!(
        during.veths >= before.veths + PODS && during.mounts > before.mounts + PODS,
        "the pods are not where they are counted: {during:?} vs {before:?}"
    );
    assert_eq!(shims_under(&node.dir).len(), PODS);

    let t = Instant::now();
    node.delete_all().await;
    println!("{PODS} pods deleted after {:?}", t.elapsed());
    // Exited processes may take a moment to be reaped.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = runtime_support::host_counts(&runtime_root);
        if after == before || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        after, before,
        "the host differs after {PODS} pods came and went"
    );
    assert_eq!(node.pod_dirs().len(), before_files);
    assert_eq!(node.sandboxes(), Vec::<String>::new());
    node.finish().await;
}

/// `orca server --data-dir data` (relative): the runtime, image store and agent get
/// absolute paths, so pods run and leave nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_given_a_relative_data_dir_runs_pods_and_leaves_nothing_behind() {
    let Some(node) = Node::start_with(&[TestImage::Busybox], true).await else {
        return;
    };
    let mounts_before = runtime_support::host_counts(&node.dir.join("runtime")).mounts;
    node.create(json!({
        "metadata": {"name": "relative"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": ["sh", "-c", "echo ran"]}],
        },
    }))
    .await;
    let pod = node.wait_phase("relative", "Succeeded").await;
    assert_eq!(terminated(&pod, "c"), Some((0, "Completed".into())));
    assert_eq!(node.logs("relative", &Logs::default()).await, "ran\n");
    node.delete("relative").await;
    node.wait_released(Duration::from_secs(30)).await;
    assert_eq!(
        runtime_support::host_counts(&node.dir.join("runtime")).mounts,
        mounts_before
    );
    node.finish().await;
}
