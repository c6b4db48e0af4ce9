//! Validation of compute resources: resource names (standard, extended, hugepages),
//! quantity values, and requests against limits.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::admission::FieldError;
use crate::names;
use crate::quantity::ParsedQuantity;
use crate::validation_meta::{child, key, Errors, IS_NEGATIVE_ERROR};

const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// upstream `IsOvercommitAllowed`: extended resources and hugepages need requests == limits.
fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn is_integer_resource(name: &str) -> bool {
    !is_native_resource(name) || matches!(name, "pods" | "services" | "secrets" | "configmaps")
}

/// `validateContainerResourceName` (or the general resource name check for overhead).
pub(crate) fn validate_resource_name(name: &str, container: bool, path: &str) -> Errors {
    let mut errs: Errors = names::is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, name, m))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name)
            && !is_hugepages(name)
            && !name.starts_with("requests.hugepages-")
        {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if container && !STANDARD_CONTAINER_RESOURCES.contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if container && !is_native_resource(name) {
        let quota_name = format!("requests.{name}");
        if !names::is_qualified_name(&quota_name).is_empty() {
            errs.push(FieldError::invalid(
                path,
                name,
                "doesn't follow extended resource name standard",
            ));
        }
    }
    errs
}

/// `ValidateResourceQuantityValue`: non-negative, whole for integer resources.
pub(crate) fn validate_quantity_value(name: &str, q: &Quantity, path: &str) -> Errors {
    let Ok(v) = ParsedQuantity::parse(&q.0) else {
        return vec![FieldError::invalid(
            path,
            &q.0,
            "must be a valid resource quantity",
        )];
    };
    let mut errs = Errors::new();
    if v.is_negative() {
        errs.push(FieldError::invalid(path, v.canonical(), IS_NEGATIVE_ERROR));
    }
    if is_integer_resource(name) && v.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            v.canonical(),
            "must be an integer",
        ));
    }
    errs
}

/// `validateResourceRequirements` for a container (`container`) or pod overhead.
pub(crate) fn validate_resource_requirements(
    r: &ResourceRequirements,
    container: bool,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    let requests = r.requests.as_ref().unwrap_or(&empty);
    let mut has_cpu_or_memory = false;
    let mut has_hugepages = false;
    for (name, q) in limits {
        let p = key(&lim_path, name);
        errs.extend(validate_resource_name(name, container, &p));
        errs.extend(validate_quantity_value(name, q, &p));
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        has_hugepages |= is_hugepages(name);
    }
    for (name, q) in requests {
        let p = key(&req_path, name);
        errs.extend(validate_resource_name(name, container, &p));
        errs.extend(validate_quantity_value(name, q, &p));
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        has_hugepages |= is_hugepages(name);
        let Ok(req) = ParsedQuantity::parse(&q.0) else {
            continue;
        };
        match limits
            .get(name)
            .and_then(|l| ParsedQuantity::parse(&l.0).ok())
        {
            Some(lim) if req != lim && !overcommit_allowed(name) => errs.push(FieldError::invalid(
                &req_path,
                req.canonical(),
                format!("must be equal to {name} limit of {}", lim.canonical()),
            )),
            Some(lim) if req > lim => errs.push(FieldError::invalid(
                &req_path,
                req.canonical(),
                format!(
                    "must be less than or equal to {name} limit of {}",
                    lim.canonical()
                ),
            )),
            None if !overcommit_allowed(name) => errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
    }
    if has_hugepages && !has_cpu_or_memory {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs
}
