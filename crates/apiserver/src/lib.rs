//! The Kubernetes REST API as an axum `Router`: discovery, OpenAPI, CRUD, list, watch,
//! patch, subresources, Table responses, errors as `metav1.Status`, and bearer-token
//! authentication. It stores objects through the [`store::Store`] trait and never runs
//! containers or schedules.

mod continue_token;
mod discovery;
mod error;
mod handlers;
mod namespace_finalizer;
mod node_proxy;
mod object;
pub mod openapi;
mod patch;
mod registry;
mod request;
mod respond;
mod select;
mod watch;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{Method, StatusCode};
use serde_json::json;
use store::Store;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use discovery::{KUBE_MAJOR, KUBE_MINOR};
pub use error::{ApiError, ApiResult};
pub use node_proxy::NodeConnector;
pub use registry::SYSTEM_NAMESPACES;

use crate::registry::Registry;
use crate::request::{Query, Route};

/// Largest request body accepted, as upstream (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bearer tokens that authenticate as the cluster admin.
    pub admin_tokens: Vec<String>,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_tokens: Vec::new(),
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// The API server: a registry over a store and the HTTP surface in front of it.
#[derive(Clone)]
pub struct ApiServer {
    registry: Registry,
    tokens: Arc<HashSet<String>>,
    bookmark_interval: Duration,
    nodes: Option<Arc<dyn NodeConnector>>,
}

impl ApiServer {
    /// A server over `store`, with the system namespaces created if missing.
    pub async fn new(store: Arc<dyn Store>, config: Config) -> ApiResult<ApiServer> {
        let server = ApiServer {
            registry: Registry::new(store),
            tokens: Arc::new(config.admin_tokens.into_iter().collect()),
            bookmark_interval: config.bookmark_interval,
            nodes: None,
        };
        server.bootstrap().await?;
        Ok(server)
    }

    async fn bootstrap(&self) -> ApiResult<()> {
        let ns = api::resources::find("", "v1", "namespaces").expect("namespaces are served");
        let target = request::Target {
            resource: ns,
            namespace: None,
            name: None,
            subresource: None,
            verb: request::Verb::Create,
        };
        for name in SYSTEM_NAMESPACES {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            match self.registry.create(&target, obj, &Query::default()).await {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Background work of the server itself (namespace finalization) until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> ApiResult<()> {
        namespace_finalizer::run(self.registry.clone(), shutdown).await
    }

    /// The HTTP API as a router (a tower `Service`), authentication included.
    pub fn router(&self) -> Router {
        let health = Router::new()
            .route(
                "/healthz",
                get(|| async { respond::text(StatusCode::OK, "ok") }),
            )
            .route(
                "/livez",
                get(|| async { respond::text(StatusCode::OK, "ok") }),
            )
            .route(
                "/readyz",
                get(|| async { respond::text(StatusCode::OK, "ok") }),
            )
            .route(
                "/version",
                get(|| async { respond::ok(&discovery::version()) }),
            );
        let api = Router::new()
            .route("/openapi/v2", get(openapi_v2))
            .route(
                "/openapi/v3",
                get(|| async { respond::ok(openapi::v3_index()) }),
            )
            .route("/openapi/v3/{*path}", get(openapi_v3))
            .route("/api", axum::routing::any(dispatch))
            .route("/api/{*rest}", axum::routing::any(dispatch))
            .route("/apis", axum::routing::any(dispatch))
            .route("/apis/{*rest}", axum::routing::any(dispatch))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), authenticate));
        health.merge(api).with_state(self.clone())
    }

