//! Importing root filesystem tarballs built from Debian's busybox-static.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{busybox_rootfs, gzip, is_root, BUSYBOX};
use image::{Error, ImageConfig, ImageStore};

fn busybox_or_skip(extra: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let tar = busybox_rootfs(extra);
    if tar.is_none() {
        println!("SKIPPED: busybox-static not installed");
    }
    tar
}

#[test]
fn imported_busybox_rootfs_unpacks_to_a_runnable_layer() {
    let Some(tar) = busybox_or_skip(&[]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("rootfs.tar");
    fs::write(&tar_path, &tar).unwrap();
    let store = ImageStore::open(&work.path().join("images")).unwrap();

    let config = ImageConfig {
        cmd: Some(vec!["sh".into()]),
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
        ..ImageConfig::default()
    };
    let image = store
        .import_rootfs(&tar_path, "busybox:1.36", config.clone())
        .unwrap();
    assert_eq!(image.reference, "docker.io/library/busybox:1.36");
    assert_eq!(image.config, config);
    assert_eq!(image.repo_digest, None);
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].digest, common::digest(&tar));
    assert!(image.id.starts_with("sha256:") && image.id.len() == 71);

    let dirs = store.layer_dirs(&image).unwrap();
    assert_eq!(dirs.len(), 1);
    let root = &dirs[0];
    assert!(root.starts_with(store.root().join("layers")));
    let bin = fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!(bin.len(), fs::metadata(BUSYBOX).unwrap().len());
    assert_eq!(bin.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        fs::read_link(root.join("usr/bin/env")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(fs::metadata(root).unwrap().mode() & 0o777, 0o755);
    // A second call finds the layer where the first left it.
    assert_eq!(store.layer_dirs(&image).unwrap(), dirs);

    if is_root() {
        let out = Command::new("chroot")
            .arg(root)
            .args([
                "/bin/sh",
                "-c",
                "echo hello from $(basename $(readlink /bin/sh))",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from busybox\n");
    } else {
        println!("SKIPPED: running the unpacked rootfs needs root for chroot");
    }

    // The same name in every spelling, and by id; another tag is absent.
    for name in [
        "busybox:1.36",
        "docker.io/library/busybox:1.36",
        "docker.io/busybox:1.36",
        &image.id,
    ] {
        assert_eq!(store.resolve(name).as_ref(), Some(&image), "{name}");
    }
    assert_eq!(store.resolve("busybox"), None);
    assert_eq!(store.resolve("busybox:1.37"), None);

    // Re-importing the same content is idempotent: same id, same layer directory.
    let again = store
        .import_rootfs(&tar_path, "docker.io/library/busybox:1.36", config)
        .unwrap();
    assert_eq!(again.id, image.id);

    // A reopened store still has it.
    let reopened = ImageStore::open(store.root()).unwrap();
    assert_eq!(reopened.resolve("busybox:1.36"), Some(image));
}

#[test]
fn gzip_imports_list_and_remove_collects_unused_content() {
    let Some(tar) = busybox_or_skip(&[("usr/share/nginx/html/index.html", b"Welcome")]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("rootfs.tar");
    let gz = work.path().join("rootfs.tar.gz");
    fs::write(&plain, &tar).unwrap();
    fs::write(&gz, gzip(&tar)).unwrap();
    let store = ImageStore::open(&work.path().join("images")).unwrap();

    let nginx_config = ImageConfig {
        cmd: Some(
            ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
                .map(String::from)
                .to_vec(),
        ),
        working_dir: Some("/usr/share/nginx/html".into()),
        stop_signal: Some("SIGQUIT".into()),
        user: Some("0:0".into()),
        ..ImageConfig::default()
    };
    let nginx = store
        .import_rootfs(&gz, "nginx:1.27", nginx_config.clone())
        .unwrap();
    assert_eq!(
        nginx.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let nginx_dirs = store.layer_dirs(&nginx).unwrap();
    assert_eq!(
        fs::read(nginx_dirs[0].join("usr/share/nginx/html/index.html")).unwrap(),
        b"Welcome"
    );
    assert_eq!(store.resolve("nginx:1.27").unwrap().config, nginx_config);

    let sample = store
        .import_rootfs(&plain, "sample:v2", ImageConfig::default())
        .unwrap();
    let sample_dirs = store.layer_dirs(&sample).unwrap();
    // Same files, different blobs (compressed and not): two layer directories.
    assert_ne!(sample_dirs, nginx_dirs);
    // Same layer, another name: one image id, two references.
    let alias = store
        .import_rootfs(&plain, "localhost:5000/sample:v2", ImageConfig::default())
        .unwrap();
    assert_eq!(alias.id, sample.id);

    let listed: Vec<(String, String)> = store
        .list()
        .into_iter()
        .map(|s| (s.reference, s.id))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("docker.io/library/nginx:1.27".to_string(), nginx.id.clone()),
            ("docker.io/library/sample:v2".to_string(), sample.id.clone()),
            ("localhost:5000/sample:v2".to_string(), sample.id.clone()),
        ]
    );
    assert!(store.list().iter().all(|s| s.size > tar.len() as u64 / 3));

    // Untagging one of two names keeps the content; removing by id drops both names and
    // then the content; the other image is untouched.
    store.remove("sample:v2").unwrap();
    assert!(sample_dirs[0].is_dir());
    assert!(store.resolve("localhost:5000/sample:v2").is_some());
    store.remove(&sample.id).unwrap();
    assert!(store.resolve("localhost:5000/sample:v2").is_none());
    assert!(
        !sample_dirs[0].exists(),
        "unused layer directory left behind"
    );
    let blob = store
        .root()
        .join("blobs/sha256")
        .join(sample.layers[0].digest.trim_start_matches("sha256:"));
    assert!(!blob.exists(), "unused layer blob left behind");
    assert!(nginx_dirs[0].join("bin/busybox").is_file());
    assert_eq!(store.list().len(), 1);
    // Three blobs remain: nginx's layer, config and manifest.
    assert_eq!(
        fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        3
    );

    let err = store.remove("sample:v2").unwrap_err();
    assert!(matches!(err, Error::NotPresent { .. }), "{err}");
}

#[test]
fn import_refuses_bad_names_and_missing_files() {
    let work = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&work.path().join("images")).unwrap();
    let tar_path = work.path().join("rootfs.tar");
    fs::write(
        &tar_path,
        common::Tar::new().file("hello", b"hi", 0o644).bytes(),
    )
    .unwrap();

    let err = store
        .import_rootfs(&tar_path, "Bad:Name", ImageConfig::default())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
    let digest_ref = format!("x@sha256:{}", "0".repeat(64));
    let err = store
        .import_rootfs(&tar_path, &digest_ref, ImageConfig::default())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
    let err = store
        .import_rootfs(
            &work.path().join("missing.tar"),
            "x:1",
            ImageConfig::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.tar"), "{err}");
    // Nothing half-imported is left behind.
    assert!(store.list().is_empty());
    let scratch = store
        .root()
        .join("tmp")
        .join(std::process::id().to_string());
    assert_eq!(fs::read_dir(scratch).unwrap().count(), 0);
}
