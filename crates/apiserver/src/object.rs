//! Helpers on objects held as JSON: metadata access and the conversion between stored
//! values and what clients see (`metadata.resourceVersion` is the store revision and is
//! never stored).

use serde_json::{Map, Value};
use store::KeyValue;

use crate::error::{ApiError, ApiResult};

/// The object a stored value represents, with its resourceVersion filled in.
pub fn from_kv(kv: &KeyValue) -> ApiResult<Value> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("corrupt stored object {}: {e}", kv.key)))?;
    set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// The object's JSON with its resourceVersion, without decoding it when the stored bytes
/// have the shape the registry writes (`{"apiVersion":..,"kind":..,"metadata":{...`): the
/// field is spliced in after `"metadata":{`. Lists and watches send thousands of these.
pub fn raw_with_rv(kv: &KeyValue) -> ApiResult<Vec<u8>> {
    const META: &[u8] = b"\"metadata\":{";
    let v = &kv.value;
    let at = v.windows(META.len()).position(|w| w == META);
    // Only the top-level metadata qualifies: nothing before it may open an object or array.
    if let Some(at) = at.filter(|&at| at > 0 && !v[1..at].iter().any(|b| matches!(b, b'{' | b'[')))
    {
        let field = format!("\"resourceVersion\":\"{}\"", kv.mod_revision);
        let insert_at = at + META.len();
        let mut out = Vec::with_capacity(v.len() + field.len() + 1);
        out.extend_from_slice(&v[..insert_at]);
        out.extend_from_slice(field.as_bytes());
        if v.get(insert_at) != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(&v[insert_at..]);
        return Ok(out);
    }
    Ok(serde_json::to_vec(&from_kv(kv)?).expect("a JSON value always serialises"))
}

/// The bytes to store for an object (its resourceVersion is the store's business).
pub fn to_bytes(obj: &Value) -> Vec<u8> {
    let mut obj = obj.clone();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&obj).expect("a JSON value always serialises")
}

pub fn set_resource_version(obj: &mut Value, rev: i64) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
}

/// `metadata`, created empty when missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("made an object above");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("made an object above")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// `metadata.labels` as a sorted map.
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.finalizers` is non-empty.
pub fn has_finalizers(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// The value at a dotted path (`spec.nodeName`).
pub fn path<'a>(obj: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(obj, |v, seg| v.get(seg))
}

/// The current time as upstream formats `metav1.Time`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(value: &str) -> KeyValue {
        KeyValue {
            key: "/k".into(),
            value: value.as_bytes().to_vec(),
            create_revision: 1,
            mod_revision: 7,
        }
    }

    #[test]
    fn raw_splice_matches_decoding() {
        for stored in [
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"template":{"metadata":{}}}}"#,
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{},"spec":{}}"#,
            r#"{"spec":{"template":{"metadata":{"name":"x"}}},"metadata":{"name":"late"}}"#,
        ] {
            let raw: Value = serde_json::from_slice(&raw_with_rv(&kv(stored)).unwrap()).unwrap();
            assert_eq!(raw, from_kv(&kv(stored)).unwrap(), "{stored}");
            assert_eq!(raw["metadata"]["resourceVersion"], "7");
        }
    }
}
