//! Resource request handling: one function per verb, turning decoded requests into
//! registry calls and registry results into responses (objects, lists or Tables).

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::patch::{self, PatchType};
use crate::registry::{DeleteOptions, Part, Registry};
use crate::request::{content_type, wanted, Query, Target, Verb, Wanted};
use crate::respond;
use crate::select::Filter;
use crate::ApiServer;

/// Serves one resource request.
pub async fn serve(
    server: &ApiServer,
    t: Target,
    q: Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let reg = &server.registry;
    let sub = t.subresource.as_deref();
    let name = t.name.clone().unwrap_or_default();
    let as_table = wanted(headers) == Wanted::Table;
    match (t.verb, sub) {
        (Verb::Get, None | Some("status")) => {
            let (obj, _) = reg.get(&t, &name).await?;
            if as_table {
                return Ok(respond::ok(&table(&t, &[obj], &q, None, None)));
            }
            Ok(respond::ok(&obj))
        }
        (Verb::Get, Some("scale")) => {
            let (obj, _) = reg.get(&t, &name).await?;
            Ok(respond::ok(&scale_of(&obj)))
        }
        (Verb::Get, Some("log")) => server.logs(&t, &name, &q).await,
        (Verb::List, None) => list(reg, &t, &q, as_table).await,
        (Verb::Watch, None) => crate::watch::serve(server, &t, &q, as_table).await,
        (Verb::Create, None) => {
            let obj = decode_body(headers, &body)?;
            let warnings = check_fields(&t, &q, &obj)?;
            let created = reg.create(&t, obj, &q).await?;
            Ok(with_warnings(
                respond::json(StatusCode::CREATED, &created),
                &warnings,
            ))
        }
        (Verb::Create, Some("binding")) => {
            let b = decode_body(headers, &body)?;
            bind(reg, &t, &name, &b, &q).await
        }
        (Verb::Create, Some("eviction")) => {
            let e = decode_body(headers, &body)?;
            let opts = DeleteOptions::from_request(&q, e.get("deleteOptions"));
            reg.delete(&t, &name, &opts).await?;
            Ok(respond::json(StatusCode::CREATED, &success_status()))
        }
        (Verb::Update, None | Some("status") | Some("finalize")) => {
            let desired = decode_body(headers, &body)?;
            let warnings = check_fields(&t, &q, &desired)?;
            let part = part_of(sub);
            let obj = reg
                .update_with(&t, &name, part, &q, |old| {
                    Ok(finalize_view(sub, old, desired.clone()))
                })
                .await?;
            Ok(with_warnings(respond::ok(&obj), &warnings))
        }
        (Verb::Patch, None | Some("status")) => {
            let kind = PatchType::from_content_type(&content_type(headers))?;
            let mut warnings = Vec::new();
            let obj = reg
                .update_with(&t, &name, part_of(sub), &q, |old| {
                    let mut patched = patch::apply(kind, old, &body)?;
                    warnings = check_fields(&t, &q, &patched)?;
                    // A patch that doesn't name a resourceVersion must not be pinned to it.
                    if !patch_pins_version(kind, &body) {
                        object::meta_mut(&mut patched).remove("resourceVersion");
                    }
                    Ok(patched)
                })
                .await?;
            Ok(with_warnings(respond::ok(&obj), &warnings))
        }
        (Verb::Update | Verb::Patch, Some("scale")) => {
            let obj = scale(reg, &t, &name, &q, headers, &body).await?;
            Ok(respond::ok(&obj))
        }
        (Verb::Delete, None) => {
            let body = optional_body(headers, &body)?;
            let opts = DeleteOptions::from_request(&q, body.as_ref());
            let (obj, _gone) = reg.delete(&t, &name, &opts).await?;
            Ok(respond::ok(&obj))
        }
        (Verb::DeleteCollection, None) => {
            let body = optional_body(headers, &body)?;
            let opts = DeleteOptions::from_request(&q, body.as_ref());
            let filter = Filter::new(t.resource, &q, None)?;
            let mut q_all = q.clone();
            q_all.limit = 0;
            q_all.continue_token = None;
            let page = reg.list(&t, &q_all, &filter).await?;
            let mut deleted = Vec::new();
            for kv in &page.items {
                let item = object::from_kv(kv)?;
                let mut one = t.clone();
                one.namespace = object::meta_str(&item, "namespace").map(String::from);
                match reg.delete(&one, object::name(&item), &opts).await {
                    Ok((obj, _)) => deleted.push(serde_json::to_vec(&obj).expect("serialisable")),
                    Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(list_response(&t, deleted, page.revision, None, None))
        }
        _ => Err(ApiError::method_not_allowed(&format!(
            "{:?} {}{}",
            t.verb,
            t.resource.plural,
            sub.map(|s| format!("/{s}")).unwrap_or_default()
        ))),
    }
}

/// Applies `fieldValidation` to a body: `Strict` rejects unknown fields (400, as upstream's
/// strict decoding), `Warn` (the default) returns them as warnings, `Ignore` drops them.
fn check_fields(t: &Target, q: &Query, obj: &Value) -> ApiResult<Vec<String>> {
    let mode = q.field_validation.as_deref().unwrap_or("Warn");
    if mode == "Ignore" {
        return Ok(Vec::new());
    }
    let unknown: Vec<String> = api::strict::unknown_fields(t.resource, obj)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if mode == "Strict" && !unknown.is_empty() {
        let r = t.resource;
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            r.kind,
            r.version,
            r.kind,
            unknown.join(", ")
        )));
    }
    Ok(unknown)
}

