//! Root e2e tests of exec and of what a container runs as: exec_sync output, exit code
//! and timeout; users, read-only root file systems, capabilities, shared PID namespaces.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime::{ContainerState, Runtime, Security};
use runtime_support::*;

fn cmd(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_captures_output_and_exit_code_and_kills_after_the_timeout() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    let sb = rt.create_sandbox(&sandbox_config("exec")).await.unwrap();
    let mut c = container("app", &layer, &logs, &["sleep", "1000"]);
    c.env.push("GREETING=hi there".into());
    c.working_dir = Some("/srv/app".into());
    let id = rt.create_container(&sb.id, &c).await.unwrap();
    rt.start_container(&id).await.unwrap();

    let r = rt
        .exec_sync(
            &id,
            &cmd(&["sh", "-c", "echo out $GREETING; pwd; echo err >&2; exit 4"]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r.exit_code, 4);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "out hi there\n/srv/app\n"
    );
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");

    // No signal stays ignored from the (Rust) shim, which ignores SIGPIPE.
    let sig = rt
        .exec_sync(
            &id,
            &cmd(&["grep", "SigIgn", "/proc/self/status", "/proc/1/status"]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sig.stdout),
        "/proc/self/status:SigIgn:\t0000000000000000\n/proc/1/status:SigIgn:\t0000000000000000\n"
    );

    // The exec'd process is in the container's PID namespace, next to its PID 1.
    let ps = rt
        .exec_sync(&id, &cmd(&["ps", "-o", "pid,args"]), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("    1 sleep 1000"),
        "{}",
        String::from_utf8_lossy(&ps.stdout)
    );

    let t = Instant::now();
    let err = rt
        .exec_sync(&id, &cmd(&["sleep", "30"]), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );

    let err = rt
        .exec_sync(&id, &cmd(&["/no/such"]), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/no/such"), "{err}");

    rt.stop_container(&id, "SIGKILL", Duration::from_secs(1))
        .await
        .unwrap();
    assert!(rt
        .exec_sync(&id, &cmd(&["true"]), Duration::from_secs(5))
        .await
        .is_err());
    rt.remove_sandbox(&sb.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_context_sets_user_groups_readonly_root_and_capabilities() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    let sb = rt
        .create_sandbox(&sandbox_config("security"))
        .await
        .unwrap();

    let mut named = container(
        "named",
        &layer,
        &logs,
        &["sh", "-c", "id; echo $HOME; grep CapEff /proc/self/status"],
    );
    named.image_user = Some("www".into());
    let id = rt.create_container(&sb.id, &named).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap().exit_code, Some(0));
    let out = log_lines(&named.log_path);
    assert_eq!(
        out[0],
        "stdout F uid=33(www) gid=33(www) groups=33(www),50(staff)"
    );
    assert_eq!(out[1], "stdout F /var/www");
    assert_eq!(out[2], "stdout F CapEff:\t0000000000000000");

    let mut ro = container("ro", &layer, &logs, &["sh", "-c", "touch /x || echo refused; touch /dev/shm/ok && echo shm-writable; id -u; grep CapEff /proc/self/status"]);
    ro.security = Security {
        run_as_user: Some(1000),
        run_as_group: Some(1000),
        read_only_root_fs: true,
        capabilities_drop: vec!["ALL".into()],
        ..Default::default()
    };
    let id = rt.create_container(&sb.id, &ro).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap().exit_code, Some(0));
    let out = log_lines(&ro.log_path);
    assert!(out.contains(&"stdout F refused".to_string()), "{out:?}");
    assert!(
        out.contains(&"stdout F shm-writable".to_string()),
        "{out:?}"
    );
    assert!(out.contains(&"stdout F 1000".to_string()), "{out:?}");

    let mut root_caps = container(
        "caps",
        &layer,
        &logs,
        &["sh", "-c", "grep -E 'CapEff|CapBnd' /proc/self/status"],
    );
    root_caps.security.capabilities_add = vec!["NET_ADMIN".into()];
    let id = rt.create_container(&sb.id, &root_caps).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap().exit_code, Some(0));
    // Docker's 14 defaults (0xa80425fb) plus NET_ADMIN (bit 12).
    assert_eq!(
        log_lines(&root_caps.log_path),
        vec![
            "stdout F CapEff:\t00000000a80435fb".to_string(),
            "stdout F CapBnd:\t00000000a80435fb".to_string()
        ]
    );

    let mut privileged = container(
        "privileged",
        &layer,
        &logs,
        &["sh", "-c", "grep CapEff /proc/self/status"],
    );
    privileged.security.privileged = true;
    let id = rt.create_container(&sb.id, &privileged).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap().exit_code, Some(0));
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .unwrap()
        .replace("CapBnd:", "CapEff:");
    assert_eq!(
        log_lines(&privileged.log_path),
        vec![format!("stdout F {host_bnd}")]
    );

    let mut unknown = container("unknown", &layer, &logs, &["true"]);
    unknown.image_user = Some("ghost".into());
    let err = rt.create_container(&sb.id, &unknown).await.unwrap_err();
    assert!(
        err.to_string().contains("unable to find user ghost"),
        "{err}"
    );
    rt.remove_sandbox(&sb.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_pid_puts_the_pods_containers_in_one_pid_namespace() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    let mut cfg = sandbox_config("shared-pid");
    cfg.share_pid = true;
    let sb = rt.create_sandbox(&cfg).await.unwrap();
    let a = rt
        .create_container(&sb.id, &container("a", &layer, &logs, &["sleep", "1000"]))
        .await
        .unwrap();
    rt.start_container(&a).await.unwrap();
    let b = container("b", &layer, &logs, &["ps", "-o", "pid,comm"]);
    let b_id = rt.create_container(&sb.id, &b).await.unwrap();
    rt.start_container(&b_id).await.unwrap();
    assert_eq!(rt.wait_container(&b_id).await.unwrap().exit_code, Some(0));
    let ps = log_lines(&b.log_path).join("\n");
    assert!(ps.contains("    1 orca-pause"), "{ps}");
    assert!(ps.contains(" sleep"), "{ps}");
    // SIGTERM reaches a process that is not PID 1 of its namespace.
    let t = Instant::now();
    rt.stop_container(&a, "SIGTERM", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    let st = rt.container_status(&a).await.unwrap();
    assert_eq!(
        (st.state, st.exit_code),
        (ContainerState::Exited, Some(143))
    );
    rt.remove_sandbox(&sb.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_network_pods_use_the_nodes_network_and_read_only_volumes_stay_read_only() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let data = dir.path().join("config");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("app.conf"), "x=1\n").unwrap();
    let rt = runtime(dir.path());
    let mut cfg = sandbox_config("hostnet");
    cfg.host_network = true;
    let sb = rt.create_sandbox(&cfg).await.unwrap();
    assert_eq!((sb.ip, sb.netns.as_ref()), (None, None));
    let mut c = container(
        "app",
        &layer,
        &logs,
        &["sh", "-c", "echo links $(ip -o link | wc -l); cat /config/app.conf; echo y 2>/dev/null > /config/app.conf || echo read-only; hostname"],
    );
    c.mounts.push(runtime::Mount {
        host_path: data.clone(),
        container_path: "/config".into(),
        read_only: true,
        propagation: None,
    });
    let id = rt.create_container(&sb.id, &c).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap().exit_code, Some(0));
    let out = log_lines(&c.log_path);
    let node_links = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .lines()
    .count();
    assert_eq!(
        out,
        vec![
            format!("stdout F links {node_links}"),
            "stdout F x=1".into(),
            "stdout F read-only".into(),
            "stdout F hostnet".into()
        ]
    );
    assert_eq!(
        std::fs::read_to_string(data.join("app.conf")).unwrap(),
        "x=1\n"
    );
    rt.remove_sandbox(&sb.id).await.unwrap();
}
