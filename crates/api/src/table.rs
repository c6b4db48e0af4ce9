//! Server-side printing: `meta.k8s.io/v1` Tables, the answer to
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` that `kubectl get` asks for.
//!
//! Columns, cells and their formats follow upstream's printers
//! (kubernetes `pkg/printers/internalversion`), so kubectl shows what it shows against a
//! real cluster. The server always fills the wide (`priority: 1`) cells; kubectl hides them
//! unless `-o wide`. Printers read the stored JSON directly, so a printer never fails on an
//! object it does not fully understand: a missing field prints as upstream prints its zero
//! value.

mod event;
mod node;
mod pod;

pub use pod::{summarize as pod_summary, Summary as PodSummary};
mod simple;
mod workload;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::Resource;

/// A meta.k8s.io/v1 Table of `objects` (full JSON objects of `resource`), as the upstream
/// apiserver answers `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Each row's
/// `object` is a PartialObjectMetadata (apiVersion meta.k8s.io/v1, kind
/// PartialObjectMetadata, metadata of the object) when include_object == "Metadata"
/// (default), the full object for "Object", and omitted for "None". `now` is for AGE
/// columns. The caller fills metadata.resourceVersion/continue of the table.
pub fn to_table(
    resource: &Resource,
    objects: &[Value],
    include_object: &str,
    now: DateTime<Utc>,
) -> Value {
    to_table_with(resource, objects, include_object, false, now)
}

/// [`to_table`] with `TableOptions.noHeaders`: when set, `columnDefinitions` is null, as
/// upstream sends every watch event after the first.
pub fn to_table_with(
    resource: &Resource,
    objects: &[Value],
    include_object: &str,
    no_headers: bool,
    now: DateTime<Utc>,
) -> Value {
    let (columns, print): (&[Column], PrintFn) = printer(resource);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let Row { cells, conditions } = print(obj, now);
            debug_assert_eq!(cells.len(), columns.len(), "{}", resource.kind);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(conditions) = conditions {
                row.insert("conditions".into(), conditions);
            }
            if let Some(object) = row_object(obj, include_object) {
                row.insert("object".into(), object);
            }
            Value::Object(row)
        })
        .collect();
    let column_definitions = if no_headers {
        Value::Null
    } else {
        Value::Array(columns.iter().map(|c| c.to_json()).collect())
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

/// kubectl's human duration ("5s", "3m2s", "4h", "2d3h", "3y"...), as
/// k8s.io/apimachinery/pkg/util/duration.HumanDuration.
pub fn human_duration(d: chrono::Duration) -> String {
    // Up to two seconds in the future counts as now (clock skew between machines).
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// One `TableColumnDefinition`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// A column shown by plain `kubectl get`.
pub(crate) const fn col(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown only by `kubectl get -o wide`.
pub(crate) const fn wide(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 1,
    }
}

/// The NAME column: `format: name` tells clients which cell names the object.
pub(crate) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: NAME_DOC,
    priority: 0,
};

/// The AGE column.
pub(crate) const AGE: Column = col("Age", "string", CREATION_DOC);

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
pub(crate) const CONTAINERS_DOC: &str = "Names of each container in the template.";
pub(crate) const IMAGES_DOC: &str = "Images referenced by each container in the template.";

/// The cells of one row and, for finished pods, its row conditions.
pub(crate) struct Row {
    pub cells: Vec<Value>,
    pub conditions: Option<Value>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: None,
        }
    }
}

type PrintFn = fn(&Value, DateTime<Utc>) -> Row;

