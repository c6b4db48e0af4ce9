//! Pod-start benchmark against a real `orca server` with its node agent, as root: create →
//! Running as seen by a watch, one pod at a time and 100 at once; the memory orca's own
//! processes use per running pod; side by side with `podman kube play` on the same
//! one-container manifest (`../shared/bench/podman-peer.sh`) and a bare `runc run` and
//! `unshare` of the same namespaces for the physical floor.
//!
//!   cargo build --release -p orca -p orca-bench
//!   target/release/pod-bench [--orca PATH] [--runs 50] [--batch 100] [--no-peers]

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::mpsc;

const NODE: &str = "orca-bench";
/// A one-container pod whose process ends at once on SIGTERM, so deletions are quick.
const COMMAND: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

struct Options {
    orca: PathBuf,
    runs: usize,
    batch: usize,
    peers: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Options {
        orca: value("--orca")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/orca")),
        runs: value("--runs").and_then(|v| v.parse().ok()).unwrap_or(50),
        batch: value("--batch").and_then(|v| v.parse().ok()).unwrap_or(100),
        peers: !args.iter().any(|a| a == "--no-peers"),
    }
}

/// `orca server` in its own process group; killed on drop (after the benchmark deleted its
/// pods).
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(orca: &Path, dir: &Path) -> Result<Server> {
    let log = std::fs::File::create(dir.join("server.log"))?;
    let child = Command::new(orca)
        .args(["server", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--node-name", NODE])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", orca.display()))?;
    let server = Server { child };
    let kubeconfig = dir.join("kubeconfig.yaml");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kubeconfig.exists() {
        anyhow::ensure!(Instant::now() < deadline, "orca server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    Ok(server)
}

/// The busybox root filesystem (busybox and its applet links) in `dir`.
fn busybox_rootfs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("bin"))?;
    for d in ["etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).context("copying /bin/busybox")?;
    let list = Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !applet.is_empty() && applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pod(name: &str, group: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"bench": group}},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "command": ["sh", "-c", COMMAND]}],
        },
    }))
    .expect("a static pod")
}

/// The same pod as a manifest for podman.
fn manifest() -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bench\nspec:\n  containers:\n  - name: c\n    \
         image: busybox:1.36\n    command: [\"sh\", \"-c\", \"{COMMAND}\"]\n"
    )
}

fn running(p: &Pod) -> bool {
    let Some(s) = &p.status else { return false };
    s.phase.as_deref() == Some("Running")
        && s.container_statuses
            .iter()
            .flatten()
            .all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
        && s.container_statuses.as_ref().is_some_and(|c| !c.is_empty())
}

/// When the watch first showed a status written by the node agent, by pod name.
type FirstStatus = std::sync::Arc<std::sync::Mutex<HashMap<String, Instant>>>;

/// Sends (pod name, when) the first time the watch shows each pod of the namespace Running;
/// records in `first` when each pod first showed a status from the agent (its startTime).
fn watch_running(api: Api<Pod>, first: FirstStatus) -> mpsc::UnboundedReceiver<(String, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = stream.next().await {
            let Ok(p) = ev else { continue };
            let name = p.metadata.name.clone().unwrap_or_default();
            if p.status.as_ref().is_some_and(|s| s.start_time.is_some()) {
                first
                    .lock()
                    .unwrap()
                    .entry(name.clone())
                    .or_insert_with(Instant::now);
            }
            if !running(&p) {
                continue;
            }
            let uid = p.metadata.uid.clone().unwrap_or_default();
            if seen.get(&name) == Some(&uid) {
                continue;
            }
            seen.insert(name.clone(), uid);
            if tx.send((name, Instant::now())).is_err() {
                return;
            }
        }
    });
    rx
}

