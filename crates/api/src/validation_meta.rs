//! Validation shared by every kind: field paths, `ObjectMeta` on create and update,
//! labels, annotations, finalizers, owner references and `metav1.LabelSelector`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use crate::admission::{go_quote, BadValue, FieldError};
use crate::names::{self, NameFn};

pub(crate) type Errors = Vec<FieldError>;

/// `path.child`.
pub(crate) fn child(p: &str, c: &str) -> String {
    if p.is_empty() {
        c.to_string()
    } else {
        format!("{p}.{c}")
    }
}

/// `path[i]`.
pub(crate) fn index(p: &str, i: usize) -> String {
    format!("{p}[{i}]")
}

/// `path[key]`.
pub(crate) fn key(p: &str, k: &str) -> String {
    format!("{p}[{k}]")
}

/// A string map as Go prints it with `%#v`.
pub(crate) fn go_map(m: Option<&BTreeMap<String, String>>) -> BadValue {
    match m {
        None => BadValue::Raw("map[string]string(nil)".to_string()),
        Some(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
                .collect();
            BadValue::Raw(format!("map[string]string{{{}}}", items.join(", ")))
        }
    }
}

fn go_string_slice(v: Option<&Vec<String>>) -> String {
    match v {
        None => "[]string(nil)".to_string(),
        Some(v) => format!(
            "[]string{{{}}}",
            v.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A label selector as Go prints a dereferenced `*metav1.LabelSelector` with `%#v`.
pub(crate) fn go_label_selector(sel: Option<&LabelSelector>) -> BadValue {
    let Some(sel) = sel else {
        return BadValue::Null;
    };
    let BadValue::Raw(labels) = go_map(sel.match_labels.as_ref()) else {
        unreachable!()
    };
    let exprs = match &sel.match_expressions {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(e) => format!(
            "[]v1.LabelSelectorRequirement{{{}}}",
            e.iter()
                .map(|r| format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                    go_quote(&r.key),
                    go_quote(&r.operator),
                    go_string_slice(r.values.as_ref())
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    BadValue::Raw(format!(
        "v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}"
    ))
}

/// A JSON rendering for values upstream prints as Go structs.
pub(crate) fn json_value<T: serde::Serialize>(v: &T) -> BadValue {
    BadValue::Raw(serde_json::to_string(v).unwrap_or_default())
}

pub(crate) const IS_NEGATIVE_ERROR: &str = "must be greater than or equal to 0";
pub(crate) const FIELD_IMMUTABLE: &str = "field is immutable";
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// `ValidateNonnegativeField`.
pub(crate) fn nonnegative(value: i64, path: &str) -> Errors {
    if value < 0 {
        vec![FieldError::invalid(path, value, IS_NEGATIVE_ERROR)]
    } else {
        vec![]
    }
}

/// `ValidateImmutableField` for comparable values.
pub(crate) fn immutable<T: PartialEq>(
    new: &T,
    old: &T,
    shown: impl Into<BadValue>,
    path: &str,
) -> Errors {
    if new != old {
        vec![FieldError::invalid(path, shown, FIELD_IMMUTABLE)]
    } else {
        vec![]
    }
}

/// `ValidateLabelName`: a qualified name.
pub(crate) fn validate_label_name(k: &str, path: &str) -> Errors {
    names::is_qualified_name(k)
        .into_iter()
        .map(|m| FieldError::invalid(path, k, m))
        .collect()
}

/// `ValidateLabels`: qualified keys and valid values.
pub(crate) fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &str) -> Errors {
    let mut errs = Errors::new();
    for (k, v) in labels.into_iter().flatten() {
        errs.extend(validate_label_name(k, path));
        for m in names::is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v, m));
        }
    }
    errs
}

/// `ValidateAnnotations`: qualified (case-insensitive) keys and a total size limit.
pub(crate) fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    let mut total = 0;
    for (k, v) in annotations.into_iter().flatten() {
        for m in names::is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k, m));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// `validateFinalizerName` (apimachinery plus core's legacy names): qualified, and a name
/// without a `/` must be one of the standard finalizers.
/// upstream reports the two checks at different paths (`finalizers` vs `finalizers[i]`).
pub(crate) fn validate_finalizer_name(f: &str, path: &str, standard_path: &str) -> Errors {
    let mut errs: Errors = names::is_qualified_name(f)
        .into_iter()
        .map(|m| FieldError::invalid(path, f, m))
        .collect();
    if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
        errs.push(FieldError::invalid(
            standard_path,
            f,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}

fn validate_finalizers(finalizers: Option<&Vec<String>>, path: &str) -> Errors {
    let mut errs = Errors::new();
    let Some(finalizers) = finalizers else {
        return errs;
    };
    for (i, f) in finalizers.iter().enumerate() {
        errs.extend(validate_finalizer_name(f, path, &index(path, i)));
    }
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.push(FieldError::invalid(
            path,
            BadValue::Raw(go_string_slice(Some(finalizers))),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn validate_owner_references(refs: Option<&Vec<OwnerReference>>, path: &str) -> Errors {
    let mut errs = Errors::new();
    let Some(refs) = refs else { return errs };
    let mut controllers = Vec::new();
    for r in refs {
        let version = r.api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "apiVersion"),
                &r.api_version,
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "kind"),
                &r.kind,
                "kind must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "name"),
                &r.name,
                "name must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "uid"),
                &r.uid,
                "uid must not be empty",
            ));
        }
        if r.controller == Some(true) {
            controllers.push(format!("{}/{}", r.kind, r.name));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            json_value(refs),
            format!("Only one reference can have Controller set to true. Found \"true\" in references for {}", controllers.join(" and ")),
        ));
    }
    errs
}