/// The columns and row printer of a resource; upstream's default convertor for kinds
/// without a printer.
fn printer(resource: &Resource) -> (&'static [Column], PrintFn) {
    match (resource.group, resource.kind) {
        ("", "Pod") => (pod::COLUMNS, pod::row),
        ("", "Node") => (node::COLUMNS, node::row),
        ("", "Event") => (event::COLUMNS, event::row),
        ("", "Namespace") => (simple::NAMESPACE_COLUMNS, simple::namespace_row),
        ("", "ConfigMap") => (simple::CONFIGMAP_COLUMNS, simple::configmap_row),
        ("", "Secret") => (simple::SECRET_COLUMNS, simple::secret_row),
        ("", "ServiceAccount") => (simple::SERVICEACCOUNT_COLUMNS, simple::serviceaccount_row),
        ("coordination.k8s.io", "Lease") => (simple::LEASE_COLUMNS, simple::lease_row),
        ("batch", "Job") => (workload::JOB_COLUMNS, workload::job_row),
        ("apps", "Deployment") => (workload::DEPLOYMENT_COLUMNS, workload::deployment_row),
        ("apps", "ReplicaSet") => (workload::REPLICASET_COLUMNS, workload::replicaset_row),
        _ => (DEFAULT_COLUMNS, default_row),
    }
}

/// Upstream's `rest.DefaultTableConvertor`: the name and the creation time as RFC 3339.
const DEFAULT_COLUMNS: &[Column] = &[NAME, col("Created At", "date", CREATION_DOC)];

fn default_row(obj: &Value, _now: DateTime<Utc>) -> Row {
    // An unset timestamp prints as Go's zero time, as upstream does.
    let created = time(obj, "/metadata/creationTimestamp").map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    Row::new(vec![name(obj).into(), created.into()])
}

/// The `object` of a row for `includeObject`.
fn row_object(obj: &Value, include_object: &str) -> Option<Value> {
    match include_object {
        "None" => None,
        "Object" => Some(obj.clone()),
        _ => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
    }
}

// ---- field access on stored JSON; a missing field reads as Go's zero value ----

/// The string at a JSON pointer, "" if absent.
pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, if present.
pub(crate) fn int_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// The array at a JSON pointer, empty if absent.
pub(crate) fn list_at<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The number of entries of the object (map) at a JSON pointer.
pub(crate) fn map_len(obj: &Value, pointer: &str) -> usize {
    obj.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

/// The timestamp (RFC 3339, `Time` or `MicroTime`) at a JSON pointer.
pub(crate) fn time(obj: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    let s = obj.pointer(pointer)?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

/// upstream `translateTimestampSince`: the human age of a timestamp, `<unknown>` if unset.
pub(crate) fn since(now: DateTime<Utc>, t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

/// The AGE cell of an object.
pub(crate) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    since(now, time(obj, "/metadata/creationTimestamp")).into()
}

/// upstream `layoutContainerCells`: container names and images, comma-separated.
pub(crate) fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(",").into(), images.join(",").into())
}

