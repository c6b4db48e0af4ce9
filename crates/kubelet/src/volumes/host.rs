//! The host operations volumes need that require privileges — tmpfs mounts, unmounts,
//! ownership — behind [`VolumeHost`], with the real [`LinuxHost`] and the recording
//! [`FakeHost`] for tests that run without root.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Privileged filesystem operations on the node.
pub trait VolumeHost: Send + Sync + 'static {
    /// Mounts a tmpfs of at most `size` bytes (unlimited: the kernel's default) at `path`.
    fn mount_tmpfs(&self, path: &Path, size: Option<u64>) -> io::Result<()>;
    /// Unmounts `path` (lazily); not mounted is not an error.
    fn unmount(&self, path: &Path) -> io::Result<()>;
    /// Mount points at or below `root`, deepest first.
    fn mounts_under(&self, root: &Path) -> Vec<PathBuf>;
    /// Changes the owner and/or group of `path`.
    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()>;
}

/// The real host (needs root for mounts and chown).
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxHost;

/// Undoes the octal escapes of `/proc/self/mountinfo` (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points listed in a mountinfo text at or below `root`, deepest first.
pub fn parse_mounts_under(mountinfo: &str, root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(root))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

impl VolumeHost for LinuxHost {
    fn mount_tmpfs(&self, path: &Path, size: Option<u64>) -> io::Result<()> {
        use nix::mount::{mount, MsFlags};
        let mut data = String::from("mode=0777");
        if let Some(size) = size {
            data.push_str(&format!(",size={size}"));
        }
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .map_err(io::Error::from)
    }

    fn unmount(&self, path: &Path) -> io::Result<()> {
        use nix::mount::{umount2, MntFlags};
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    fn mounts_under(&self, root: &Path) -> Vec<PathBuf> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|m| parse_mounts_under(&m, root))
            .unwrap_or_default()
    }

    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        std::os::unix::fs::chown(path, uid, gid)
    }
}

/// What [`FakeHost`] was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCall {
    MountTmpfs {
        path: PathBuf,
        size: Option<u64>,
    },
    Unmount(PathBuf),
    Chown {
        path: PathBuf,
        uid: Option<u32>,
        gid: Option<u32>,
    },
}

/// A recording [`VolumeHost`]: tmpfs mounts are plain directories, chown does nothing.
#[derive(Clone, Default)]
pub struct FakeHost {
    calls: Arc<Mutex<Vec<HostCall>>>,
    mounted: Arc<Mutex<Vec<PathBuf>>>,
}

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    pub fn calls(&self) -> Vec<HostCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Paths mounted and not yet unmounted.
    pub fn mounted(&self) -> Vec<PathBuf> {
        self.mounted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, c: HostCall) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }
}

impl VolumeHost for FakeHost {
    fn mount_tmpfs(&self, path: &Path, size: Option<u64>) -> io::Result<()> {
        self.record(HostCall::MountTmpfs {
            path: path.to_path_buf(),
            size,
        });
        self.mounted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_path_buf());
        Ok(())
    }

    fn unmount(&self, path: &Path) -> io::Result<()> {
        self.record(HostCall::Unmount(path.to_path_buf()));
        self.mounted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != path);
        Ok(())
    }

    fn mounts_under(&self, root: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .mounted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|p| p.starts_with(root))
            .cloned()
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        v
    }

    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        self.record(HostCall::Chown {
            path: path.to_path_buf(),
            uid,
            gid,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_mounts_below_a_root_are_found_deepest_first() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 0:50 / /data/pods/a_b_c/.volumes/kubernetes.io~empty-dir/mem rw - tmpfs tmpfs rw
91 90 0:51 / /data/pods/a_b_c/.volumes/kubernetes.io~empty-dir/mem/deeper rw - tmpfs tmpfs rw
92 22 0:52 / /data/pods/a_b_c/.volumes/kubernetes.io~secret/with\\040space rw - tmpfs tmpfs rw
93 22 0:53 / /data/pods/x_y_z/.volumes/s rw - tmpfs tmpfs rw
";
        let found = parse_mounts_under(info, Path::new("/data/pods/a_b_c"));
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[0],
            Path::new("/data/pods/a_b_c/.volumes/kubernetes.io~empty-dir/mem/deeper")
        );
        assert!(found.contains(&PathBuf::from(
            "/data/pods/a_b_c/.volumes/kubernetes.io~secret/with space"
        )));
    }
}
