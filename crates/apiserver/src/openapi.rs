//! The OpenAPI documents: `/openapi/v2` (Swagger 2.0) and `/openapi/v3` (an index of one
//! OpenAPI 3.0 document per group version), built once from k8s-openapi's schemas.
//!
//! Clients read more than schemas from them. kubectl (1.27+) sends `fieldValidation` and
//! skips its own client-side validation only when the PATCH operation of the kind's GVK
//! lists a `fieldValidation` query parameter (inline, by name); `kubectl apply` computes
//! strategic merge patches from the `x-kubernetes-patch-*` extensions of the v3 schemas
//! when the PATCH operation accepts `application/strategic-merge-patch+json`; `kubectl
//! explain` finds a resource's GVK on the operations of its paths and then the schema
//! carrying that GVK in `x-kubernetes-group-version-kind`, following `$ref` and `allOf`.

mod paths;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use api::{Resource, RESOURCES};
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use self::paths::build;

/// GET /openapi/v2 body (Swagger 2.0 JSON) covering every resource in api::RESOURCES.
pub fn v2() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let all: Vec<&Resource> = RESOURCES.iter().collect();
        let (paths, definitions) = build(Flavor::V2, &all);
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": version()},
            "paths": paths,
            "definitions": definitions,
            "securityDefinitions": {"BearerToken": bearer_token()},
            "security": [{"BearerToken": []}],
        })
    })
}

/// GET /openapi/v3 body: {"paths": {"api/v1": {"serverRelativeURL":
/// "/openapi/v3/api/v1?hash=<HASH>"}, "apis/apps/v1": ..., ...}} — one entry per group
/// version served.
pub fn v3_index() -> &'static Value {
    static INDEX: OnceLock<Value> = OnceLock::new();
    INDEX.get_or_init(|| {
        let paths: Map<String, Value> = v3_documents()
            .iter()
            .map(|(gv, doc)| {
                let url = format!("/openapi/v3/{gv}?hash={}", content_hash(doc));
                (gv.clone(), json!({"serverRelativeURL": url}))
            })
            .collect();
        json!({"paths": paths})
    })
}

/// GET /openapi/v3/<path> body (OpenAPI 3.0 JSON) for "api/v1", "apis/apps/v1", ...; None
/// if unknown.
pub fn v3_group_version(path: &str) -> Option<&'static Value> {
    let path = path.trim_start_matches('/').trim_end_matches('/');
    v3_documents().get(path)
}

/// One OpenAPI 3.0 document per group version, keyed "api/v1", "apis/apps/v1", ...
fn v3_documents() -> &'static BTreeMap<String, Value> {
    static DOCS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut by_gv: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        for r in RESOURCES {
            by_gv.entry(gv_path(r)).or_default().push(r);
        }
        by_gv
            .into_iter()
            .map(|(gv, resources)| {
                let (paths, schemas) = build(Flavor::V3, &resources);
                let doc = json!({
                    "openapi": "3.0.0",
                    "info": {"title": "Kubernetes", "version": version()},
                    "paths": paths,
                    "components": {
                        "schemas": schemas,
                        "securitySchemes": {"BearerToken": bearer_token()},
                    },
                    "security": [{"BearerToken": []}],
                });
                (gv, doc)
            })
            .collect()
    })
}

fn version() -> String {
    format!("v{}.{}.0", crate::KUBE_MAJOR, crate::KUBE_MINOR)
}

fn bearer_token() -> Value {
    json!({"type": "apiKey", "name": "authorization", "in": "header",
        "description": "Bearer Token authentication"})
}

/// "api/v1" or "apis/apps/v1".
fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// FNV-1a of the document: changes whenever the document does, which is all clients
/// (which cache by it) need.
fn content_hash(doc: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in doc.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016X}")
}

/// Swagger 2.0 or OpenAPI 3.0: where schemas live and how operations carry bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    V2,
    V3,
}

impl Flavor {
    fn ref_prefix(self) -> &'static str {
        match self {
            Flavor::V2 => "#/definitions/",
            Flavor::V3 => "#/components/schemas/",
        }
    }

    fn generator(self) -> SchemaGenerator {
        SchemaSettings::openapi3()
            .with(|s| {
                s.meta_schema = None;
                if self == Flavor::V2 {
                    // Swagger 2.0 as upstream writes it: `$ref` beside a description.
                    s.definitions_path = "/definitions".into();
                    s.transforms = Vec::new();
                }
            })
            .into_generator()
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}
