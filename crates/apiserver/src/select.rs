//! List and watch filtering: label selectors, and the field selectors each kind supports.

use api::selectors::{FieldSelector, LabelSelector};
use api::Resource;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::request::Query;

/// The filter of one list or watch request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    pub fn new(resource: &Resource, query: &Query, name: Option<&str>) -> ApiResult<Filter> {
        let labels = query
            .label_selector
            .as_deref()
            .map(|s| LabelSelector::parse(s).map_err(ApiError::bad_request))
            .transpose()?;
        let mut field_str = query.field_selector.clone().unwrap_or_default();
        if let Some(name) = name {
            if !field_str.is_empty() {
                field_str.push(',');
            }
            field_str.push_str(&format!("metadata.name={name}"));
        }
        let fields = if field_str.is_empty() {
            None
        } else {
            let f = FieldSelector::parse(&field_str).map_err(|e| {
                ApiError::bad_request(format!("invalid field selector {field_str:?}: {e}"))
            })?;
            for field in f.fields() {
                if !supported_field(resource, field) {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {field}"
                    )));
                }
            }
            Some(f)
        };
        Ok(Filter { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            if !l.matches(&object::labels(obj)) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            return f.matches(|field| field_value(obj, field));
        }
        true
    }
}

/// Fields every kind can be selected by, plus each kind's own (upstream's field label
/// conversion functions).
fn supported_field(resource: &Resource, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let own: &[&str] = match resource.kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Node" => &["spec.unschedulable"],
        "Namespace" => &["status.phase"],
        "Secret" => &["type"],
        "Job" => &["status.successful"],
        "ReplicaSet" => &["status.replicas"],
        _ => &[],
    };
    own.contains(&field)
}

/// A field's value as a selector compares it: missing strings are "", booleans
/// "true"/"false", numbers in decimal.
fn field_value(obj: &Value, field: &str) -> Option<String> {
    let v = match field {
        "source" => obj.pointer("/source/component"),
        "spec.hostNetwork" | "spec.unschedulable" => {
            return Some(
                object::path(obj, field)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            )
        }
        _ => object::path(obj, field),
    };
    Some(match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    })
}
