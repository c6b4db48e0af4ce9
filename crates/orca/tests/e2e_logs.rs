//! Root e2e: `kubectl logs` through the pods/log subresource and the node agent — `-c`,
//! `--previous`, `--tail`, `--timestamps`, `--since` and `-f` — with the real kubectl when
//! it is installed (otherwise the same requests through kube-rs' log API).

mod common;
mod e2e_support;
mod runtime_support;

use std::process::Stdio;
use std::time::Duration;

use e2e_support::*;
use futures::{AsyncBufReadExt, StreamExt};
use kube::api::LogParams;
use serde_json::json;

/// The number of the last `tick N` line of a log.
fn last_tick(log: &str) -> Option<u64> {
    log.lines()
        .filter_map(|l| l.strip_prefix("tick "))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_selects_containers_and_reads_previous_tail_timestamps_since_and_follow() {
    let Some(node) = Node::start(&[TestImage::Busybox]).await else {
        return;
    };
    // `crasher` fails its first run and sleeps in its second (a counter in an emptyDir).
    let crasher = "n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; \
                   echo attempt $n; [ $n -ge 2 ] && exec sleep 3600; exit 1";
    node.create(json!({
        "metadata": {"name": "talker"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "state", "emptyDir": {}}],
            "containers": [
                {"name": "lines", "image": "busybox:1.36", "command": ["sh", "-c",
                    "echo to-stderr >&2; sleep 0.2; for i in $(seq 1 10); do echo line $i; done; exec sleep 3600"]},
                {"name": "ticker", "image": "busybox:1.36", "command": ["sh", "-c",
                    "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"]},
                {"name": "crasher", "image": "busybox:1.36", "command": ["sh", "-c", crasher],
                 "volumeMounts": [{"name": "state", "mountPath": "/state"}]},
            ],
        },
    }))
    .await;
    node.wait(
        "talker",
        POD_TIMEOUT,
        "running, crasher restarted once",
        |p| {
            is_running(p, "lines")
                && is_running(p, "ticker")
                && is_running(p, "crasher")
                && restarts(p, "crasher") == 1
        },
    )
    .await;
    let all_lines: String = std::iter::once("to-stderr\n".to_string())
        .chain((1..=10).map(|i| format!("line {i}\n")))
        .collect();
    let lines = |extra: Logs<'static>| Logs {
        container: Some("lines"),
        ..extra
    };
    // -c, with stdout and stderr in the order written.
    // Containers that just started may not have written everything yet.
    let log = node
        .wait_log("talker", Some("lines"), &all_lines, Duration::from_secs(10))
        .await;
    assert_eq!(log, all_lines);
    let log = node
        .wait_log(
            "talker",
            Some("crasher"),
            "attempt 2\n",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(log, "attempt 2\n");
    node.wait_log_until("talker", Some("ticker"), Duration::from_secs(10), |l| {
        last_tick(l).is_some()
    })
    .await;
    assert_eq!(
        node.logs("talker", &lines(Logs::default())).await,
        all_lines
    );
    // --tail
    assert_eq!(
        node.logs(
            "talker",
            &lines(Logs {
                tail: Some(3),
                ..Default::default()
            })
        )
        .await,
        "line 8\nline 9\nline 10\n"
    );
    // --timestamps: RFC 3339 with nanoseconds, then the line.
    let stamped = node
        .logs(
            "talker",
            &lines(Logs {
                tail: Some(2),
                timestamps: true,
                ..Default::default()
            }),
        )
        .await;
    let stamped: Vec<&str> = stamped.lines().collect();
    assert_eq!(stamped.len(), 2, "{stamped:?}");
    let now = chrono::Utc::now();
    for (line, want) in stamped.iter().zip(["line 9", "line 10"]) {
        let (ts, text) = line.split_once(' ').expect("a time stamp");
        assert_eq!(text, want);
        let t = chrono::DateTime::parse_from_rfc3339(ts)
            .unwrap_or_else(|e| panic!("{ts:?} is not RFC 3339: {e}"));
        assert!(ts.contains('.') && ts.ends_with('Z'), "{ts}");
        let age = now.signed_duration_since(t);
        assert!(
            age >= chrono::Duration::zero() && age < chrono::Duration::seconds(60),
            "{ts} is {age} old"
        );
    }
    // --since: everything was written within the last hour; nothing in the future.
    assert_eq!(
        node.logs(
            "talker",
            &lines(Logs {
                since_seconds: Some(3600),
                ..Default::default()
            })
        )
        .await,
        all_lines
    );
    // --previous: the crashed first run; without it, the current one.
    let crasher_logs = |previous| Logs {
        container: Some("crasher"),
        previous,
        ..Default::default()
    };
    assert_eq!(
        node.logs("talker", &crasher_logs(true)).await,
        "attempt 1\n"
    );
    assert_eq!(
        node.logs("talker", &crasher_logs(false)).await,
        "attempt 2\n"
    );

    // -f: a follow sees lines written after it started.
    let ticker = Logs {
        container: Some("ticker"),
        ..Default::default()
    };
    let seen = last_tick(&node.logs("talker", &ticker).await).expect("ticks");
    let follow = async {
        match node.kubectl() {
            Some(k) => {
                let mut cmd =
                    tokio::process::Command::from(k.cmd(&["logs", "-f", "talker", "-c", "ticker"]));
                let mut child = cmd
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap();
                let out = tokio::io::BufReader::new(child.stdout.take().unwrap());
                let mut lines = tokio::io::AsyncBufReadExt::lines(out);
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(n) = last_tick(&line).filter(|n| *n > seen + 2) {
                        return Some(n);
                    }
                }
                None
            }
            None => {
                let params = LogParams {
                    container: Some("ticker".into()),
                    follow: true,
                    ..Default::default()
                };
                let stream = node.pods().log_stream("talker", &params).await.unwrap();
                let mut lines = stream.lines();
                while let Some(Ok(line)) = lines.next().await {
                    if let Some(n) = last_tick(&line).filter(|n| *n > seen + 2) {
                        return Some(n);
                    }
                }
                None
            }
        }
    };
    let followed = tokio::time::timeout(Duration::from_secs(20), follow)
        .await
        .expect("the follow saw no new line within 20 s");
    let n = followed.expect("the follow ended before a new line came");
    assert!(n > seen + 2);
    node.finish().await;
}
