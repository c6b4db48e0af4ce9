//! Strict decoding: which fields of a request body its kind does not have, as upstream's
//! `fieldValidation=Strict|Warn` reports them (`unknown field "spec.containers[0].imagee"`).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, ServiceAccount};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Resource;

/// Paths of the fields in `obj` that `resource`'s type does not know. Empty when the body
/// does not decode at all (admission reports that) or the kind is not typed here.
pub fn unknown_fields(resource: &Resource, obj: &Value) -> Vec<String> {
    match resource.kind {
        "Pod" => ignored::<Pod>(obj),
        "ConfigMap" => ignored::<ConfigMap>(obj),
        "Secret" => ignored::<Secret>(obj),
        "Namespace" => ignored::<Namespace>(obj),
        "ServiceAccount" => ignored::<ServiceAccount>(obj),
        "Node" => ignored::<Node>(obj),
        "Event" => ignored::<Event>(obj),
        "Deployment" => ignored::<Deployment>(obj),
        "ReplicaSet" => ignored::<ReplicaSet>(obj),
        "Job" => ignored::<Job>(obj),
        "Lease" => ignored::<Lease>(obj),
        _ => Vec::new(),
    }
}

/// Decodes `obj` as a `T` once, collecting the paths of the keys the decoder skipped.
fn ignored<T: DeserializeOwned>(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let decoded: Result<T, _> = serde_ignored::deserialize(obj, |path| {
        let mut p = String::new();
        write_path(&path, &mut p);
        out.push(p);
    });
    if decoded.is_err() {
        return Vec::new();
    }
    out
}

/// `spec.containers[0].imagee`, as upstream names fields.
fn write_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            write_path(parent, out);
            out.push_str(&format!("[{index}]"));
        }
        Path::Map { parent, key } => {
            write_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => write_path(parent, out),
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
    fn unknown_fields_are_reported_whatever_their_value_and_known_nulls_are_not() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": null, "labels": null},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": null}],
                     "nodeSelector": null, "extra": null, "more": {"nested": 1}},
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "True", "tpye": "x"}]},
        });
        assert_eq!(
            unknown_fields(pods(), &pod),
            ["spec.extra", "spec.more", "status.conditions[0].tpye"]
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
