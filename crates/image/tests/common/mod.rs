//! Helpers shared by the integration tests: tar building, the busybox root filesystem from
//! Debian's `busybox-static`, digests, and an overlay mount that cleans up after itself.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

pub const BUSYBOX: &str = "/bin/busybox";

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// An in-memory tar with root-owned entries and fixed times.
pub struct Tar(tar::Builder<Vec<u8>>);

impl Default for Tar {
    fn default() -> Self {
        Tar::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Tar {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Tar {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, mode);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Symlink, 0, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A root filesystem tar of Debian's static busybox with its applet links (as `busybox
/// --install` would make them) and `extra` files, or `None` when busybox-static is missing.
pub fn busybox_rootfs(extra: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    if !Path::new(BUSYBOX).is_file() {
        return None;
    }
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let list = Command::new(BUSYBOX).arg("--list-full").output().unwrap();
    assert!(list.status.success(), "busybox --list-full failed");
    let mut tar = Tar::new()
        .dir("bin", 0o755)
        .dir("sbin", 0o755)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .dir("usr/sbin", 0o755)
        .dir("etc", 0o755)
        .dir("tmp", 0o1777)
        .file("bin/busybox", &busybox, 0o755);
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        let applet = applet.trim().trim_end_matches('/');
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        tar = tar.symlink(applet, "/bin/busybox");
    }
    for (path, data) in extra {
        tar = tar.file(path, data, 0o644);
    }
    Some(tar.bytes())
}

/// A read-only overlay of `lower` directories (lowest first), unmounted on drop.
pub struct Overlay {
    pub target: PathBuf,
    _dir: tempfile::TempDir,
}

impl Overlay {
    pub fn mount(lower: &[PathBuf]) -> Overlay {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("merged");
        std::fs::create_dir(&target).unwrap();
        let lowerdir = lower
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let status = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!("lowerdir={lowerdir}"))
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success(), "mount overlay failed");
        Overlay { target, _dir: dir }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.target).status();
        assert!(
            std::thread::panicking() || status.is_ok_and(|s| s.success()),
            "umount {} failed",
            self.target.display()
        );
    }
}

/// Whether `path` is a mount point (in /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.display().to_string();
    mountinfo
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.as_str()))
}
