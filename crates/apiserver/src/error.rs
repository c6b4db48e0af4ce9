//! The API server's one error type and its `metav1.Status` rendering: every failure a
//! handler returns becomes a Status with the upstream code and reason.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

/// A failed request, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{message}")]
    Forbidden {
        message: String,
        kind: String,
        name: String,
        group: String,
    },
    #[error("{message}")]
    NotFound {
        message: String,
        kind: String,
        name: String,
        group: String,
    },
    #[error("{message}")]
    MethodNotAllowed { message: String },
    #[error("{message}")]
    AlreadyExists {
        message: String,
        kind: String,
        name: String,
        group: String,
    },
    #[error("{message}")]
    Conflict {
        message: String,
        kind: String,
        name: String,
        group: String,
    },
    /// A resource version or continue token older than the compacted history.
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    Invalid {
        message: String,
        kind: String,
        name: String,
        group: String,
        causes: Vec<Value>,
    },
    #[error("Request entity too large: limit is {limit}")]
    TooLarge { limit: usize },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{message}")]
    NotAcceptable { message: String },
    #[error("{0}")]
    Internal(String),
    #[error("{message}")]
    Timeout { message: String },
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal(message.to_string())
    }

    /// `<resource>.<group> "<name>" not found`, as upstream.
    pub fn not_found(plural: &str, group: &str, name: &str) -> Self {
        ApiError::NotFound {
            message: format!("{} \"{}\" not found", qualified(plural, group), name),
            kind: plural.to_string(),
            name: name.to_string(),
            group: group.to_string(),
        }
    }

    pub fn already_exists(plural: &str, group: &str, name: &str) -> Self {
        ApiError::AlreadyExists {
            message: format!("{} \"{}\" already exists", qualified(plural, group), name),
            kind: plural.to_string(),
            name: name.to_string(),
            group: group.to_string(),
        }
    }

    pub fn conflict(plural: &str, group: &str, name: &str) -> Self {
        ApiError::Conflict {
            message: format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(plural, group),
                name
            ),
            kind: plural.to_string(),
            name: name.to_string(),
            group: group.to_string(),
        }
    }

    pub fn forbidden(plural: &str, group: &str, name: &str, why: &str) -> Self {
        ApiError::Forbidden {
            message: format!(
                "{} \"{}\" is forbidden: {}",
                qualified(plural, group),
                name,
                why
            ),
            kind: plural.to_string(),
            name: name.to_string(),
            group: group.to_string(),
        }
    }

    pub fn method_not_allowed(what: &str) -> Self {
        ApiError::MethodNotAllowed {
            message: format!(
                "the server does not allow this method on the requested resource ({what})"
            ),
        }
    }

    /// A 422 from field errors: `Kind "name" is invalid: [cause, cause]`.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[api::FieldError]) -> Self {
        let messages: Vec<String> = errors.iter().map(|e| e.message()).collect();
        let joined = if messages.len() == 1 {
            messages[0].clone()
        } else {
            format!("[{}]", messages.join(", "))
        };
        ApiError::Invalid {
            message: format!("{kind} \"{name}\" is invalid: {joined}"),
            kind: kind.to_string(),
            name: name.to_string(),
            group: group.to_string(),
            causes: errors
                .iter()
                .map(|e| {
                    let msg = e.message();
                    let detail = msg
                        .strip_prefix(&format!("{}: ", e.field))
                        .unwrap_or(&msg)
                        .to_string();
                    json!({"reason": e.kind.reason(), "message": detail, "field": e.field})
                })
                .collect(),
        }
    }

    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound { .. } => "NotFound",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Gone { .. } => "Expired",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::NotAcceptable { .. } => "NotAcceptable",
            ApiError::Internal(_) => "InternalError",
            ApiError::Timeout { .. } => "Timeout",
        }
    }

    /// The `metav1.Status` body of this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound {
                kind, name, group, ..
            }
            | ApiError::AlreadyExists {
                kind, name, group, ..
            }
            | ApiError::Conflict {
                kind, name, group, ..
            }
            | ApiError::Forbidden {
                kind, name, group, ..
            } => Some(json!({"name": name, "group": group, "kind": kind})),
            ApiError::Invalid {
                kind,
                name,
                group,
                causes,
                ..
            } => Some(json!({"name": name, "group": group, "kind": kind, "causes": causes})),
            _ => None,
        };
        if let Some(mut d) = details {
            if d["group"] == "" {
                d.as_object_mut().map(|m| m.remove("group"));
            }
            status["details"] = d;
        }
        status
    }
}

fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Compacted { .. } => ApiError::Gone {
                message: format!("too old resource version: {e}"),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(msg) = &self {
            tracing::error!(error = %msg, "internal error");
        }
        crate::respond::json(self.code(), &self.status())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
