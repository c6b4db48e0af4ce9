use super::*;
use runtime::fake::Behavior;

#[tokio::test(start_paused = true)]
async fn a_pod_goes_from_pending_to_running_with_the_kubelet_conditions() {
    let h = Harness::new();
    h.images.add_remote(
        "app:1",
        FakeImages::image("docker.io/library/app:1", &[], &["sh"]),
    );
    h.images.set_pull_delay(Duration::from_secs(2));
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "app:1", "command": ["sleep", "3600"]}]}),
    ))
    .await;
    let first = h.wait_phase("Pending").await;
    assert_eq!(
        waiting_reason(&first, "app").as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(condition(&first, "Ready"), "False");
    let s = h.wait_phase("Running").await;
    for c in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert_eq!(condition(&s, c), "True", "{c}");
    }
    let types: Vec<&str> = s
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        vec![
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    let app = cs(&s, "app");
    assert!(app.ready && app.started == Some(true));
    assert_eq!(app.restart_count, 0);
    assert!(app.container_id.as_deref().unwrap().starts_with("orca://"));
    assert_eq!(app.image, "docker.io/library/app:1");
    assert!(app.image_id.starts_with("app:1@sha256:"));
    assert_eq!(s.host_ip.as_deref(), Some("192.168.1.10"));
    assert_eq!(s.host_ips.as_ref().unwrap()[0].ip, "192.168.1.10");
    assert!(s.pod_ip.as_deref().unwrap().starts_with("10.88."));
    assert_eq!(s.pod_ips.as_ref().unwrap()[0].ip, s.pod_ip.clone().unwrap());
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    assert!(s.start_time.is_some());
    let scheduled = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(
        serde_json::to_value(&scheduled.last_transition_time).unwrap(),
        json!("2026-01-01T00:00:00Z"),
        "kept from the API"
    );
    assert_eq!(
        h.api.reasons(),
        vec!["Pulling", "Pulled", "Created", "Started"]
    );
    assert_eq!(h.call_log(), vec!["sandbox", "start app#0"]);
}

