//! Root e2e tests of how containers end: exit codes, signals, stop with a grace period,
//! the kernel's OOM killer.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime::{ContainerState, Resources, Runtime};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_recorded_for_normal_and_signalled_exits() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    let sb = rt.create_sandbox(&sandbox_config("exits")).await.unwrap();

    let three = rt
        .create_container(
            &sb.id,
            &container("three", &layer, &logs, &["sh", "-c", "echo bye; exit 3"]),
        )
        .await
        .unwrap();
    rt.start_container(&three).await.unwrap();
    let st = rt.wait_container(&three).await.unwrap();
    assert_eq!(
        (st.state, st.exit_code, st.reason.as_deref()),
        (ContainerState::Exited, Some(3), Some("Error"))
    );
    assert!(st.started_at.is_some() && st.finished_at >= st.started_at);
    assert_eq!(
        log_lines(&logs.join("three/0.log")),
        vec!["stdout F bye".to_string()]
    );

    let sleeper = rt
        .create_container(
            &sb.id,
            &container("sleeper", &layer, &logs, &["sleep", "1000"]),
        )
        .await
        .unwrap();
    rt.start_container(&sleeper).await.unwrap();
    assert_eq!(
        rt.container_status(&sleeper).await.unwrap().state,
        ContainerState::Running
    );
    rt.stop_container(&sleeper, "SIGKILL", Duration::from_secs(30))
        .await
        .unwrap();
    let st = rt.container_status(&sleeper).await.unwrap();
    assert_eq!(
        (st.state, st.exit_code, st.reason.as_deref()),
        (ContainerState::Exited, Some(137), Some("Error"))
    );

    // A created container that never started can be removed too.
    let never = rt
        .create_container(&sb.id, &container("never", &layer, &logs, &["true"]))
        .await
        .unwrap();
    assert_eq!(
        rt.container_status(&never).await.unwrap().state,
        ContainerState::Created
    );
    rt.remove_container(&never).await.unwrap();
    assert!(matches!(
        rt.container_status(&never).await,
        Err(runtime::Error::ContainerNotFound(_))
    ));
    rt.remove_container(&never).await.unwrap();

    // A missing binary fails at create with a message for the user, leaving nothing.
    let err = rt
        .create_container(
            &sb.id,
            &container("bad", &layer, &logs, &["/no/such/binary"]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, runtime::Error::ContainerFailed(_)), "{err}");
    assert!(err.to_string().contains("/no/such/binary"), "{err}");
    let left = rt.list_sandboxes().await.unwrap().remove(0).containers;
    assert_eq!(
        left.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["three", "sleeper"]
    );

    rt.remove_sandbox(&sb.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_the_signal_then_sigkills_after_the_grace_period() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    let sb = rt.create_sandbox(&sandbox_config("grace")).await.unwrap();

    // Handles SIGTERM: ends at once, cleanly.
    let polite = container(
        "polite",
        &layer,
        &logs,
        &[
            "sh",
            "-c",
            "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
        ],
    );
    let polite_id = rt.create_container(&sb.id, &polite).await.unwrap();
    rt.start_container(&polite_id).await.unwrap();
    eventually(Duration::from_secs(5), || {
        log_lines(&polite.log_path)
            .contains(&"stdout F ready".to_string())
            .then_some(())
    })
    .await
    .unwrap();
    let t = Instant::now();
    rt.stop_container(&polite_id, "SIGTERM", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    let st = rt.container_status(&polite_id).await.unwrap();
    assert_eq!(
        (st.exit_code, st.reason.as_deref()),
        (Some(0), Some("Completed"))
    );
    assert!(log_lines(&polite.log_path).contains(&"stdout F got TERM".to_string()));

    // PID 1 without a handler ignores SIGTERM: killed when the grace period ends.
    let stubborn = rt
        .create_container(
            &sb.id,
            &container("stubborn", &layer, &logs, &["sleep", "1000"]),
        )
        .await
        .unwrap();
    rt.start_container(&stubborn).await.unwrap();
    let t = Instant::now();
    rt.stop_container(&stubborn, "SIGTERM", Duration::from_secs(1))
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    assert_eq!(
        rt.container_status(&stubborn).await.unwrap().exit_code,
        Some(137)
    );

    // Stopping what already ended is fine.
    rt.stop_container(&stubborn, "SIGTERM", Duration::from_secs(1))
        .await
        .unwrap();
    rt.remove_sandbox(&sb.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_ends_in_oomkilled() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    let sb = rt.create_sandbox(&sandbox_config("oom")).await.unwrap();

    let mut hog = container(
        "hog",
        &layer,
        &logs,
        &[
            "sh",
            "-c",
            "echo start; exec dd if=/dev/zero of=/dev/null bs=64M count=1",
        ],
    );
    hog.resources = Resources {
        memory_limit: Some(16 << 20),
        ..Default::default()
    };
    let id = rt.create_container(&sb.id, &hog).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let st = tokio::time::timeout(Duration::from_secs(30), rt.wait_container(&id))
        .await
        .expect("OOM within 30 s")
        .unwrap();
    assert_eq!(
        (st.exit_code, st.reason.as_deref()),
        (Some(137), Some("OOMKilled")),
        "{st:?}"
    );

    // Without a limit the same command completes.
    let fine = rt
        .create_container(
            &sb.id,
            &container(
                "fine",
                &layer,
                &logs,
                &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
            ),
        )
        .await
        .unwrap();
    rt.start_container(&fine).await.unwrap();
    let st = rt.wait_container(&fine).await.unwrap();
    assert_eq!(
        (st.exit_code, st.reason.as_deref()),
        (Some(0), Some("Completed"))
    );
    rt.remove_sandbox(&sb.id).await.unwrap();
}