/// Adds `Warning: 299 - "..."` headers, as upstream sends warnings.
fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let quoted = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&quoted) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

fn part_of(sub: Option<&str>) -> Part {
    if sub == Some("status") {
        Part::Status
    } else {
        Part::Main
    }
}

/// `finalize` may only change a namespace's `spec.finalizers`.
fn finalize_view(sub: Option<&str>, old: &Value, desired: Value) -> Value {
    if sub != Some("finalize") {
        return desired;
    }
    let mut new = old.clone();
    new["spec"]["finalizers"] = desired
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    if let Some(rv) = object::meta_str(&desired, "resourceVersion") {
        object::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
    } else {
        object::meta_mut(&mut new).remove("resourceVersion");
    }
    new
}

fn patch_pins_version(kind: PatchType, body: &[u8]) -> bool {
    match kind {
        PatchType::Json => false,
        _ => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.pointer("/metadata/resourceVersion").cloned())
            .is_some_and(|v| v.is_string()),
    }
}

async fn list(reg: &Registry, t: &Target, q: &Query, as_table: bool) -> ApiResult<Response> {
    let filter = Filter::new(t.resource, q, None)?;
    let page = reg.list(t, q, &filter).await?;
    if as_table {
        let objects = page
            .items
            .iter()
            .map(object::from_kv)
            .collect::<ApiResult<Vec<_>>>()?;
        let table = table(t, &objects, q, Some(page.revision), page.continue_token);
        return Ok(respond::ok(&table));
    }
    let items = page
        .items
        .iter()
        .map(object::raw_with_rv)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(list_response(
        t,
        items,
        page.revision,
        page.continue_token,
        page.remaining,
    ))
}

/// A `<Kind>List` of already-encoded items, written without building one big value.
fn list_response(
    t: &Target,
    items: Vec<Vec<u8>>,
    rev: i64,
    cont: Option<String>,
    remaining: Option<i64>,
) -> Response {
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let head = json!({
        "kind": t.resource.list_kind,
        "apiVersion": t.resource.api_version(),
        "metadata": meta,
    });
    let size = items.iter().map(|i| i.len() + 1).sum::<usize>() + 256;
    let mut out = Vec::with_capacity(size);
    serde_json::to_writer(&mut out, &head).expect("serialisable");
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    respond::bytes(StatusCode::OK, out)
}

