//! Unpacking layer blobs into directories an overlay root filesystem is stacked from.
//!
//! Each layer is unpacked once per blob digest: into a fresh directory under `tmp/`, which is
//! synced and then renamed to `layers/sha256/<hex>`. Whiteouts are converted for overlayfs
//! while unpacking; paths are confined to the layer directory (no `..`, no writing through a
//! symbolic link).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{Error, IoContext, Result};
use crate::store::{lock, sync_dir, ImageStore};
use crate::Image;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How a blob is compressed, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Opens a possibly compressed file as a stream of its uncompressed bytes.
pub(crate) fn open_decompressed(path: &Path) -> io::Result<(Box<dyn Read>, Compression)> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    let compression = Compression::sniff(reader.fill_buf()?);
    let stream: Box<dyn Read> = match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    };
    Ok((stream, compression))
}

impl ImageStore {
    /// The directories, lowest layer first, that an overlay root filesystem for `image` is
    /// stacked from (overlayfs's `lowerdir=` wants them in the reverse order). Layers not yet
    /// unpacked are unpacked now; this blocks, so call it off the async executor.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let _lease = self.lease(image.layers.iter().map(|l| l.digest.clone()));
        image
            .layers
            .iter()
            .map(|layer| self.unpacked_layer(&layer.digest, &image.reference))
            .collect()
    }

    /// The unpacked directory of one layer blob, unpacking it first if needed.
    fn unpacked_layer(&self, digest: &str, reference: &str) -> Result<PathBuf> {
        let hex = Self::digest_hex(digest)?;
        let final_dir = self.layers_dir().join(hex);
        let fs_dir = final_dir.join("fs");
        if fs_dir.is_dir() {
            return Ok(fs_dir);
        }
        let unpack_lock = lock(&self.inner.unpack_locks)
            .entry(digest.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone();
        let guard = lock(&unpack_lock);
        let result = if fs_dir.is_dir() {
            Ok(())
        } else {
            self.unpack_into_place(digest, reference, &final_dir)
        };
        drop(guard);
        {
            let mut locks = lock(&self.inner.unpack_locks);
            // Two references: the map's and ours. Anyone else waiting holds a third.
            if Arc::strong_count(&unpack_lock) <= 2 {
                locks.remove(digest);
            }
        }
        result.map(|()| fs_dir)
    }

    fn unpack_into_place(&self, digest: &str, reference: &str, final_dir: &Path) -> Result<()> {
        let blob = self.blob_path(digest)?;
        if !blob.is_file() {
            return Err(Error::io(
                format!("layer {digest} of {reference} is missing from the image store; pull or load the image again"),
                io::Error::from(io::ErrorKind::NotFound),
            ));
        }
        let started = std::time::Instant::now();
        let tmp = tempfile::Builder::new()
            .prefix("unpack-")
            .tempdir_in(self.tmp_dir())
            .ctx(|| {
                format!(
                    "cannot create a temporary directory in {}",
                    self.tmp_dir().display()
                )
            })?;
        let fs_dir = tmp.path().join("fs");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&fs_dir)
            .ctx(|| format!("cannot create {}", fs_dir.display()))?;
        fs::set_permissions(&fs_dir, fs::Permissions::from_mode(0o755))
            .ctx(|| format!("cannot set permissions of {}", fs_dir.display()))?;
        let (stream, _) = open_decompressed(&blob)
            .ctx(|| format!("cannot read layer {digest} of {reference}"))?;
        unpack_tar(stream, &fs_dir)
            .ctx(|| format!("cannot unpack layer {digest} of {reference}"))?;
        // One syncfs makes the whole tree durable before the rename publishes it.
        File::open(&fs_dir)
            .and_then(|d| nix::unistd::syncfs(&d).map_err(io::Error::from))
            .ctx(|| format!("cannot sync unpacked layer {digest}"))?;
        let tmp_path = tmp.keep();
        match fs::rename(&tmp_path, final_dir) {
            Ok(()) => {}
            Err(_) if final_dir.join("fs").is_dir() => {
                // Another process got there first; its copy is as good as ours.
                let _ = fs::remove_dir_all(&tmp_path);
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp_path);
                return Err(Error::io(
                    format!("cannot move unpacked layer {digest} into place"),
                    e,
                ));
            }
        }
        sync_dir(&self.layers_dir())?;
        tracing::debug!(%digest, image = %reference, elapsed_ms = started.elapsed().as_millis() as u64, "layer unpacked");
        Ok(())
    }
}

