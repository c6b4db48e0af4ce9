//! Loading docker-archive and OCI-archive tars written here per their formats.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use common::{digest, gzip, is_mounted, is_root, Overlay, Tar};
use image::{Error, ImageStore};
use serde_json::json;

/// Two layers: the second deletes `/etc/a` and replaces `/data`'s contents (whiteouts).
fn layers() -> (Vec<u8>, Vec<u8>) {
    let base = Tar::new()
        .dir("etc", 0o755)
        .file("etc/a", b"a", 0o644)
        .file("etc/b", b"b", 0o644)
        .dir("data", 0o755)
        .file("data/old", b"old", 0o644)
        .bytes();
    let top = Tar::new()
        .dir("etc", 0o755)
        .file("etc/.wh.a", b"", 0o644)
        .dir("data", 0o755)
        .file("data/.wh..wh..opq", b"", 0o644)
        .file("data/new", b"new", 0o644)
        .bytes();
    (base, top)
}

fn config_json(diff_ids: &[String], cmd: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": [cmd], "Env": ["A=1"], "WorkingDir": "/data", "User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// Whiteouts are device nodes and trusted xattrs: unpacking them needs root.
fn root_or_skip() -> bool {
    if !is_root() {
        println!("SKIPPED: unpacking whiteouts and mounting overlays need root");
    }
    is_root()
}

fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut tar = Tar::new();
    for (name, data) in files {
        tar = tar.file(name, data, 0o644);
    }
    fs::write(path, tar.bytes()).unwrap();
}

