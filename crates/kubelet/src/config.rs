//! The node agent's configuration.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::volumes::{LinuxHost, VolumeHost};

/// How the node agent runs.
#[derive(Clone)]
pub struct KubeletConfig {
    /// The Node's name.
    pub node_name: String,
    /// Node-local state: `<data_dir>/pods/...` (logs, volumes).
    pub data_dir: PathBuf,
    /// The node's InternalIP, reported as hostIP (and as podIP of host-network pods).
    pub node_ip: IpAddr,
    /// The node's Hostname address.
    pub hostname: String,
    /// Port of the node's streaming endpoint (`daemonEndpoints.kubeletEndpoint.Port`).
    pub port: u16,
    /// Labels the Node gets besides the well-known ones (`kubernetes.io/hostname`, ...).
    pub labels: BTreeMap<String, String>,
    /// The `pods` capacity of the node.
    pub max_pods: u32,
    /// Cluster DNS servers for `dnsPolicy: ClusterFirst`; empty: the host's resolv.conf.
    pub cluster_dns: Vec<IpAddr>,
    pub cluster_domain: String,
    /// `nodeInfo.kubeletVersion`: the Kubernetes version the API implements.
    pub kubelet_version: String,
    /// The version in `nodeInfo.containerRuntimeVersion` (`orca://<version>`).
    pub runtime_version: String,
    /// How often the node status is computed (heartbeat granularity).
    pub node_status_update_frequency: Duration,
    /// How often the node status is posted when nothing changed.
    pub node_status_report_frequency: Duration,
    /// The Lease's duration; it is renewed every quarter of it.
    pub lease_duration: Duration,
    /// How often every pod worker re-syncs even without events (refreshes volume files).
    pub resync_period: Duration,
    /// Privileged volume operations (tmpfs mounts, chown).
    pub volume_host: Arc<dyn VolumeHost>,
}

impl std::fmt::Debug for KubeletConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletConfig")
            .field("node_name", &self.node_name)
            .field("data_dir", &self.data_dir)
            .field("node_ip", &self.node_ip)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The Kubernetes version the node reports, the one k8s-openapi's `v1_33` implements.
pub const KUBELET_VERSION: &str = "v1.33.0";

impl KubeletConfig {
    /// Defaults for a node named `node_name` keeping its state in `data_dir`; the node IP
    /// is the address of the default route's interface (loopback if there is none).
    pub fn new(node_name: &str, data_dir: impl Into<PathBuf>) -> KubeletConfig {
        KubeletConfig {
            node_name: node_name.to_string(),
            data_dir: data_dir.into(),
            node_ip: default_node_ip(),
            hostname: node_name.to_string(),
            port: 10250,
            labels: BTreeMap::new(),
            max_pods: 110,
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            kubelet_version: KUBELET_VERSION.into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            lease_duration: Duration::from_secs(40),
            resync_period: Duration::from_secs(60),
            volume_host: Arc::new(LinuxHost),
        }
    }
}

/// The source address of the default route (no packet is sent).
pub fn default_node_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect("192.0.2.1:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}