/// Unpacks a layer tar into `dst`, converting whiteouts for overlayfs.
pub(crate) fn unpack_tar(reader: impl Read, dst: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(rel) = confined(&path) else {
            tracing::warn!(path = %path.display(), "skipping layer entry that leaves the layer");
            continue;
        };
        let Some(name) = rel.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            // The root directory itself: keep the layer root as created.
            continue;
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        if name == OPAQUE_WHITEOUT {
            let dir = real_dir(dst, parent_rel)?;
            xattr::set(&dir, OPAQUE_XATTR, b"y")?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) || hidden.is_empty() {
                continue; // aufs bookkeeping (.wh..wh.plnk and friends), meaningless here
            }
            let target = real_dir(dst, parent_rel)?.join(hidden);
            remove_any(&target)?;
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))?;
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            let target = real_dir(dst, parent_rel)?.join(&name);
            make_special(&entry, &target)?;
            continue;
        }
        entry.unpack_in(dst)?;
    }
    Ok(())
}

/// The entry path relative to the layer root, or `None` if it has a `..` component.
fn confined(path: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    Some(rel)
}

/// `dst/rel` as a real directory inside `dst`, created (0755) where missing; a symbolic link
/// or non-directory on the way is an error, so nothing is written outside `dst`.
fn real_dir(dst: &Path, rel: &Path) -> io::Result<PathBuf> {
    let mut dir = dst.to_path_buf();
    for component in rel.components() {
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a directory in the layer", dir.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new().mode(0o755).create(&dir)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

/// Removes whatever is at `path` (never following a symbolic link).
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a device node or FIFO entry with its mode and owner.
fn make_special<R: Read>(entry: &tar::Entry<'_, R>, target: &Path) -> io::Result<()> {
    let header = entry.header();
    let kind = header.entry_type();
    let sflag = if kind.is_character_special() {
        SFlag::S_IFCHR
    } else if kind.is_block_special() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFIFO
    };
    let major = header.device_major()?.unwrap_or(0);
    let minor = header.device_minor()?.unwrap_or(0);
    let mode = header.mode()? & 0o7777;
    remove_any(target)?;
    mknod(
        target,
        sflag,
        Mode::empty(),
        makedev(major.into(), minor.into()),
    )?;
    std::os::unix::fs::lchown(
        target,
        Some(header.uid()? as u32),
        Some(header.gid()? as u32),
    )?;
    fs::set_permissions(target, fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    fn add_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn add_dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
        let mut h = header(tar::EntryType::Directory, 0, mode);
        b.append_data(&mut h, path, io::empty()).unwrap();
    }

    #[test]
    fn compression_is_sniffed_from_magic_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"etc/"), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        if !is_root() {
            println!("SKIPPED: whiteouts need root for mknod and trusted xattrs");
            return;
        }
        let mut b = tar::Builder::new(Vec::new());
        add_dir(&mut b, "etc/", 0o755);
        add_file(&mut b, "etc/.wh.passwd", b"");
        add_dir(&mut b, "var/cache/", 0o700);
        add_file(&mut b, "var/cache/.wh..wh..opq", b"");
        add_file(&mut b, "var/cache/new", b"fresh");
        add_file(&mut b, "deep/er/.wh.gone", b"");
        add_file(&mut b, ".wh..wh.plnk", b"");
        let tar = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        unpack_tar(&tar[..], dir.path()).unwrap();

        let wh = fs::symlink_metadata(dir.path().join("etc/passwd")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert!(fs::symlink_metadata(dir.path().join("etc/.wh.passwd")).is_err());
        assert!(fs::symlink_metadata(dir.path().join("deep/er/gone"))
            .unwrap()
            .file_type()
            .is_char_device());
        let opaque = xattr::get(dir.path().join("var/cache"), OPAQUE_XATTR).unwrap();
        assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
        assert!(fs::symlink_metadata(dir.path().join("var/cache/.wh..wh..opq")).is_err());
        assert_eq!(
            fs::read(dir.path().join("var/cache/new")).unwrap(),
            b"fresh"
        );
        assert_eq!(
            fs::metadata(dir.path().join("var/cache")).unwrap().mode() & 0o7777,
            0o700
        );
        assert!(fs::symlink_metadata(dir.path().join(".wh..wh.plnk")).is_err());
        assert!(fs::symlink_metadata(dir.path().join("")).unwrap().is_dir());
    }

    #[test]
    fn whiteouts_do_not_follow_symlinks_out_of_the_layer() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("victim"), b"safe").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Symlink, 0, 0o777);
        b.append_link(&mut h, "escape", outside.path()).unwrap();
        add_file(&mut b, "escape/.wh.victim", b"");
        let tar = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = unpack_tar(&tar[..], dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("is not a directory in the layer"),
            "{err}"
        );
        assert_eq!(fs::read(outside.path().join("victim")).unwrap(), b"safe");
    }

    #[test]
    fn parent_dir_components_are_skipped() {
        assert_eq!(confined(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(confined(Path::new("/a")), Some(PathBuf::from("a")));
        assert_eq!(confined(Path::new("a/../../b")), None);
    }
}
