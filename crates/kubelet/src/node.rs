//! The node's own object: registration (labels, capacity and allocatable, addresses,
//! nodeInfo, daemon endpoints) and the periodic status with its heartbeat conditions —
//! computed every `node_status_update_frequency`, posted when something besides the
//! heartbeat changed or `node_status_report_frequency` passed (upstream semantics).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::clock::k8s_time;
use crate::{Error, KubeletConfig, Result};

/// Memory below which the node reports MemoryPressure (upstream's default hard eviction
/// threshold `memory.available<100Mi`).
const MEMORY_PRESSURE_BYTES: u64 = 100 << 20;
/// Free share of the data directory's filesystem below which it reports DiskPressure.
const DISK_PRESSURE_PERCENT: u64 = 10;

/// What the node is, read once at start.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFacts {
    pub capacity: BTreeMap<String, Quantity>,
    pub info: NodeSystemInfo,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A `/proc/meminfo` field in bytes.
pub fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// `PRETTY_NAME` of an os-release file.
pub fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// The Go architecture name of this build.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Total and available bytes of the filesystem holding `path`.
fn fs_bytes(path: &Path) -> Option<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = s.fragment_size() as u64;
    Some((s.blocks() as u64 * frag, s.blocks_available() as u64 * frag))
}

/// Reads the node's facts from the host.
pub fn gather(config: &KubeletConfig) -> Result<NodeFacts> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| Error::Node(format!("reading /proc/meminfo: {e}")))?;
    let memory = meminfo_bytes(&meminfo, "MemTotal")
        .ok_or_else(|| Error::Node("no MemTotal in /proc/meminfo".into()))?;
    let (disk, _) = fs_bytes(&config.data_dir).unwrap_or((0, 0));
    let q = |s: String| Quantity(s);
    let capacity = BTreeMap::from([
        ("cpu".to_string(), q(cpus.to_string())),
        ("memory".to_string(), q(format!("{}Ki", memory / 1024))),
        ("pods".to_string(), q(config.max_pods.to_string())),
        (
            "ephemeral-storage".to_string(),
            q(format!("{}Ki", disk / 1024)),
        ),
        ("hugepages-1Gi".to_string(), q("0".into())),
        ("hugepages-2Mi".to_string(), q("0".into())),
    ]);
    let machine_id = read_trimmed("/etc/machine-id");
    let uuid = read_trimmed("/sys/class/dmi/id/product_uuid").to_lowercase();
    let info = NodeSystemInfo {
        architecture: go_arch().into(),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        container_runtime_version: format!("orca://{}", config.runtime_version),
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
        kube_proxy_version: String::new(),
        kubelet_version: config.kubelet_version.clone(),
        machine_id: machine_id.clone(),
        operating_system: "linux".into(),
        os_image: os_image(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
        system_uuid: if uuid.is_empty() { machine_id } else { uuid },
        ..Default::default()
    };
    Ok(NodeFacts { capacity, info })
}

/// The pressure conditions' truth: (memory, disk).
fn pressures(config: &KubeletConfig) -> (bool, bool) {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo_bytes(&meminfo, "MemAvailable").is_some_and(|a| a < MEMORY_PRESSURE_BYTES);
    let disk = fs_bytes(&config.data_dir)
        .is_some_and(|(total, avail)| total > 0 && avail * 100 < total * DISK_PRESSURE_PERCENT);
    (memory, disk)
}

/// The Node's labels.
pub fn node_labels(config: &KubeletConfig) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("beta.kubernetes.io/arch".to_string(), go_arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), go_arch().to_string()),
        (
            "kubernetes.io/hostname".to_string(),
            config.hostname.clone(),
        ),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
    ]);
    labels.extend(config.labels.clone());
    labels
}

/// The node conditions with transition times kept while their status holds.
#[derive(Default)]
pub struct Conditions {
    transitions: BTreeMap<String, (String, DateTime<Utc>)>,
}

impl Conditions {
    fn make(
        &mut self,
        type_: &str,
        ok: bool,
        reason: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> NodeCondition {
        let status = if ok { "True" } else { "False" }.to_string();
        let since = match self.transitions.get(type_) {
            Some((s, t)) if *s == status => *t,
            _ => {
                self.transitions
                    .insert(type_.to_string(), (status.clone(), now));
                now
            }
        };
        NodeCondition {
            type_: type_.into(),
            status,
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_heartbeat_time: Some(k8s_time(now)),
            last_transition_time: Some(k8s_time(since)),
        }
    }
}

/// The node's status now.
pub fn node_status(
    config: &KubeletConfig,
    facts: &NodeFacts,
    conds: &mut Conditions,
    memory_pressure: bool,
    disk_pressure: bool,
    now: DateTime<Utc>,
) -> NodeStatus {
    let conditions = vec![
        if memory_pressure {
            conds.make(
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                now,
            )
        } else {
            conds.make(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                now,
            )
        },
        if disk_pressure {
            conds.make(
                "DiskPressure",
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
                now,
            )
        } else {
            conds.make(
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                now,
            )
        },
        conds.make(
            "PIDPressure",
            false,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            now,
        ),
        conds.make(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
            now,
        ),
    ];
    NodeStatus {
        capacity: Some(facts.capacity.clone()),
        allocatable: Some(facts.capacity.clone()),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: config.node_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: config.hostname.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: config.port as i32,
            }),
        }),
        node_info: Some(facts.info.clone()),
        ..Default::default()
    }
}

