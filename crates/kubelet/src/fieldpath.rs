//! Values the Downward API exposes (env `fieldRef`/`resourceFieldRef` and downwardAPI
//! volume items), as upstream's `fieldpath` and `resource` helpers compute them.

use std::collections::BTreeMap;

use api::quantity::ParsedQuantity;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// What the node knows of a pod beyond its object: its IPs and the node's.
#[derive(Clone, Debug, Default)]
pub struct PodFacts {
    pub pod_ips: Vec<String>,
    pub host_ips: Vec<String>,
    /// The node's allocatable resources: the value of a limit a container does not set.
    pub allocatable: BTreeMap<String, Quantity>,
}

/// Go's `%q` for the strings of label and annotation files.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `key="value"` lines, sorted (upstream `fieldpath.FormatMap`).
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `metadata.labels['key']` → `("metadata.labels", "key")`.
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (base, rest) = path.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    Some((base, key))
}

/// The value of a `fieldRef` path.
pub fn field_value(pod: &Pod, facts: &PodFacts, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let empty = BTreeMap::new();
    if let Some((base, key)) = subscript(path) {
        let map = match base {
            "metadata.labels" => meta.labels.as_ref(),
            "metadata.annotations" => meta.annotations.as_ref(),
            _ => return Err(format!("unsupported fieldPath: {path}")),
        };
        return Ok(map.unwrap_or(&empty).get(key).cloned().unwrap_or_default());
    }
    let spec = pod.spec.as_ref();
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref().unwrap_or(&empty)),
        "metadata.annotations" => format_map(meta.annotations.as_ref().unwrap_or(&empty)),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => facts.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => facts.host_ips.join(","),
        "status.podIP" => facts.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => facts.pod_ips.join(","),
        _ => return Err(format!("unsupported fieldPath: {path}")),
    })
}

fn quantity(q: Option<&Quantity>) -> ParsedQuantity {
    q.and_then(|q| ParsedQuantity::parse(&q.0).ok())
        .unwrap_or_else(ParsedQuantity::zero)
}

fn div_ceil(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    if (a % b != 0) && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

/// The value of a `resourceFieldRef` (`limits.cpu`, `requests.memory`, ...) for a
/// container, in units of `divisor`; limits the container does not set are the node's
/// allocatable.
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&Quantity>,
    facts: &PodFacts,
) -> Result<String, String> {
    let divisor = divisor
        .map(|d| quantity(Some(d)))
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| ParsedQuantity::parse("1").unwrap());
    let res = container.resources.as_ref();
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource: {resource}"))?;
    let value = match kind {
        "limits" => res
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get(name))
            .or_else(|| facts.allocatable.get(name)),
        "requests" => res
            .and_then(|r| r.requests.as_ref())
            .and_then(|l| l.get(name)),
        _ => return Err(format!("unsupported container resource: {resource}")),
    };
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !name.starts_with("hugepages-") {
        return Err(format!("unsupported container resource: {resource}"));
    }
    let q = quantity(value);
    let n = if name == "cpu" {
        div_ceil(q.milli_value(), divisor.milli_value())
    } else {
        div_ceil(q.value(), divisor.value())
    };
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                "labels": {"app": "projected", "tier": "a\"b"}, "annotations": {"note": "x"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [{"name": "c"}]}
        }))
        .unwrap()
    }

    fn facts() -> PodFacts {
        PodFacts {
            pod_ips: vec!["10.88.0.5".into()],
            host_ips: vec!["192.168.1.2".into()],
            allocatable: [
                ("cpu".to_string(), Quantity("4".into())),
                ("memory".to_string(), Quantity("8Gi".into())),
            ]
            .into(),
        }
    }

    #[test]
    fn field_paths_resolve_like_the_downward_api() {
        let p = pod();
        let f = facts();
        let v = |path: &str| field_value(&p, &f, path).unwrap();
        assert_eq!(v("metadata.name"), "p");
        assert_eq!(v("metadata.namespace"), "ns");
        assert_eq!(v("metadata.uid"), "u-1");
        assert_eq!(v("spec.nodeName"), "n1");
        assert_eq!(v("spec.serviceAccountName"), "sa");
        assert_eq!(v("status.podIP"), "10.88.0.5");
        assert_eq!(v("status.hostIPs"), "192.168.1.2");
        assert_eq!(v("metadata.labels['app']"), "projected");
        assert_eq!(v("metadata.labels['missing']"), "");
        assert_eq!(v("metadata.labels"), "app=\"projected\"\ntier=\"a\\\"b\"");
        assert_eq!(v("metadata.annotations"), "note=\"x\"");
        assert!(field_value(&p, &f, "spec.bogus").is_err());
    }

    #[test]
    fn resource_fields_round_up_in_divisor_units_and_default_limits_to_allocatable() {
        let c: Container = serde_json::from_value(json!({"name": "c", "resources": {
            "requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}))
        .unwrap();
        let f = facts();
        let v = |r: &str, d: Option<&str>| {
            resource_value(&c, r, d.map(|d| Quantity(d.into())).as_ref(), &f).unwrap()
        };
        assert_eq!(v("requests.cpu", None), "1");
        assert_eq!(v("requests.cpu", Some("1m")), "250");
        assert_eq!(v("limits.memory", None), "134217728");
        assert_eq!(v("limits.memory", Some("1Mi")), "128");
        assert_eq!(v("requests.memory", Some("1Mi")), "64");
        assert_eq!(v("limits.cpu", None), "4");
        assert_eq!(v("requests.ephemeral-storage", None), "0");
        assert!(resource_value(&c, "limits.gpu", None, &f).is_err());
    }
}
