//! Real `kubectl` against a real `orca server`. Prints SKIPPED when kubectl is absent.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Server;

/// `kubectl` on PATH, or None (the test then says SKIPPED).
fn kubectl_path() -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", "command -v kubectl"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    fn new(bin: PathBuf, server: &Server) -> Kubectl {
        Kubectl {
            bin,
            kubeconfig: server.kubeconfig.clone(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.cache.path())
            .arg("--cache-dir")
            .arg(self.cache.path().join("cache"))
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running kubectl")
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn setup() -> Option<(Server, Kubectl)> {
    let Some(bin) = kubectl_path() else {
        println!("SKIPPED: kubectl is not installed");
        return None;
    };
    let server = Server::start();
    let k = Kubectl::new(bin, &server);
    Some((server, k))
}

fn example(name: &str) -> String {
    common::scenarios_dir()
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_scenario_can_be_created_listed_described_and_deleted() {
    let Some((_server, k)) = setup() else { return };
    let dir = common::scenarios_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "scenarios missing in {}", dir.display());
    for f in &files {
        let f = f.to_string_lossy();
        let created = k.ok(&["create", "-f", &f]);
        assert!(created.contains("created"), "{f}: {created}");
        let listed = k.ok(&["get", "-f", &f]);
        assert!(listed.lines().count() >= 2, "{f}: {listed}");
        let described = k.ok(&["describe", "-f", &f]);
        assert!(described.contains("Name:"), "{f}: {described}");
        let deleted = k.ok(&["delete", "-f", &f, "--wait=false"]);
        assert!(deleted.contains("deleted"), "{f}: {deleted}");
    }
    let left = k.ok(&["get", "pods,configmaps,jobs", "-o", "name"]);
    assert!(!left.contains("pod/"), "pods left behind: {left}");
}

#[test]
fn apply_twice_reports_unchanged_and_get_shows_columns() {
    let Some((_server, k)) = setup() else { return };
    let f = example("07-configmap-envfrom.yaml");
    let first = k.ok(&["apply", "-f", &f]);
    assert!(
        first.contains("configmap/my-db-config created")
            && first.contains("pod/configmap-env created"),
        "{first}"
    );
    let second = k.ok(&["apply", "-f", &f]);
    assert!(
        second.contains("configmap/my-db-config unchanged")
            && second.contains("pod/configmap-env unchanged"),
        "{second}"
    );

    let table = k.ok(&["get", "pods"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(
        table.contains("configmap-env") && table.contains("0/1") && table.contains("Pending"),
        "{table}"
    );
    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert!(
        wide.lines().next().unwrap().contains("NOMINATED NODE"),
        "{wide}"
    );
    let yaml = k.ok(&["get", "pod", "configmap-env", "-o", "yaml"]);
    assert!(
        yaml.contains("imagePullPolicy: IfNotPresent") && yaml.contains("uid:"),
        "{yaml}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "cm", "my-db-config", "-o", "json"])).unwrap();
    assert_eq!(json["data"]["db-url"], "localhost");
    let all = k.ok(&["get", "ns", "-A"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(all.contains(ns), "{all}");
    }
    let applied = k.ok(&["apply", "-f", &f, "--dry-run=server"]);
    assert!(
        applied.contains("unchanged") || applied.contains("configured"),
        "{applied}"
    );
}

#[test]
fn label_annotate_patch_replace_and_delete_work() {
    let Some((server, k)) = setup() else { return };
    let f = example("07-configmap-envfrom.yaml");
    k.ok(&["create", "-f", &f]);
    k.ok(&["label", "pod", "configmap-env", "tier=web"]);
    k.ok(&["annotate", "pod", "configmap-env", "note=hello"]);
    let selected = k.ok(&["get", "pods", "-l", "tier=web", "-o", "name"]);
    assert_eq!(selected.trim(), "pod/configmap-env");
    assert!(k
        .ok(&["get", "pods", "-l", "tier!=web", "-o", "name"])
        .trim()
        .is_empty());
    let shown = k.ok(&["get", "pods", "--show-labels"]);
    assert!(shown.contains("tier=web"), "{shown}");

    k.ok(&[
        "patch",
        "cm",
        "my-db-config",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"1"}}"#,
    ]);
    k.ok(&[
        "patch",
        "pod",
        "configmap-env",
        "-p",
        r#"{"spec":{"containers":[{"name":"myapp","image":"busybox:1.37"}]}}"#,
    ]);
    k.ok(&[
        "patch",
        "cm",
        "my-db-config",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/b","value":"2"}]"#,
    ]);
    let cm: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "cm", "my-db-config", "-o", "json"])).unwrap();
    assert_eq!(
        (cm["data"]["a"].as_str(), cm["data"]["b"].as_str()),
        (Some("1"), Some("2"))
    );
    let image = k.ok(&[
        "get",
        "pod",
        "configmap-env",
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    assert_eq!(image, "busybox:1.37");

    let mut edited: serde_json::Value = cm.clone();
    edited["data"]["c"] = "3".into();
    let path = server.dir.join("cm.json");
    std::fs::write(&path, edited.to_string()).unwrap();
    k.ok(&["replace", "-f", path.to_str().unwrap()]);
    let stale = k.fails(&["replace", "-f", path.to_str().unwrap()]);
    assert!(stale.contains("the object has been modified"), "{stale}");

    let invalid = k.fails(&[
        "patch",
        "pod",
        "configmap-env",
        "-p",
        r#"{"spec":{"restartPolicy":"Always"}}"#,
    ]);
    assert!(
        invalid.contains("is invalid") && invalid.contains("spec"),
        "{invalid}"
    );

    k.ok(&["delete", "pods", "--all"]);
    k.ok(&["delete", "-f", &f, "--ignore-not-found"]);
    assert!(k.ok(&["get", "pods", "-o", "name"]).trim().is_empty());
}

#[test]
fn invalid_manifests_are_rejected_with_the_field_named() {
    let Some((server, k)) = setup() else { return };
    let path = server.dir.join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n    ports:\n    - containerPort: 70000\n",
    )
    .unwrap();
    let err = k.fails(&["apply", "-f", path.to_str().unwrap()]);
    assert!(
        err.contains("containerPort") && err.contains("is invalid"),
        "{err}"
    );
    assert!(
        k.ok(&["get", "pods", "-o", "name"]).trim().is_empty(),
        "nothing was created"
    );
}

#[test]
fn discovery_explain_and_raw_requests_work() {
    let Some((_server, k)) = setup() else { return };
    let resources = k.ok(&["api-resources"]);
    for line in [
        "pods",
        "po",
        "deployments",
        "deploy",
        "replicasets",
        "rs",
        "events",
        "ev",
        "leases",
        "jobs",
    ] {
        assert!(
            resources.split_whitespace().any(|w| w == line),
            "{line} missing in {resources}"
        );
    }
    let explained = k.ok(&["explain", "pod.spec.containers"]);
    assert!(
        explained.contains("image") && explained.contains("FIELD"),
        "{explained}"
    );
    let raw: serde_json::Value = serde_json::from_str(&k.ok(&["get", "--raw", "/api/v1"])).unwrap();
    assert_eq!(raw["kind"], "APIResourceList");
    assert_eq!(k.ok(&["get", "--raw", "/readyz"]).trim(), "ok");
    let version = k.ok(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
}

#[test]
fn get_watch_streams_new_objects() {
    let Some((_server, k)) = setup() else { return };
    let mut watch = k
        .cmd(&["get", "configmaps", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    k.ok(&["create", "configmap", "watched", "--from-literal=a=b"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(line.clone());
            if line.starts_with("watched") {
                break;
            }
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        seen.iter().any(|l| l.starts_with("watched")),
        "watch output: {seen:?}"
    );
}

/// Every kubectl minor version on the machine (the gcloud dispatcher keeps them side by
/// side) applies with validation on, gets and explains.
#[test]
fn every_installed_kubectl_version_applies_and_explains() {
    let Some((server, _)) = setup() else { return };
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut bins: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    bins.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("kubectl.1."))
    });
    bins.sort();
    if bins.is_empty() {
        println!(
            "SKIPPED: no versioned kubectl binaries in {}",
            dir.display()
        );
        return;
    }
    for bin in bins {
        let name = bin.file_name().unwrap().to_string_lossy().into_owned();
        let k = Kubectl::new(bin, &server);
        let f = example("07-configmap-envfrom.yaml");
        let out = k.ok(&["apply", "-f", &f]);
        assert!(out.contains("configmap/my-db-config"), "{name}: {out}");
        let again = k.ok(&["apply", "-f", &f]);
        assert!(again.contains("unchanged"), "{name}: {again}");
        let got = k.ok(&["get", "pod", "configmap-env"]);
        assert!(got.contains("Pending"), "{name}: {got}");
        let explained = k.ok(&["explain", "pods.spec.restartPolicy"]);
        assert!(
            explained.to_lowercase().contains("restart"),
            "{name}: {explained}"
        );
        k.ok(&["delete", "-f", &f]);
    }
}

#[test]
fn apply_rejects_misspelled_fields() {
    let Some((server, k)) = setup() else { return };
    let path = server.dir.join("typo.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n    imagee: busybox:1.36\n",
    )
    .unwrap();
    let err = k.fails(&["apply", "-f", path.to_str().unwrap()]);
    assert!(
        err.contains(r#"unknown field "spec.containers[0].imagee""#),
        "{err}"
    );
}

/// kubectl's typed commands (protobuf bodies from kubectl 1.33) create what they say.
#[test]
fn typed_create_commands_work() {
    let Some((_server, k)) = setup() else { return };
    k.ok(&["create", "namespace", "typed"]);
    k.ok(&[
        "create",
        "configmap",
        "cm",
        "-n",
        "typed",
        "--from-literal=a=b",
    ]);
    k.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "typed",
        "--from-literal=pw=hunter2",
    ]);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "typed",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    k.ok(&[
        "create",
        "job",
        "once",
        "-n",
        "typed",
        "--image=busybox:1.36",
        "--",
        "true",
    ]);
    k.ok(&[
        "run",
        "solo",
        "-n",
        "typed",
        "--image=busybox:1.36",
        "--restart=Never",
        "--",
        "sleep",
        "1",
    ]);
    let cm = k.ok(&["get", "cm", "cm", "-n", "typed", "-o", "jsonpath={.data.a}"]);
    assert_eq!(cm, "b");
    let pw = k.ok(&[
        "get",
        "secret",
        "s",
        "-n",
        "typed",
        "-o",
        "jsonpath={.data.pw}",
    ]);
    assert_eq!(pw, "aHVudGVyMg==");
    let replicas = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "typed",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "2");
    k.ok(&["scale", "deploy", "web", "-n", "typed", "--replicas=3"]);
    let replicas = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "typed",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "3");
    let all = k.ok(&["get", "all", "-n", "typed"]);
    assert!(
        all.contains("pod/solo")
            && all.contains("deployment.apps/web")
            && all.contains("job.batch/once"),
        "{all}"
    );
    k.ok(&["delete", "namespace", "typed", "--wait=false"]);
}

