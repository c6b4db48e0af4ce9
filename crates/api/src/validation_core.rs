//! Validation of the small core kinds: Namespace, ConfigMap, Secret, ServiceAccount, Node,
//! Event and Lease.

use std::collections::BTreeSet;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Secret, ServiceAccount};

use crate::admission::FieldError;
use crate::names;
use crate::validation_meta::{
    child, index, json_value, key, validate_finalizer_name, validate_label_name,
    validate_object_meta, validate_object_meta_update, Errors, FIELD_IMMUTABLE,
};
use crate::validation_resources::validate_quantity_value;

/// Upper bound on the data of a ConfigMap or Secret.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

pub(crate) fn validate_namespace(ns: &Namespace) -> Errors {
    let mut errs = validate_object_meta(&ns.metadata, false, names::name_is_dns_label, "metadata");
    for f in ns.spec.iter().flat_map(|s| s.finalizers.iter().flatten()) {
        errs.extend(validate_finalizer_name(
            f,
            "spec.finalizers",
            "spec.finalizers",
        ));
    }
    errs
}

pub(crate) fn validate_namespace_update(new: &Namespace, old: &Namespace) -> Errors {
    let mut errs = validate_namespace(new);
    errs.extend(validate_object_meta_update(
        &new.metadata,
        &old.metadata,
        "metadata",
    ));
    if let Some(phase) = new.status.as_ref().and_then(|s| s.phase.as_deref()) {
        let deleting = new.metadata.deletion_timestamp.is_some();
        if !deleting && phase != "Active" {
            errs.push(FieldError::invalid(
                "status.Phase",
                phase,
                "may only be 'Active' if `deletionTimestamp` is empty",
            ));
        } else if deleting && phase != "Terminating" {
            errs.push(FieldError::invalid(
                "status.Phase",
                phase,
                "may only be 'Terminating' if `deletionTimestamp` is not empty",
            ));
        }
    }
    errs
}

