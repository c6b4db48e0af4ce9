//! Strict decoding: which fields of a request body its kind does not have, as upstream's
//! `fieldValidation=Strict|Warn` reports them (`unknown field "spec.containers[0].imagee"`).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, ServiceAccount};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::Resource;

/// Paths of the fields in `obj` that `resource`'s type does not know. Empty when the body
/// does not decode at all (admission reports that) or the kind is not typed here.
pub fn unknown_fields(resource: &Resource, obj: &Value) -> Vec<String> {
    let typed = match resource.kind {
        "Pod" => round_trip::<Pod>(obj),
        "ConfigMap" => round_trip::<ConfigMap>(obj),
        "Secret" => round_trip::<Secret>(obj),
        "Namespace" => round_trip::<Namespace>(obj),
        "ServiceAccount" => round_trip::<ServiceAccount>(obj),
        "Node" => round_trip::<Node>(obj),
        "Event" => round_trip::<Event>(obj),
        "Deployment" => round_trip::<Deployment>(obj),
        "ReplicaSet" => round_trip::<ReplicaSet>(obj),
        "Job" => round_trip::<Job>(obj),
        "Lease" => round_trip::<Lease>(obj),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(typed) = typed {
        diff(obj, &typed, "", &mut out);
    }
    out
}

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Option<Value> {
    let t: T = serde_json::from_value(obj.clone()).ok()?;
    serde_json::to_value(t).ok()
}

/// Records every non-null key of `input` that `typed` lost.
fn diff(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(i), Value::Object(t)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    Some(tv) => diff(v, tv, &p, out),
                    None if !v.is_null() => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(t)) => {
            for (n, (iv, tv)) in i.iter().zip(t).enumerate() {
                diff(iv, tv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> &'static Resource {
        crate::resources::find("", "v1", "pods").unwrap()
    }

    #[test]
    fn misspelled_fields_are_reported_with_their_path() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": null},
            "spec": {"containers": [{"name": "c", "imagee": "x"}], "bogus": 1},
        });
        assert_eq!(
            unknown_fields(pods(), &pod),
            ["spec.containers[0].imagee", "spec.bogus"]
        );
    }

    #[test]
    fn known_fields_and_free_form_maps_are_not_reported() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"any-key": "v"}, "annotations": {"x": "y"}},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}}}]},
        });
        assert!(unknown_fields(pods(), &pod).is_empty());
    }
}
