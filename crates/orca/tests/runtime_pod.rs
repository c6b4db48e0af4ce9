//! Root e2e tests of the Linux runtime: real sandboxes (shim, namespaces, CNI bridge) and
//! real containers (libcontainer) from a busybox image built at test time.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime::{ContainerState, Runtime};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_share_a_volume_and_serve_http_on_the_pod_ip() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let shared = dir.path().join("shared-data");
    std::fs::create_dir_all(&shared).unwrap();
    let rt = runtime(dir.path());

    let t = Instant::now();
    let sb = rt
        .create_sandbox(&sandbox_config("two-containers"))
        .await
        .unwrap();
    println!("sandbox create (with CNI): {:?}", t.elapsed());
    let ip = sb.ip.expect("pod IP");

    let mut web = container(
        "nginx-container",
        &layer,
        &logs,
        &["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"],
    );
    web.mounts.push(bind(&shared, "/usr/share/nginx/html"));
    let mut writer = container("debian-container", &layer, &logs, &["/bin/sh", "-c", "echo Hello from the debian container > /pod-data/index.html; echo wrote it; echo to stderr >&2"]);
    writer.mounts.push(bind(&shared, "/pod-data"));

    let web_id = rt.create_container(&sb.id, &web).await.unwrap();
    rt.start_container(&web_id).await.unwrap();
    let writer_id = rt.create_container(&sb.id, &writer).await.unwrap();
    rt.start_container(&writer_id).await.unwrap();
    let done = rt.wait_container(&writer_id).await.unwrap();
    assert_eq!(
        (done.state, done.exit_code, done.reason.as_deref()),
        (ContainerState::Exited, Some(0), Some("Completed"))
    );
    assert_eq!(
        log_lines(&writer.log_path),
        vec![
            "stdout F wrote it".to_string(),
            "stderr F to stderr".to_string()
        ]
    );

    let body = eventually(Duration::from_secs(5), || http_get(ip, 80, "/").ok())
        .await
        .expect("GET http://<pod IP>/");
    assert_eq!(body, "Hello from the debian container\n");
    let st = rt.container_status(&web_id).await.unwrap();
    assert_eq!(st.state, ContainerState::Running);
    assert!(st.pid.is_some());

    // The pod files every container gets.
    let hosts = rt
        .exec_sync(
            &web_id,
            &["cat".into(), "/etc/hosts".into()],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&hosts.stdout).contains(&format!("{ip}\ttwo-containers\n")));
    let resolv = rt
        .exec_sync(
            &web_id,
            &["cat".into(), "/etc/resolv.conf".into()],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&resolv.stdout),
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n"
    );
    let hn = rt
        .exec_sync(&web_id, &["hostname".into()], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&hn.stdout), "two-containers\n");
    let shm = rt
        .exec_sync(
            &web_id,
            &[
                "sh".into(),
                "-c".into(),
                "grep ' /dev/shm ' /proc/mounts".into(),
            ],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shm.stdout).contains("tmpfs"),
        "{shm:?}"
    );

    rt.stop_container(&web_id, "SIGTERM", Duration::from_secs(1))
        .await
        .unwrap();
    rt.remove_container(&web_id).await.unwrap();
    rt.remove_container(&writer_id).await.unwrap();
    rt.remove_sandbox(&sb.id).await.unwrap();
    assert!(rt.list_sandboxes().await.unwrap().is_empty());
}
