//! The data the agent and the runtime exchange.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A sandbox id (one per pod incarnation).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SandboxId(pub String);

/// A container id, unique on the node; shown as `orca://<id>` in pod status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerId(pub String);

impl std::fmt::Display for SandboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the agent knows of the pod a sandbox is for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// A `hostPort` mapping (portmap CNI plugin).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp", "udp" or "sctp".
    pub protocol: String,
    pub host_ip: Option<String>,
}

/// cgroup limits, in kernel units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// cpu.shares (v1) / converted to cpu.weight (v2); from requests.cpu.
    pub cpu_shares: Option<u64>,
    /// CFS quota and period in microseconds; from limits.cpu.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    /// Bytes; from limits.memory.
    pub memory_limit: Option<i64>,
    /// Max number of processes, if limited.
    pub pids_limit: Option<i64>,
}

/// How to build a pod's sandbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SandboxConfig {
    pub pod: PodRef,
    /// The pod's hostname (pod name, or spec.hostname) and optional subdomain.
    pub hostname: String,
    pub subdomain: Option<String>,
    pub host_network: bool,
    /// Share one PID namespace among the pod's containers (`shareProcessNamespace`).
    pub share_pid: bool,
    /// Extra `/etc/hosts` lines: (ip, hostnames) from `hostAliases`.
    pub host_aliases: Vec<(String, Vec<String>)>,
    /// The pod's resolv.conf content (the agent computes it from dnsPolicy/dnsConfig).
    pub resolv_conf: String,
    pub port_mappings: Vec<PortMapping>,
    /// The pod cgroup's limits (sum of containers', for Guaranteed/Burstable pods).
    pub resources: Resources,
    /// "Guaranteed", "Burstable" or "BestEffort": the cgroup parent, as kubelet's.
    pub qos_class: String,
    /// `/dev/shm` size in bytes (default 64 MiB).
    pub shm_size: Option<u64>,
    /// OCI runtime to use: None = the built-in libcontainer shim; Some("runc"/"crun").
    pub runtime_handler: Option<String>,
}

/// A created sandbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: SandboxId,
    pub pod: PodRef,
    /// The pod IP (None with host networking: the agent reports the node IP).
    pub ip: Option<IpAddr>,
    /// Path of the network namespace (e.g. `/proc/<pid>/ns/net`) for diagnostics.
    pub netns: Option<PathBuf>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A bind mount into a container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
    /// "private" (default), "rslave" (HostToContainer) or "rshared" (Bidirectional).
    pub propagation: Option<String>,
}

/// Linux security settings of a container (from pod and container securityContext).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Security {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub supplemental_groups: Vec<u32>,
    pub privileged: bool,
    pub read_only_root_fs: bool,
    pub allow_privilege_escalation: Option<bool>,
    /// Capability names without the CAP_ prefix, e.g. "NET_ADMIN", or "ALL".
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// Sysctls from the pod security context.
    pub sysctls: BTreeMap<String, String>,
}

/// How to create one container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The container's name in the pod.
    pub name: String,
    /// The restart count this incarnation has (0 for the first).
    pub attempt: u32,
    /// The image's unpacked layer directories, lowest first (overlay lowerdirs).
    pub image_layers: Vec<PathBuf>,
    /// The image reference and id, for status and labels.
    pub image: String,
    pub image_id: String,
    /// argv (already combined from image Entrypoint/Cmd and command/args, `$(VAR)`
    /// expanded by the agent).
    pub args: Vec<String>,
    /// `NAME=value`.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// The image's `User` when the security context does not set one ("uid", "uid:gid",
    /// or a name resolved from the rootfs's /etc/passwd).
    pub image_user: Option<String>,
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    pub security: Security,
    /// CRI-format log file for stdout/stderr (`<time> stdout|stderr F|P <line>`).
    pub log_path: PathBuf,
    /// Where the container's termination message is read from (host path bind-mounted at
    /// `terminationMessagePath`), created empty by the runtime if missing.
    pub termination_message_path: Option<PathBuf>,
    /// The container's `terminationMessagePath` the host file is bound to
    /// (default `/dev/termination-log`). Not bound again when `mounts` already has it.
    #[serde(default)]
    pub termination_message_container_path: Option<String>,
    pub tty: bool,
    pub stdin: bool,
}

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// A container's state as the runtime knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub id: ContainerId,
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
    pub pid: Option<u32>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Exit code (128 + signal when killed by a signal).
    pub exit_code: Option<i32>,
    /// "OOMKilled" when the kernel's OOM killer ended it, "Error"/"Completed" otherwise.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub image: String,
    pub image_id: String,
    pub log_path: PathBuf,
}

/// What `exec_sync` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A sandbox found on disk, for re-adoption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxState {
    pub sandbox: Sandbox,
    /// Whether its infra process (and so its namespaces) is still alive.
    pub ready: bool,
    pub containers: Vec<ContainerStatus>,
}
