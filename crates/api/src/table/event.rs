//! core/v1 Events: LAST SEEN TYPE REASON OBJECT MESSAGE | SUBOBJECT SOURCE FIRST SEEN
//! COUNT NAME.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{col, int_at, name, since, str_at, time, wide, Column, Row, NAME};

pub(super) const COLUMNS: &[Column] = &[
    col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col("Object", "string", "The object that this event is about."),
    wide("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
    wide("Source", "string", "The component reporting this event. Should be a short machine understandable string."),
    col("Message", "string", "A human-readable description of the status of this operation."),
    wide("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    wide("Count", "string", "The number of times this event has occurred."),
    Column { priority: 1, ..NAME },
];

pub(super) fn row(event: &Value, now: DateTime<Utc>) -> Row {
    let first = match time(event, "/firstTimestamp") {
        Some(t) => since(now, Some(t)),
        None => since(now, time(event, "/eventTime")),
    };
    let mut last = match time(event, "/lastTimestamp") {
        Some(t) => since(now, Some(t)),
        None => first.clone(),
    };
    let mut count = int_at(event, "/count").unwrap_or(0);
    if event.get("series").is_some_and(Value::is_object) {
        last = since(now, time(event, "/series/lastObservedTime"));
        count = int_at(event, "/series/count").unwrap_or(0);
    } else if count == 0 {
        // Events of the events.k8s.io API carry no count when they happened once.
        count = 1;
    }
    let kind = str_at(event, "/involvedObject/kind").to_lowercase();
    let target = match str_at(event, "/involvedObject/name") {
        "" => kind,
        object => format!("{kind}/{object}"),
    };
    Row::new(vec![
        last.into(),
        str_at(event, "/type").into(),
        str_at(event, "/reason").into(),
        target.into(),
        str_at(event, "/involvedObject/fieldPath").into(),
        source(event).into(),
        str_at(event, "/message").trim().into(),
        first.into(),
        count.into(),
        name(event).into(),
    ])
}

/// "component, host", falling back to the reporting controller and instance.
fn source(event: &Value) -> String {
    let first_non_empty = |a: &str, b: &str| if a.is_empty() { b } else { a }.to_string();
    let component = first_non_empty(
        str_at(event, "/source/component"),
        str_at(event, "/reportingComponent"),
    );
    let host = first_non_empty(
        str_at(event, "/source/host"),
        str_at(event, "/reportingInstance"),
    );
    if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    }
}

#[cfg(test)]
mod tests {
    use crate::table::tests::{ago, cells, headers, now, resource, wide_headers};
    use crate::table::to_table;
    use chrono::Duration;
    use serde_json::json;

    #[test]
    fn event_columns_match_upstream() {
        let t = to_table(resource("events"), &[], "None", now());
        assert_eq!(
            headers(&t),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        assert_eq!(
            wide_headers(&t),
            ["Subobject", "Source", "First Seen", "Count", "Name"]
        );
        assert_eq!(t["columnDefinitions"][9]["format"], "name");
    }

    #[test]
    fn core_event_prints_times_target_source_and_count() {
        let ev = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "  Container image pulled \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(Duration::minutes(10)), "lastTimestamp": ago(Duration::seconds(30)),
            "count": 4});
        let t = to_table(resource("events"), &[ev], "None", now());
        assert_eq!(
            cells(&t),
            [
                json!("30s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Container image pulled"),
                json!("10m"),
                json!(4),
                json!("web.17a")
            ]
        );
    }

    #[test]
    fn new_style_event_uses_event_time_series_and_reporting_fields() {
        let ev = json!({"metadata": {"name": "e"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2024-05-01T10:59:59.500000Z",
            "reportingComponent": "scheduler", "type": "Warning", "reason": "X", "message": "m"});
        let c = cells(&to_table(
            resource("events"),
            std::slice::from_ref(&ev),
            "None",
            now(),
        ));
        assert_eq!(c[0], "60m");
        assert_eq!(c[3], "node");
        assert_eq!(c[5], "scheduler");
        assert_eq!(c[7], "60m");
        assert_eq!(c[8], 1);
        let mut series = ev;
        series["series"] = json!({"count": 7, "lastObservedTime": ago(Duration::seconds(5))});
        series["reportingInstance"] = json!("orca-1");
        let c = cells(&to_table(resource("events"), &[series], "None", now()));
        assert_eq!(c[0], "5s");
        assert_eq!(c[5], "scheduler, orca-1");
        assert_eq!(c[8], 7);
        let bare = json!({"metadata": {"name": "b"}});
        let c = cells(&to_table(resource("events"), &[bare], "None", now()));
        assert_eq!(c[0], "<unknown>");
        assert_eq!(c[7], "<unknown>");
    }
}
