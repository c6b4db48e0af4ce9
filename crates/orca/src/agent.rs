//! The node agent as `orca server` embeds it and `orca agent` runs it alone: the Linux
//! runtime, the image store, the kubelet, and its streaming endpoint.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Options of the node agent, shared by `orca server` and `orca agent`.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// The Node's name (default: this machine's hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's InternalIP (default: the source address of the default route).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Port of the node's streaming endpoint (logs), reported in the Node status.
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// The pod network (host-local IPAM on the `orca0` bridge).
    #[arg(long, default_value = "10.88.0.0/16")]
    pub pod_cidr: String,
}

impl AgentArgs {
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(hostname)
    }
}

/// This machine's hostname, lower-cased as a Node name must be.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A running agent: its task and the router of its streaming endpoint.
pub struct Agent {
    pub node_name: String,
    pub task: JoinHandle<Result<()>>,
    pub router: Router,
}

/// Starts the agent on `data_dir` with an API client.
pub fn start(
    data_dir: &Path,
    args: &AgentArgs,
    client: kube::Client,
    shutdown: CancellationToken,
) -> Result<Agent> {
    // The shim and overlayfs resolve these paths from other working directories, so a
    // relative `--data-dir` must become absolute here.
    let data_dir = &std::path::absolute(data_dir)
        .with_context(|| format!("resolving the data directory {}", data_dir.display()))?;
    let node_name = args.node_name();
    let orca_binary =
        std::env::current_exe().context("finding the orca binary to re-execute as the pod shim")?;
    let runtime_config = runtime::RuntimeConfig {
        root_dir: data_dir.join("runtime"),
        orca_binary,
        pod_cidr: args.pod_cidr.clone(),
        ..Default::default()
    };
    let runtime: Arc<dyn runtime::Runtime> = Arc::new(
        runtime::LinuxRuntime::new(runtime_config).context("starting the container runtime")?,
    );
    let images_dir = data_dir.join("images");
    let images: Arc<dyn kubelet::ImageService> = Arc::new(
        image::ImageStore::open(&images_dir)
            .with_context(|| format!("opening the image store {}", images_dir.display()))?,
    );
    let mut config = kubelet::KubeletConfig::new(&node_name, kubelet_dir(data_dir));
    config.port = args.kubelet_port;
    if let Some(ip) = args.node_ip {
        config.node_ip = ip;
    }
    let router = kubelet::server_router(config.data_dir.clone(), runtime.clone());
    let task = tokio::spawn(async move {
        kubelet::run(config, client, runtime, images, shutdown)
            .await
            .map_err(anyhow::Error::from)
    });
    Ok(Agent {
        node_name,
        task,
        router,
    })
}

/// Node-local agent state (pod dirs, logs).
fn kubelet_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("kubelet")
}

/// How the API server reaches node agents: its own node in process.
pub struct Nodes {
    pub local_name: Option<String>,
    pub local: Option<Router>,
}

#[async_trait::async_trait]
impl apiserver::NodeConnector for Nodes {
    async fn get(&self, node: &Value, path_and_query: &str) -> apiserver::ApiResult<Response> {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let (Some(local), Some(local_name)) = (&self.local, &self.local_name) {
            if name == local_name {
                let req = http::Request::get(path_and_query)
                    .body(axum::body::Body::empty())
                    .map_err(apiserver::ApiError::internal)?;
                let resp = local
                    .clone()
                    .oneshot(req)
                    .await
                    .map_err(apiserver::ApiError::internal)?;
                return Ok(resp.into_response());
            }
        }
        Err(apiserver::ApiError::bad_request(format!(
            "node {name} is not reachable from this server (remote node connections are not supported yet)"
        )))
    }
}

/// Options of `orca agent`: the node agent alone, against a remote API server.
#[derive(clap::Args, Debug, Clone)]
pub struct StandaloneArgs {
    /// The API server's URL, e.g. https://10.0.0.1:6443.
    #[arg(long)]
    pub server: String,
    /// A bearer token the server accepts.
    #[arg(long, env = "ORCA_TOKEN")]
    pub token: String,
    /// The server's CA certificate (PEM); without it the server's certificate is not verified.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Node-local state: runtime, images, pod directories and logs.
    #[arg(long, default_value = "/var/lib/orca")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub agent: AgentArgs,
}

/// `orca agent`: runs until `shutdown`; containers keep running after it.
pub async fn run_standalone(args: StandaloneArgs, shutdown: CancellationToken) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let ca = match &args.ca_cert {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => {
            tracing::warn!("no --ca-cert given: the API server's certificate is not verified");
            None
        }
    };
    let client = crate::client::remote(&args.server, &args.token, ca)?;
    let agent = start(&args.data_dir, &args.agent, client, shutdown)?;
    tracing::info!(node = %agent.node_name, server = %args.server, "node agent started");
    agent.task.await.context("the node agent panicked")?
}