    /// A kube client whose requests go straight into this server's router, authenticated
    /// with `token`: how orca's own components reach the API in one process — the same code
    /// path as over the network, without sockets.
    pub fn client(&self, token: &str) -> kube::Client {
        use tower::ServiceExt;
        let header = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("a token is a valid header value");
        let router = self.router();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let router = router.clone();
            let header = header.clone();
            async move {
                let (mut parts, body) = req.into_parts();
                parts.headers.insert(http::header::AUTHORIZATION, header);
                router
                    .oneshot(Request::from_parts(parts, Body::new(body)))
                    .await
            }
        });
        kube::Client::new(service, "default")
    }

    /// Connects node agents (for `pods/log`).
    pub fn with_node_connector(mut self, nodes: Arc<dyn NodeConnector>) -> Self {
        self.nodes = Some(nodes);
        self
    }

    async fn logs(&self, t: &request::Target, name: &str, q: &Query) -> ApiResult<Response> {
        node_proxy::logs(&self.registry, self.nodes.as_ref(), t, name, q).await
    }
}

/// Rejects requests without a known bearer token with 401.
async fn authenticate(State(server): State<ApiServer>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(t) if server.tokens.contains(t) => next.run(req).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

async fn not_found(req: Request) -> Response {
    ApiError::NotFound {
        message: format!(
            "the server could not find the requested resource ({})",
            req.uri().path()
        ),
        kind: String::new(),
        name: String::new(),
        group: String::new(),
    }
    .into_response()
}

/// `/openapi/v2`: JSON when JSON is acceptable. kubectl 1.27/1.28 ask for protobuf only
/// and treat any error as fatal; an empty protobuf body is a valid empty document, so
/// their v2 fallbacks do nothing and the v3 documents are used.
async fn openapi_v2(headers: http::HeaderMap) -> Response {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("protobuf") && !accept.contains("json") && !accept.contains("*/*") {
        return Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::empty())
            .expect("static response parts are valid");
    }
    respond::ok(openapi::v2())
}

async fn openapi_v3(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match openapi::v3_group_version(&path) {
        Some(doc) => respond::ok(doc),
        None => not_found_path(&format!("/openapi/v3/{path}")),
    }
}

fn not_found_path(path: &str) -> Response {
    ApiError::NotFound {
        message: format!("the server could not find the requested resource ({path})"),
        kind: String::new(),
        name: String::new(),
        group: String::new(),
    }
    .into_response()
}

/// Everything under `/api` and `/apis`.
async fn dispatch(State(server): State<ApiServer>, req: Request<Body>) -> Response {
    match dispatch_inner(&server, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch_inner(server: &ApiServer, req: Request<Body>) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    check_acceptable(&parts.headers)?;
    let query = Query::parse(parts.uri.query())?;
    let route = request::route(parts.uri.path(), &parts.method, &query)?;
    let read_only = parts.method == Method::GET;
    match route {
        Route::CoreVersions if read_only => Ok(respond::ok(&discovery::core_versions())),
        Route::Groups if read_only => Ok(respond::ok(&discovery::groups())),
        Route::Group(g) if read_only => discovery::group(&g)
            .map(|v| respond::ok(&v))
            .ok_or_else(|| request_not_found(parts.uri.path())),
        Route::GroupVersion(g, v) if read_only => discovery::group_version(&g, &v)
            .map(|v| respond::ok(&v))
            .ok_or_else(|| request_not_found(parts.uri.path())),
        Route::Resource(target) => {
            let body = axum::body::to_bytes(body, MAX_BODY)
                .await
                .map_err(|_| ApiError::TooLarge { limit: MAX_BODY })?;
            let span = tracing::debug_span!("request", verb = ?target.verb, resource = target.resource.plural);
            handlers::serve(server, target, query, &parts.headers, body)
                .instrument(span)
                .await
        }
        _ => Err(ApiError::method_not_allowed(parts.uri.path())),
    }
}

/// Only JSON is served: an `Accept` that allows no JSON is 406.
fn check_acceptable(headers: &http::HeaderMap) -> ApiResult<()> {
    let Some(accept) = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or("").trim();
        matches!(media, "" | "*/*" | "application/*" | "application/json")
    });
    if acceptable {
        return Ok(());
    }
    Err(ApiError::NotAcceptable {
        message: format!(
            "only the following media types are accepted: application/json (asked for {accept:?})"
        ),
    })
}

fn request_not_found(path: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("the server could not find the requested resource ({path})"),
        kind: String::new(),
        name: String::new(),
        group: String::new(),
    }
}
