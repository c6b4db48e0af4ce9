//! Validation of probes and lifecycle handlers: exactly one action each, ports, schemes,
//! thresholds, and the rules that differ between liveness, readiness and startup probes.

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::admission::FieldError;
use crate::names;
use crate::validation_meta::{child, nonnegative, Errors};

fn validate_http_get(h: &k8s_openapi::api::core::v1::HTTPGetAction, path: &str) -> Errors {
    let mut errs = Errors::new();
    if h.path.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(validate_port_num_or_name(&h.port, &child(path, "port")));
    let scheme = h.scheme.as_deref().unwrap_or("");
    if !matches!(scheme, "HTTP" | "HTTPS") {
        errs.push(FieldError::not_supported(
            child(path, "scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for hdr in h.http_headers.iter().flatten() {
        for m in names::is_http_header_name(&hdr.name) {
            errs.push(FieldError::invalid(
                child(path, "httpHeaders"),
                &hdr.name,
                m,
            ));
        }
    }
    errs
}

/// `ValidatePortNumOrName`.
pub(crate) fn validate_port_num_or_name(port: &IntOrString, path: &str) -> Errors {
    match port {
        IntOrString::Int(n) => names::is_valid_port_num(*n as i64)
            .into_iter()
            .map(|m| FieldError::invalid(path, *n, m))
            .collect(),
        IntOrString::String(s) => names::is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s, m))
            .collect(),
    }
}

/// A probe or lifecycle handler reduced to its actions (`commonHandler`).
struct Handler<'a> {
    exec: Option<&'a k8s_openapi::api::core::v1::ExecAction>,
    http_get: Option<&'a k8s_openapi::api::core::v1::HTTPGetAction>,
    tcp_socket: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
    grpc: Option<&'a k8s_openapi::api::core::v1::GRPCAction>,
    sleep: Option<&'a k8s_openapi::api::core::v1::SleepAction>,
}

fn validate_handler(h: Handler, grace: Option<i64>, path: &str) -> Errors {
    let mut errs = Errors::new();
    let mut count = 0;
    let mut take = |errs: &mut Errors, field: &str, present: bool| -> bool {
        if !present {
            return false;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                child(path, field),
                "may not specify more than 1 handler type",
            ));
            return false;
        }
        count += 1;
        true
    };
    if take(&mut errs, "exec", h.exec.is_some())
        && h.exec
            .is_some_and(|e| e.command.as_ref().is_none_or(Vec::is_empty))
    {
        errs.push(FieldError::required(
            child(&child(path, "exec"), "command"),
            "",
        ));
    }
    if take(&mut errs, "httpGet", h.http_get.is_some()) {
        errs.extend(validate_http_get(
            h.http_get.unwrap(),
            &child(path, "httpGet"),
        ));
    }
    if take(&mut errs, "tcpSocket", h.tcp_socket.is_some()) {
        errs.extend(validate_port_num_or_name(
            &h.tcp_socket.unwrap().port,
            &child(&child(path, "tcpSocket"), "port"),
        ));
    }
    if take(&mut errs, "grpc", h.grpc.is_some()) {
        let port = h.grpc.unwrap().port;
        for m in names::is_valid_port_num(port as i64) {
            errs.push(FieldError::invalid(
                child(&child(path, "grpc"), "port"),
                port,
                m,
            ));
        }
    }
    if take(&mut errs, "sleep", h.sleep.is_some()) {
        let secs = h.sleep.unwrap().seconds;
        if let Some(g) = grace.filter(|g| secs < 0 || secs > *g) {
            errs.push(FieldError::invalid(
                child(path, "sleep"),
                secs,
                format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
            ));
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

pub(crate) fn validate_lifecycle_handler(
    h: &LifecycleHandler,
    grace: Option<i64>,
    path: &str,
) -> Errors {
    let handler = Handler {
        exec: h.exec.as_ref(),
        http_get: h.http_get.as_ref(),
        tcp_socket: h.tcp_socket.as_ref(),
        grpc: None,
        sleep: h.sleep.as_ref(),
    };
    validate_handler(handler, grace, path)
}

/// Which probe is checked: liveness and startup probes must have `successThreshold` 1,
/// readiness probes may not set `terminationGracePeriodSeconds`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

pub(crate) fn validate_probe(
    probe: &Probe,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &str,
) -> Errors {
    let handler = Handler {
        exec: probe.exec.as_ref(),
        http_get: probe.http_get.as_ref(),
        tcp_socket: probe.tcp_socket.as_ref(),
        grpc: probe.grpc.as_ref(),
        sleep: None,
    };
    let mut errs = validate_handler(handler, grace, path);
    for (field, v) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        errs.extend(nonnegative(v.unwrap_or(0) as i64, &child(path, field)));
    }
    if let Some(t) = probe.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(
            child(path, "terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let s = probe.success_threshold.unwrap_or(0);
            if s != 1 {
                errs.push(FieldError::invalid(
                    child(path, "successThreshold"),
                    s,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// Lifecycle and probes, allowed on app containers and sidecars.
pub(crate) fn validate_lifecycle_and_probes(
    c: &Container,
    grace: Option<i64>,
    path: &str,
) -> Errors {
    let mut errs = Errors::new();
    if let Some(l) = &c.lifecycle {
        let lp = child(path, "lifecycle");
        if let Some(h) = &l.post_start {
            errs.extend(validate_lifecycle_handler(
                h,
                grace,
                &child(&lp, "postStart"),
            ));
        }
        if let Some(h) = &l.pre_stop {
            errs.extend(validate_lifecycle_handler(h, grace, &child(&lp, "preStop")));
        }
    }
    for (field, probe, kind) in [
        ("livenessProbe", &c.liveness_probe, ProbeKind::Liveness),
        ("readinessProbe", &c.readiness_probe, ProbeKind::Readiness),
        ("startupProbe", &c.startup_probe, ProbeKind::Startup),
    ] {
        if let Some(p) = probe {
            errs.extend(validate_probe(p, kind, grace, &child(path, field)));
        }
    }
    errs
}