/// The string form of a `LabelSelector` as `labels.Selector.String()` prints it
/// (requirements sorted by key; `k=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`), or `None`
/// when the selector is invalid. An absent or empty selector prints as "".
pub(crate) fn selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Some(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            requirements.push((key.clone(), format!("{key}={}", value.as_str()?)));
        }
    }
    for expr in list_at(selector, "/matchExpressions") {
        let key = str_at(expr, "/key");
        let mut values: Vec<&str> = list_at(expr, "/values")
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, "/operator") {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        requirements
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// upstream `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
pub(crate) fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    /// A fixed "now" for every printer test.
    pub(crate) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    /// An RFC 3339 timestamp `ago` before [`now`].
    pub(crate) fn ago(ago: Duration) -> String {
        (now() - ago).format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// The column names of a table.
    pub(crate) fn headers(table: &Value) -> Vec<String> {
        table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The cells of the first row.
    pub(crate) fn cells(table: &Value) -> Vec<Value> {
        table["rows"][0]["cells"].as_array().unwrap().clone()
    }

    /// The names of the wide-only columns.
    pub(crate) fn wide_headers(table: &Value) -> Vec<String> {
        table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 1)
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) fn resource(plural: &str) -> &'static Resource {
        crate::RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .unwrap()
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        let cases = [
            (Duration::seconds(-2), "<invalid>"),
            (Duration::milliseconds(-1500), "0s"),
            (Duration::seconds(0), "0s"),
            (Duration::seconds(5), "5s"),
            (Duration::seconds(119), "119s"),
            (Duration::seconds(120), "2m"),
            (Duration::seconds(182), "3m2s"),
            (Duration::seconds(599), "9m59s"),
            (Duration::minutes(10), "10m"),
            (Duration::minutes(179), "179m"),
            (Duration::minutes(180), "3h"),
            (Duration::minutes(4 * 60 + 30), "4h30m"),
            (Duration::hours(4), "4h"),
            (Duration::hours(8), "8h"),
            (Duration::hours(47), "47h"),
            (Duration::hours(48), "2d"),
            (Duration::hours(51), "2d3h"),
            (Duration::days(7) + Duration::hours(23), "7d23h"),
            (Duration::days(8), "8d"),
            (Duration::days(729), "729d"),
            (Duration::days(730), "2y"),
            (Duration::days(730 + 40), "2y40d"),
            (Duration::days(365 * 3), "3y"),
            (Duration::days(365 * 9 + 100), "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn rows_carry_partial_metadata_by_default_full_objects_or_nothing() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7"}, "data": {"k": "v"}});
        let r = resource("configmaps");
        let t = to_table(r, std::slice::from_ref(&cm), "", now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["rows"][0]["object"]["metadata"]["resourceVersion"], "7");
        assert!(t["rows"][0]["object"].get("data").is_none());
        let t = to_table(r, std::slice::from_ref(&cm), "Metadata", now());
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let t = to_table(r, std::slice::from_ref(&cm), "Object", now());
        assert_eq!(t["rows"][0]["object"], cm);
        let t = to_table(r, std::slice::from_ref(&cm), "None", now());
        assert!(t["rows"][0].get("object").is_none());
    }

    #[test]
    fn no_headers_leaves_column_definitions_null() {
        let t = to_table_with(resource("configmaps"), &[], "None", true, now());
        assert!(t["columnDefinitions"].is_null());
        assert_eq!(t["rows"], json!([]));
    }

    #[test]
    fn name_columns_have_format_name_and_wide_columns_priority_one() {
        for r in crate::RESOURCES {
            let t = to_table(r, &[], "None", now());
            let defs = t["columnDefinitions"].as_array().unwrap();
            let names: Vec<_> = defs.iter().filter(|c| c["format"] == "name").collect();
            assert_eq!(names.len(), 1, "{}", r.kind);
            assert_eq!(names[0]["name"], "Name");
            for c in defs {
                assert!(c["priority"] == 0 || c["priority"] == 1);
                assert!(c["description"].is_string() && c["type"].is_string());
            }
        }
    }

    #[test]
    fn unknown_kinds_get_the_default_name_and_created_at_columns() {
        let r = Resource {
            kind: "Widget",
            plural: "widgets",
            ..*resource("configmaps")
        };
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        let t = to_table(
            &r,
            &[obj, json!({"metadata": {"name": "x"}})],
            "None",
            now(),
        );
        assert_eq!(headers(&t), ["Name", "Created At"]);
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(cells(&t), [json!("w"), json!("2024-01-02T03:04:05Z")]);
        assert_eq!(t["rows"][1]["cells"], json!(["x", "0001-01-01T00:00:00Z"]));
    }

    #[test]
    fn selectors_print_like_labels_selector_string() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "c", "operator": "In", "values": ["y", "x"]},
                {"key": "aa", "operator": "Exists"},
                {"key": "d", "operator": "DoesNotExist"},
                {"key": "e", "operator": "NotIn", "values": ["z"]}]});
        assert_eq!(
            selector_string(Some(&sel)).unwrap(),
            "a=1,aa,b=2,c in (x,y),!d,e notin (z)"
        );
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        let bad = json!({"matchExpressions": [{"key": "c", "operator": "In"}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
    }
}
