use super::*;
use runtime::fake::{Behavior, FakeRuntime};
use runtime::{ContainerConfig, PodRef, SandboxConfig};
use tower::ServiceExt;

const LINES: &str = "\
2026-01-01T00:00:01Z stdout F one
2026-01-01T00:00:02Z stderr F two
2026-01-01T00:00:03Z stdout P thr
2026-01-01T00:00:03.5Z stdout F ee
";

struct Fixture {
    tmp: tempfile::TempDir,
    runtime: FakeRuntime,
    router: Router,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let runtime = FakeRuntime::new();
    let router = server_router(tmp.path().to_path_buf(), Arc::new(runtime.clone()));
    let dir = tmp.path().join("pods/default_web_u1/app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0.log"),
        "2026-01-01T00:00:00Z stdout F previous run\n",
    )
    .unwrap();
    std::fs::write(dir.join("1.log"), LINES).unwrap();
    Fixture {
        tmp,
        runtime,
        router,
    }
}

async fn get(router: &Router, uri: &str) -> (u16, String) {
    let resp = router
        .clone()
        .oneshot(http::Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn logs_of_the_latest_run_come_back_as_plain_output() {
    let f = fixture();
    let (status, body) = get(&f.router, "/containerLogs/default/web/app").await;
    assert_eq!(status, 200);
    assert_eq!(body, "one\ntwo\nthree\n");
    let (_, body) = get(&f.router, "/containerLogs/default/web/app?previous=true").await;
    assert_eq!(body, "previous run\n");
    let (_, body) = get(
        &f.router,
        "/containerLogs/default/web/app?tailLines=1&timestamps=true",
    )
    .await;
    assert_eq!(body, "2026-01-01T00:00:03.000000000Z three\n");
    let (_, body) = get(
        &f.router,
        "/containerLogs/default/web/app?sinceTime=2026-01-01T00:00:02Z",
    )
    .await;
    assert_eq!(body, "two\nthree\n");
    let (_, body) = get(&f.router, "/containerLogs/default/web/app?limitBytes=6").await;
    assert_eq!(body, "one\ntw");
    let (_, body) = get(&f.router, "/containerLogs/default/web/app?sinceSeconds=60").await;
    assert_eq!(body, "", "the lines are older than a minute");
}

#[tokio::test]
async fn unknown_pods_containers_and_previous_runs_are_errors() {
    let f = fixture();
    assert_eq!(
        get(&f.router, "/containerLogs/default/nope/app").await.0,
        404
    );
    let (status, body) = get(&f.router, "/containerLogs/default/web/other").await;
    assert_eq!(status, 400);
    assert!(body.contains("is waiting to start"));
    std::fs::remove_file(f.tmp.path().join("pods/default_web_u1/app/0.log")).unwrap();
    let (status, body) = get(&f.router, "/containerLogs/default/web/app?previous=1").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "previous terminated container \"app\" in pod \"web\" not found"
    );
    assert_eq!(
        get(&f.router, "/containerLogs/default/web/app?tailLines=x")
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn follow_streams_new_lines_until_the_container_exits() {
    let f = fixture();
    let sb = f
        .runtime
        .create_sandbox(&SandboxConfig {
            pod: PodRef {
                namespace: "default".into(),
                name: "web".into(),
                uid: "u1".into(),
            },
            ..Default::default()
        })
        .await
        .unwrap();
    f.runtime.script("app", vec![Behavior::runs()]);
    let log = f.tmp.path().join("pods/default_web_u1/app/1.log");
    let cfg = ContainerConfig {
        name: "app".into(),
        attempt: 1,
        log_path: log.clone(),
        ..Default::default()
    };
    let id = f.runtime.create_container(&sb.id, &cfg).await.unwrap();
    f.runtime.start_container(&id).await.unwrap();
    let resp = f
        .router
        .clone()
        .oneshot(
            http::Request::get("/containerLogs/default/web/app?follow=true")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let rt = f.runtime.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(file, "2026-01-01T00:00:04Z stdout F four").unwrap();
        drop(file);
        tokio::time::sleep(Duration::from_millis(250)).await;
        rt.exit_container("default/web/app", 0);
    });
    let body = tokio::time::timeout(
        Duration::from_secs(5),
        axum::body::to_bytes(resp.into_body(), usize::MAX),
    )
    .await
    .expect("the stream ends when the container exits")
    .unwrap();
    writer.await.unwrap();
    assert_eq!(String::from_utf8_lossy(&body), "one\ntwo\nthree\nfour\n");
}