/// The status without heartbeat times, to tell real changes from heartbeats.
fn without_heartbeats(s: &NodeStatus) -> NodeStatus {
    let mut s = s.clone();
    for c in s.conditions.iter_mut().flatten() {
        c.last_heartbeat_time = None;
    }
    s
}

/// Creates the Node (or takes over an existing one: labels and status are updated).
pub async fn register(
    client: &kube::Client,
    config: &KubeletConfig,
    facts: &NodeFacts,
    conds: &mut Conditions,
) -> Result<Node> {
    let api: Api<Node> = Api::all(client.clone());
    let (memory, disk) = pressures(config);
    let status = node_status(config, facts, conds, memory, disk, Utc::now());
    let node = Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(node_labels(config)),
            ..Default::default()
        },
        spec: Some(Default::default()),
        status: Some(status.clone()),
    };
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = json!({"metadata": {"labels": node_labels(config)}});
            api.patch(
                &config.node_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?
        }
        Err(e) => return Err(e.into()),
    };
    let patch = json!({"status": status});
    let updated = api
        .patch_status(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    tracing::info!(node = %config.node_name, uid = ?created.metadata.uid, "node registered");
    Ok(updated)
}

/// Each condition's type and status, in a stable order.
fn condition_states(status: Option<&NodeStatus>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = status
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| (c.type_.clone(), c.status.clone()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Posts the node status until `shutdown`.
pub async fn status_loop(
    client: kube::Client,
    config: KubeletConfig,
    facts: NodeFacts,
    mut conds: Conditions,
    shutdown: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut last: Option<NodeStatus> = None;
    let mut last_report = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(
        config
            .node_status_update_frequency
            .max(Duration::from_millis(100)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (memory, disk) = pressures(&config);
        let status = node_status(&config, &facts, &mut conds, memory, disk, Utc::now());
        // Compared with what the server holds too, not only with the last report: the
        // node lifecycle controller may have set Ready=Unknown while this agent was away.
        let server = api
            .get_status(&config.node_name)
            .await
            .ok()
            .and_then(|n| n.status);
        let changed = last
            .as_ref()
            .is_none_or(|l| without_heartbeats(l) != without_heartbeats(&status))
            || condition_states(server.as_ref()) != condition_states(Some(&status));
        if !changed && last_report.elapsed() < config.node_status_report_frequency {
            continue;
        }
        let patch = json!({"status": status});
        match api
            .patch_status(
                &config.node_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                last = Some(status);
                last_report = tokio::time::Instant::now();
            }
            Err(e) => {
                tracing::warn!(node = %config.node_name, error = %e, "updating the node status failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn host_facts_parse() {
        let meminfo = "MemTotal:        8046616 kB\nMemFree:          512000 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemTotal"), Some(8046616 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable"), Some(4000000 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "Nope"), None);
        assert_eq!(
            os_image("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert!(["amd64", "arm64"].contains(&go_arch()) || !go_arch().is_empty());
    }

    #[test]
    fn node_status_reports_capacity_addresses_info_and_heartbeat_conditions() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = KubeletConfig::new("n1", tmp.path());
        config.node_ip = "10.0.0.5".parse().unwrap();
        config.port = 10250;
        let facts = gather(&config).unwrap();
        assert_eq!(facts.capacity["pods"].0, "110");
        assert!(facts.capacity["memory"].0.ends_with("Ki"));
        assert!(facts.capacity["cpu"].0.parse::<u32>().unwrap() >= 1);
        assert!(facts.info.container_runtime_version.starts_with("orca://"));
        assert_eq!(facts.info.kubelet_version, "v1.33.0");
        assert_eq!(facts.info.operating_system, "linux");
        let mut conds = Conditions::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let s = node_status(&config, &facts, &mut conds, false, false, t0);
        let types: Vec<&str> = s
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            vec!["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        let ready = s.conditions.as_ref().unwrap().last().unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("True", Some("KubeletReady"))
        );
        assert_eq!(s.addresses.as_ref().unwrap()[0].address, "10.0.0.5");
        assert_eq!(s.addresses.as_ref().unwrap()[1].type_, "Hostname");
        assert_eq!(
            s.daemon_endpoints
                .clone()
                .unwrap()
                .kubelet_endpoint
                .unwrap()
                .port,
            10250
        );
        // A heartbeat later: heartbeat moves, transition stays; pressure flips it.
        let t1 = t0 + chrono::Duration::seconds(10);
        let s1 = node_status(&config, &facts, &mut conds, false, false, t1);
        let r1 = s1.conditions.as_ref().unwrap().last().unwrap();
        assert_eq!(r1.last_heartbeat_time, Some(k8s_time(t1)));
        assert_eq!(r1.last_transition_time, Some(k8s_time(t0)));
        assert_eq!(without_heartbeats(&s), without_heartbeats(&s1));
        let s2 = node_status(&config, &facts, &mut conds, true, false, t1);
        let m = &s2.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (m.status.as_str(), m.last_transition_time.clone()),
            ("True", Some(k8s_time(t1)))
        );
        let labels = node_labels(&config);
        assert_eq!(labels["kubernetes.io/hostname"], "n1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
    }
}
