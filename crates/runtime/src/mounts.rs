//! Host mounts the runtime makes — container overlay root filesystems, the pod's `/dev/shm`
//! tmpfs, the pinned network namespace — behind [`Mounter`], plus a `/proc/self/mountinfo`
//! parser and a directory removal that never descends into a mount.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The mounts the runtime makes in the host's mount namespace.
pub(crate) trait Mounter: Send + Sync + 'static {
    /// Mounts an overlay at `target`; `lower` is lowest layer first.
    fn mount_overlay(
        &self,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()>;
    /// Mounts a `nosuid,nodev,noexec` tmpfs of `size` bytes, mode 1777.
    fn mount_tmpfs(&self, target: &Path, size: u64) -> io::Result<()>;
    /// Bind-mounts `/proc/<pid>/ns/net` onto the (created) file `target`.
    fn pin_netns(&self, pid: i32, target: &Path) -> io::Result<()>;
    /// Unmounts everything stacked on `target`; not being mounted is not an error.
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Mount points at or below `dir`, deepest first.
    fn mounts_under(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// The real thing: mount(2)/umount2(2) in the caller's mount namespace.
#[derive(Debug, Default)]
pub(crate) struct HostMounter;

impl Mounter for HostMounter {
    fn mount_overlay(
        &self,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()> {
        let data = overlay_options(lower, upper, work)?;
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| io::Error::other(format!("mount overlay on {}: {e}", target.display())))
    }

    fn mount_tmpfs(&self, target: &Path, size: u64) -> io::Result<()> {
        let data = format!("mode=1777,size={size}");
        mount(
            Some("shm"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(data.as_str()),
        )
        .map_err(|e| io::Error::other(format!("mount tmpfs on {}: {e}", target.display())))
    }

    fn pin_netns(&self, pid: i32, target: &Path) -> io::Result<()> {
        std::fs::File::create(target)?;
        let source = format!("/proc/{pid}/ns/net");
        mount(
            Some(source.as_str()),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| io::Error::other(format!("bind {source} on {}: {e}", target.display())))
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        // Several mounts may be stacked on one point; a bounded loop takes them all off.
        for _ in 0..16 {
            match umount2(target, MntFlags::MNT_DETACH) {
                Ok(()) => continue,
                Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "unmount {}: {e}",
                        target.display()
                    )))
                }
            }
        }
        Err(io::Error::other(format!(
            "{} stays mounted",
            target.display()
        )))
    }

    fn mounts_under(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
        Ok(mount_points_under(&parse_mountinfo(&info), dir))
    }
}

/// The `data` argument of an overlay mount (lowerdir is topmost first).
pub(crate) fn overlay_options(lower: &[PathBuf], upper: &Path, work: &Path) -> io::Result<String> {
    let check = |p: &Path| -> io::Result<String> {
        let s = p
            .to_str()
            .ok_or_else(|| io::Error::other(format!("non-UTF-8 path {}", p.display())))?;
        if s.contains([',', ':']) {
            return Err(io::Error::other(format!(
                "overlay cannot use a path with ',' or ':': {s}"
            )));
        }
        Ok(s.to_string())
    };
    if lower.is_empty() {
        return Err(io::Error::other("overlay needs at least one lower layer"));
    }
    let lowers = lower
        .iter()
        .rev()
        .map(|p| check(p))
        .collect::<io::Result<Vec<_>>>()?;
    // `volatile`: a container's upper layer never outlives it, so the overlay need not
    // sync it — which makes unmounting fast (a sync of the whole upper file system
    // otherwise).
    let data = format!(
        "lowerdir={},upperdir={},workdir={},volatile",
        lowers.join(":"),
        check(upper)?,
        check(work)?
    );
    // The kernel copies at most one page of mount data.
    if data.len() >= 4096 {
        return Err(io::Error::other(format!(
            "overlay options for {} layers are {} bytes, over the kernel's 4096: use a shorter image store path",
            lower.len(),
            data.len()
        )));
    }
    Ok(data)
}