/// Node verbs against simulated nodes: label, --show-labels, cordon, uncordon, taint and
/// drain (through pods/eviction), with the scheduler placing pods by label.
#[test]
fn nodes_can_be_labelled_cordoned_tainted_and_drained() {
    let Some((server, k)) = setup() else { return };
    let mut hollow = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args([
            "hollow-nodes",
            "--count",
            "3",
            "--server",
            &server.url,
            "--token",
            &server.token,
        ])
        .arg("--ca-cert")
        .arg(server.dir.join("tls/ca.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |args: &[&str], want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = k.ok(args);
            if out.contains(want) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "kubectl {} never showed {want:?}: {out}",
                args.join(" ")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(&["get", "nodes"], "hollow-2");
    k.ok(&["label", "nodes", "hollow-0", "disktype=ssd"]);
    let shown = k.ok(&["get", "nodes", "--show-labels"]);
    assert!(shown.contains("disktype=ssd"), "{shown}");
    k.ok(&["apply", "-f", &example("10-node-affinity.yaml")]);
    wait_for(&["get", "pods", "-o", "wide"], "hollow-0");
    k.ok(&["cordon", "hollow-1"]);
    wait_for(&["get", "nodes"], "SchedulingDisabled");
    k.ok(&["taint", "nodes", "hollow-2", "key=v:NoSchedule"]);
    let taints = k.ok(&[
        "get",
        "node",
        "hollow-2",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(taints.contains("key"), "{taints}");
    k.ok(&["run", "p1", "--image=busybox:1.36", "--", "sleep", "1000"]);
    // hollow-1 is cordoned and hollow-2 tainted: p1 can only go to hollow-0.
    let placed = wait_for(
        &["get", "pod", "p1", "-o", "jsonpath={.spec.nodeName}"],
        "hollow",
    );
    assert_eq!(placed, "hollow-0");
    let drained = k.ok(&[
        "drain",
        "hollow-0",
        "--ignore-daemonsets",
        "--force",
        "--timeout=30s",
    ]);
    assert!(drained.contains("drained"), "{drained}");
    assert!(k.ok(&["get", "pods", "-o", "name"]).trim().is_empty());
    k.ok(&["uncordon", "hollow-1"]);
    let nodes = k.ok(&["get", "nodes"]);
    assert!(
        nodes.matches("SchedulingDisabled").count() == 1,
        "only hollow-0 stays cordoned: {nodes}"
    );
    let _ = hollow.kill();
    let _ = hollow.wait();
}