#[tokio::test(start_paused = true)]
async fn the_runtime_gets_argv_env_mounts_resources_and_the_log_path() {
    let h = Harness::new();
    h.api.add_config_map(
        "default",
        json!({"metadata": {"name": "my-db-config"}, "data": {"db-url": "localhost"}}),
    );
    h.start(pod(json!({
        "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [{"name": "app", "image": "busybox:1.36",
            "command": ["sh", "-c"], "args": ["echo \"$(MESSAGE)\" $(POD_IP)"],
            "workingDir": "/work",
            "env": [{"name": "MESSAGE", "value": "hello world"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            "envFrom": [{"configMapRef": {"name": "my-db-config"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}],
            "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "128Mi"}}}]}))).await;
    let s = h.wait_phase("Running").await;
    let cfg = h.runtime.config(&key("app")).unwrap();
    let ip = s.pod_ip.unwrap();
    assert_eq!(
        cfg.args,
        vec![
            "sh".to_string(),
            "-c".into(),
            format!("echo \"hello world\" {ip}")
        ]
    );
    assert!(cfg.env.contains(&"HOSTNAME=p".to_string()));
    assert!(
        cfg.env.iter().any(|e| e.starts_with("PATH=")),
        "the image's env comes first"
    );
    assert!(cfg.env.contains(&"db-url=localhost".to_string()));
    assert!(cfg.env.contains(&format!("POD_IP={ip}")));
    assert!(cfg.env.contains(&"CPU=1".to_string()));
    assert_eq!(cfg.working_dir.as_deref(), Some("/work"));
    assert_eq!(cfg.mounts.len(), 1);
    assert!(cfg.mounts[0].read_only && cfg.mounts[0].container_path == "/data");
    assert_eq!(cfg.resources.cpu_shares, Some(512));
    assert_eq!(cfg.resources.memory_limit, Some(128 << 20));
    assert_eq!(cfg.security.run_as_user, Some(1000));
    assert_eq!(cfg.security.supplemental_groups, vec![2000]);
    assert_eq!(
        cfg.log_path,
        h.tmp.path().join("pods/default_p_uid-1/app/0.log")
    );
    assert_eq!(
        cfg.termination_message_container_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(cfg.image_layers.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_missing_config_map_keeps_the_container_waiting_until_it_exists() {
    let h = Harness::new();
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "busybox:1.36",
        "envFrom": [{"configMapRef": {"name": "later"}}]}]}),
    ))
    .await;
    let s = h
        .wait_for("config error", |s| {
            waiting_reason(s, "app").as_deref() == Some("CreateContainerConfigError")
        })
        .await;
    assert_eq!(
        waiting_message(&s, "app").as_deref(),
        Some("configmap \"later\" not found")
    );
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    h.api.add_config_map(
        "default",
        json!({"metadata": {"name": "later"}, "data": {"k": "v"}}),
    );
    h.wait_phase("Running").await;
}

#[tokio::test(start_paused = true)]
async fn a_create_failure_is_retried_and_a_start_failure_counts_as_an_exit() {
    let h = Harness::new();
    h.runtime.script(
        "app",
        vec![
            Behavior::create_fails("no such file: /bad"),
            Behavior::runs(),
        ],
    );
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "busybox:1.36"}]}),
    ))
    .await;
    let s = h
        .wait_for("create error", |s| {
            waiting_reason(s, "app").as_deref() == Some("CreateContainerError")
        })
        .await;
    assert_eq!(
        waiting_message(&s, "app").as_deref(),
        Some("no such file: /bad")
    );
    h.wait_phase("Running").await;

    let h = Harness::new();
    h.runtime.script(
        "app",
        vec![Behavior::start_fails(
            "exec: \"nope\": executable file not found in $PATH",
        )],
    );
    h.start(pod(json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox:1.36", "command": ["nope"]}]}))).await;
    let s = h.wait_phase("Failed").await;
    let t = cs(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.exit_code, 128);
    assert_eq!(t.reason.as_deref(), Some("StartError"));
    assert!(t.message.unwrap().contains("executable file not found"));
}

#[tokio::test(start_paused = true)]
async fn two_containers_share_the_pod_and_one_may_finish_while_the_pod_runs() {
    // 01-two-containers.yaml.
    let h = Harness::new();
    h.runtime.script(
        "debian-container",
        vec![Behavior::exits(0, Duration::from_secs(1))],
    );
    h.start(pod(json!({"restartPolicy": "Never", "volumes": [{"name": "shared-data", "emptyDir": {}}], "containers": [
        {"name": "nginx-container", "image": "nginx:1.27", "volumeMounts": [{"name": "shared-data", "mountPath": "/usr/share/nginx/html"}]},
        {"name": "debian-container", "image": "busybox:1.36", "command": ["/bin/sh"], "args": ["-c", "echo hi > /pod-data/index.html"],
         "volumeMounts": [{"name": "shared-data", "mountPath": "/pod-data"}]}]}))).await;
    let s = h
        .wait_for("debian exited", |s| {
            exit_code(s, "debian-container") == Some(0)
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(running(&s, "nginx-container"));
    assert_eq!(condition(&s, "Ready"), "False");
    let t = cs(&s, "debian-container")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.reason.as_deref(), Some("Completed"));
    let nginx = h.runtime.config(&key("nginx-container")).unwrap();
    let debian = h.runtime.config(&key("debian-container")).unwrap();
    assert_eq!(
        nginx.mounts[0].host_path, debian.mounts[0].host_path,
        "one pod-level volume"
    );
    assert_eq!(
        nginx.args,
        vec!["httpd", "-f", "-p", "80"],
        "the image's Cmd"
    );
}

#[tokio::test(start_paused = true)]
async fn post_start_runs_before_the_container_counts_as_started_and_its_failure_restarts_it() {
    let h = Harness::new();
    h.start(pod(json!({"containers": [{"name": "app", "image": "nginx:1.27",
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo hi > /usr/share/message"]}}}}]}))).await;
    h.wait_phase("Running").await;
    assert_eq!(
        h.call_log(),
        vec![
            "sandbox",
            "start app#0",
            "exec app sh -c echo hi > /usr/share/message"
        ]
    );

    let h = Harness::new();
    h.runtime.on_exec("app", |_| runtime::ExecResult {
        exit_code: 1,
        stdout: b"hook broke".to_vec(),
        stderr: vec![],
    });
    h.start(pod(
        json!({"containers": [{"name": "app", "image": "nginx:1.27",
        "lifecycle": {"postStart": {"exec": {"command": ["false"]}}}}]}),
    ))
    .await;
    h.wait_for("a restart", |s| cs(s, "app").restart_count >= 1)
        .await;
    let events = h.api.events();
    let failed = events
        .iter()
        .find(|e| e.reason == "FailedPostStartHook")
        .unwrap();
    assert_eq!(
        failed.message,
        "Exec lifecycle hook ([\"false\"]) failed: hook broke"
    );
    assert_eq!(failed.field_path, "spec.containers{app}");
    assert!(events.iter().any(|e| e.reason == "Killing"));
}

#[tokio::test(start_paused = true)]
async fn a_volume_that_cannot_be_set_up_keeps_the_pod_creating_with_failed_mount_events() {
    let h = Harness::new();
    h.start(pod(
        json!({"volumes": [{"name": "cfg", "configMap": {"name": "absent"}}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}),
    ))
    .await;
    h.settle(Duration::from_secs(5)).await;
    let s = h.last();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(
        waiting_reason(&s, "app").as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(condition(&s, "PodReadyToStartContainers"), "False");
    let mounts = h
        .api
        .events()
        .into_iter()
        .filter(|e| e.reason == "FailedMount")
        .count();
    assert!(mounts >= 2, "retried with back-off");
    assert!(h.runtime.sandbox_ids().is_empty());
    h.api.add_config_map(
        "default",
        json!({"metadata": {"name": "absent"}, "data": {}}),
    );
    h.wait_phase("Running").await;
}

#[tokio::test(start_paused = true)]
async fn a_status_changed_by_someone_else_is_reported_again_but_old_copies_are_not() {
    let h = Harness::new();
    let mut p = pod(json!({"containers": [{"name": "app", "image": "busybox:1.36"}]}));
    let handle = h.start(p.clone()).await;
    let running = h.wait_phase("Running").await;
    assert_eq!(condition(&running, "Ready"), "True");
    h.settle(Duration::from_secs(1)).await;
    let published = h.api.statuses().len();

    // A copy from before the latest update (the watch is behind): nothing to correct.
    let mut stale = running.clone();
    stale.phase = Some("Pending".into());
    p.metadata.resource_version = Some("1000".into());
    p.status = Some(stale);
    handle.send(crate::pod_worker::Msg::Update(Box::new(p.clone())));
    h.settle(Duration::from_secs(1)).await;
    assert_eq!(
        h.api.statuses().len(),
        published,
        "an old copy was re-reported"
    );

    // The node lifecycle controller marked the pod NotReady while the node was away.
    let mut not_ready = running.clone();
    for c in not_ready.conditions.iter_mut().flatten() {
        if c.type_ == "Ready" {
            c.status = "False".into();
            c.reason = Some("NodeNotReady".into());
        }
    }
    p.metadata.resource_version = Some("5000".into());
    p.status = Some(not_ready);
    handle.send(crate::pod_worker::Msg::Update(Box::new(p.clone())));
    h.settle(Duration::from_secs(1)).await;
    let statuses = h.api.statuses();
    assert_eq!(
        statuses.len(),
        published + 1,
        "the status was not reported again"
    );
    assert_eq!(condition(statuses.last().unwrap(), "Ready"), "True");

    // Its own update coming back is not another difference.
    p.metadata.resource_version = Some((999 + statuses.len()).to_string());
    p.status = statuses.last().cloned();
    handle.send(crate::pod_worker::Msg::Update(Box::new(p)));
    h.settle(Duration::from_secs(1)).await;
    assert_eq!(h.api.statuses().len(), published + 1);
}
