//! Requests the API server forwards to a node's agent: `pods/log` becomes the agent's
//! `/containerLogs/{namespace}/{pod}/{container}` endpoint, as upstream's apiserver does
//! with the kubelet.

use std::sync::Arc;

use axum::response::Response;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::registry::Registry;
use crate::request::{form_urlencoded, Query, Target};

/// Reaches node agents. `orca server` connects its own node in process and others over
/// the network.
#[async_trait::async_trait]
pub trait NodeConnector: Send + Sync + 'static {
    /// Sends `GET path_and_query` to the agent of `node` (the Node object) and returns its
    /// response, streamed.
    async fn get(&self, node: &Value, path_and_query: &str) -> ApiResult<Response>;
}

/// The log query parameters the agent understands, passed through.
const LOG_PARAMS: &[&str] = &[
    "follow",
    "previous",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "timestamps",
    "limitBytes",
];

/// `GET pods/{name}/log`.
pub async fn logs(
    reg: &Registry,
    nodes: Option<&Arc<dyn NodeConnector>>,
    t: &Target,
    name: &str,
    q: &Query,
) -> ApiResult<Response> {
    let (pod, _) = reg.get(t, name).await?;
    let container = pick_container(&pod, name, q.raw.get("container").map(String::as_str))?;
    let node_name = object::path(&pod, "spec.nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: the pod is not scheduled to a node yet"
        )));
    }
    let nodes_target = Target {
        resource: api::resources::find("", "v1", "nodes").expect("nodes are served"),
        namespace: None,
        name: Some(node_name.to_string()),
        subresource: None,
        verb: crate::request::Verb::Get,
    };
    let node = match reg.get(&nodes_target, node_name).await {
        Ok((n, _)) => n,
        Err(ApiError::NotFound { .. }) => {
            return Err(ApiError::bad_request(format!(
                "node {node_name} of pod {name} is not registered"
            )))
        }
        Err(e) => return Err(e),
    };
    let Some(nodes) = nodes else {
        return Err(ApiError::bad_request(format!(
            "no connection to node {node_name} is configured"
        )));
    };
    let ns = t.namespace.as_deref().unwrap_or("default");
    let params: Vec<String> = form_urlencoded(&encode_query(q))
        .into_iter()
        .filter(|(k, _)| LOG_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", urlencode(&v)))
        .collect();
    let path = format!(
        "/containerLogs/{ns}/{name}/{container}?{}",
        params.join("&")
    );
    nodes.get(&node, &path).await
}

fn encode_query(q: &Query) -> String {
    q.raw
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The container a log request means: the one named, or the only one.
fn pick_container(pod: &Value, name: &str, wanted: Option<&str>) -> ApiResult<String> {
    let names = |field: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (app, init, eph) = (
        names("containers"),
        names("initContainers"),
        names("ephemeralContainers"),
    );
    match wanted.filter(|w| !w.is_empty()) {
        Some(w) if app.iter().chain(&init).chain(&eph).any(|c| c == w) => Ok(w.to_string()),
        Some(w) => Err(ApiError::bad_request(format!(
            "container {w} is not valid for pod {name}"
        ))),
        None if app.len() == 1 => Ok(app[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                app.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_only_container_is_picked_and_ambiguity_names_the_choices() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(pick_container(&one, "p", None).unwrap(), "a");
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let e = pick_container(&two, "p", None).unwrap_err().to_string();
        assert_eq!(e, "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]");
        assert_eq!(pick_container(&two, "p", Some("i")).unwrap(), "i");
        assert!(pick_container(&two, "p", Some("zz")).is_err());
    }
}