/// A `meta.k8s.io/v1` Table of objects for kubectl's human output.
pub fn table(
    t: &Target,
    items: &[Value],
    q: &Query,
    rev: Option<i64>,
    cont: Option<String>,
) -> Value {
    let include = q.include_object.as_deref().unwrap_or("Metadata");
    let mut table = api::table::to_table(t.resource, items, include, chrono::Utc::now());
    let mut meta = json!({});
    if let Some(rev) = rev {
        meta["resourceVersion"] = json!(rev.to_string());
    }
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    table["metadata"] = meta;
    table
}

/// Decodes a JSON (or YAML) request body into an object.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = content_type(headers);
    let v: Value = match ct.as_str() {
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded as JSON: {e}")))?,
        api::protobuf::CONTENT_TYPE => api::protobuf::decode(body).map_err(ApiError::bad_request)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded as YAML: {e}")))?,
        other => {
            return Err(ApiError::UnsupportedMediaType {
                message: format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
                ),
            })
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

fn optional_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    decode_body(headers, body).map(Some)
}

fn success_status() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

/// `pods/binding`: assigns an unbound pod to a node, once.
async fn bind(
    reg: &Registry,
    t: &Target,
    name: &str,
    binding: &Value,
    q: &Query,
) -> ApiResult<Response> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Binding",
                "",
                name,
                &[api::FieldError {
                    kind: api::ErrorKind::Required,
                    field: "target.name".into(),
                    detail: String::new(),
                    value: None,
                }],
            )
        })?
        .to_string();
    let mut status_target = t.clone();
    status_target.subresource = None;
    reg.update_with(&status_target, name, Part::Binding, q, |old| {
        let current = old.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
        if !current.is_empty() {
            return Err(ApiError::Conflict {
                message: format!(
                    "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{current}\""
                ),
                kind: "pods/binding".into(),
                name: name.into(),
                group: String::new(),
            });
        }
        if object::meta_str(old, "deletionTimestamp").is_some() {
            return Err(ApiError::Conflict {
                message: format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"),
                kind: "pods/binding".into(),
                name: name.into(),
                group: String::new(),
            });
        }
        Ok(bound(old, &node))
    })
    .await?;
    Ok(respond::json(StatusCode::CREATED, &success_status()))
}

/// The pod with `spec.nodeName` set and its PodScheduled condition true.
fn bound(old: &Value, node: &str) -> Value {
    let mut new = old.clone();
    new["spec"]["nodeName"] = json!(node);
    object::meta_mut(&mut new).remove("resourceVersion");
    let scheduled = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": object::now_rfc3339(),
    });
    let conditions = new["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conditions.insert(0, scheduled);
    new["status"]["conditions"] = Value::Array(conditions);
    new
}

/// The `autoscaling/v1` Scale view of a Deployment or ReplicaSet.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// `scale` update or patch: changes only `spec.replicas`.
async fn scale(
    reg: &Registry,
    t: &Target,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Value> {
    let main = Target {
        subresource: None,
        ..t.clone()
    };
    let is_patch = t.verb == Verb::Patch;
    let kind = if is_patch {
        Some(PatchType::from_content_type(&content_type(headers))?)
    } else {
        None
    };
    let desired = if is_patch {
        None
    } else {
        Some(decode_body(headers, body)?)
    };
    let obj = reg
        .update_with(&main, name, Part::Main, q, |old| {
            let current = scale_of(old);
            let wanted = match (&desired, kind) {
                (Some(d), _) => d.clone(),
                (None, Some(k)) => patch::apply(k, &current, body)?,
                (None, None) => unreachable!("either a body or a patch"),
            };
            let replicas = wanted
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Scale",
                        "autoscaling",
                        name,
                        &[api::FieldError {
                            kind: api::ErrorKind::Required,
                            field: "spec.replicas".into(),
                            detail: String::new(),
                            value: None,
                        }],
                    )
                })?;
            let mut new = old.clone();
            new["spec"]["replicas"] = json!(replicas);
            let pinned = wanted
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            match pinned {
                Some(rv) if !is_patch => {
                    object::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
                }
                _ => {
                    object::meta_mut(&mut new).remove("resourceVersion");
                }
            }
            Ok(new)
        })
        .await?;
    Ok(scale_of(&obj))
}
