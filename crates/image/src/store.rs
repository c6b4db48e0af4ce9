//! The store itself: opening a root, blobs, image records, resolving references, listing,
//! removal and garbage collection. The layout is described in the crate docs.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};
use tempfile::{NamedTempFile, TempPath};

use crate::error::{Error, IoContext, Result};
use crate::oci;
use crate::pull::InFlight;
use crate::reference::{validate_digest, Reference};
use crate::{Image, ImageSummary};

/// A content-addressed image store under one root directory. Cloning is cheap; clones share
/// in-flight pulls, leases and locks.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    /// Digests that garbage collection must keep although no record names them yet (content
    /// being pulled, loaded or unpacked), with a count of holders.
    leases: Mutex<HashMap<String, usize>>,
    /// One lock per layer digest being unpacked, so each layer is unpacked once.
    pub(crate) unpack_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Pulls under way, by normalised reference.
    pub(crate) inflight: Mutex<HashMap<String, InFlight>>,
}

/// Holds digests against garbage collection until dropped.
pub(crate) struct Lease {
    inner: Arc<Inner>,
    digests: Vec<String>,
}

impl Lease {
    /// Adds more digests to this lease.
    pub(crate) fn add(&mut self, digests: impl IntoIterator<Item = String>) {
        let mut leases = lock(&self.inner.leases);
        for digest in digests {
            *leases.entry(digest.clone()).or_default() += 1;
            self.digests.push(digest);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut leases = lock(&self.inner.leases);
        for digest in &self.digests {
            if let Some(count) = leases.get_mut(digest) {
                *count -= 1;
                if *count == 0 {
                    leases.remove(digest);
                }
            }
        }
    }
}

/// Locks a mutex, recovering from poisoning (the data are plain maps that stay consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates `path` (and parents) as a private directory.
fn mkdir_private(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .ctx(|| format!("cannot create image store directory {}", path.display()))
}

/// fsyncs a directory so a rename into it survives a crash.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("cannot sync directory {}", path.display()))
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root` and clears leftovers of interrupted
    /// work from its `tmp/` directory: scratch directories of processes no longer alive.
    pub fn open(root: &Path) -> Result<ImageStore> {
        let store = ImageStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                leases: Mutex::default(),
                unpack_locks: Mutex::default(),
                inflight: Mutex::default(),
            }),
        };
        mkdir_private(root)?;
        for dir in [
            store.blobs_dir(),
            store.layers_dir(),
            store.refs_dir(),
            root.join("tmp"),
        ] {
            mkdir_private(&dir)?;
        }
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).ctx(|| format!("cannot read {}", tmp.display()))? {
            let entry = entry.ctx(|| format!("cannot read {}", tmp.display()))?;
            let path = entry.path();
            let owner_alive = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
                });
            if owner_alive {
                continue;
            }
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            if let Err(e) = removed {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove leftover temporary file");
            }
        }
        mkdir_private(&store.tmp_dir())?;
        Ok(store)
    }

    /// The root directory this store was opened on.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.inner.root.join("blobs").join("sha256")
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.inner.root.join("layers").join("sha256")
    }

    pub(crate) fn refs_dir(&self) -> PathBuf {
        self.inner.root.join("refs")
    }

    /// This process's scratch directory: `tmp/<pid>`, so that a second process using the
    /// store (`orca image import` beside a running server) never clears work in progress.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.inner
            .root
            .join("tmp")
            .join(std::process::id().to_string())
    }

    /// The hex part of a `sha256:` digest, refusing anything else (digests become file names).
    pub(crate) fn digest_hex(digest: &str) -> Result<&str> {
        validate_digest(digest).map_err(|why| Error::invalid_image(digest, why))?;
        digest.strip_prefix("sha256:").ok_or_else(|| {
            Error::invalid_image(digest, "only sha256 content is supported by this store")
        })
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.blobs_dir().join(Self::digest_hex(digest)?))
    }

    pub(crate) fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    pub(crate) fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).ctx(|| format!("cannot read blob {digest}; pull or load the image again"))
    }

    /// A new temporary file in the store's `tmp/`.
    pub(crate) fn tmp_file(&self) -> Result<NamedTempFile> {
        NamedTempFile::new_in(self.tmp_dir()).ctx(|| {
            format!(
                "cannot create a temporary file in {}",
                self.tmp_dir().display()
            )
        })
    }

    /// Moves a complete, fsynced temporary file into place as blob `digest`.
    pub(crate) fn commit_blob(&self, tmp: TempPath, digest: &str) -> Result<()> {
        let dest = self.blob_path(digest)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
            .ctx(|| format!("cannot set permissions of {}", tmp.display()))?;
        tmp.persist(&dest)
            .map_err(|e| Error::io(format!("cannot store blob {digest}"), e.error))?;
        sync_dir(&self.blobs_dir())
    }

    /// Stores `bytes` as a blob and returns its digest.
    pub(crate) fn write_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = oci::sha256_digest(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut tmp = self.tmp_file()?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .ctx(|| format!("cannot write blob {digest}"))?;
        self.commit_blob(tmp.into_temp_path(), &digest)?;
        Ok(digest)
    }

    /// Moves a file from the store's `tmp/` into the blob store, returning digest and size.
    /// With `expected`, the content must hash to it.
    pub(crate) fn ingest_move(&self, path: &Path, expected: Option<&str>) -> Result<(String, u64)> {
        let (digest, size) = hash_file(path)?;
        if let Some(expected) = expected {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    what: path.display().to_string(),
                    expected: expected.to_string(),
                    actual: digest,
                });
            }
        }
        if !self.has_blob(&digest) {
            File::open(path)
                .and_then(|f| f.sync_all())
                .ctx(|| format!("cannot sync {}", path.display()))?;
            let tmp = TempPath::try_from_path(path)
                .ctx(|| format!("cannot use {} as a temporary file", path.display()))?;
            self.commit_blob(tmp, &digest)?;
        }
        Ok((digest, size))
    }

    /// Copies a file from anywhere into the blob store, returning digest and size.
    pub(crate) fn ingest_copy(&self, path: &Path) -> Result<(String, u64)> {
        let mut src = File::open(path).ctx(|| format!("cannot open {}", path.display()))?;
        let mut tmp = self.tmp_file()?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = src
                .read(&mut buf)
                .ctx(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .ctx(|| format!("cannot copy {} into the image store", path.display()))?;
            size += n as u64;
        }
        tmp.as_file()
            .sync_all()
            .ctx(|| format!("cannot copy {} into the image store", path.display()))?;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if !self.has_blob(&digest) {
            self.commit_blob(tmp.into_temp_path(), &digest)?;
        }
        Ok((digest, size))
    }

    /// Holds `digests` against garbage collection until the lease is dropped.
    pub(crate) fn lease(&self, digests: impl IntoIterator<Item = String>) -> Lease {
        let mut lease = Lease {
            inner: self.inner.clone(),
            digests: Vec::new(),
        };
        lease.add(digests);
        lease
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        let key = hex::encode(Sha256::digest(reference.as_bytes()));
        self.refs_dir().join(format!("{key}.json"))
    }

    /// Writes (atomically replacing) the record for `image.reference`. Everything the image
    /// names must already be stored.
    pub(crate) fn write_image(&self, image: &Image) -> Result<()> {
        let json = serde_json::to_vec_pretty(image).expect("an image record always serialises");
        let mut tmp = self.tmp_file()?;
        tmp.write_all(&json)
            .and_then(|()| tmp.as_file().sync_all())
            .ctx(|| format!("cannot write the record of {}", image.reference))?;
        tmp.persist(self.record_path(&image.reference))
            .map_err(|e| {
                Error::io(
                    format!("cannot write the record of {}", image.reference),
                    e.error,
                )
            })?;
        sync_dir(&self.refs_dir())
    }

    fn read_image(&self, reference: &str) -> Option<Image> {
        let bytes = fs::read(self.record_path(reference)).ok()?;
        let image: Image = serde_json::from_slice(&bytes).ok()?;
        (image.reference == reference).then_some(image)
    }

    /// Every image record.
    pub(crate) fn images(&self) -> Vec<Image> {
        let Ok(dir) = fs::read_dir(self.refs_dir()) else {
            return Vec::new();
        };
        let mut images: Vec<Image> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        images.sort_by(|a, b| a.reference.cmp(&b.reference));
        images
    }

    /// The local image for `reference`, if present: a normalised name (`busybox:1.36` finds
    /// `docker.io/library/busybox:1.36`), `name@sha256:<digest>` (matching the manifest or the
    /// repo digest of any stored image of that repository), or an image id `sha256:<hex>`.
    pub fn resolve(&self, reference: &str) -> Option<Image> {
        if let Some(id) = as_image_id(reference) {
            return self.images().into_iter().find(|i| i.id == id);
        }
        let r = Reference::parse(reference).ok()?;
        let key = r.to_string();
        if let Some(image) = self.read_image(&key) {
            return Some(image);
        }
        let digest = r.digest.as_ref()?;
        let name = r.name();
        let repo_digest = format!("{name}@{digest}");
        self.images().into_iter().find(|i| {
            Reference::parse(&i.reference).is_ok_and(|ir| ir.name() == name)
                && (i.manifest_digest == *digest || i.repo_digest.as_deref() == Some(&repo_digest))
        })
    }

    /// Every stored reference with its image id and size, sorted by reference.
    pub fn list(&self) -> Vec<ImageSummary> {
        self.images()
            .into_iter()
            .map(|i| ImageSummary {
                reference: i.reference,
                id: i.id,
                repo_digest: i.repo_digest,
                size: i.size,
            })
            .collect()
    }

    /// Removes a reference (an image id removes every reference to that image), then deletes
    /// blobs and unpacked layers that no remaining image uses. The caller must not remove an
    /// image a container still runs from.
    pub fn remove(&self, reference: &str) -> Result<()> {
        let image = self.resolve(reference).ok_or_else(|| Error::NotPresent {
            reference: normalize_or_same(reference),
        })?;
        let doomed: Vec<String> = if as_image_id(reference).is_some() {
            self.images()
                .into_iter()
                .filter(|i| i.id == image.id)
                .map(|i| i.reference)
                .collect()
        } else {
            vec![image.reference.clone()]
        };
        for reference in doomed {
            let path = self.record_path(&reference);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot remove image {reference}"), e)),
            }
            tracing::info!(image = %reference, id = %image.id, "image removed");
        }
        sync_dir(&self.refs_dir())?;
        self.gc()
    }

    /// Deletes every blob and unpacked layer that no image record names and no operation in
    /// progress holds. Runs after every [`ImageStore::remove`]; safe to call any time.
    pub fn gc(&self) -> Result<()> {
        // Holding the lease table for the whole sweep makes it atomic with respect to new
        // leases: content is either leased before the sweep (kept) or looked for after it.
        let leases = lock(&self.inner.leases);
        let mut keep: HashSet<String> = leases.keys().cloned().collect();
        for image in self.images() {
            keep.insert(image.id.clone());
            keep.insert(image.manifest_digest.clone());
            if let Some((_, digest)) = image.repo_digest.as_deref().and_then(|d| d.split_once('@'))
            {
                keep.insert(digest.to_string());
            }
            keep.extend(image.layers.iter().map(|l| l.digest.clone()));
        }
        let unreferenced = |dir: &Path| -> Result<Vec<(String, PathBuf)>> {
            let entries = fs::read_dir(dir).ctx(|| format!("cannot read {}", dir.display()))?;
            Ok(entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    (
                        format!("sha256:{}", e.file_name().to_string_lossy()),
                        e.path(),
                    )
                })
                .filter(|(digest, _)| !keep.contains(digest))
                .collect())
        };
        for (digest, path) in unreferenced(&self.blobs_dir())? {
            fs::remove_file(&path).ctx(|| format!("cannot delete unused blob {digest}"))?;
            tracing::debug!(%digest, "unused blob deleted");
        }
        for (digest, path) in unreferenced(&self.layers_dir())? {
            // Rename first, so a crash mid-delete never leaves a partial layer in place.
            let doomed = tempfile::Builder::new()
                .prefix("gc-")
                .tempdir_in(self.tmp_dir())
                .ctx(|| {
                    format!(
                        "cannot create a temporary directory in {}",
                        self.tmp_dir().display()
                    )
                })?;
            let target = doomed.path().join("layer");
            fs::rename(&path, &target).ctx(|| format!("cannot delete unused layer {digest}"))?;
            drop(doomed); // removes the directory tree
            tracing::debug!(%digest, "unused layer deleted");
        }
        drop(leases);
        Ok(())
    }
}

/// `sha256:<64 hex>` or bare 64 hex: an image id rather than a name.
fn as_image_id(reference: &str) -> Option<String> {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| format!("sha256:{hex}"))
}

fn normalize_or_same(reference: &str) -> String {
    crate::normalize(reference).unwrap_or_else(|_| reference.to_string())
}

/// sha256 digest and size of a file.
pub(crate) fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let size =
        io::copy(&mut file, &mut hasher).ctx(|| format!("cannot read {}", path.display()))?;
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_sha256_to_become_paths() {
        let ok = format!("sha256:{}", "0".repeat(64));
        assert_eq!(ImageStore::digest_hex(&ok).unwrap(), "0".repeat(64));
        for bad in [
            "sha256:../../etc/passwd",
            "sha256:",
            "md5:00",
            &format!("sha512:{}", "0".repeat(128)),
        ] {
            assert!(ImageStore::digest_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_ids_are_recognised() {
        let hex = "a".repeat(64);
        assert_eq!(as_image_id(&hex), Some(format!("sha256:{hex}")));
        assert_eq!(
            as_image_id(&format!("sha256:{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(as_image_id("busybox"), None);
    }

    #[test]
    fn blobs_are_written_once_and_open_clears_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let d = store.write_blob(b"hello").unwrap();
        assert_eq!(d, oci::sha256_digest(b"hello"));
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        assert_eq!(store.write_blob(b"hello").unwrap(), d);
        fs::write(store.tmp_dir().join("leftover"), b"x").unwrap();
        fs::create_dir(store.tmp_dir().join("leftover-dir")).unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        // Unreferenced, unleased content goes at the next collection; leased content stays.
        let e = store.write_blob(b"kept").unwrap();
        let lease = store.lease([e.clone()]);
        store.gc().unwrap();
        assert!(!store.has_blob(&d));
        assert!(store.has_blob(&e));
        drop(lease);
        store.gc().unwrap();
        assert!(!store.has_blob(&e));
    }
}