async fn wait_gone(api: &Api<Pod>, selector: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !api
        .list(&ListParams::default().labels(selector))
        .await?
        .items
        .is_empty()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "pods {selector} were not removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn delete_params() -> DeleteParams {
    DeleteParams {
        grace_period_seconds: Some(5),
        ..Default::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (RSS, PSS) in KiB of a process.
fn memory_kib(pid: u32) -> (u64, u64) {
    let field = |text: &str, key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    (field(&status, "VmRSS:"), field(&rollup, "Pss:"))
}

/// Processes running `exe` other than `except`: orca's per-pod processes.
fn processes_of(exe: &Path, except: u32) -> Vec<(u32, String)> {
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_path_buf());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == except {
            continue;
        }
        if std::fs::read_link(e.path().join("exe")).ok().as_deref() == Some(exe.as_path()) {
            let args = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let mode = args
                .split(|b| *b == 0)
                .nth(1)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_default();
            out.push((pid, mode));
        }
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `runc run` of a container that runs `true` in the busybox rootfs: create, start, wait,
/// delete — what one container costs the OCI runtime alone.
fn runc_floor(work: &Path, runs: usize) -> Result<Duration> {
    let bundle = work.join("runc-bundle");
    busybox_rootfs(&bundle.join("rootfs"))?;
    run(Command::new("runc").arg("spec").current_dir(&bundle))?;
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    std::fs::write(&path, serde_json::to_vec(&spec)?)?;
    let mut times = Vec::new();
    for i in 0..runs + 2 {
        let id = format!("orca-bench-floor-{}-{i}", std::process::id());
        let t = Instant::now();
        run(Command::new("runc")
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null()))?;
        if i >= 2 {
            times.push(t.elapsed());
        }
    }
    Ok(median(times))
}

/// `unshare` of the namespaces a pod's infra process holds (net, ipc, uts, pid, mount).
fn unshare_floor(runs: usize) -> Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        run(Command::new("unshare").args([
            "--net",
            "--ipc",
            "--uts",
            "--pid",
            "--mount",
            "--fork",
            "/bin/true",
        ]))?;
        times.push(t.elapsed());
    }
    Ok(median(times))
}

