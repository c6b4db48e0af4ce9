//! Watch streams: newline-delimited `{"type", "object"}` events from a store watch, with
//! upstream's semantics for the starting point (synthetic ADDED events for the current
//! state, or resume after a resourceVersion), selector transitions (an object that stops
//! matching is DELETED for this watcher), bookmarks, `timeoutSeconds`, and `410 Expired`
//! as an ERROR event for a compacted resourceVersion.

use std::collections::HashSet;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use store::{EventKind, ListOptions};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::request::{Query, Target};
use crate::select::Filter;
use crate::ApiServer;

/// Upstream's `--min-request-timeout` default: watches without `timeoutSeconds` end
/// after this long (the client re-watches from its last resourceVersion).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// One watcher's view: which keys it has been told match its selectors.
struct Watcher {
    target: Target,
    filter: Filter,
    query: Query,
    as_table: bool,
    /// Keys this watcher currently sees, when it has selectors.
    matching: HashSet<String>,
    /// Whether the Table column definitions were sent (only the first event has them).
    sent_columns: bool,
    /// The revision this watcher is up to date with (for bookmarks).
    revision: i64,
}

/// Starts a watch and answers with its stream.
pub async fn serve(
    server: &ApiServer,
    t: &Target,
    q: &Query,
    as_table: bool,
) -> ApiResult<Response> {
    let store = server.registry.store.clone();
    let filter = Filter::new(t.resource, q, t.name.as_deref())?;
    let prefix = t.resource.key_prefix(t.namespace.as_deref());
    let requested: Option<i64> = match q.resource_version.as_deref() {
        None | Some("0") => None,
        Some(rv) => Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let mut w = Watcher {
        target: t.clone(),
        filter,
        query: q.clone(),
        as_table,
        matching: HashSet::new(),
        sent_columns: false,
        revision: 0,
    };
    let mut first: Vec<Bytes> = Vec::new();
    let initial = requested.is_none() || q.send_initial_events;
    let start = match requested {
        Some(rv) if !initial => rv,
        _ => {
            let page = store
                .list(ListOptions {
                    prefix: prefix.clone(),
                    revision: requested.unwrap_or(0),
                    ..Default::default()
                })
                .await;
            let page = match page {
                Ok(p) => p,
                Err(store::Error::Compacted { .. }) => return Ok(expired(requested.unwrap_or(0))),
                Err(e) => return Err(e.into()),
            };
            for kv in &page.items {
                if w.plain() {
                    first.push(raw_event("ADDED", kv)?);
                    continue;
                }
                let obj = object::from_kv(kv)?;
                if w.filter.matches(&obj) {
                    w.remember(&kv.key, true);
                    first.push(w.event("ADDED", obj));
                }
            }
            w.revision = page.revision;
            if q.send_initial_events && q.allow_bookmarks {
                first.push(w.bookmark(true));
            }
            page.revision
        }
    };
    if !initial && !w.filter.is_empty() {
        // Seed what this watcher already sees at its starting revision.
        match store
            .list(ListOptions {
                prefix: prefix.clone(),
                revision: start,
                ..Default::default()
            })
            .await
        {
            Ok(page) => {
                for kv in &page.items {
                    if w.filter.matches(&object::from_kv(kv)?) {
                        w.matching.insert(kv.key.clone());
                    }
                }
            }
            Err(store::Error::Compacted { .. }) => return Ok(expired(start)),
            Err(store::Error::FutureRevision(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    w.revision = w.revision.max(start);
    let mut events = match store.watch(&prefix, start).await {
        Ok(s) => s,
        Err(store::Error::Compacted { .. }) => return Ok(expired(start)),
        Err(e) => return Err(e.into()),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let timeout = q
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmark_every = server.bookmark_interval;
    tokio::spawn(async move {
        for line in first {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            let line = tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => match w.on_event(ev) {
                        Some(line) => line,
                        None => continue,
                    },
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "watch ended by the store");
                        break;
                    }
                    None => break,
                },
                _ = ticker.tick(), if w.query.allow_bookmarks => w.bookmark(false),
                _ = &mut deadline => break,
                _ = tx.closed() => break,
            };
            if tx.send(line).await.is_err() {
                break;
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok(stream_response(Body::from_stream(body)))
}

impl Watcher {
    fn remember(&mut self, key: &str, matches: bool) {
        if self.filter.is_empty() {
            return;
        }
        if matches {
            self.matching.insert(key.to_string());
        } else {
            self.matching.remove(key);
        }
    }

    fn seen(&self, key: &str) -> bool {
        self.filter.is_empty() || self.matching.contains(key)
    }

    /// Whether events pass as stored: no selectors and no Table, so no decoding.
    fn plain(&self) -> bool {
        self.filter.is_empty() && !self.as_table
    }

    /// The line for one store event, if this watcher should see it.
    fn on_event(&mut self, ev: store::Event) -> Option<Bytes> {
        self.revision = ev.kv.mod_revision;
        if self.plain() {
            let kind = match ev.kind {
                EventKind::Create => "ADDED",
                EventKind::Update => "MODIFIED",
                EventKind::Delete => "DELETED",
            };
            return raw_event(kind, &ev.kv)
                .map_err(|e| tracing::error!(error = %e, "skipping undecodable watch event"))
                .ok();
        }
        let obj = match object::from_kv(&ev.kv) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "skipping undecodable watch event");
                return None;
            }
        };
        let was = self.seen(&ev.kv.key);
        let kind = match ev.kind {
            EventKind::Delete => {
                self.remember(&ev.kv.key, false);
                if !was {
                    return None;
                }
                "DELETED"
            }
            EventKind::Create | EventKind::Update => {
                let now = self.filter.matches(&obj);
                self.remember(&ev.kv.key, now);
                match (was && ev.kind == EventKind::Update, now) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return None,
                }
            }
        };
        Some(self.event(kind, obj))
    }

    fn event(&mut self, kind: &str, obj: Value) -> Bytes {
        let obj = if self.as_table {
            let mut table = crate::handlers::table(&self.target, &[obj], &self.query, None, None);
            if self.sent_columns {
                table["columnDefinitions"] = Value::Null;
            }
            self.sent_columns = true;
            table
        } else {
            obj
        };
        line(&json!({"type": kind, "object": obj}))
    }

    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let r = self.target.resource;
        let mut meta = json!({"resourceVersion": self.revision.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(&json!({
            "type": "BOOKMARK",
            "object": {"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta},
        }))
    }
}

/// `{"type":KIND,"object":<stored object with its resourceVersion>}` and a newline.
fn raw_event(kind: &str, kv: &store::KeyValue) -> ApiResult<Bytes> {
    let obj = object::raw_with_rv(kv)?;
    let mut b = Vec::with_capacity(obj.len() + 32);
    b.extend_from_slice(b"{\"type\":\"");
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(b"\",\"object\":");
    b.extend_from_slice(&obj);
    b.extend_from_slice(b"}\n");
    Ok(Bytes::from(b))
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).expect("a JSON value always serialises");
    b.push(b'\n');
    Bytes::from(b)
}

/// A watch that starts before the compacted history: one ERROR event, as upstream.
fn expired(rv: i64) -> Response {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {rv}"), "reason": "Expired", "code": 410,
    });
    stream_response(Body::from(line(
        &json!({"type": "ERROR", "object": status}),
    )))
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("static response parts are valid")
}
