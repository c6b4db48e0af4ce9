//! The images of `scenarios/README.md`, built at test time from busybox-static and
//! imported with `orca image import`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::runtime_support;

/// What `/sample.war` of the `sample:v2` image holds.
pub const SAMPLE_WAR: &str = "PK-not-really-a-war: sample.war of sample:v2\n";

/// The images of `scenarios/README.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestImage {
    /// `busybox:1.36`: busybox and its applet links; `sh`.
    Busybox,
    /// `nginx:1.27`: `/usr/share/nginx/html/index.html` = `Welcome`; busybox httpd on 80.
    Nginx,
    /// `sample:v2`: `/sample.war`; `sh`.
    Sample,
    /// `tomcat:7.0`: `/opt/tomcat/webapps/`; busybox httpd on 8080.
    Tomcat,
}

impl TestImage {
    pub fn reference(self) -> &'static str {
        match self {
            TestImage::Busybox => "busybox:1.36",
            TestImage::Nginx => "nginx:1.27",
            TestImage::Sample => "sample:v2",
            TestImage::Tomcat => "tomcat:7.0",
        }
    }

    fn cmd(self) -> &'static [&'static str] {
        match self {
            TestImage::Busybox | TestImage::Sample => &["sh"],
            TestImage::Nginx => &["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"],
            TestImage::Tomcat => &["httpd", "-f", "-p", "8080", "-h", "/opt/tomcat/webapps"],
        }
    }

    /// Files (Some(content)) and directories (None) on top of the busybox layer.
    fn extra(self) -> &'static [(&'static str, Option<&'static str>)] {
        match self {
            TestImage::Busybox => &[],
            TestImage::Nginx => &[
                ("usr/share/nginx/html", None),
                ("usr/share/nginx/html/index.html", Some("Welcome\n")),
            ],
            TestImage::Sample => &[("sample.war", Some(SAMPLE_WAR))],
            TestImage::Tomcat => &[("opt/tomcat/webapps", None)],
        }
    }
}

/// Every image of the scenarios.
pub const ALL_IMAGES: &[TestImage] = &[
    TestImage::Busybox,
    TestImage::Nginx,
    TestImage::Sample,
    TestImage::Tomcat,
];

/// The busybox root filesystem as a tarball under `work` (busybox, applet links,
/// /etc/passwd and /etc/group, /tmp), with `extra` files and directories on top.
pub fn rootfs_tar(work: &Path, name: &str, extra: &[(&str, Option<&str>)]) -> PathBuf {
    let base = work.join("layer");
    if !base.exists() {
        runtime_support::busybox_layer(work);
    }
    let top = work.join(format!("extra-{name}"));
    std::fs::create_dir_all(&top).unwrap();
    for (path, content) in extra {
        let p = top.join(path);
        match content {
            None => std::fs::create_dir_all(&p).unwrap(),
            Some(text) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, text).unwrap();
            }
        }
    }
    let tar = work.join(format!("{name}.tar"));
    let out = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&base)
        .arg(".")
        .arg("-C")
        .arg(&top)
        .arg(".")
        .output()
        .expect("running tar");
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tar
}

/// `orca image import` of `images` into the image store of `data_dir`.
pub fn import_images(data_dir: &Path, images: &[TestImage]) {
    let work = tempfile::tempdir().unwrap();
    for image in images {
        let name = image.reference().replace([':', '/'], "_");
        let tar = rootfs_tar(work.path(), &name, image.extra());
        let out = Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(["image", "--data-dir"])
            .arg(data_dir)
            .arg("import")
            .arg(&tar)
            .arg(image.reference())
            .arg("--")
            .args(image.cmd())
            .output()
            .expect("running orca image import");
        assert!(
            out.status.success(),
            "orca image import {}: {}",
            image.reference(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
