//! Scenario manifests and what a test reads off a pod: phase, container states, IP,
//! conditions; and HTTP to what a pod serves.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde_json::Value;

use crate::common::scenarios_dir;
use crate::runtime_support;

/// The documents of a scenario file, as JSON.
pub fn scenario(file: &str) -> Vec<Value> {
    let path = scenarios_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(d).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The Pod of a scenario file.
pub fn scenario_pod(file: &str) -> Value {
    scenario(file)
        .into_iter()
        .find(|d| d["kind"] == "Pod")
        .unwrap_or_else(|| panic!("{file} has no Pod"))
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The status of container `name` (app or init).
pub fn status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let s = pod.status.as_ref()?;
    s.container_statuses
        .iter()
        .chain(s.init_container_statuses.iter())
        .flatten()
        .find(|c| c.name == name)
}

/// The status of container `name`, which must exist.
pub fn must<'a>(pod: &'a Pod, name: &str) -> &'a ContainerStatus {
    status(pod, name).unwrap_or_else(|| {
        panic!(
            "no status of container {name}: {}",
            serde_json::to_string_pretty(&pod.status).unwrap()
        )
    })
}

pub fn is_running(pod: &Pod, name: &str) -> bool {
    status(pod, name)
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some())
}

/// (exit code, reason) of container `name` if it is terminated.
pub fn terminated(pod: &Pod, name: &str) -> Option<(i32, String)> {
    let t = status(pod, name)?.state.as_ref()?.terminated.as_ref()?;
    Some((t.exit_code, t.reason.clone().unwrap_or_default()))
}

/// (reason, message) of container `name` if it is waiting.
pub fn waiting(pod: &Pod, name: &str) -> Option<(String, String)> {
    let w = status(pod, name)?.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.clone().unwrap_or_default(),
        w.message.clone().unwrap_or_default(),
    ))
}

pub fn restarts(pod: &Pod, name: &str) -> i32 {
    status(pod, name).map_or(0, |c| c.restart_count)
}

pub fn pod_ip(pod: &Pod) -> IpAddr {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .expect("status.podIP")
        .parse()
        .unwrap()
}

/// A pod's condition status ("True", "False", "" when absent).
pub fn condition(pod: &Pod, type_: &str) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// GET http://ip:port/path until it answers (up to `timeout`), the body.
pub async fn http_get(ip: IpAddr, port: u16, path: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let path_owned = path.to_string();
        match tokio::task::spawn_blocking(move || runtime_support::http_get(ip, port, &path_owned))
            .await
            .unwrap()
        {
            Ok(body) => return body,
            Err(e) if Instant::now() > deadline => {
                panic!("GET http://{ip}:{port}{path}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