pub(crate) fn validate_config_map(cm: &ConfigMap) -> Errors {
    let mut errs =
        validate_object_meta(&cm.metadata, true, names::name_is_dns_subdomain, "metadata");
    let mut total = 0;
    for (k, v) in cm.data.iter().flatten() {
        let p = key("data", k);
        errs.extend(
            names::is_config_map_key(k)
                .into_iter()
                .map(|m| FieldError::invalid(&p, k, m)),
        );
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(k)) {
            errs.push(FieldError::invalid(
                &p,
                k,
                "duplicate of key present in binaryData",
            ));
        }
        total += v.len();
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        let p = key("binaryData", k);
        errs.extend(
            names::is_config_map_key(k)
                .into_iter()
                .map(|m| FieldError::invalid(&p, k, m)),
        );
        total += v.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

pub(crate) fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> Errors {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        if new.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
            errs.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
        if new.binary_data.clone().unwrap_or_default()
            != old.binary_data.clone().unwrap_or_default()
        {
            errs.push(FieldError::forbidden(
                "binaryData",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs.extend(validate_config_map(new));
    errs
}

pub(crate) fn validate_secret(s: &Secret) -> Errors {
    let mut errs =
        validate_object_meta(&s.metadata, true, names::name_is_dns_subdomain, "metadata");
    let mut total = 0;
    let empty = Default::default();
    let data = s.data.as_ref().unwrap_or(&empty);
    for (k, v) in data {
        errs.extend(
            names::is_config_map_key(k)
                .into_iter()
                .map(|m| FieldError::invalid(key("data", k), k, m)),
        );
        total += v.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let require = |errs: &mut Errors, k: &str| {
        if !data.contains_key(k) {
            errs.push(FieldError::required(key("data", k), ""));
        }
    };
    match s.type_.as_deref().unwrap_or("") {
        "kubernetes.io/service-account-token" => {
            let sa = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/service-account.name"));
            if sa.is_none_or(String::is_empty) {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let k = if s.type_.as_deref() == Some("kubernetes.io/dockercfg") {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(k) {
                None => require(&mut errs, k),
                Some(b) => {
                    if let Err(e) =
                        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&b.0)
                    {
                        errs.push(FieldError::invalid(
                            key("data", k),
                            "<secret contents redacted>",
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            require(&mut errs, "username");
            require(&mut errs, "password");
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(FieldError::required(key("data", "ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            require(&mut errs, "tls.crt");
            require(&mut errs, "tls.key");
        }
        _ => {}
    }
    errs
}

pub(crate) fn validate_secret_update(new: &Secret, old: &Secret) -> Errors {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    if new.type_ != old.type_ {
        errs.push(FieldError::invalid(
            "type",
            new.type_.clone().unwrap_or_default(),
            FIELD_IMMUTABLE,
        ));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        if new.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
            errs.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs.extend(validate_secret(new));
    errs
}

pub(crate) fn validate_service_account(sa: &ServiceAccount) -> Errors {
    validate_object_meta(&sa.metadata, true, names::name_is_dns_subdomain, "metadata")
}

pub(crate) fn validate_node(node: &Node) -> Errors {
    let mut errs = validate_object_meta(
        &node.metadata,
        false,
        names::name_is_dns_subdomain,
        "metadata",
    );
    let mut unique = BTreeSet::new();
    for (i, t) in node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .enumerate()
    {
        // Upstream reports taints under `metadata.taints`.
        let p = index("metadata.taints", i);
        errs.extend(validate_label_name(&t.key, &child(&p, "key")));
        let value = t.value.as_deref().unwrap_or("");
        let m = names::is_valid_label_value(value);
        if !m.is_empty() {
            errs.push(FieldError::invalid(child(&p, "value"), value, m.join(";")));
        }
        match t.effect.as_str() {
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            "" => errs.push(FieldError::required(child(&p, "effect"), "")),
            other => errs.push(FieldError::not_supported(
                child(&p, "effect"),
                other,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !unique.insert((t.effect.clone(), t.key.clone())) {
            let mut e = FieldError::duplicate(&p, json_value(t));
            e.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(e);
        }
    }
    if let Some(status) = &node.status {
        for (field, list) in [
            ("capacity", &status.capacity),
            ("allocatable", &status.allocatable),
        ] {
            for (k, q) in list.iter().flatten() {
                errs.extend(validate_quantity_value(
                    k,
                    q,
                    &format!("status.{field}.{k}"),
                ));
            }
        }
    }
    for (i, cidr) in node
        .spec
        .iter()
        .flat_map(|s| s.pod_cidrs.iter().flatten())
        .enumerate()
    {
        let ok = cidr.split_once('/').is_some_and(|(ip, bits)| {
            ip.parse::<std::net::IpAddr>().is_ok_and(|a| {
                bits.parse::<u8>()
                    .is_ok_and(|b| b <= if a.is_ipv4() { 32 } else { 128 })
            })
        });
        if !ok {
            errs.push(FieldError::invalid(
                index("spec.podCIDRs", i),
                cidr,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

pub(crate) fn validate_node_update(new: &Node, old: &Node) -> Errors {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_node(new));
    let old_cidrs = old
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.clone())
        .unwrap_or_default();
    let new_cidrs = new
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.clone())
        .unwrap_or_default();
    if !old_cidrs.is_empty() && old_cidrs != new_cidrs {
        errs.push(FieldError::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_provider = old
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    let new_provider = new
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    if !old_provider.is_empty() && old_provider != new_provider {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs
}

/// Legacy (core/v1) event validation: the involved object's namespace must agree.
pub(crate) fn validate_event(ev: &Event) -> Errors {
    let mut errs = Errors::new();
    if ev.metadata.name.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    let ns = ev.metadata.namespace.as_deref().unwrap_or("");
    let involved_ns = ev.involved_object.namespace.as_deref().unwrap_or("");
    if ev.event_time.is_none() {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(FieldError::invalid(
                    "involvedObject.namespace",
                    involved_ns,
                    "does not match event.namespace",
                ));
            }
        } else if ns != involved_ns {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            ));
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            ));
        }
        let controller = ev.reporting_component.as_deref().unwrap_or("");
        if controller.is_empty() {
            errs.push(FieldError::required("reportingComponent", ""));
        }
        errs.extend(
            names::is_qualified_name(controller)
                .into_iter()
                .map(|m| FieldError::invalid("reportingComponent", controller, m)),
        );
        for (field, value) in [
            ("reportingInstance", &ev.reporting_instance),
            ("action", &ev.action),
            ("reason", &ev.reason),
        ] {
            let value = value.as_deref().unwrap_or("");
            if value.is_empty() {
                errs.push(FieldError::required(field, ""));
            } else if value.len() > 128 {
                errs.push(FieldError::invalid(
                    field,
                    "",
                    "can have at most 128 characters",
                ));
            }
        }
        if ev.message.as_deref().unwrap_or("").len() > 1024 {
            errs.push(FieldError::invalid(
                "message",
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    errs.extend(
        names::is_dns1123_subdomain(ns)
            .into_iter()
            .map(|m| FieldError::invalid("namespace", ns, m)),
    );
    errs
}

/// Core/v1 event updates only re-run the legacy checks (plus identity immutability).
pub(crate) fn validate_event_update(new: &Event, old: &Event) -> Errors {
    let mut errs = validate_event(new);
    errs.extend(validate_object_meta_update(
        &new.metadata,
        &old.metadata,
        "metadata",
    ));
    errs
}

pub(crate) fn validate_lease(lease: &Lease) -> Errors {
    let mut errs = validate_object_meta(
        &lease.metadata,
        true,
        names::name_is_dns_subdomain,
        "metadata",
    );
    if let Some(spec) = &lease.spec {
        if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                d,
                "must be greater than 0",
            ));
        }
        if let Some(t) = spec.lease_transitions.filter(|t| *t < 0) {
            errs.push(FieldError::invalid(
                "spec.leaseTransitions",
                t,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(s) = &spec.strategy {
            errs.extend(
                names::is_qualified_name(s)
                    .into_iter()
                    .map(|m| FieldError::invalid("spec.strategy", s, m)),
            );
        }
        if spec.preferred_holder.is_some() && spec.strategy.is_none() {
            errs.push(FieldError::forbidden(
                "spec.preferredHolder",
                "may only be specified if `strategy` is defined",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn messages(errs: &Errors) -> Vec<String> {
        errs.iter().map(|e| e.message()).collect()
    }

    #[test]
    fn namespace_names_are_labels() {
        let ns: Namespace = decode(json!({"metadata": {"name": "a.b"}}));
        assert_eq!(
            messages(&validate_namespace(&ns)),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        let ns: Namespace = decode(json!({"metadata": {"name": "team", "namespace": "x"}}));
        assert_eq!(
            messages(&validate_namespace(&ns)),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn config_map_keys() {
        let cm: ConfigMap = decode(
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"ok-key": "v", "bad/key": "v"}}),
        );
        let m = messages(&validate_config_map(&cm));
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with(
            "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist"
        ));
        let cm: ConfigMap = decode(
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "v"}, "binaryData": {"a": "eA=="}}),
        );
        assert_eq!(
            messages(&validate_config_map(&cm)),
            vec!["data[a]: Invalid value: \"a\": duplicate of key present in binaryData"]
        );
    }

    #[test]
    fn immutable_config_maps_keep_their_data() {
        let old: ConfigMap = decode(
            json!({"metadata": {"name": "c", "namespace": "d"}, "immutable": true, "data": {"a": "1"}}),
        );
        let new: ConfigMap = decode(
            json!({"metadata": {"name": "c", "namespace": "d"}, "immutable": true, "data": {"a": "2"}}),
        );
        assert_eq!(
            messages(&validate_config_map_update(&new, &old)),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
    }

    #[test]
    fn secret_types_require_their_keys() {
        let s: Secret = decode(
            json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
        );
        assert_eq!(
            messages(&validate_secret(&s)),
            vec!["data[tls.key]: Required value"]
        );
        let s: Secret = decode(
            json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "eA=="}}),
        );
        assert!(messages(&validate_secret(&s))[0]
            .starts_with("data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\""));
        let old: Secret =
            decode(json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"}));
        let new: Secret = decode(
            json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
        );
        assert_eq!(
            messages(&validate_secret_update(&new, &old)),
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
    }

    #[test]
    fn node_taints_and_capacity() {
        let n: Node = decode(json!({
            "metadata": {"name": "n1"},
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "Sometimes"}]},
            "status": {"capacity": {"cpu": "-1"}}
        }));
        let m = messages(&validate_node(&n));
        assert!(m[0].starts_with("metadata.taints[1]: Duplicate value:"));
        assert!(m[0].ends_with(": taints must be unique by key and effect pair"));
        assert!(m[1].starts_with("metadata.taints[2].effect: Unsupported value: \"Sometimes\""));
        assert_eq!(
            m[2],
            "status.capacity.cpu: Invalid value: \"-1\": must be greater than or equal to 0"
        );
    }

    #[test]
    fn events_must_agree_on_namespace() {
        let e: Event = decode(
            json!({"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"kind": "Pod", "namespace": "b"}}),
        );
        assert_eq!(
            messages(&validate_event(&e)),
            vec!["involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"]
        );
        let e: Event = decode(
            json!({"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"kind": "Pod", "namespace": "a"}}),
        );
        assert!(validate_event(&e).is_empty());
    }

    #[test]
    fn leases() {
        let l: Lease = decode(
            json!({"metadata": {"name": "n1", "namespace": "kube-node-lease"}, "spec": {"leaseDurationSeconds": 0}}),
        );
        assert_eq!(
            messages(&validate_lease(&l)),
            vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
        );
    }
}
