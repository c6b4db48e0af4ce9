//! Defaulting of pods and pod templates as upstream's `core/v1` defaults, conversion quirks
//! and the default admission plugins (ServiceAccount, Priority, DefaultTolerationSeconds)
//! do it, plus canonical quantities (`0.5` is stored as `500m`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EphemeralContainer, HTTPGetAction, Lifecycle,
    LifecycleHandler, ObjectFieldSelector, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceFieldSelector, ResourceRequirements, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity::ParsedQuantity;

pub(crate) const DEFAULT_TERMINATION_GRACE_PERIOD: i64 = 30;
pub(crate) const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
pub(crate) const DEFAULT_FILE_MODE: i32 = 0o644;

fn set_default<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

fn set_default_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_string());
    }
}

/// The tag an image reference resolves to: `None` when it is pinned by digest only,
/// `latest` when it names neither tag nor digest.
pub fn image_tag(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    match last_segment.split_once(':') {
        Some((_, tag)) => Some(tag.to_string()),
        None if digest.is_some() => None,
        None => Some("latest".to_string()),
    }
}

/// upstream `SetDefaults_Container`: `Always` for `:latest` or untagged images.
pub fn default_pull_policy(image: &str) -> &'static str {
    if !image.trim().is_empty() && image_tag(image.trim()).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    set_default_str(&mut h.path, "/");
    set_default_str(&mut h.scheme, "HTTP");
}

fn default_probe(p: &mut Option<Probe>) {
    let Some(p) = p else { return };
    if p.timeout_seconds.unwrap_or(0) == 0 {
        p.timeout_seconds = Some(1);
    }
    if p.period_seconds.unwrap_or(0) == 0 {
        p.period_seconds = Some(10);
    }
    if p.success_threshold.unwrap_or(0) == 0 {
        p.success_threshold = Some(1);
    }
    if p.failure_threshold.unwrap_or(0) == 0 {
        p.failure_threshold = Some(3);
    }
    if let Some(h) = &mut p.http_get {
        default_http_get(h);
    }
    if let Some(g) = &mut p.grpc {
        set_default(&mut g.service, String::new());
    }
}

fn default_handler(h: &mut Option<LifecycleHandler>) {
    if let Some(h) = h.as_mut().and_then(|h| h.http_get.as_mut()) {
        default_http_get(h);
    }
}

fn default_lifecycle(l: &mut Option<Lifecycle>) {
    if let Some(l) = l {
        default_handler(&mut l.post_start);
        default_handler(&mut l.pre_stop);
    }
}

fn default_field_ref(f: &mut ObjectFieldSelector) {
    set_default_str(&mut f.api_version, "v1");
}

fn default_resource_field_ref(r: &mut ResourceFieldSelector) {
    set_default(&mut r.divisor, Quantity("0".to_string()));
}

fn default_env(env: &mut Option<Vec<EnvVar>>) {
    for e in env.iter_mut().flatten() {
        if let Some(from) = &mut e.value_from {
            if let Some(f) = &mut from.field_ref {
                default_field_ref(f);
            }
            if let Some(r) = &mut from.resource_field_ref {
                default_resource_field_ref(r);
            }
        }
    }
}

fn default_ports(ports: &mut Option<Vec<ContainerPort>>) {
    for p in ports.iter_mut().flatten() {
        set_default_str(&mut p.protocol, "TCP");
    }
}

/// Every default a container gets, in pods and templates alike.
pub(crate) fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        c.image_pull_policy =
            Some(default_pull_policy(c.image.as_deref().unwrap_or("")).to_string());
    }
    set_default_str(&mut c.termination_message_path, "/dev/termination-log");
    set_default_str(&mut c.termination_message_policy, "File");
    default_ports(&mut c.ports);
    default_env(&mut c.env);
    default_probe(&mut c.liveness_probe);
    default_probe(&mut c.readiness_probe);
    default_probe(&mut c.startup_probe);
    default_lifecycle(&mut c.lifecycle);
    set_default(&mut c.resources, ResourceRequirements::default());
}

/// An ephemeral container viewed as a container (their common fields are identical).
pub(crate) fn ephemeral_as_container(e: &EphemeralContainer) -> Container {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("targetContainerName");
    }
    serde_json::from_value(v).unwrap_or_default()
}

fn container_into_ephemeral(c: &Container, target: Option<String>) -> EphemeralContainer {
    let mut e: EphemeralContainer =
        serde_json::from_value(serde_json::to_value(c).unwrap_or_default()).unwrap_or_default();
    e.target_container_name = target;
    e
}

