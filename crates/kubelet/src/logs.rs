//! The node's streaming endpoint for container logs, as kubelet's
//! `GET /containerLogs/{namespace}/{pod}/{container}` with `follow`, `tailLines`,
//! `sinceSeconds`, `sinceTime`, `timestamps`, `previous` and `limitBytes`. It reads the CRI
//! log files under `<data-dir>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log` and
//! asks the runtime whether the container still runs, so it needs no pod worker state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use runtime::{ContainerId, ContainerState, Runtime};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use crate::cri_log::{render_all, ReadOptions, Renderer};
use crate::pod_dirs::{parse_pod_dir_name, pods_root};

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

#[derive(Clone)]
struct LogState {
    data_dir: PathBuf,
    runtime: Arc<dyn Runtime>,
}

/// The node's streaming endpoint as a router (mount it on the agent's port; the API
/// server's `pods/log` proxies to it).
pub fn server_router(data_dir: PathBuf, runtime: Arc<dyn Runtime>) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .with_state(LogState { data_dir, runtime })
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name)
        .is_some_and(|v| v.is_empty() || v == "true" || v == "1")
}

fn number(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, String> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => (v.parse::<i64>().map(Some))
            .map_err(|_| format!("invalid {name} {v:?}: must be an integer")),
    }
}

/// The log files of a container by attempt, lowest first.
fn attempts(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u32 = name.strip_suffix(".log")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The container incarnation `attempt` if the runtime still runs it.
async fn running(
    runtime: &dyn Runtime,
    uid: &str,
    container: &str,
    attempt: u32,
) -> Option<ContainerId> {
    let sandboxes = runtime.list_sandboxes().await.ok()?;
    let s = sandboxes.into_iter().find(|s| s.sandbox.pod.uid == uid)?;
    s.containers
        .into_iter()
        .find(|c| {
            c.name == container
                && c.attempt == attempt
                && matches!(c.state, ContainerState::Running | ContainerState::Created)
        })
        .map(|c| c.id)
}

async fn container_logs(
    State(state): State<LogState>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let tail = match number(&q, "tailLines") {
        Ok(v) => v,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    let since_seconds = match number(&q, "sinceSeconds") {
        Ok(v) => v,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    let limit = match number(&q, "limitBytes") {
        Ok(v) => v,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    let since_time = match q.get("sinceTime").map(|t| DateTime::parse_from_rfc3339(t)) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(e)) => return text(StatusCode::BAD_REQUEST, format!("invalid sinceTime: {e}")),
    };
    let opts = ReadOptions {
        timestamps: flag(&q, "timestamps"),
        since: since_time
            .or_else(|| since_seconds.map(|s| Utc::now() - chrono::Duration::seconds(s))),
        tail_lines: tail.filter(|t| *t >= 0).map(|t| t as usize),
        limit_bytes: limit.filter(|l| *l > 0).map(|l| l as usize),
    };
    let previous = flag(&q, "previous");
    let follow = flag(&q, "follow") && !previous;

    // The pod's directory: the one whose sandbox still exists, else the newest.
    let prefix = format!("{namespace}_{pod}_");
    let mut dirs: Vec<(bool, std::time::SystemTime, PathBuf, String)> = Vec::new();
    let live: Vec<String> = state
        .runtime
        .list_sandboxes()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.sandbox.pod.uid)
        .collect();
    for e in std::fs::read_dir(pods_root(&state.data_dir))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        let Some(key) =
            parse_pod_dir_name(&name).filter(|k| k.namespace == namespace && k.name == pod)
        else {
            continue;
        };
        let mtime = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        dirs.push((live.contains(&key.uid), mtime, e.path(), key.uid));
    }
    dirs.sort();
    let Some((_, _, pod_dir, uid)) = dirs.pop() else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod \"{pod}\" in namespace \"{namespace}\" not found on this node"),
        );
    };
    let files = attempts(&pod_dir.join(&container));
    let chosen = if previous {
        if files.len() < 2 {
            return text(
                StatusCode::BAD_REQUEST,
                format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
            );
        }
        files[files.len() - 2].clone()
    } else {
        match files.last() {
            Some(f) => f.clone(),
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"),
                )
            }
        }
    };
    let (attempt, path) = chosen;
    let live_id = if follow {
        running(state.runtime.as_ref(), &uid, &container, attempt).await
    } else {
        None
    };
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(stream_log(
        path,
        opts,
        live_id.map(|id| (state.runtime.clone(), id)),
        tx,
    ));
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .unwrap_or_else(|_| {
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "building the response failed".into(),
            )
        })
}

/// Sends what `limit` still allows of `out`; false when the stream should end.
async fn send(tx: &mpsc::Sender<Bytes>, mut out: Vec<u8>, left: &mut Option<usize>) -> bool {
    if let Some(l) = left {
        out.truncate(*l);
        *l -= out.len();
    }
    if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
        return false;
    }
    left.is_none_or(|l| l > 0)
}

/// Streams a log file's output; with `follow`, until the container exits.
async fn stream_log(
    path: PathBuf,
    opts: ReadOptions,
    follow: Option<(Arc<dyn Runtime>, ContainerId)>,
    tx: mpsc::Sender<Bytes>,
) {
    let Ok(data) = tokio::fs::read(&path).await else {
        return;
    };
    // Only complete lines now; a trailing fragment is read again while following.
    let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let mut left = opts.limit_bytes;
    let initial = render_all(
        &data[..complete],
        &ReadOptions {
            limit_bytes: None,
            ..opts.clone()
        },
    );
    if !send(&tx, initial, &mut left).await {
        return;
    }
    let Some((runtime, id)) = follow else {
        return;
    };
    let mut renderer = Renderer::new(&opts);
    let mut offset = complete as u64;
    let mut pending: Vec<u8> = Vec::new();
    let exited = runtime.wait_container(&id);
    tokio::pin!(exited);
    let mut done = false;
    loop {
        if !done {
            tokio::select! {
                _ = &mut exited => done = true,
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = tx.closed() => return,
            }
        }
        let Ok(mut f) = tokio::fs::File::open(&path).await else {
            return;
        };
        if f.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
            return;
        }
        let mut chunk = Vec::new();
        if f.read_to_end(&mut chunk).await.is_err() {
            return;
        }
        offset += chunk.len() as u64;
        pending.extend_from_slice(&chunk);
        let mut out = Vec::new();
        if let Some(p) = pending.iter().rposition(|b| *b == b'\n') {
            let lines: Vec<u8> = pending.drain(..=p).collect();
            for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                renderer.render(line, &mut out);
            }
        }
        if !send(&tx, out, &mut left).await {
            return;
        }
        if done && chunk.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