/// `ValidateObjectMeta`: name (by the kind's rule), namespace presence, labels, annotations,
/// owner references and finalizers.
pub(crate) fn validate_object_meta(
    meta: &ObjectMeta,
    requires_namespace: bool,
    name_fn: NameFn,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    if let Some(g) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        for m in name_fn(g, true) {
            errs.push(FieldError::invalid(child(path, "generateName"), g, m));
        }
    }
    match meta.name.as_deref().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::required(
            child(path, "name"),
            "name or generateName is required",
        )),
        Some(n) => {
            for m in name_fn(n, false) {
                errs.push(FieldError::invalid(child(path, "name"), n, m));
            }
        }
    }
    let ns = meta.namespace.as_deref().unwrap_or("");
    if requires_namespace {
        if ns.is_empty() {
            errs.push(FieldError::required(child(path, "namespace"), ""));
        } else {
            for m in names::name_is_dns_label(ns, false) {
                errs.push(FieldError::invalid(child(path, "namespace"), ns, m));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            child(path, "namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(nonnegative(
        meta.generation.unwrap_or(0),
        &child(path, "generation"),
    ));
    errs.extend(validate_labels(
        meta.labels.as_ref(),
        &child(path, "labels"),
    ));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &child(path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        meta.owner_references.as_ref(),
        &child(path, "ownerReferences"),
    ));
    let fpath = child(path, "finalizers");
    errs.extend(validate_finalizers(meta.finalizers.as_ref(), &fpath));
    errs
}