/// Checks the merged view of the two layers through a real overlay mount.
fn check_overlay(dirs: &[PathBuf]) {
    assert_eq!(dirs.len(), 2);
    let top = &dirs[1];
    assert!(fs::symlink_metadata(top.join("etc/a"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(
        xattr::get(top.join("data"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    let overlay = Overlay::mount(dirs);
    let merged = &overlay.target;
    assert!(
        !merged.join("etc/a").exists(),
        "whiteout did not hide etc/a"
    );
    assert_eq!(fs::read(merged.join("etc/b")).unwrap(), b"b");
    let mut data: Vec<String> = fs::read_dir(merged.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    data.sort();
    assert_eq!(data, ["new"], "opaque directory let lower entries through");
    let target = merged.clone();
    drop(overlay);
    assert!(!is_mounted(&target));
}

#[test]
fn docker_archive_loads_every_tag_with_its_config_and_layers() {
    if !root_or_skip() {
        return;
    }
    let (base, top) = layers();
    let diff_ids = vec![digest(&base), digest(&top)];
    let config = config_json(&diff_ids, "sh");
    let config_name = format!("{}.json", digest(&config).trim_start_matches("sha256:"));
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("saved.tar");
    // `docker save` layout: <id>/layer.tar per layer, the config, manifest.json.
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["sample:v2", "localhost:5000/team/sample:v2"],
        "Layers": ["1111/layer.tar", "2222/layer.tar"],
    }]);
    write_tar(
        &archive,
        &[
            ("1111/layer.tar".into(), base.clone()),
            ("2222/layer.tar".into(), top.clone()),
            (config_name.clone(), config.clone()),
            ("repositories".into(), b"{}".to_vec()),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ],
    );
    let store = ImageStore::open(&work.path().join("images")).unwrap();

    let loaded = store.load_archive(&archive).unwrap();
    assert_eq!(
        loaded,
        [
            "docker.io/library/sample:v2",
            "localhost:5000/team/sample:v2"
        ]
    );
    let image = store.resolve("sample:v2").unwrap();
    assert_eq!(image.id, digest(&config));
    assert_eq!(
        store.resolve("localhost:5000/team/sample:v2").unwrap().id,
        image.id
    );
    assert_eq!(image.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(image.config.env, ["A=1"]);
    assert_eq!(image.config.working_dir.as_deref(), Some("/data"));
    assert_eq!(image.config.user.as_deref(), Some("1000"));
    assert_eq!(image.repo_digest, None);
    let layer_digests: Vec<&str> = image.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(layer_digests, [diff_ids[0].as_str(), diff_ids[1].as_str()]);
    check_overlay(&store.layer_dirs(&image).unwrap());
    let scratch = store
        .root()
        .join("tmp")
        .join(std::process::id().to_string());
    assert_eq!(fs::read_dir(scratch).unwrap().count(), 0);

    // Loading again changes nothing.
    assert_eq!(store.load_archive(&archive).unwrap(), loaded);
    assert_eq!(store.list().len(), 2);
}

#[test]
fn docker_archive_with_a_wrong_layer_is_refused() {
    let (base, top) = layers();
    let config = config_json(&[digest(&base), digest(&base)], "sh");
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("bad.tar");
    let manifest =
        json!([{"Config": "c.json", "RepoTags": ["bad:1"], "Layers": ["a.tar", "b.tar"]}]);
    write_tar(
        &archive,
        &[
            ("a.tar".into(), base),
            ("b.tar".into(), top),
            ("c.json".into(), config),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ],
    );
    let store = ImageStore::open(&work.path().join("images")).unwrap();
    let err = store.load_archive(&archive).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(store.resolve("bad:1").is_none());

    // A member path that leaves the archive is refused too.
    let manifest = json!([{"Config": "../../etc/passwd", "RepoTags": ["bad:1"], "Layers": []}]);
    write_tar(
        &archive,
        &[(
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        )],
    );
    let err = store.load_archive(&archive).unwrap_err();
    assert!(matches!(err, Error::InvalidArchive { .. }), "{err}");

    fs::write(&archive, Tar::new().file("hello", b"hi", 0o644).bytes()).unwrap();
    let err = store.load_archive(&archive).unwrap_err();
    assert!(err.to_string().contains("docker save"), "{err}");
}

#[test]
fn oci_archive_loads_named_and_multi_platform_images() {
    if !root_or_skip() {
        return;
    }
    let (base, top) = layers();
    let diff_ids = vec![digest(&base), digest(&top)];
    // OCI layouts usually carry compressed layers.
    let (base_gz, top_gz) = (gzip(&base), gzip(&top));
    let config = config_json(&diff_ids, "httpd");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(&config), "size": config.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": digest(&base_gz), "size": base_gz.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": digest(&top_gz), "size": top_gz.len()},
        ],
    }))
    .unwrap();
    let (os, arch) = (
        "linux",
        if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        },
    );
    // A multi-platform index pointing at the same manifest, plus a platform we are not.
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": format!("sha256:{}", "e".repeat(64)), "size": 10,
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest(&manifest), "size": manifest.len(),
             "platform": {"os": os, "architecture": arch}},
        ],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest(&manifest), "size": manifest.len(),
             "annotations": {"org.opencontainers.image.ref.name": "tomcat:7.0"}},
            {"mediaType": "application/vnd.oci.image.index.v1+json",
             "digest": digest(&nested), "size": nested.len(),
             "annotations": {"io.containerd.image.name": "registry.example.com/web/tomcat:multi",
                             "org.opencontainers.image.ref.name": "multi"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest(&manifest), "size": manifest.len()},
        ],
    }))
    .unwrap();
    let blob = |b: &[u8]| {
        (
            format!("blobs/sha256/{}", digest(b).trim_start_matches("sha256:")),
            b.to_vec(),
        )
    };
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("oci.tar");
    write_tar(
        &archive,
        &[
            (
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".into(), index),
            blob(&manifest),
            blob(&nested),
            blob(&config),
            blob(&base_gz),
            blob(&top_gz),
        ],
    );
    // The archive itself gzip-compressed, as `skopeo copy ... | gzip` would leave it.
    let archive_gz = work.path().join("oci.tar.gz");
    fs::write(&archive_gz, gzip(&fs::read(&archive).unwrap())).unwrap();
    let store = ImageStore::open(&work.path().join("images")).unwrap();

    let loaded = store.load_archive(&archive_gz).unwrap();
    let id = digest(&config);
    assert_eq!(
        loaded,
        [
            "docker.io/library/tomcat:7.0".to_string(),
            "registry.example.com/web/tomcat:multi".to_string(),
            id.clone(),
        ]
    );
    let image = store.resolve("tomcat:7.0").unwrap();
    assert_eq!(image.id, id);
    assert_eq!(image.manifest_digest, digest(&manifest));
    assert_eq!(image.config.cmd, Some(vec!["httpd".to_string()]));
    assert_eq!(
        store
            .resolve("registry.example.com/web/tomcat:multi")
            .unwrap()
            .id,
        id
    );
    // The unnamed entry is found by its id; by manifest digest through its repository.
    assert_eq!(store.resolve(&id).unwrap().id, id);
    let by_digest = format!("docker.io/library/tomcat@{}", digest(&manifest));
    assert_eq!(
        store.resolve(&by_digest).unwrap().reference,
        "docker.io/library/tomcat:7.0"
    );
    check_overlay(&store.layer_dirs(&image).unwrap());

    // A layout that names a blob it does not hold is refused, and nothing is recorded.
    let other = ImageStore::open(&work.path().join("other")).unwrap();
    let broken = work.path().join("broken.tar");
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": digest(&manifest), "size": manifest.len(),
         "annotations": {"org.opencontainers.image.ref.name": "localhost/broken:1"}}]}))
    .unwrap();
    write_tar(
        &broken,
        &[("index.json".into(), index), blob(&manifest), blob(&config)],
    );
    let err = other.load_archive(&broken).unwrap_err();
    assert!(matches!(err, Error::InvalidArchive { .. }), "{err}");
    assert!(other.list().is_empty());
}
