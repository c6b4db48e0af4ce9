//! The three patch kinds a client may send: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and Kubernetes strategic merge patch, where lists named in
//! `api::patch_meta` merge by key and `$patch`, `$setElementOrder`,
//! `$deleteFromPrimitiveList` and `$retainKeys` directives apply.

use api::patch_meta::{list_strategy, ListStrategy};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The patch type a `Content-Type` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> ApiResult<PatchType> {
        match ct {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            other => Err(ApiError::UnsupportedMediaType {
                message: format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"),
            }),
        }
    }
}

/// Applies a patch document to `target`.
pub fn apply(kind: PatchType, target: &Value, patch: &[u8]) -> ApiResult<Value> {
    let bad =
        |e: &dyn std::fmt::Display| ApiError::bad_request(format!("error decoding patch: {e}"));
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(patch).map_err(|e| bad(&e))?;
            let mut doc = target.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| ApiError::Invalid {
                message: format!(
                    "the server rejected our request due to an error in our request: {e}"
                ),
                kind: String::new(),
                name: String::new(),
                group: String::new(),
                causes: vec![],
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| bad(&e))?;
            let mut doc = target.clone();
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        PatchType::Strategic => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| bad(&e))?;
            let Value::Object(p) = p else {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            };
            let Value::Object(t) = target.clone() else {
                return Err(ApiError::internal("patch target is not an object"));
            };
            Ok(Value::Object(merge_map(t, p)?))
        }
        PatchType::Apply => Err(ApiError::UnsupportedMediaType {
            message:
                "server-side apply is not supported by this server; use client-side `kubectl apply`"
                    .into(),
        }),
    }
}

/// Strategic merge of one map.
fn merge_map(
    mut target: Map<String, Value>,
    mut patch: Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    match patch.remove("$patch").as_ref().and_then(Value::as_str) {
        Some("replace") => return Ok(strip_directives(patch)),
        Some("delete") => return Ok(Map::new()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other}"
            )))
        }
        None => {}
    }
    let retain = patch.remove("$retainKeys");
    // Directives about lists first, so the fields they name see the merged value.
    let keys: Vec<String> = patch.keys().cloned().collect();
    for key in keys.iter().filter(|k| k.starts_with('$')) {
        let value = patch.remove(key).unwrap_or(Value::Null);
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) = (target.get_mut(field), value)
            {
                list.retain(|item| !remove.contains(item));
            }
        }
        // `$setElementOrder/<field>` only orders; merged lists keep target order, then new items.
    }
    for (key, pv) in patch {
        if pv.is_null() {
            target.remove(&key);
            continue;
        }
        let merged = match (target.remove(&key), pv) {
            (Some(Value::Object(t)), Value::Object(p)) => Value::Object(merge_map(t, p)?),
            (Some(Value::Array(t)), Value::Array(p)) => Value::Array(merge_list(&key, t, p)?),
            (_, Value::Object(p)) => Value::Object(merge_map(Map::new(), p)?),
            (_, Value::Array(p)) => Value::Array(merge_list(&key, Vec::new(), p)?),
            (_, p) => p,
        };
        target.insert(key, merged);
    }
    if let Some(Value::Array(keep)) = retain {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(target)
}

/// Strategic merge of a list field named `field`.
fn merge_list(field: &str, mut target: Vec<Value>, patch: Vec<Value>) -> ApiResult<Vec<Value>> {
    match list_strategy(field) {
        None => Ok(patch.into_iter().map(strip_value).collect()),
        Some(ListStrategy::MergePrimitives) => {
            for item in patch {
                if !target.contains(&item) {
                    target.push(item);
                }
            }
            Ok(target)
        }
        Some(ListStrategy::MergeByKey(merge_key)) => {
            // `[{"$patch": "replace"}, ...]` replaces the list with the other items.
            if patch
                .iter()
                .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                return Ok(patch
                    .into_iter()
                    .filter(|p| p.get("$patch").is_none())
                    .map(strip_value)
                    .collect());
            }
            for item in patch {
                let Value::Object(mut p) = item else {
                    return Err(ApiError::bad_request(format!(
                        "strategic merge patch: items of {field} must be objects"
                    )));
                };
                let key = p.get(merge_key).cloned();
                let pos = key
                    .as_ref()
                    .and_then(|k| target.iter().position(|t| t.get(merge_key) == Some(k)));
                let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        target.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        let Value::Object(t) = target.remove(i) else {
                            unreachable!("matched by key")
                        };
                        p.remove("$patch");
                        target.insert(i, Value::Object(merge_map(t, p)?));
                    }
                    (None, false) => target.push(Value::Object(merge_map(Map::new(), p)?)),
                }
            }
            Ok(target)
        }
    }
}

fn strip_directives(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k, strip_value(v)))
        .collect()
}

fn strip_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(target: Value, patch: Value) -> Value {
        apply(PatchType::Strategic, &target, patch.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn containers_merge_by_name() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let out = smp(
            pod,
            json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}}),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
        );
    }

    #[test]
    fn patch_delete_directive_removes_a_list_item_and_null_removes_a_key() {
        let pod = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = smp(
            pod,
            json!({"metadata": {"labels": {"a": null}}, "spec": {"containers": [{"name": "a", "$patch": "delete"}], "$setElementOrder/containers": [{"name": "b"}]}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["spec"]["containers"], json!([{"name": "b"}]));
        assert!(out["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn atomic_lists_are_replaced_and_finalizers_union() {
        let obj =
            json!({"metadata": {"finalizers": ["a"]}, "spec": {"tolerations": [{"key": "x"}]}});
        let out = smp(
            obj,
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"tolerations": [{"key": "y"}]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "y"}]));
    }

    #[test]
    fn delete_from_primitive_list_and_replace_map() {
        let obj = json!({"metadata": {"finalizers": ["a", "b"]}, "data": {"x": "1", "y": "2"}});
        let out = smp(
            obj,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}, "data": {"$patch": "replace", "z": "3"}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["data"], json!({"z": "3"}));
    }

    #[test]
    fn merge_and_json_patch_work_and_unknown_types_are_415() {
        let obj = json!({"a": {"b": 1, "c": 2}});
        let m = apply(PatchType::Merge, &obj, br#"{"a": {"b": null, "d": 3}}"#).unwrap();
        assert_eq!(m, json!({"a": {"c": 2, "d": 3}}));
        let j = apply(
            PatchType::Json,
            &obj,
            br#"[{"op": "replace", "path": "/a/b", "value": 5}]"#,
        )
        .unwrap();
        assert_eq!(j["a"]["b"], 5);
        assert!(apply(
            PatchType::Json,
            &obj,
            br#"[{"op": "test", "path": "/a/b", "value": 9}]"#
        )
        .is_err());
        let e = PatchType::from_content_type("text/plain").unwrap_err();
        assert_eq!(e.code(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