/// `ValidateObjectMetaUpdate`: identity fields may not change; labels and annotations
/// are re-validated; no new finalizers once deletion started.
pub(crate) fn validate_object_meta_update(
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    if old.deletion_timestamp.is_some() {
        let old_f = old.finalizers.clone().unwrap_or_default();
        for f in new.finalizers.iter().flatten() {
            if !old_f.contains(f) {
                errs.push(FieldError::forbidden(
                    child(path, "finalizers"),
                    format!("no new finalizers can be added if the object is being deleted, found new finalizers [{}]", go_quote(f)),
                ));
            }
        }
    }
    if new.generation.unwrap_or(0) < old.generation.unwrap_or(0) {
        errs.push(FieldError::invalid(
            child(path, "generation"),
            new.generation.unwrap_or(0),
            "must not be decremented",
        ));
    }
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    errs.extend(immutable(
        &s(&new.name),
        &s(&old.name),
        s(&new.name),
        &child(path, "name"),
    ));
    errs.extend(immutable(
        &s(&new.namespace),
        &s(&old.namespace),
        s(&new.namespace),
        &child(path, "namespace"),
    ));
    errs.extend(immutable(
        &s(&new.uid),
        &s(&old.uid),
        s(&new.uid),
        &child(path, "uid"),
    ));
    errs.extend(immutable(
        &new.creation_timestamp,
        &old.creation_timestamp,
        json_value(&new.creation_timestamp),
        &child(path, "creationTimestamp"),
    ));
    errs.extend(immutable(
        &new.deletion_timestamp,
        &old.deletion_timestamp,
        json_value(&new.deletion_timestamp),
        &child(path, "deletionTimestamp"),
    ));
    errs.extend(immutable(
        &new.deletion_grace_period_seconds,
        &old.deletion_grace_period_seconds,
        new.deletion_grace_period_seconds,
        &child(path, "deletionGracePeriodSeconds"),
    ));
    errs.extend(validate_labels(new.labels.as_ref(), &child(path, "labels")));
    errs.extend(validate_annotations(
        new.annotations.as_ref(),
        &child(path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        new.owner_references.as_ref(),
        &child(path, "ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        new.finalizers.as_ref(),
        &child(path, "finalizers"),
    ));
    errs
}

/// `ValidateLabelSelector` (strict label values).
pub(crate) fn validate_label_selector(sel: &LabelSelector, path: &str) -> Errors {
    let mut errs = validate_labels(sel.match_labels.as_ref(), &child(path, "matchLabels"));
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        let values = expr.values.as_deref().unwrap_or(&[]);
        match expr.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                child(&p, "operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(validate_label_name(&expr.key, &child(&p, "key")));
        for (j, v) in values.iter().enumerate() {
            for m in names::is_valid_label_value(v) {
                errs.push(FieldError::invalid(index(&child(&p, "values"), j), v, m));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            ..Default::default()
        }
    }

    fn fields(errs: &Errors) -> Vec<String> {
        errs.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn object_meta_requires_a_valid_name_and_namespace() {
        assert!(validate_object_meta(
            &meta("web", Some("default")),
            true,
            names::name_is_dns_subdomain,
            "metadata"
        )
        .is_empty());
        let errs = validate_object_meta(
            &meta("Bad_Name", Some("default")),
            true,
            names::name_is_dns_subdomain,
            "metadata",
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message().starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"
        ));
        let errs = validate_object_meta(
            &meta("web", None),
            true,
            names::name_is_dns_subdomain,
            "metadata",
        );
        assert_eq!(errs[0].message(), "metadata.namespace: Required value");
        let errs = validate_object_meta(
            &meta("n1", Some("x")),
            false,
            names::name_is_dns_subdomain,
            "metadata",
        );
        assert_eq!(
            errs[0].message(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
        let errs = validate_object_meta(
            &ObjectMeta::default(),
            false,
            names::name_is_dns_subdomain,
            "metadata",
        );
        assert_eq!(
            errs[0].message(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn labels_and_annotations_are_checked() {
        let mut m = meta("web", Some("default"));
        m.labels = Some(BTreeMap::from([
            ("app".into(), "-bad".into()),
            ("bad key!".into(), "ok".into()),
        ]));
        m.annotations = Some(BTreeMap::from([(
            "Example.COM/Key".into(),
            "any value at all".into(),
        )]));
        let errs = validate_object_meta(&m, true, names::name_is_dns_subdomain, "metadata");
        assert_eq!(fields(&errs), vec!["metadata.labels", "metadata.labels"]);
        assert!(errs[0]
            .message()
            .starts_with("metadata.labels: Invalid value: \"-bad\": a valid label must be"));
        assert!(errs[1]
            .message()
            .starts_with("metadata.labels: Invalid value: \"bad key!\": name part must consist"));
        m.labels = None;
        m.annotations = Some(BTreeMap::from([("a".into(), "x".repeat(300 * 1024))]));
        let errs = validate_object_meta(&m, true, names::name_is_dns_subdomain, "metadata");
        assert_eq!(
            errs[0].message(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn finalizers_must_be_standard_or_qualified() {
        let mut m = meta("web", Some("default"));
        m.finalizers = Some(vec![
            "kubernetes".into(),
            "example.com/x".into(),
            "custom".into(),
        ]);
        let errs = validate_object_meta(&m, true, names::name_is_dns_subdomain, "metadata");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].message(),
            "metadata.finalizers[2]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        );
    }

    #[test]
    fn identity_is_immutable_on_update() {
        let old = ObjectMeta {
            uid: Some("u1".into()),
            ..meta("web", Some("default"))
        };
        let new = ObjectMeta {
            uid: Some("u2".into()),
            ..meta("web2", Some("other"))
        };
        let errs = validate_object_meta_update(&new, &old, "metadata");
        assert_eq!(
            fields(&errs),
            vec!["metadata.name", "metadata.namespace", "metadata.uid"]
        );
        assert_eq!(
            errs[0].message(),
            "metadata.name: Invalid value: \"web2\": field is immutable"
        );
    }

    #[test]
    fn label_selector_requirements_are_checked() {
        let sel = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: None,
                },
                LabelSelectorRequirement {
                    key: "x".into(),
                    operator: "Exists".into(),
                    values: Some(vec!["a".into()]),
                },
                LabelSelectorRequirement {
                    key: "y".into(),
                    operator: "Near".into(),
                    values: None,
                },
            ]),
        };
        let errs = validate_label_selector(&sel, "spec.selector");
        assert_eq!(
            fields(&errs),
            vec![
                "spec.selector.matchExpressions[0].values",
                "spec.selector.matchExpressions[1].values",
                "spec.selector.matchExpressions[2].operator"
            ]
        );
    }

    #[test]
    fn go_renderings() {
        let BadValue::Raw(s) = go_map(Some(&BTreeMap::from([("app".into(), "web".into())]))) else {
            panic!()
        };
        assert_eq!(s, "map[string]string{\"app\":\"web\"}");
        let sel = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "x".into())])),
            match_expressions: None,
        };
        let BadValue::Raw(s) = go_label_selector(Some(&sel)) else {
            panic!()
        };
        assert_eq!(
            s,
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
    }
}
