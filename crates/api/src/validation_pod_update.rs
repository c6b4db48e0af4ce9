//! Pod update rules (upstream `ValidatePodUpdate`): a running pod's spec is immutable but
//! for container images, a shrinking `activeDeadlineSeconds`, added tolerations, removed
//! scheduling gates and a negative grace period turned into 1.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Toleration};
use serde_json::Value;

use crate::admission::FieldError;
use crate::names;
use crate::validation_meta::{child, index, validate_object_meta_update, Errors};
use crate::validation_pod::validate_pod_metadata_and_spec;
use crate::validation_scheduling::validate_tolerations;

const UPDATABLE_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

fn validate_container_updates(new: &[Container], old: &[Container], path: &str) -> (Errors, bool) {
    if new.len() != old.len() {
        return (
            vec![FieldError::forbidden(
                path,
                "pod updates may not add or remove containers",
            )],
            true,
        );
    }
    let mut errs = Errors::new();
    for (i, c) in new.iter().enumerate() {
        let image = c.image.as_deref().unwrap_or("");
        let p = child(&index(path, i), "image");
        if image.is_empty() {
            errs.push(FieldError::required(&p, ""));
        }
        if image.trim() != image {
            errs.push(FieldError::invalid(
                &p,
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

fn validate_only_added_tolerations(new: &[Toleration], old: &[Toleration], path: &str) -> Errors {
    for o in old {
        let found = new.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            o == *n
        });
        if !found {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

/// Drop nulls and empty lists/maps: Go's semantic equality treats nil and empty alike.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for x in o.values_mut() {
                normalize(x);
            }
            o.retain(|_, x| !(x.is_null() || x.as_array().is_some_and(Vec::is_empty)));
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn spec_value(spec: &PodSpec) -> Value {
    let mut v = serde_json::to_value(spec).unwrap_or_default();
    normalize(&mut v);
    v
}

/// A short listing of the leaves that differ, in the spirit of upstream's `cmp.Diff`.
pub(crate) fn json_diff(old: &Value, new: &Value) -> String {
    fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
        match (old, new) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.dedup();
                let mut seen = Vec::new();
                for k in keys {
                    if seen.contains(&k) {
                        continue;
                    }
                    seen.push(k);
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, a.get(k), b.get(k), out);
                }
            }
            (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    walk(&format!("{path}[{i}]"), Some(x), Some(y), out);
                }
            }
            (a, b) if a != b => {
                if let Some(a) = a {
                    out.push(format!("- \t{path}: {a}"));
                }
                if let Some(b) = b {
                    out.push(format!("+ \t{path}: {b}"));
                }
            }
            _ => {}
        }
    }
    let mut lines = Vec::new();
    walk("", Some(old), Some(new), &mut lines);
    format!("  core.PodSpec{{\n{}\n  }}\n", lines.join("\n"))
}

/// `ValidatePodUpdate`.
pub(crate) fn validate_pod_update(new: &Pod, old: &Pod) -> Errors {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_pod_metadata_and_spec(new));
    let empty = Default::default();
    let new_ann = new.metadata.annotations.as_ref().unwrap_or(&empty);
    let old_ann = old.metadata.annotations.as_ref().unwrap_or(&empty);
    match (
        old_ann.get(MIRROR_ANNOTATION),
        new_ann.get(MIRROR_ANNOTATION),
    ) {
        (Some(o), n) if n != Some(o) => errs.push(FieldError::forbidden(
            format!("metadata.annotations[{MIRROR_ANNOTATION}]"),
            "may not remove or update mirror pod annotation",
        )),
        (None, Some(_)) => errs.push(FieldError::forbidden(
            format!("metadata.annotations[{MIRROR_ANNOTATION}]"),
            "may not add mirror pod annotation",
        )),
        _ => {}
    }

    let default_spec = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let (e, stop) = validate_container_updates(
        &new_spec.containers,
        &old_spec.containers,
        "spec.containers",
    );
    errs.extend(e);
    if stop {
        return errs;
    }
    let none = Vec::new();
    let new_init = new_spec.init_containers.as_ref().unwrap_or(&none);
    let old_init = old_spec.init_containers.as_ref().unwrap_or(&none);
    let (e, stop) = validate_container_updates(new_init, old_init, "spec.initContainers");
    errs.extend(e);
    if stop {
        return errs;
    }

    let ads = "spec.activeDeadlineSeconds";
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(n), _) if !(0..=i32::MAX as i64).contains(&n) => {
            errs.push(FieldError::invalid(
                ads,
                n,
                names::inclusive_range_error(0, i32::MAX as i64),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                ads,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            ads,
            None::<i64>,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    errs.extend(validate_only_added_tolerations(
        new_spec.tolerations.as_deref().unwrap_or(&[]),
        old_spec.tolerations.as_deref().unwrap_or(&[]),
        "spec.tolerations",
    ));
    let old_gates: Vec<&str> = old_spec
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    for (i, g) in new_spec.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.contains(&g.name.as_str()) {
            errs.push(FieldError::forbidden(
                format!("spec.schedulingGates[{i}].name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    g.name
                ),
            ));
        }
    }

    let old_value = spec_value(old_spec);
    if spec_value(new_spec) == old_value {
        return errs;
    }
    let mut munged = new_spec.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old_spec.containers) {
        c.image = o.image.clone();
    }
    for (c, o) in munged.init_containers.iter_mut().flatten().zip(old_init) {
        c.image = o.image.clone();
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged.scheduling_gates = old_spec.scheduling_gates.clone();
    munged.tolerations = old_spec.tolerations.clone();
    if old_spec
        .termination_grace_period_seconds
        .is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    let munged_value = spec_value(&munged);
    if munged_value != old_value {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {}\n{}",
                UPDATABLE_FIELDS.join(","),
                json_diff(&old_value, &munged_value)
            ),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_changed_leaves() {
        let d = json_diff(
            &json!({"a": 1, "b": {"c": [1, 2]}}),
            &json!({"a": 1, "b": {"c": [1, 3]}, "d": true}),
        );
        assert!(d.contains("- \tb.c[1]: 2"));
        assert!(d.contains("+ \tb.c[1]: 3"));
        assert!(d.contains("+ \td: true"));
        assert!(!d.contains("\ta:"));
    }

    #[test]
    fn normalization_treats_empty_lists_as_absent() {
        let mut a = json!({"x": [], "y": null, "z": {"w": []}});
        normalize(&mut a);
        assert_eq!(a, json!({"z": {}}));
    }
}
