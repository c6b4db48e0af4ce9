//! The `orca` binary: subcommands, configuration and wiring. Logic lives in the crates.

mod agent;
mod client;
mod image_cmd;
mod kubeconfig;
mod serve;
mod server;
mod tls;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// mimalloc for the server and agent, the C library's allocator in per-pod shims.
#[global_allocator]
static ALLOC: runtime::ProcessAllocator = runtime::ProcessAllocator;

/// orca: a Kubernetes-compatible pod platform in one binary.
#[derive(Parser, Debug)]
#[command(name = "orca", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the API server (and, on one machine, everything else).
    Server(server::ServerArgs),
    /// Run the node agent alone, against a remote API server.
    Agent(agent::StandaloneArgs),
    /// Simulated nodes (like kubemark's hollow nodes) against a server, for load tests.
    HollowNodes(HollowArgs),
    /// Manage the node's images.
    Image(image_cmd::ImageArgs),
}

fn main() -> Result<()> {
    // Re-executed runtime modes (per-pod shim, infra process) run before any thread exists.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = runtime::reexec_main(&args) {
        std::process::exit(code);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Command::Image(args) = cli.command {
        return image_cmd::run(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            on_signal.cancel();
        });
        match cli.command {
            Command::Server(args) => server::run(args, shutdown).await,
            Command::Agent(args) => agent::run_standalone(args, shutdown).await,
            Command::HollowNodes(args) => run_hollow(args, shutdown).await,
            Command::Image(_) => unreachable!("handled before the runtime starts"),
        }
    })
}

/// Options of `orca hollow-nodes`.
#[derive(clap::Args, Debug)]
struct HollowArgs {
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// The API server's URL.
    #[arg(long)]
    server: String,
    /// A bearer token the server accepts.
    #[arg(long, env = "ORCA_TOKEN")]
    token: String,
    /// The server's CA certificate (PEM); without it the certificate is not verified.
    #[arg(long)]
    ca_cert: Option<std::path::PathBuf>,
    /// Nodes are named PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "hollow")]
    prefix: String,
    /// Capacity of each node, e.g. cpu=32,memory=128Gi,pods=110.
    #[arg(long)]
    capacity: Option<String>,
    /// Labels of each node, e.g. zone=a,tier=test.
    #[arg(long)]
    labels: Option<String>,
}

async fn run_hollow(args: HollowArgs, shutdown: CancellationToken) -> Result<()> {
    let ca = args.ca_cert.as_ref().map(std::fs::read).transpose()?;
    let client = client::remote(&args.server, &args.token, ca)?;
    let capacity = match &args.capacity {
        Some(c) => hollow::parse_capacity(c).map_err(anyhow::Error::msg)?,
        None => hollow::default_capacity(),
    };
    let labels = match &args.labels {
        Some(l) => hollow::parse_labels(l).map_err(anyhow::Error::msg)?,
        None => Default::default(),
    };
    hollow::run_hollow_nodes(client, args.count, &args.prefix, capacity, labels, shutdown).await?;
    Ok(())
}
