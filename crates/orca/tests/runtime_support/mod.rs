//! Shared pieces of the runtime's root e2e tests: skipping when they cannot run, the
//! lock that serialises root tests, a busybox image built at test time, a runtime over a
//! temporary directory using the real `orca` binary as the shim, and counters of what a
//! pod can leave behind on the host.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime::{
    ContainerConfig, LinuxRuntime, Mount, PodRef, Runtime, RuntimeConfig, SandboxConfig,
};

pub const LOCK_FILE: &str = "/tmp/orca-root-tests.lock";
pub const CNI_DIR: &str = "/usr/lib/cni";

/// Why these tests cannot run here, if they cannot.
pub fn cannot_run() -> Option<String> {
    if !nix_euid_is_root() {
        return Some("not root".into());
    }
    if busybox().is_none() {
        return Some("no static busybox (apt-get install busybox-static)".into());
    }
    for p in ["bridge", "host-local", "loopback", "portmap"] {
        if !Path::new(CNI_DIR).join(p).exists() {
            return Some(format!(
                "no CNI plugin {p} in {CNI_DIR} (apt-get install containernetworking-plugins)"
            ));
        }
    }
    if which("iptables").is_none() {
        return Some("no iptables (apt-get install iptables)".into());
    }
    None
}

fn nix_euid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn which(bin: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Skips (printing why) or returns the lock guard that serialises root tests, after
/// removing what crashed earlier runs of these tests left behind.
#[macro_export]
macro_rules! root_test_guard {
    () => {
        match runtime_support::cannot_run() {
            Some(why) => {
                println!("SKIPPED: {why}");
                return;
            }
            None => {
                let lock = runtime_support::lock();
                runtime_support::remove_leftovers();
                lock
            }
        }
    };
}

/// Removes every sandbox of a runtime root when dropped — also when the test panics —
/// so a failing test leaves no mount, netns, veth, cgroup or process behind. Declare it
/// after the temporary directory so it runs first.
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_sandboxes_under(&self.0);
    }
}

/// Removes all sandboxes below runtime root `root`, from a fresh runtime (re-adoption
/// from disk) on its own thread.
pub fn remove_sandboxes_under(root: &Path) {
    let root = root.to_path_buf();
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let cfg = RuntimeConfig {
                root_dir: root,
                ..config(Path::new("/nonexistent"))
            };
            match LinuxRuntime::new(cfg) {
                Ok(r) => remove_all(&r).await,
                Err(e) => eprintln!("cleanup: {e}"),
            }
        })
    })
    .join();
}

/// Sandboxes of earlier test runs (shims serving a runtime root under /tmp/.tmp*) that
/// crashed before cleaning up.
pub fn remove_leftovers() {
    let mut roots = std::collections::BTreeSet::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).map(String::as_str) != Some("__runtime-shim") {
            continue;
        }
        let Some(dir) = args.get(2).map(PathBuf::from) else {
            continue;
        };
        if let Some(root) = dir.parent().and_then(Path::parent) {
            if root.starts_with("/tmp") && root.to_string_lossy().contains("/.tmp") {
                roots.insert(root.to_path_buf());
            }
        }
    }
    for root in roots {
        eprintln!("removing leftovers of an earlier run in {}", root.display());
        remove_sandboxes_under(&root);
    }
}

/// Holds the root-tests lock (other suites' root tests take the same file).
pub struct Lock(std::fs::File);

pub fn lock() -> Lock {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .expect("opening the lock file");
    f.lock().expect("locking");
    Lock(f)
}

/// A busybox image layer: /bin/busybox, applet links, /etc/passwd and /etc/group.
pub fn busybox_layer(dir: &Path) -> PathBuf {
    let layer = dir.join("layer");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    let bb = busybox().unwrap();
    std::fs::copy(&bb, layer.join("bin/busybox")).unwrap();
    let list = std::process::Command::new(&bb)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", layer.join("bin").join(applet));
    }
    std::fs::create_dir_all(layer.join("etc")).unwrap();
    std::fs::write(layer.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").unwrap();
    std::fs::write(
        layer.join("etc/group"),
        "root:x:0:\nwww:x:33:\nstaff:x:50:www\nnogroup:x:65534:\n",
    )
    .unwrap();
    for d in ["tmp", "root", "var/www", "srv"] {
        std::fs::create_dir_all(layer.join(d)).unwrap();
    }
    std::fs::set_permissions(
        layer.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    layer
}

/// A runtime over `dir/runtime` with the real binary as its shim.
pub fn runtime(dir: &Path) -> LinuxRuntime {
    LinuxRuntime::new(config(dir)).expect("LinuxRuntime::new")
}

pub fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig {
        root_dir: dir.join("runtime"),
        // ORCA_TEST_SHIM_BINARY measures another build (e.g. target/release/orca).
        orca_binary: std::env::var_os("ORCA_TEST_SHIM_BINARY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_orca"))),
        cni_bin_dirs: vec![PathBuf::from(CNI_DIR)],
        ..RuntimeConfig::default()
    }
}

