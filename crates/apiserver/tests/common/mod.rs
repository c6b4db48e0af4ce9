//! An in-process API server on a fresh SQLite store, and kube-rs clients talking to its
//! router without sockets.

#![allow(dead_code)]

use std::sync::Arc;

use apiserver::{ApiServer, Config};
use axum::body::Body;
use http::{HeaderValue, Request, Response};
use tower::ServiceExt;

pub const TOKEN: &str = "test-admin-token";

pub struct TestServer {
    pub server: ApiServer,
    pub store: Arc<dyn store::Store>,
    pub client: kube::Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::sqlite::SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let config = Config {
            admin_tokens: vec![TOKEN.into()],
            bookmark_interval: std::time::Duration::from_millis(200),
        };
        let server = ApiServer::new(store.clone(), config).await.unwrap();
        let client = server.client(TOKEN);
        TestServer {
            server,
            store,
            client,
            _dir: dir,
        }
    }

    /// A raw request through the router, with the admin token unless one is given.
    pub async fn response(&self, mut req: Request<Body>) -> Response<Body> {
        if !req.headers().contains_key(http::header::AUTHORIZATION) {
            req.headers_mut().insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
            );
        }
        self.server.router().oneshot(req).await.unwrap()
    }

    /// A raw request through the router; returns status, content type and body.
    pub async fn raw(&self, req: Request<Body>) -> (u16, String, serde_json::Value) {
        let resp = self.response(req).await;
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, ct, body)
    }
}
