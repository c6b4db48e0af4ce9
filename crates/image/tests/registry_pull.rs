//! Pulling from a real registry: Debian's `docker-registry` (distribution 2.8), started here
//! on a free local port with filesystem storage, fed with oci-client's push API.

mod common;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{busybox_rootfs, digest, gzip, is_root};
use image::{Error, ImageStore};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::json;

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry, killed (and reaped) on drop.
struct Registry {
    child: Child,
    addr: String,
    access_log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n  secret: orca-test\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let access_log = dir.path().join("access.log");
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdout(fs::File::create(&access_log).unwrap())
            .stderr(fs::File::create(dir.path().join("registry.log")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            addr,
            access_log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }

    /// Access-log lines of successful GETs whose path contains `needle`.
    fn gets(&self, needle: &str) -> usize {
        fs::read_to_string(&self.access_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("\"GET /v2/") && l.contains(needle) && l.contains("HTTP/1.1\" 200")
            })
            .count()
    }

    /// Waits for the access log to show at least `n` such GETs (it is written after the
    /// response), then a little longer so that a surplus one would show too.
    fn wait_gets(&self, needle: &str, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.gets(needle) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        self.gets(needle)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pushes a two-layer busybox image (gzip layers, OCI media types) and returns the digests
/// of its manifest, config and layers.
async fn push_image(
    client: &Client,
    reference: &Reference,
    rootfs: &[u8],
) -> (String, String, Vec<String>) {
    let extra = common::Tar::new()
        .dir("etc", 0o755)
        .file("etc/motd", b"pulled from a registry\n", 0o644)
        .bytes();
    let layers = vec![
        ImageLayer::oci_v1_gzip(gzip(rootfs), None),
        ImageLayer::oci_v1_gzip(gzip(&extra), None),
    ];
    let config = serde_json::to_vec(&json!({
        "architecture": if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" },
        "os": "linux",
        "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["cat /etc/motd"], "Env": ["PATH=/bin"],
                   "StopSignal": "SIGUSR1"},
        "rootfs": {"type": "layers", "diff_ids": [digest(rootfs), digest(&extra)]},
    }))
    .unwrap();
    let config_digest = digest(&config);
    let layer_digests = layers.iter().map(|l| l.sha256_digest()).collect();
    let response = client
        .push(
            reference,
            &layers,
            Config::oci_v1(config, None),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap();
    let manifest_digest = response
        .manifest_url
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    (manifest_digest, config_digest, layer_digests)
}

fn store_in(dir: &Path) -> ImageStore {
    ImageStore::open(&dir.join("images")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_from_a_local_registry_once_and_resolves_afterwards() {
    if !Path::new(REGISTRY).is_file() {
        println!("SKIPPED: docker-registry not installed");
        return;
    }
    let Some(rootfs) = busybox_rootfs(&[]) else {
        println!("SKIPPED: busybox-static not installed");
        return;
    };
    let registry = Registry::start();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pusher = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let name = format!("{}/test/busybox", registry.addr);
    let tagged: Reference = format!("{name}:1.36").parse().unwrap();
    let (manifest_digest, config_digest, layer_digests) =
        push_image(&pusher, &tagged, &rootfs).await;

    let work = tempfile::tempdir().unwrap();
    let store = store_in(work.path());
    let reference = format!("{name}:1.36");
    assert!(store.resolve(&reference).is_none());

    // Two concurrent pulls of one reference: one manifest fetch, one download per blob.
    let (a, b) = tokio::join!(store.pull(&reference, None), store.pull(&reference, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(
        registry.wait_gets("/test/busybox/manifests/1.36", 1),
        1,
        "manifest fetched twice"
    );
    for layer in &layer_digests {
        assert_eq!(
            registry.wait_gets(&format!("/blobs/{layer}"), 1),
            1,
            "layer {layer} fetched twice"
        );
    }
    assert_eq!(registry.wait_gets(&format!("/blobs/{config_digest}"), 1), 1);

    assert_eq!(a.reference, reference);
    assert_eq!(a.id, config_digest);
    assert_eq!(a.manifest_digest, manifest_digest);
    assert_eq!(
        a.repo_digest.as_deref(),
        Some(format!("{name}@{manifest_digest}").as_str())
    );
    assert_eq!(
        a.config.entrypoint,
        Some(vec!["/bin/sh".to_string(), "-c".to_string()])
    );
    assert_eq!(a.config.stop_signal.as_deref(), Some("SIGUSR1"));
    let got: Vec<&str> = a.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(
        got,
        layer_digests.iter().map(String::as_str).collect::<Vec<_>>()
    );

    // IfNotPresent: the image is now local, under its tag and its repo digest, and survives
    // a reopen of the store.
    assert_eq!(store.resolve(&reference).as_ref(), Some(&a));
    assert_eq!(
        store
            .resolve(&format!("{name}@{manifest_digest}"))
            .unwrap()
            .id,
        a.id
    );
    assert_eq!(store_in(work.path()).resolve(&reference).as_ref(), Some(&a));
    let dirs = store.layer_dirs(&a).unwrap();
    assert_eq!(dirs.len(), 2);
    assert!(dirs[0].join("bin/busybox").is_file());
    assert_eq!(
        fs::read(dirs[1].join("etc/motd")).unwrap(),
        b"pulled from a registry\n"
    );
    if is_root() {
        let overlay = common::Overlay::mount(&dirs);
        let out = std::process::Command::new("chroot")
            .arg(&overlay.target)
            .args(["/bin/sh", "-c", "cat /etc/motd"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "pulled from a registry\n"
        );
    }

    // Pulling again re-checks the tag but downloads nothing new.
    store.pull(&reference, None).await.unwrap();
    assert_eq!(registry.wait_gets("/test/busybox/manifests/1.36", 2), 2);
    assert_eq!(
        registry.wait_gets(&format!("/blobs/{}", layer_digests[0]), 1),
        1
    );

    // A multi-platform index over the same image: repo digest is the index's, content shared.
    let (manifest_bytes, _) = pusher
        .pull_manifest_raw(
            &tagged,
            &RegistryAuth::Anonymous,
            &["application/vnd.oci.image.manifest.v1+json"],
        )
        .await
        .unwrap();
    let (os, arch) = (
        "linux",
        if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        },
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": manifest_digest, "size": manifest_bytes.len(),
             "platform": {"os": os, "architecture": arch}},
        ],
    }))
    .unwrap();
    let multi: Reference = format!("{name}:multi").parse().unwrap();
    let content_type = http::HeaderValue::from_static("application/vnd.oci.image.index.v1+json");
    pusher
        .push_manifest_raw(&multi, index.clone(), content_type)
        .await
        .unwrap();
    let index_digest = digest(&index);
    let m = store.pull(&format!("{name}:multi"), None).await.unwrap();
    assert_eq!(m.id, a.id);
    assert_eq!(m.manifest_digest, manifest_digest);
    assert_eq!(m.repo_digest, Some(format!("{name}@{index_digest}")));
    assert_eq!(
        registry.wait_gets(&format!("/blobs/{}", layer_digests[0]), 1),
        1
    );
    assert_eq!(
        store.resolve(&format!("{name}@{index_digest}")).unwrap().id,
        a.id
    );

    // A pull by digest.
    let by_digest = store
        .pull(&format!("{name}@{manifest_digest}"), None)
        .await
        .unwrap();
    assert_eq!(by_digest.reference, format!("{name}@{manifest_digest}"));
    assert_eq!(by_digest.id, a.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_images_and_unreachable_registries_give_pull_errors() {
    if !Path::new(REGISTRY).is_file() {
        println!("SKIPPED: docker-registry not installed");
        return;
    }
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let store = store_in(work.path());

    let missing = format!("{}/test/nothing:nope", registry.addr);
    let err = store.pull(&missing, None).await.unwrap_err();
    match &err {
        Error::NotFound { reference, message } => {
            assert_eq!(reference, &missing);
            assert!(
                message.contains("unknown"),
                "registry message lost: {message}"
            );
        }
        other => panic!("want NotFound, got {other:?}"),
    }
    assert_eq!(err.reason(), "ErrImagePull");
    assert!(
        err.to_string().contains("check the image name and tag"),
        "{err}"
    );
    assert!(store.resolve(&missing).is_none());

    let err = store.pull("Not/A:Valid@Name", None).await.unwrap_err();
    assert_eq!(err.reason(), "InvalidImageName", "{err}");

    // Nothing listens on the port any more: a network error, with what to do.
    let addr = registry.addr.clone();
    drop(registry);
    let err = store
        .pull(&format!("{addr}/test/busybox:1"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(store.list().is_empty());
}
