//! Root e2e: a pod's image pulled from a local registry (Debian's `docker-registry` on a
//! loopback port, fed with oci-client's push API), and a missing tag shown as
//! ErrImagePull / ImagePullBackOff with the registry's message.

mod common;
mod e2e_support;
mod runtime_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::*;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::json;

/// Pushes the busybox root filesystem as a one-layer image (uncompressed OCI layer, so
/// its digest is its diff ID); returns the config digest, which is the image ID.
async fn push_busybox(reference: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let tar = rootfs_tar(
        work.path(),
        "pushed",
        &[("etc/motd", Some("pulled from a registry\n"))],
    );
    let layer = ImageLayer::oci_v1(std::fs::read(tar).unwrap(), None);
    let diff_id = layer.sha256_digest();
    let config = serde_json::to_vec(&json!({
        "architecture": if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" },
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config = Config::oci_v1(config, None);
    let config_digest = config.sha256_digest();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let reference: Reference = reference.parse().unwrap();
    client
        .push(&reference, &[layer], config, &RegistryAuth::Anonymous, None)
        .await
        .expect("pushing to the local registry");
    config_digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_pulls_its_image_from_a_local_registry_and_a_missing_tag_backs_off() {
    if !Path::new(REGISTRY_BIN).is_file() {
        println!("SKIPPED: docker-registry not installed (apt-get install docker-registry)");
        return;
    }
    let Some(node) = Node::start(&[]).await else {
        return;
    };
    let registry = Registry::start();
    let image = format!("{}/test/busybox:1", registry.addr);
    let image_id = push_busybox(&image).await;

    node.create(json!({
        "metadata": {"name": "pulled"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": image, "imagePullPolicy": "Always",
                            "command": ["sh", "-c", "cat /etc/motd; exec sleep 3600"]}],
        },
    }))
    .await;
    let missing = format!("{}/test/busybox:nope", registry.addr);
    node.create(json!({
        "metadata": {"name": "missing"},
        "spec": {
            "containers": [{"name": "c", "image": missing, "imagePullPolicy": "Always"}],
        },
    }))
    .await;

    let pod = node.wait_all_running("pulled").await;
    let cs = must(&pod, "c");
    assert_eq!(cs.image, image);
    assert!(
        cs.image_id.contains(&image_id) || cs.image_id.contains("@sha256:"),
        "imageID {} (config digest {image_id})",
        cs.image_id
    );
    assert!(
        registry.gets("/test/busybox/manifests/1") >= 1,
        "the registry saw no manifest GET"
    );
    let events = node.events("pulled").await;
    assert!(
        events.iter().any(|e| e.reason.as_deref() == Some("Pulled")
            && e.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Successfully pulled image"))),
        "no Pulled event: {events:?}"
    );
    // Pulled content, not just a name: the layer's file is there.
    let log = node
        .wait_log(
            "pulled",
            None,
            "pulled from a registry\n",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(log, "pulled from a registry\n");

    // The missing tag: ErrImagePull with the registry's own message, then the back-off.
    let mut err_messages = Vec::new();
    let pod = node
        .wait(
            "missing",
            Duration::from_secs(30),
            "in ImagePullBackOff",
            |p| {
                if let Some((reason, message)) = waiting(p, "c") {
                    if reason == "ErrImagePull" {
                        err_messages.push(message);
                    }
                    return reason == "ImagePullBackOff" && !err_messages.is_empty();
                }
                false
            },
        )
        .await;
    assert!(
        err_messages.iter().all(|m| m.contains("manifest unknown")),
        "the registry's message is missing: {err_messages:?}"
    );
    let (_, backoff) = waiting(&pod, "c").unwrap();
    assert!(backoff.starts_with("Back-off pulling image"), "{backoff}");
    assert_eq!(phase(&pod), "Pending");
    let events = node.events("missing").await;
    assert!(
        events.iter().any(|e| e.reason.as_deref() == Some("Failed")
            && e.message
                .as_deref()
                .is_some_and(|m| m.contains("manifest unknown"))),
        "no Failed event with the registry's message: {events:?}"
    );
    node.finish().await;
}