/// `podman kube play` of the same pod through the shared peer script: its median, in ms.
fn podman_peer(work: &Path, runs: usize) -> Result<(f64, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/podman-peer.sh");
    anyhow::ensure!(script.exists(), "{} is missing", script.display());
    let path = work.join("podman-pod.yaml");
    std::fs::write(&path, manifest())?;
    let out = run(Command::new("bash")
        .arg(&script)
        .arg(&path)
        .arg(runs.to_string())
        .env("PODMAN_PEER_DIR", work.join("podman-peer")))?;
    let line = out
        .lines()
        .find(|l| l.contains("median"))
        .context("no median in the peer's output")?
        .to_string();
    let median: f64 = line
        .split("median ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("unparsable median")?;
    Ok((median, line))
}

struct Row {
    what: String,
    orca: String,
    budget: String,
    peer: String,
}

fn row(what: &str, orca: String, budget: &str, peer: String) -> Row {
    Row {
        what: what.into(),
        orca,
        budget: budget.into(),
        peer,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let opts = options();
    let uid = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !uid {
        println!("SKIPPED: pod-bench runs containers and needs root");
        return Ok(());
    }
    for (what, path) in [
        ("busybox-static", "/bin/busybox"),
        ("containernetworking-plugins", "/usr/lib/cni/bridge"),
        ("iptables", "/usr/sbin/iptables"),
    ] {
        if !Path::new(path).exists() {
            println!("SKIPPED: {path} is missing (apt-get install {what})");
            return Ok(());
        }
    }
    anyhow::ensure!(
        opts.orca.exists(),
        "{} is missing: cargo build --release -p orca",
        opts.orca.display()
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!(
        "load average at the start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let work = tempfile::Builder::new()
        .prefix("orca-pod-bench")
        .tempdir()?;
    let data = work.path().join("data");
    std::fs::create_dir_all(&data)?;

    // The image, imported before the server starts.
    let rootfs = work.path().join("rootfs");
    busybox_rootfs(&rootfs)?;
    let tar = work.path().join("busybox.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&rootfs)
        .arg("."))?;
    run(Command::new(&opts.orca)
        .args(["image", "--data-dir"])
        .arg(&data)
        .arg("import")
        .arg(&tar)
        .args(["busybox:1.36", "--", "sh"])
        .env("RUST_LOG", "warn"))?;

    let server = start_server(&opts.orca, &data)?;
    let server_pid = server.child.id();
    let kc = kube::config::Kubeconfig::read_from(data.join("kubeconfig.yaml"))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = nodes.get_opt(NODE).await?.is_some_and(|n| {
            n.status
                .and_then(|s| s.conditions)
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        if ready {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the node did not become Ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = memory_kib(server_pid);

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let first = FirstStatus::default();
    let mut events = watch_running(pods.clone(), first.clone());
    let result = measure(&opts, &pods, &mut events, &first, &server, idle_rss).await;
    // Whatever happened, delete the pods through the API before the server stops.
    for group in ["seq", "batch"] {
        let _ = pods
            .delete_collection(
                &delete_params(),
                &ListParams::default().labels(&format!("bench={group}")),
            )
            .await;
        let _ = wait_gone(&pods, &format!("bench={group}")).await;
    }
    drop(server);
    let mut rows = result?;

    if opts.peers {
        match podman_peer(work.path(), 10) {
            Ok((median, line)) => {
                println!("{line}");
                rows.push(row(
                    "podman kube play, same manifest (median)",
                    String::new(),
                    "",
                    format!("{median:.0} ms"),
                ));
            }
            Err(e) => println!("podman peer failed: {e:#}"),
        }
        if Command::new("sh")
            .args(["-c", "command -v runc"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
        {
            match runc_floor(work.path(), 20) {
                Ok(d) => rows.push(row(
                    "floor: runc run of `true` (median of 20)",
                    String::new(),
                    "",
                    format!("{:.1} ms", ms(d)),
                )),
                Err(e) => println!("runc floor failed: {e:#}"),
            }
        } else {
            println!("runc floor: SKIPPED (runc is not installed: apt-get install runc)");
        }
        match unshare_floor(20) {
            Ok(d) => rows.push(row(
                "floor: unshare net,ipc,uts,pid,mnt (median)",
                String::new(),
                "",
                format!("{:.1} ms", ms(d)),
            )),
            Err(e) => println!("unshare floor failed: {e:#}"),
        }
    }

    println!();
    println!(
        "{:<46} {:>26} {:>17} {:>14}",
        "what", "orca", "budget", "peer / floor"
    );
    println!("{}", "-".repeat(106));
    for r in rows {
        println!(
            "{:<46} {:>26} {:>17} {:>14}",
            r.what, r.orca, r.budget, r.peer
        );
    }
    println!(
        "load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    Ok(())
}

/// Receives from the watch until `names` distinct pods became Running: name → when.
async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    names: usize,
) -> Result<HashMap<String, Instant>> {
    let mut got: HashMap<String, Instant> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while got.len() < names {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some((name, at))) => {
                got.insert(name, at);
            }
            _ => bail!("only {} of {names} pods became Running", got.len()),
        }
    }
    Ok(got)
}

async fn measure(
    opts: &Options,
    pods: &Api<Pod>,
    events: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    first: &FirstStatus,
    server: &Server,
    idle_rss: u64,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let server_pid = server.child.id();
    // One pod at a time (three warm-up pods first).
    let (mut lat, mut to_first) = (Vec::new(), Vec::new());
    for i in 0..opts.runs + 3 {
        let name = format!("seq-{i}");
        let t = Instant::now();
        pods.create(&PostParams::default(), &pod(&name, "seq"))
            .await?;
        let got = wait_for(events, 1).await?;
        let at = got.get(&name).context("another pod became Running")?;
        if i >= 3 {
            lat.push(at.duration_since(t));
            if let Some(f) = first.lock().unwrap().get(&name) {
                to_first.push(f.duration_since(t));
            }
        }
        pods.delete(&name, &delete_params()).await?;
        wait_gone(pods, "bench=seq").await?;
    }
    lat.sort();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "one pod at a time x{}: create -> Running p50 {:.1} ms, p99 {:.1} ms (min {:.1}, max {:.1})",
        opts.runs,
        ms(p50),
        ms(p99),
        ms(lat[0]),
        ms(lat[lat.len() - 1])
    );
    to_first.sort();
    println!(
        "  of which create -> first status from the agent (startTime): p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&to_first, 0.5)),
        ms(percentile(&to_first, 0.99))
    );
    rows.push(row(
        &format!("one pod, create -> Running (watch), x{}", opts.runs),
        format!("p50 {:.1} / p99 {:.1} ms", ms(p50), ms(p99)),
        "p50 40 / p99 100",
        String::new(),
    ));

    // A batch at once.
    let t = Instant::now();
    let creates = (0..opts.batch).map(|i| {
        let pods = pods.clone();
        async move {
            let name = format!("batch-{i:03}");
            let sent = Instant::now();
            pods.create(&PostParams::default(), &pod(&name, "batch"))
                .await
                .map(|_| (name, sent))
        }
    });
    let sent: HashMap<String, Instant> = futures::future::try_join_all(creates)
        .await?
        .into_iter()
        .collect();
    let got = wait_for(events, opts.batch).await?;
    let all = got.values().max().copied().unwrap_or(t).duration_since(t);
    let mut each: Vec<Duration> = got
        .iter()
        .filter_map(|(n, at)| sent.get(n).map(|s| at.duration_since(*s)))
        .collect();
    each.sort();
    println!(
        "{} pods at once: all Running after {:.2} s (each: p50 {:.0} ms, p99 {:.0} ms)",
        opts.batch,
        all.as_secs_f64(),
        ms(percentile(&each, 0.5)),
        ms(percentile(&each, 0.99))
    );
    rows.push(row(
        &format!("{} pods at once, until all Running", opts.batch),
        format!("{:.2} s", all.as_secs_f64()),
        "3 s",
        String::new(),
    ));

    // Memory with the batch running.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_pod = processes_of(&opts.orca, server_pid);
    let mut modes: HashMap<String, usize> = HashMap::new();
    let (mut rss, mut pss) = (0, 0);
    for (pid, mode) in &per_pod {
        let (r, p) = memory_kib(*pid);
        rss += r;
        pss += p;
        *modes.entry(mode.clone()).or_default() += 1;
    }
    let (server_rss, _) = memory_kib(server_pid);
    let n = opts.batch as f64;
    println!(
        "orca per-pod processes with {} pods: {:?}; RSS {:.0} MB, PSS {:.0} MB in all",
        opts.batch,
        modes,
        rss as f64 / 1024.0,
        pss as f64 / 1024.0
    );
    println!(
        "orca server RSS: idle {:.1} MB, with {} pods {:.1} MB",
        idle_rss as f64 / 1024.0,
        opts.batch,
        server_rss as f64 / 1024.0
    );
    let server_delta = server_rss.saturating_sub(idle_rss) as f64 / n;
    rows.push(row(
        "orca server idle RSS (agent, no pods)",
        format!("{:.1} MB", idle_rss as f64 / 1024.0),
        "40 MB",
        String::new(),
    ));
    rows.push(row(
        "per running pod: shim RSS (PSS) + server delta",
        format!(
            "{:.2} ({:.2}) + {:.2} MB",
            rss as f64 / n / 1024.0,
            pss as f64 / n / 1024.0,
            server_delta / 1024.0
        ),
        "2 MB",
        String::new(),
    ));

    let t = Instant::now();
    pods.delete_collection(
        &delete_params(),
        &ListParams::default().labels("bench=batch"),
    )
    .await?;
    wait_gone(pods, "bench=batch").await?;
    println!(
        "{} pods deleted (gracefully, SIGTERM) in {:.2} s",
        opts.batch,
        t.elapsed().as_secs_f64()
    );
    Ok(rows)
}
