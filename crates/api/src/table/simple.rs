//! Kinds with a column or two beside NAME and AGE: namespaces, configmaps, secrets,
//! serviceaccounts, leases.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age, col, list_at, map_len, name, str_at, Column, Row, AGE, NAME};

pub(super) const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

pub(super) const CONFIGMAP_COLUMNS: &[Column] = &[
    NAME,
    col("Data", "string", "Data contains the configuration data."),
    AGE,
];

pub(super) const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    col("Data", "string", "Data contains the secret data."),
    AGE,
];

pub(super) const SERVICEACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

pub(super) const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

pub(super) fn namespace_row(ns: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(ns).into(),
        str_at(ns, "/status/phase").into(),
        age(ns, now),
    ])
}

pub(super) fn configmap_row(cm: &Value, now: DateTime<Utc>) -> Row {
    let entries = map_len(cm, "/data") + map_len(cm, "/binaryData");
    Row::new(vec![name(cm).into(), entries.into(), age(cm, now)])
}

pub(super) fn secret_row(secret: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(secret).into(),
        str_at(secret, "/type").into(),
        map_len(secret, "/data").into(),
        age(secret, now),
    ])
}

pub(super) fn serviceaccount_row(sa: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(sa).into(),
        list_at(sa, "/secrets").len().into(),
        age(sa, now),
    ])
}

pub(super) fn lease_row(lease: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        name(lease).into(),
        str_at(lease, "/spec/holderIdentity").into(),
        age(lease, now),
    ])
}

#[cfg(test)]
mod tests {
    use crate::table::tests::{ago, cells, headers, now, resource};
    use crate::table::to_table;
    use chrono::Duration;
    use serde_json::{json, Value};

    fn table(plural: &str, obj: Value) -> Value {
        to_table(resource(plural), &[obj], "None", now())
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": ago(Duration::hours(26))})
    }

    #[test]
    fn namespace_prints_its_phase() {
        let t = table(
            "namespaces",
            json!({"metadata": meta("dev"), "status": {"phase": "Terminating"}}),
        );
        assert_eq!(headers(&t), ["Name", "Status", "Age"]);
        assert_eq!(
            cells(&t),
            [json!("dev"), json!("Terminating"), json!("26h")]
        );
    }

    #[test]
    fn configmap_counts_data_and_binary_data() {
        let t = table(
            "configmaps",
            json!({"metadata": meta("cfg"),
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
        );
        assert_eq!(headers(&t), ["Name", "Data", "Age"]);
        assert_eq!(cells(&t), [json!("cfg"), json!(3), json!("26h")]);
        let t = table("configmaps", json!({"metadata": meta("empty")}));
        assert_eq!(cells(&t)[1], 0);
    }

    #[test]
    fn secret_prints_type_and_data_count() {
        let t = table(
            "secrets",
            json!({"metadata": meta("s"), "type": "Opaque", "data": {"k": "dg=="}}),
        );
        assert_eq!(headers(&t), ["Name", "Type", "Data", "Age"]);
        assert_eq!(
            cells(&t),
            [json!("s"), json!("Opaque"), json!(1), json!("26h")]
        );
    }

    #[test]
    fn serviceaccount_counts_secrets() {
        let t = table(
            "serviceaccounts",
            json!({"metadata": meta("default"), "secrets": [{"name": "x"}]}),
        );
        assert_eq!(headers(&t), ["Name", "Secrets", "Age"]);
        assert_eq!(cells(&t), [json!("default"), json!(1), json!("26h")]);
        let t = table("serviceaccounts", json!({"metadata": meta("default")}));
        assert_eq!(cells(&t)[1], 0);
    }

    #[test]
    fn lease_prints_its_holder() {
        let t = table(
            "leases",
            json!({"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1"}}),
        );
        assert_eq!(headers(&t), ["Name", "Holder", "Age"]);
        assert_eq!(cells(&t), [json!("node-1"), json!("node-1"), json!("26h")]);
        let t = table("leases", json!({"metadata": meta("free"), "spec": {}}));
        assert_eq!(cells(&t)[1], "");
    }
}
