use super::*;
use crate::images::ImageError;

#[tokio::test(start_paused = true)]
async fn never_policy_without_the_image_waits_with_err_image_never_pull() {
    let h = Harness::new();
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "absent:1", "imagePullPolicy": "Never"}]}),
    ))
    .await;
    let s = h
        .wait_for("never pull", |s| {
            waiting_reason(s, "app").as_deref() == Some("ErrImageNeverPull")
        })
        .await;
    let msg = waiting_message(&s, "app").unwrap();
    assert_eq!(
        msg,
        "Container image \"absent:1\" is not present with pull policy of Never"
    );
    assert!(h.images.pulls().is_empty());
    assert_eq!(s.phase.as_deref(), Some("Pending"));
}

#[tokio::test(start_paused = true)]
async fn failed_pulls_show_err_image_pull_then_image_pull_back_off_and_recover() {
    let h = Harness::new();
    h.images.add_remote(
        "app:1",
        FakeImages::image("docker.io/library/app:1", &["/app"], &[]),
    );
    h.images.fail_pull(
        "app:1",
        ImageError::Pull("pull access denied for app".into()),
    );
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "app:1"}]}),
    ))
    .await;
    let s = h
        .wait_for("err pull", |s| {
            waiting_reason(s, "app").as_deref() == Some("ErrImagePull")
        })
        .await;
    assert_eq!(
        waiting_message(&s, "app").as_deref(),
        Some("pull access denied for app")
    );
    h.wait_for("back-off", |s| {
        waiting_reason(s, "app").as_deref() == Some("ImagePullBackOff")
    })
    .await;
    let reasons = h.api.reasons();
    assert!(
        reasons.contains(&"Pulling") && reasons.contains(&"Failed") && reasons.contains(&"BackOff")
    );
    h.settle(Duration::from_secs(40)).await;
    let pulls = h.images.pulls().len();
    assert!(
        (3..=4).contains(&pulls),
        "10 s then 20 s between pulls, got {pulls}"
    );
    h.images.heal("app:1");
    let s = h.wait_phase("Running").await;
    assert!(
        cs(&s, "app").image_id.contains("@sha256:"),
        "a pulled image reports its repo digest"
    );
    assert_eq!(h.runtime.config(&key("app")).unwrap().args, vec!["/app"]);
    let pulled = h
        .api
        .events()
        .into_iter()
        .find(|e| e.reason == "Pulled")
        .unwrap();
    assert!(pulled
        .message
        .starts_with("Successfully pulled image \"app:1\" in "));
}

#[tokio::test(start_paused = true)]
async fn an_invalid_image_name_waits_with_invalid_image_name() {
    let h = Harness::new();
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "Not A Valid:ref"}]}),
    ))
    .await;
    let s = h
        .wait_for("invalid", |s| {
            waiting_reason(s, "app").as_deref() == Some("InvalidImageName")
        })
        .await;
    assert!(h.images.pulls().is_empty());
    assert_eq!(s.phase.as_deref(), Some("Pending"));
}

#[tokio::test(start_paused = true)]
async fn always_pulls_even_a_present_image_with_the_pods_pull_secrets() {
    let h = Harness::new();
    h.images.add_remote(
        "busybox:1.36",
        FakeImages::image("docker.io/library/busybox:1.36", &[], &["sh"]),
    );
    h.api.add_secret(
        "default",
        json!({"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}}),
    );
    h.api.add_secret(
        "default",
        json!({"metadata": {"name": "opaque"}, "type": "Opaque", "data": {"x": "eQ=="}}),
    );
    h.start(pod(
        json!({"imagePullSecrets": [{"name": "regcred"}, {"name": "opaque"}, {"name": "missing"}],
        "containers": [{"name": "app", "image": "busybox:1.36", "imagePullPolicy": "Always"}]}),
    ))
    .await;
    h.wait_phase("Running").await;
    assert_eq!(h.images.pulls(), vec![("busybox:1.36".to_string(), 1)]);
    assert!(h.api.reasons().contains(&"FailedToRetrieveImagePullSecret"));
}

#[tokio::test(start_paused = true)]
async fn if_not_present_uses_a_present_image_without_pulling() {
    let h = Harness::new();
    h.start(pod(json!({"containers": [{"name": "app", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"}]}))).await;
    h.wait_phase("Running").await;
    assert!(h.images.pulls().is_empty());
    let pulled = h
        .api
        .events()
        .into_iter()
        .find(|e| e.reason == "Pulled")
        .unwrap();
    assert_eq!(
        pulled.message,
        "Container image \"busybox:1.36\" already present on machine"
    );
}