fn default_volume(v: &mut Volume) {
    let mut source = serde_json::to_value(&*v).unwrap_or_default();
    if let Some(o) = source.as_object_mut() {
        o.remove("name");
        if o.is_empty() {
            v.empty_dir = Some(Default::default());
        }
    }
    if let Some(s) = &mut v.secret {
        set_default(&mut s.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(s) = &mut v.config_map {
        set_default(&mut s.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(d) = &mut v.downward_api {
        set_default(&mut d.default_mode, DEFAULT_FILE_MODE);
        for item in d.items.iter_mut().flatten() {
            if let Some(f) = &mut item.field_ref {
                default_field_ref(f);
            }
            if let Some(r) = &mut item.resource_field_ref {
                default_resource_field_ref(r);
            }
        }
    }
    if let Some(p) = &mut v.projected {
        set_default(&mut p.default_mode, DEFAULT_FILE_MODE);
        for s in p.sources.iter_mut().flatten() {
            if let Some(d) = &mut s.downward_api {
                for item in d.items.iter_mut().flatten() {
                    if let Some(f) = &mut item.field_ref {
                        default_field_ref(f);
                    }
                    if let Some(r) = &mut item.resource_field_ref {
                        default_resource_field_ref(r);
                    }
                }
            }
            if let Some(t) = &mut s.service_account_token {
                set_default(&mut t.expiration_seconds, 3600);
            }
        }
    }
    if let Some(h) = &mut v.host_path {
        set_default(&mut h.type_, String::new());
    }
}

/// v1 conversion keeps the deprecated `serviceAccount` in step with `serviceAccountName`.
fn sync_service_account(spec: &mut PodSpec) {
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty)
    {
        if let Some(sa) = spec.service_account.clone().filter(|s| !s.is_empty()) {
            spec.service_account_name = Some(sa);
        }
    }
    spec.service_account = spec.service_account_name.clone().filter(|s| !s.is_empty());
    if spec.service_account.is_none() {
        spec.service_account_name = None;
    }
}

/// upstream `SetDefaults_PodSpec` and everything nested in a pod spec; applies to pod
/// templates as well as pods.
pub(crate) fn default_pod_spec(spec: &mut PodSpec) {
    set_default_str(&mut spec.dns_policy, "ClusterFirst");
    set_default_str(&mut spec.restart_policy, "Always");
    set_default(&mut spec.security_context, PodSecurityContext::default());
    set_default(
        &mut spec.termination_grace_period_seconds,
        DEFAULT_TERMINATION_GRACE_PERIOD,
    );
    set_default_str(&mut spec.scheduler_name, DEFAULT_SCHEDULER_NAME);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        default_container(c);
    }
    for e in spec.ephemeral_containers.iter_mut().flatten() {
        let mut c = ephemeral_as_container(e);
        default_container(&mut c);
        *e = container_into_ephemeral(&c, e.target_container_name.clone());
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
    sync_service_account(spec);
}

fn default_host_network_ports(containers: &mut [Container]) {
    for p in containers
        .iter_mut()
        .flat_map(|c| c.ports.iter_mut().flatten())
    {
        if p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
}

fn requests_from_limits(c: &mut Container) {
    let Some(res) = &mut c.resources else { return };
    let Some(limits) = &res.limits else { return };
    let requests = res.requests.get_or_insert_with(BTreeMap::new);
    for (k, v) in limits {
        requests.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// upstream `SetDefaults_Pod`: the pod spec defaults plus what only a pod (not a template)
/// gets — requests copied from limits, `enableServiceLinks`, host-network host ports.
pub(crate) fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        requests_from_limits(c);
    }
    set_default(&mut spec.enable_service_links, true);
    if spec.host_network == Some(true) {
        default_host_network_ports(&mut spec.containers);
        if let Some(init) = &mut spec.init_containers {
            default_host_network_ports(init);
        }
    }
    // Pod-level resources are an alpha feature in 1.33, dropped while its gate is off.
    spec.resources = None;
}

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// The mutating admission plugins upstream runs on pod creation: ServiceAccount (default
/// account), Priority (priority from the class) and DefaultTolerationSeconds.
pub(crate) fn admit_new_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty)
    {
        spec.service_account_name = Some("default".to_string());
    }
    spec.service_account = spec.service_account_name.clone();

    let class_priority = match spec.priority_class_name.as_deref().unwrap_or("") {
        "" => Some(0),
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    };
    if let Some(p) = class_priority {
        set_default(&mut spec.priority, p);
        set_default_str(&mut spec.preemption_policy, "PreemptLowerPriority");
    }

    let tolerates = |taint: &str, tolerations: &[Toleration]| {
        tolerations.iter().any(|t| {
            let key = t.key.as_deref().unwrap_or("");
            let effect = t.effect.as_deref().unwrap_or("");
            (key == taint || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        })
    };
    let existing = spec.tolerations.clone().unwrap_or_default();
    let mut added = Vec::new();
    for taint in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        if !tolerates(taint, &existing) {
            added.push(Toleration {
                key: Some(taint.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoExecute".to_string()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
    if !added.is_empty() {
        spec.tolerations.get_or_insert_with(Vec::new).extend(added);
    }
}

fn canon_quantity(q: &mut Quantity) -> Result<(), String> {
    let parsed = ParsedQuantity::parse(&q.0).map_err(|e| e.to_string())?;
    q.0 = parsed.canonical();
    Ok(())
}

/// Canonicalise every quantity of a resource list; a malformed one is a decode error.
pub(crate) fn canon_resource_list(
    list: &mut Option<BTreeMap<String, Quantity>>,
) -> Result<(), String> {
    for q in list.iter_mut().flat_map(|l| l.values_mut()) {
        canon_quantity(q)?;
    }
    Ok(())
}

fn canon_requirements(r: &mut Option<ResourceRequirements>) -> Result<(), String> {
    if let Some(r) = r {
        canon_resource_list(&mut r.limits)?;
        canon_resource_list(&mut r.requests)?;
    }
    Ok(())
}

fn canon_env(env: &mut Option<Vec<EnvVar>>) -> Result<(), String> {
    for e in env.iter_mut().flatten() {
        if let Some(q) = e
            .value_from
            .as_mut()
            .and_then(|f| f.resource_field_ref.as_mut())
            .and_then(|r| r.divisor.as_mut())
        {
            canon_quantity(q)?;
        }
    }
    Ok(())
}

/// Parse and canonicalise every quantity in a pod spec (upstream fails such a body at
/// decoding, with HTTP 400).
pub(crate) fn canonicalize_pod_spec(spec: &mut PodSpec) -> Result<(), String> {
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        canon_requirements(&mut c.resources)?;
        canon_env(&mut c.env)?;
    }
    for e in spec.ephemeral_containers.iter_mut().flatten() {
        canon_requirements(&mut e.resources)?;
        canon_env(&mut e.env)?;
    }
    canon_resource_list(&mut spec.overhead)?;
    canon_requirements(&mut spec.resources)?;
    for v in spec.volumes.iter_mut().flatten() {
        if let Some(q) = v.empty_dir.as_mut().and_then(|e| e.size_limit.as_mut()) {
            canon_quantity(q)?;
        }
        let files = v
            .downward_api
            .iter_mut()
            .flat_map(|d| d.items.iter_mut().flatten())
            .chain(
                v.projected
                    .iter_mut()
                    .flat_map(|p| p.sources.iter_mut().flatten())
                    .flat_map(|s| {
                        s.downward_api
                            .iter_mut()
                            .flat_map(|d| d.items.iter_mut().flatten())
                    }),
            );
        for f in files {
            if let Some(q) = f
                .resource_field_ref
                .as_mut()
                .and_then(|r| r.divisor.as_mut())
            {
                canon_quantity(q)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapVolumeSource, HostPathVolumeSource, SecretVolumeSource,
    };

    fn container(image: &str) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            ..Default::default()
        }
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1.0"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
        assert_eq!(default_pull_policy("busybox:latest@sha256:abc"), "Always");
        assert_eq!(default_pull_policy(""), "IfNotPresent");
    }

    #[test]
    fn containers_get_upstream_defaults() {
        let mut c = container("nginx:1.27");
        c.ports = Some(vec![ContainerPort {
            container_port: 80,
            ..Default::default()
        }]);
        c.liveness_probe = Some(Probe {
            http_get: Some(HTTPGetAction {
                port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80),
                ..Default::default()
            }),
            ..Default::default()
        });
        default_container(&mut c);
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        assert_eq!(
            c.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        let p = c.liveness_probe.unwrap();
        assert_eq!(
            (
                p.timeout_seconds,
                p.period_seconds,
                p.success_threshold,
                p.failure_threshold
            ),
            (Some(1), Some(10), Some(1), Some(3))
        );
        let h = p.http_get.unwrap();
        assert_eq!(
            (h.path.as_deref(), h.scheme.as_deref()),
            (Some("/"), Some("HTTP"))
        );
        assert_eq!(c.resources, Some(ResourceRequirements::default()));
    }

    #[test]
    fn pod_defaults_and_requests_from_limits() {
        let mut c = container("busybox:1.36");
        c.resources = Some(ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("cpu".into(), Quantity("500m".into())),
                ("memory".into(), Quantity("128Mi".into())),
            ])),
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("250m".into()))])),
            claims: None,
        });
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![c],
                ..Default::default()
            }),
            ..Default::default()
        };
        default_pod(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.enable_service_links, Some(true));
        assert!(spec.security_context.is_some());
        let req = spec.containers[0]
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap();
        assert_eq!(req["cpu"].0, "250m");
        assert_eq!(req["memory"].0, "128Mi");
    }

    #[test]
    fn templates_do_not_get_pod_only_defaults() {
        let mut spec = PodSpec {
            containers: vec![container("busybox")],
            ..Default::default()
        };
        default_pod_spec(&mut spec);
        assert_eq!(spec.enable_service_links, None);
        assert_eq!(spec.service_account, None);
    }

    #[test]
    fn volumes_get_modes_and_a_source() {
        let mut spec = PodSpec {
            volumes: Some(vec![
                Volume {
                    name: "a".into(),
                    ..Default::default()
                },
                Volume {
                    name: "b".into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some("s".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Volume {
                    name: "c".into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: "cm".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Volume {
                    name: "d".into(),
                    host_path: Some(HostPathVolumeSource {
                        path: "/x".into(),
                        type_: None,
                    }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        default_pod_spec(&mut spec);
        let v = spec.volumes.unwrap();
        assert!(v[0].empty_dir.is_some());
        assert_eq!(v[1].secret.as_ref().unwrap().default_mode, Some(420));
        assert_eq!(v[2].config_map.as_ref().unwrap().default_mode, Some(420));
        assert_eq!(v[3].host_path.as_ref().unwrap().type_.as_deref(), Some(""));
    }

    #[test]
    fn new_pods_get_service_account_priority_and_tolerations() {
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container("busybox")],
                ..Default::default()
            }),
            ..Default::default()
        };
        admit_new_pod(&mut pod);
        let spec = pod.spec.unwrap();
        assert_eq!(spec.service_account_name.as_deref(), Some("default"));
        assert_eq!(spec.service_account.as_deref(), Some("default"));
        assert_eq!(spec.priority, Some(0));
        assert_eq!(
            spec.preemption_policy.as_deref(),
            Some("PreemptLowerPriority")
        );
        let t = spec.tolerations.unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].key.as_deref(), Some(NOT_READY_TAINT));
        assert_eq!(t[1].toleration_seconds, Some(300));
    }

    #[test]
    fn a_blanket_toleration_suppresses_the_defaults() {
        let mut pod = Pod {
            spec: Some(PodSpec {
                tolerations: Some(vec![Toleration {
                    operator: Some("Exists".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        admit_new_pod(&mut pod);
        assert_eq!(pod.spec.unwrap().tolerations.unwrap().len(), 1);
    }

    #[test]
    fn quantities_are_canonicalised_or_refused() {
        let mut c = container("busybox");
        c.resources = Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("0.5".into()))])),
            ..Default::default()
        });
        let mut spec = PodSpec {
            containers: vec![c],
            ..Default::default()
        };
        canonicalize_pod_spec(&mut spec).unwrap();
        assert_eq!(
            spec.containers[0]
                .resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap()["cpu"]
                .0,
            "500m"
        );
        spec.containers[0]
            .resources
            .as_mut()
            .unwrap()
            .requests
            .as_mut()
            .unwrap()
            .insert("memory".into(), Quantity("lots".into()));
        assert!(canonicalize_pod_spec(&mut spec)
            .unwrap_err()
            .starts_with("quantities must match"));
    }

    #[test]
    fn service_account_fields_are_kept_in_step() {
        let mut spec = PodSpec {
            service_account: Some("builder".into()),
            ..Default::default()
        };
        default_pod_spec(&mut spec);
        assert_eq!(spec.service_account_name.as_deref(), Some("builder"));
        assert_eq!(spec.service_account.as_deref(), Some("builder"));
    }
}
