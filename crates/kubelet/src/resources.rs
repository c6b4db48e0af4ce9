//! Kubernetes resource requests and limits in kernel units: cpu shares from requests, CFS
//! quota from limits, memory limits, for each container and for the pod cgroup (upstream
//! `cm.MilliCPUToShares`, `MilliCPUToQuota`, `ResourceConfigForPod`).

use std::collections::BTreeMap;

use api::quantity::ParsedQuantity;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use runtime::Resources;

/// The CFS period the agent uses, in microseconds.
pub const CPU_PERIOD: u64 = 100_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;
const MIN_QUOTA: i64 = 1000;

/// cpu.shares for a number of millicores.
pub fn milli_cpu_to_shares(milli: i128) -> u64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    ((milli * 1024 / 1000) as u64).clamp(MIN_SHARES, MAX_SHARES)
}

/// CFS quota for a number of millicores over `period`; `None` for no limit.
pub fn milli_cpu_to_quota(milli: i128, period: u64) -> Option<i64> {
    if milli <= 0 {
        return None;
    }
    Some(((milli * period as i128 / 1000) as i64).max(MIN_QUOTA))
}

fn get(list: Option<&BTreeMap<String, Quantity>>, name: &str) -> Option<ParsedQuantity> {
    list.and_then(|l| l.get(name))
        .and_then(|q| ParsedQuantity::parse(&q.0).ok())
        .filter(|q| !q.is_zero())
}

/// A container's cgroup settings.
pub fn container_resources(c: &Container) -> Resources {
    let res = c.resources.as_ref();
    let requests = res.and_then(|r| r.requests.as_ref());
    let limits = res.and_then(|r| r.limits.as_ref());
    let cpu_limit = get(limits, "cpu");
    let cpu_request = get(requests, "cpu").or(cpu_limit);
    let quota = cpu_limit.and_then(|l| milli_cpu_to_quota(l.milli_value(), CPU_PERIOD));
    Resources {
        cpu_shares: Some(milli_cpu_to_shares(
            cpu_request.map_or(0, |q| q.milli_value()),
        )),
        cpu_quota: quota,
        cpu_period: quota.map(|_| CPU_PERIOD),
        memory_limit: get(limits, "memory").map(|q| q.value() as i64),
        pids_limit: None,
    }
}

/// The pod's limit of `name`: the larger of the app containers' (and sidecars') sum and any
/// init container's peak, as upstream `PodLimits`; `None` unless every container sets it.
fn pod_limit(spec: &PodSpec, name: &str) -> Option<ParsedQuantity> {
    let limit = |c: &Container| get(c.resources.as_ref().and_then(|r| r.limits.as_ref()), name);
    let mut sum = ParsedQuantity::zero();
    for c in &spec.containers {
        sum = sum.add(&limit(c)?);
    }
    let mut sidecars = ParsedQuantity::zero();
    let mut peak = ParsedQuantity::zero();
    for c in spec.init_containers.iter().flatten() {
        let own = limit(c)?;
        if api::pod::is_restartable_init_container(c) {
            sum = sum.add(&own);
            sidecars = sidecars.add(&own);
            peak = peak.max(sidecars);
        } else {
            peak = peak.max(own.add(&sidecars));
        }
    }
    Some(sum.max(peak))
}

/// The pod cgroup's settings by QoS class.
pub fn pod_resources(spec: &PodSpec) -> Resources {
    let qos = api::pod::qos_class(spec);
    if qos == "BestEffort" {
        return Resources {
            cpu_shares: Some(MIN_SHARES),
            ..Default::default()
        };
    }
    let requests = api::pod::effective_requests(spec);
    let shares = milli_cpu_to_shares(requests.get("cpu").map_or(0, |q| q.milli_value()));
    let quota =
        pod_limit(spec, "cpu").and_then(|q| milli_cpu_to_quota(q.milli_value(), CPU_PERIOD));
    Resources {
        cpu_shares: Some(shares),
        cpu_quota: quota,
        cpu_period: quota.map(|_| CPU_PERIOD),
        memory_limit: pod_limit(spec, "memory").map(|q| q.value() as i64),
        pids_limit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn container_limits_become_quota_and_memory_and_requests_shares() {
        // 11-resources.yaml: requests 0.5 cpu, limits 1 cpu and 128Mi.
        let r = container_resources(&container(json!({"name": "c", "resources": {
            "requests": {"cpu": "0.5"}, "limits": {"memory": "128Mi", "cpu": "1"}}})));
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!(r.cpu_quota, Some(100_000));
        assert_eq!(r.cpu_period, Some(100_000));
        assert_eq!(r.memory_limit, Some(134_217_728));
        let none = container_resources(&container(json!({"name": "c"})));
        assert_eq!(
            none,
            Resources {
                cpu_shares: Some(2),
                ..Default::default()
            }
        );
        let limit_only = container_resources(&container(
            json!({"name": "c", "resources": {"limits": {"cpu": "250m"}}}),
        ));
        assert_eq!(limit_only.cpu_shares, Some(256));
        assert_eq!(limit_only.cpu_quota, Some(25_000));
        assert_eq!(milli_cpu_to_quota(1, CPU_PERIOD), Some(1000));
    }

    #[test]
    fn pod_cgroup_follows_the_qos_class() {
        let spec = |v: serde_json::Value| -> PodSpec { serde_json::from_value(v).unwrap() };
        let best = pod_resources(&spec(json!({"containers": [{"name": "a"}]})));
        assert_eq!(
            best,
            Resources {
                cpu_shares: Some(2),
                ..Default::default()
            }
        );
        let burst = pod_resources(&spec(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "64Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m"}}}]})));
        assert_eq!(burst.cpu_shares, Some(1024));
        assert_eq!(burst.cpu_quota, None);
        assert_eq!(
            burst.memory_limit, None,
            "one container has no memory limit"
        );
        let guaranteed = pod_resources(&spec(json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}}]})));
        assert_eq!(
            guaranteed.cpu_quota,
            Some(200_000),
            "the init container's peak"
        );
        assert_eq!(guaranteed.memory_limit, Some(1 << 30));
        assert_eq!(guaranteed.cpu_shares, Some(2048));
    }
}