pub fn sandbox_config(name: &str) -> SandboxConfig {
    SandboxConfig {
        pod: PodRef {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}-{}", std::process::id()),
        },
        hostname: name.into(),
        resolv_conf: "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n".into(),
        qos_class: "BestEffort".into(),
        ..Default::default()
    }
}

pub fn container(name: &str, layer: &Path, logs: &Path, args: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image_layers: vec![layer.to_path_buf()],
        image: "busybox:1.36".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        log_path: logs.join(format!("{name}/0.log")),
        ..Default::default()
    }
}

pub fn bind(host: &Path, at: &str) -> Mount {
    Mount {
        host_path: host.to_path_buf(),
        container_path: at.into(),
        read_only: false,
        propagation: None,
    }
}

/// The content of a CRI log file, without the time stamps: "stdout F hello".
pub fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split_once(' ')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// What a pod may leave behind on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCounts {
    pub mounts: usize,
    pub netns: usize,
    pub veths: usize,
    pub cgroup_dirs: usize,
    pub files_under_root: usize,
    pub nat_rules: usize,
    pub filter_rules: usize,
    pub processes: BTreeMap<String, usize>,
}

pub fn host_counts(root: &Path) -> HostCounts {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let mut ns = std::collections::BTreeSet::new();
    let mut processes = BTreeMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if let Ok(l) = std::fs::read_link(e.path().join("ns/net")) {
            ns.insert(l);
        }
        // Exited shims wait for the host's init to reap them; zombies hold nothing.
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
                    .unwrap_or(false)
            })
            .unwrap_or(true);
        if let (false, Ok(comm)) = (zombie, std::fs::read_to_string(e.path().join("comm"))) {
            let comm = comm.trim().to_string();
            if comm.starts_with("orca-") || comm.starts_with("youki") {
                *processes.entry(comm).or_insert(0) += 1;
            }
        }
    }
    let nsfs = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" - nsfs "))
        .count();
    let veths = cmd_lines("ip", &["-o", "link", "show", "type", "veth"]);
    let mut cgroup_dirs = 0;
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        cgroup_dirs += count_dirs(&e.path().join("kubepods"));
    }
    cgroup_dirs += count_dirs(Path::new("/sys/fs/cgroup/kubepods"));
    HostCounts {
        mounts,
        netns: ns.len() + nsfs,
        veths,
        cgroup_dirs,
        files_under_root: count_entries(root),
        nat_rules: cmd_lines("iptables", &["-t", "nat", "-S"]),
        filter_rules: cmd_lines("iptables", &["-S"]),
        processes,
    }
}

/// `iptables -t nat -S [CHAIN]`: the NAT table's rules (or one chain's), as text.
pub fn nat_rules(chain: Option<&str>) -> String {
    let out = std::process::Command::new("iptables")
        .args(["-t", "nat", "-S"])
        .args(chain)
        .output()
        .expect("iptables");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cmd_lines(cmd: &str, args: &[&str]) -> usize {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .expect(cmd);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn count_dirs(p: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    1 + rd
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| count_dirs(&e.path()))
        .sum::<usize>()
}

fn count_entries(p: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            1 + if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                count_entries(&e.path())
            } else {
                0
            }
        })
        .sum()
}

/// GET http://<ip>:<port><path>, the body.
pub fn http_get(ip: std::net::IpAddr, port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

/// Polls `f` until it returns Some, for up to `timeout`.
pub async fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// RSS and PSS of a process, in KiB.
pub fn rss_pss_kib(pid: u32) -> (u64, u64) {
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    (field(&status, "VmRSS:"), field(&rollup, "Pss:"))
}

/// Removes everything of every sandbox a runtime knows (test cleanup).
pub async fn remove_all(rt: &LinuxRuntime) {
    for s in rt.list_sandboxes().await.unwrap_or_default() {
        if let Err(e) = rt.remove_sandbox(&s.sandbox.id).await {
            eprintln!("cleanup: removing {}: {e}", s.sandbox.id);
        }
    }
}
