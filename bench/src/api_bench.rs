//! API benchmark against a real `orca server` over HTTPS: creates/s, get and list latency
//! at 1k and 10k pods, watch fan-out to 100 watchers, and the server's idle RSS.
//!
//!   cargo run --release -p orca-bench --bin api-bench [-- --orca PATH]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

struct Server {
    child: Child,
    kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(orca: &str) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let child = Command::new(orca)
        .args(["server", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        // The embedded agent runs (its idle memory is measured) but no pod is ever bound to
        // it: the benchmark's pods would otherwise start as real containers meanwhile.
        .arg("--disable-scheduler")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {orca}"))?;
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kubeconfig.exists() {
        anyhow::ensure!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    Ok(Server {
        child,
        kubeconfig,
        _dir: dir,
    })
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
    }))
    .expect("static pod")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what:<40} p50 {:>8.2} ms   p99 {:>8.2} ms   (n={})",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn create_pods(pods: &Api<Pod>, from: usize, to: usize, concurrency: usize) -> Result<f64> {
    let start = Instant::now();
    futures::stream::iter(from..to)
        .map(|i| {
            let pods = pods.clone();
            async move {
                pods.create(&PostParams::default(), &pod(&format!("p{i:05}")))
                    .await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok((to - from) as f64 / start.elapsed().as_secs_f64())
}

async fn gets(pods: &Api<Pod>, n: usize, upto: usize) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        pods.get(&format!("p{:05}", (i * 7919) % upto)).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

async fn lists(pods: &Api<Pod>, n: usize) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        pods.list(&ListParams::default()).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let orca = args
        .iter()
        .position(|a| a == "--orca")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "target/release/orca".into());
    let server = start(&orca)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "orca server idle RSS: {} MB",
        rss_kb(server.child.id()) / 1024
    );

    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());

    let rate = create_pods(&pods, 0, 1000, 64).await?;
    println!("creates: {rate:.0} pods/s (1,000 pods, 64 concurrent clients)");
    report("get, 1k pods", gets(&pods, 2000, 1000).await?);
    report("list all, 1k pods", lists(&pods, 50).await?);

    let rate = create_pods(&pods, 1000, 10000, 64).await?;
    println!("creates: {rate:.0} pods/s (9,000 more pods, 64 concurrent clients)");
    report("get, 10k pods", gets(&pods, 2000, 10000).await?);
    report("list all, 10k pods", lists(&pods, 10).await?);
    let mut paged = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        pods.list(&ListParams::default().limit(500)).await?;
        paged.push(t.elapsed());
    }
    report("list limit=500, 10k pods", paged);
    println!(
        "orca server RSS with 10k pods: {} MB",
        rss_kb(server.child.id()) / 1024
    );

    // Watch fan-out: 100 watchers, each must see every one of 200 new pods.
    let rv = pods
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let watchers = 100;
    let events = 200;
    let started = Arc::new(tokio::sync::Barrier::new(watchers + 1));
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let pods = pods.clone();
        let rv = rv.clone();
        let started = started.clone();
        handles.push(tokio::spawn(async move {
            let mut stream = pods
                .watch(&WatchParams::default().timeout(120), &rv)
                .await?
                .boxed();
            started.wait().await;
            let mut lat = Vec::new();
            let mut seen = 0;
            while seen < events {
                match stream.try_next().await? {
                    Some(WatchEvent::Added(p)) => {
                        let created: i64 = p
                            .metadata
                            .labels
                            .unwrap_or_default()
                            .get("t")
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)?
                            .as_micros() as i64;
                        lat.push(Duration::from_micros((now - created).max(0) as u64));
                        seen += 1;
                    }
                    Some(_) => {}
                    None => anyhow::bail!("watch ended early"),
                }
            }
            anyhow::Ok(lat)
        }));
    }
    started.wait().await;
    let t = Instant::now();
    for i in 0..events {
        let mut p = pod(&format!("w{i:05}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_micros();
        p.metadata
            .labels
            .get_or_insert_default()
            .insert("t".into(), now.to_string());
        pods.create(&PostParams::default(), &p).await?;
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    println!(
        "watch fan-out: {watchers} watchers x {events} events delivered in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    report("watch delivery latency (create→event)", all);
    Ok(())
}
