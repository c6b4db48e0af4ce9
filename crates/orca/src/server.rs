//! `orca server`: the API server on an embedded SQLite store, with its TLS material and
//! admin kubeconfig, in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use store::Store;
use tokio_util::sync::CancellationToken;

/// Options of `orca server`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Where the store, TLS material and kubeconfig live.
    #[arg(long, default_value = "/var/lib/orca")]
    pub data_dir: PathBuf,
    /// Address to serve the Kubernetes API on (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// How often watches that allow bookmarks get one, in seconds.
    #[arg(long, default_value_t = 60, hide = true)]
    pub bookmark_interval_secs: u64,
    /// Run without the embedded node agent (an API-only server).
    #[arg(long)]
    pub disable_agent: bool,
    /// Run without the scheduler (pods are bound only by `spec.nodeName`).
    #[arg(long)]
    pub disable_scheduler: bool,
    /// Run without the controllers (node lifecycle).
    #[arg(long)]
    pub disable_controllers: bool,
    #[command(flatten)]
    pub agent: crate::agent::AgentArgs,
}

/// How much watch history is kept: compaction drops revisions older than this.
const HISTORY: Duration = Duration::from_secs(300);

pub async fn run(args: ServerArgs, shutdown: CancellationToken) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let db = args.data_dir.join("state.db");
    let store: Arc<dyn Store> = Arc::new(
        store::sqlite::SqliteStore::open(&db)
            .with_context(|| format!("opening the store {}", db.display()))?,
    );
    let material = crate::tls::ensure(&args.data_dir, &crate::tls::hosts_for(&args.listen))?;
    let config = apiserver::Config {
        admin_tokens: vec![material.admin_token.clone()],
        bookmark_interval: Duration::from_secs(args.bookmark_interval_secs.max(1)),
    };
    let server = apiserver::ApiServer::new(store.clone(), config)
        .await
        .context("starting the API server")?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut nodes = crate::agent::Nodes {
        local_name: None,
        local: None,
    };
    if !args.disable_agent {
        let client = server.client(&material.admin_token);
        let agent = crate::agent::start(&args.data_dir, &args.agent, client, shutdown.clone())?;
        tracing::info!(node = %agent.node_name, "node agent started");
        nodes.local_name = Some(agent.node_name.clone());
        nodes.local = Some(agent.router.clone());
        let task = agent.task;
        tasks.spawn(async move { task.await.context("the node agent panicked")? });
    }
    if !args.disable_scheduler {
        let client = server.client(&material.admin_token);
        let sd = shutdown.clone();
        tasks.spawn(async move {
            scheduler::run(scheduler::SchedulerConfig::default(), client, sd)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    if !args.disable_controllers {
        let client = server.client(&material.admin_token);
        let sd = shutdown.clone();
        tasks.spawn(async move {
            controllers::run(controllers::ControllersConfig::default(), client, sd)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    let server = server.with_node_connector(Arc::new(nodes));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let url = format!("https://{host}:{}", addr.port());
    let kubeconfig = args.data_dir.join("kubeconfig.yaml");
    crate::kubeconfig::write(
        &kubeconfig,
        &url,
        &std::fs::read(&material.ca_cert)?,
        &material.admin_token,
    )?;
    let tls = crate::tls::server_config(&material)?;

    let background = server.clone().run(shutdown.clone());
    tasks.spawn(async move { background.await.map_err(anyhow::Error::from) });
    tasks.spawn(compact_periodically(store.clone(), shutdown.clone()));
    tasks.spawn(crate::serve::serve_tls(
        listener,
        tls,
        server.router(),
        shutdown.clone(),
    ));
    tracing::info!(url = %url, kubeconfig = %kubeconfig.display(), "orca server is serving the Kubernetes API at {url}; kubeconfig: {}", kubeconfig.display());

    let mut result = Ok(());
    tokio::select! {
        _ = shutdown.cancelled() => {}
        Some(done) = tasks.join_next() => {
            result = done.context("a server task panicked").and_then(|r| r);
            shutdown.cancel();
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.context("a server task panicked").and_then(|r| r) {
            tracing::warn!(error = %e, "server task failed during shutdown");
        }
    }
    result
}

/// Compacts the store to the revision it had `HISTORY` ago, every minute, like the
/// upstream API server's compactor.
async fn compact_periodically(store: Arc<dyn Store>, shutdown: CancellationToken) -> Result<()> {
    let mut seen: std::collections::VecDeque<(std::time::Instant, i64)> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let now = std::time::Instant::now();
        seen.push_back((now, store.current_revision().await?));
        let mut target = None;
        while let Some(&(at, rev)) = seen.front() {
            if now.duration_since(at) < HISTORY {
                break;
            }
            target = Some(rev);
            seen.pop_front();
        }
        if let Some(rev) = target {
            if rev > store.compacted_revision().await? {
                store.compact(rev).await?;
                tracing::debug!(revision = rev, "compacted the store");
            }
        }
    }
}
