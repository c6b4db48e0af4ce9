//! Response rendering: JSON bodies with the content type clients expect.

use axum::body::Body;
use axum::response::Response;
use http::{header, StatusCode};
use serde_json::Value;

/// A JSON response.
pub fn json(code: StatusCode, body: &Value) -> Response {
    bytes(code, serde_json::to_vec(body).unwrap_or_default())
}

/// A JSON response from already-encoded bytes.
pub fn bytes(code: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// A 200 JSON response.
pub fn ok(body: &Value) -> Response {
    json(StatusCode::OK, body)
}

/// A plain-text response (health endpoints).
pub fn text(code: StatusCode, body: &'static str) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .expect("static response parts are valid")
}