/// One line of /proc/self/mountinfo, the fields the runtime uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountInfo {
    pub(crate) mount_point: PathBuf,
    pub(crate) fs_type: String,
    pub(crate) source: String,
    pub(crate) super_options: String,
}

/// Parses /proc/self/mountinfo, undoing the kernel's octal escapes (`\040` for a space).
pub(crate) fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = unescape(left.split(' ').nth(4)?);
            let mut r = right.split(' ');
            Some(MountInfo {
                mount_point: PathBuf::from(mount_point),
                fs_type: r.next()?.to_string(),
                source: unescape(r.next().unwrap_or_default()),
                super_options: r.next().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points at or below `dir`, deepest first (the order to unmount them in).
pub(crate) fn mount_points_under(mounts: &[MountInfo], dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with(dir))
        .map(|m| m.mount_point.clone())
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

/// Removes `path` and everything below it, refusing to descend into another file system
/// (a mount someone forgot to unmount): deleting through a bind mount would destroy the
/// data of a volume or an image layer. Missing `path` is fine.
pub(crate) fn remove_dir_all_on_one_fs(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    remove_tree(path, meta.dev())
}

fn remove_tree(dir: &Path, dev: u64) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            if meta.dev() != dev {
                return Err(io::Error::other(format!(
                    "{} is a mount point: not removing across it",
                    p.display()
                )));
            }
            remove_tree(&p, dev)?;
        } else if meta.dev() != dev {
            return Err(io::Error::other(format!(
                "{} is a mount point: not removing across it",
                p.display()
            )));
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 27 0:50 / /r/sandboxes/a/shm rw,nosuid shared:7 - tmpfs shm rw,size=65536k
91 27 0:51 / /r/sandboxes/a/containers/c/rootfs rw - overlay overlay rw,lowerdir=/l
92 27 0:52 / /r/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_fields_and_escapes_are_parsed() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 6);
        assert_eq!(m[1].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m[1].fs_type, "cgroup");
        assert_eq!(m[1].super_options, "rw,memory");
        assert_eq!(
            m[3].fs_type, "tmpfs",
            "optional fields before ' - ' are skipped"
        );
        assert_eq!(m[5].mount_point, Path::new("/r/with space"));
    }

    #[test]
    fn mounts_under_a_dir_come_deepest_first() {
        let m = parse_mountinfo(SAMPLE);
        let under = mount_points_under(&m, Path::new("/r/sandboxes/a"));
        assert_eq!(
            under,
            vec![
                PathBuf::from("/r/sandboxes/a/containers/c/rootfs"),
                PathBuf::from("/r/sandboxes/a/shm")
            ]
        );
        assert!(mount_points_under(&m, Path::new("/r/sandboxes/b")).is_empty());
    }

    #[test]
    fn overlay_lowerdir_lists_the_top_layer_first() {
        let o = overlay_options(
            &[PathBuf::from("/l/base"), PathBuf::from("/l/top")],
            Path::new("/u"),
            Path::new("/w"),
        )
        .unwrap();
        assert_eq!(o, "lowerdir=/l/top:/l/base,upperdir=/u,workdir=/w,volatile");
        assert!(
            overlay_options(&[PathBuf::from("/a:b")], Path::new("/u"), Path::new("/w")).is_err()
        );
        assert!(overlay_options(&[], Path::new("/u"), Path::new("/w")).is_err());
    }

    #[test]
    fn remove_dir_all_on_one_fs_removes_a_plain_tree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("x");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "1").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a/link")).unwrap();
        remove_dir_all_on_one_fs(&root).unwrap();
        assert!(!root.exists());
        assert!(
            Path::new("/etc").exists(),
            "symlinks are removed, not followed"
        );
        remove_dir_all_on_one_fs(&root).unwrap();
    }
}
