//! Loading image archives: `docker save` / `podman save` (docker-archive: `manifest.json`
//! with `Config`, `RepoTags` and `Layers` paths) and OCI image layouts in a tar (`skopeo copy
//! ... oci-archive:`, `podman save --format oci-archive`, `docker save` since 25, which writes
//! both). The archive may itself be gzip- or zstd-compressed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, IoContext, Result};
use crate::oci::{self, Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::{ImageStore, Lease};
use crate::unpack::{open_decompressed, Compression};
use crate::{Image, Layer};

/// Annotation with the full image name (containerd, buildkit, docker 25+).
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation with the reference (a full name from podman/skopeo, often just a tag elsewhere).
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// How deep nested indexes may go.
const MAX_INDEX_DEPTH: usize = 4;

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// An archive extracted into the store's `tmp/`, with blobs moved out as they are used.
struct Extracted<'a> {
    store: &'a ImageStore,
    archive: &'a Path,
    dir: PathBuf,
    /// Where hard links to members are made before they move into the blob store.
    links: PathBuf,
    /// Extracted files already in the blob store, by canonical path.
    ingested: HashMap<PathBuf, (String, u64)>,
    lease: Lease,
}

impl ImageStore {
    /// Loads every image in a docker-archive or OCI-archive tar and returns the references
    /// stored (normalised; an image without a name is stored under its id). Layers are
    /// unpacked before this returns.
    pub fn load_archive(&self, path: &Path) -> Result<Vec<String>> {
        let tmp = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(self.tmp_dir())
            .ctx(|| {
                format!(
                    "cannot create a temporary directory in {}",
                    self.tmp_dir().display()
                )
            })?;
        let (stream, _) =
            open_decompressed(path).ctx(|| format!("cannot open {}", path.display()))?;
        let unpacked = tmp.path().join("archive");
        let mut tar = tar::Archive::new(stream);
        tar.unpack(&unpacked)
            .map_err(|e| Error::invalid_archive(path, format!("cannot unpack: {e}")))?;
        let dir = unpacked
            .canonicalize()
            .ctx(|| format!("cannot resolve {}", unpacked.display()))?;
        let mut extracted = Extracted {
            store: self,
            archive: path,
            dir,
            links: tmp.path().to_path_buf(),
            ingested: HashMap::new(),
            lease: self.lease([]),
        };
        let images = if extracted.dir.join("index.json").is_file() {
            extracted.load_oci_layout()?
        } else if extracted.dir.join("manifest.json").is_file() {
            extracted.load_docker_archive()?
        } else {
            return Err(Error::invalid_archive(
                path,
                "neither manifest.json (docker-archive) nor index.json (OCI layout) is in it; \
                 create it with `docker save`, `podman save` or `skopeo copy ... oci-archive:`",
            ));
        };
        if images.is_empty() {
            return Err(Error::invalid_archive(path, "it holds no images"));
        }
        let mut references = Vec::new();
        for image in &images {
            self.layer_dirs(image)?;
            self.write_image(image)?;
            tracing::info!(image = %image.reference, id = %image.id, archive = %path.display(), "image loaded");
            references.push(image.reference.clone());
        }
        drop(extracted);
        Ok(references)
    }
}

impl Extracted<'_> {
    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::invalid_archive(self.archive, reason)
    }

    /// A file named by the archive, which must stay inside the extracted tree.
    fn member(&self, rel: &str) -> Result<PathBuf> {
        let path = self
            .dir
            .join(rel)
            .canonicalize()
            .map_err(|e| self.invalid(format!("{rel}: {e}")))?;
        if !path.starts_with(&self.dir) || !path.is_file() {
            return Err(self.invalid(format!("{rel} is not a file inside the archive")));
        }
        Ok(path)
    }

    /// Moves an archive member into the blob store (once), checking `expected` if given.
    fn ingest(&mut self, rel: &str, expected: Option<&str>) -> Result<(String, u64)> {
        let path = self.member(rel)?;
        if let Some(done) = self.ingested.get(&path) {
            if expected.is_some_and(|e| e != done.0) {
                return Err(self.invalid(format!("{rel} does not match its digest")));
            }
            return Ok(done.clone());
        }
        if let Some(expected) = expected {
            self.lease.add([expected.to_string()]);
        }
        // Move a hard link, not the member: other members may be symbolic links to it
        // (older `docker save` deduplicates layers that way).
        let link = self.links.join(format!("ingest-{}", self.ingested.len()));
        fs::hard_link(&path, &link).ctx(|| format!("cannot link {}", path.display()))?;
        let (digest, size) = self.store.ingest_move(&link, expected)?;
        self.lease.add([digest.clone()]);
        self.ingested.insert(path, (digest.clone(), size));
        Ok((digest, size))
    }

    fn read_member(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.member(rel)?;
        fs::read(&path).ctx(|| format!("cannot read {rel} in {}", self.archive.display()))
    }

    fn load_docker_archive(&mut self) -> Result<Vec<Image>> {
        let entries: Vec<DockerArchiveEntry> =
            serde_json::from_slice(&self.read_member("manifest.json")?)
                .map_err(|e| self.invalid(format!("cannot parse manifest.json: {e}")))?;
        let mut images = Vec::new();
        for entry in entries {
            let config_bytes = self.read_member(&entry.config)?;
            let config = oci::ImageConfig::from_json(&config_bytes).map_err(|e| {
                self.invalid(format!("cannot parse image config {}: {e}", entry.config))
            })?;
            let (config_digest, config_size) = self.ingest(&entry.config, None)?;
            let diff_ids = oci::config_diff_ids(&config_bytes);
            if !diff_ids.is_empty() && diff_ids.len() != entry.layers.len() {
                return Err(self.invalid(format!(
                    "image config {} lists {} layers but the manifest has {}",
                    entry.config,
                    diff_ids.len(),
                    entry.layers.len()
                )));
            }
            let mut layers = Vec::new();
            for (i, rel) in entry.layers.iter().enumerate() {
                let path = self.member(rel)?;
                let (_, compression) =
                    open_decompressed(&path).ctx(|| format!("cannot read {rel}"))?;
                let media_type = match compression {
                    Compression::None => oci::OCI_LAYER_TAR,
                    Compression::Gzip => oci::OCI_LAYER_GZIP,
                    Compression::Zstd => oci::OCI_LAYER_ZSTD,
                };
                let (digest, size) = self.ingest(rel, None)?;
                // An uncompressed layer's digest is its diff id: check it against the config.
                if let (Compression::None, Some(diff_id)) = (compression, diff_ids.get(i)) {
                    if *diff_id != digest {
                        return Err(Error::DigestMismatch {
                            what: format!("layer {rel} in {}", self.archive.display()),
                            expected: diff_id.clone(),
                            actual: digest,
                        });
                    }
                }
                layers.push(Descriptor::new(media_type, digest, size));
            }
            let config_desc = Descriptor::new(oci::OCI_CONFIG, config_digest, config_size);
            let manifest = oci::oci_manifest_json(&config_desc, &layers);
            let manifest_digest = self.store.write_blob(&manifest)?;
            self.lease.add([manifest_digest.clone()]);
            let names = entry.repo_tags.unwrap_or_default();
            let names: Vec<String> = names
                .iter()
                .map(|tag| {
                    Reference::parse(tag)
                        .map(|r| r.to_string())
                        .map_err(|e| self.invalid(format!("bad RepoTags entry: {e}")))
                })
                .collect::<Result<_>>()?;
            for reference in names_or_id(names, &config_desc.digest) {
                images.push(image_record(
                    reference,
                    None,
                    &manifest_digest,
                    &config_desc,
                    &layers,
                    config.clone(),
                ));
            }
        }
        Ok(images)
    }

    fn load_oci_layout(&mut self) -> Result<Vec<Image>> {
        let index_bytes = self.read_member("index.json")?;
        let Manifest::Index { manifests } =
            Manifest::parse(&index_bytes, "index.json").map_err(|e| self.invalid(e.to_string()))?
        else {
            return Err(self.invalid("index.json is not an image index"));
        };
        let mut images = Vec::new();
        for entry in &manifests {
            let names = entry_names(entry)
                .into_iter()
                .map(|n| Reference::parse(&n).map(|r| r.to_string()))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| self.invalid(format!("bad image name annotation: {e}")))?;
            let (manifest_digest, config, layers) = self.resolve_entry(entry, 0)?;
            let config_bytes = self.store.read_blob(&config.digest)?;
            let image_config = oci::ImageConfig::from_json(&config_bytes).map_err(|e| {
                self.invalid(format!("cannot parse image config {}: {e}", config.digest))
            })?;
            for reference in names_or_id(names, &config.digest) {
                images.push(image_record(
                    reference,
                    None,
                    &manifest_digest,
                    &config,
                    &layers,
                    image_config.clone(),
                ));
            }
        }
        Ok(images)
    }

    /// Follows an index entry down to this platform's image manifest, ingesting the
    /// manifest(s), config and layers. Returns the manifest digest, config and layers.
    fn resolve_entry(
        &mut self,
        entry: &Descriptor,
        depth: usize,
    ) -> Result<(String, Descriptor, Vec<Descriptor>)> {
        if depth > MAX_INDEX_DEPTH {
            return Err(self.invalid("image indexes nest too deeply"));
        }
        let rel = blob_rel(&entry.digest).map_err(|e| self.invalid(e.to_string()))?;
        let bytes = self.read_member(&rel)?;
        self.ingest(&rel, Some(&entry.digest))?;
        match Manifest::parse(&bytes, &entry.digest).map_err(|e| self.invalid(e.to_string()))? {
            Manifest::Index { manifests } => {
                let (os, arch) = oci::current_platform();
                let child = oci::pick_platform(&manifests)
                    .ok_or_else(|| {
                        self.invalid(format!(
                            "no image for {os}/{arch} in index {}",
                            entry.digest
                        ))
                    })?
                    .clone();
                self.resolve_entry(&child, depth + 1)
            }
            Manifest::Image { config, layers } => {
                self.ingest(&blob_rel(&config.digest)?, Some(&config.digest))?;
                for layer in &layers {
                    self.ingest(&blob_rel(&layer.digest)?, Some(&layer.digest))?;
                }
                Ok((entry.digest.clone(), config, layers))
            }
        }
    }
}

/// `blobs/sha256/<hex>` for a digest, validated.
fn blob_rel(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", ImageStore::digest_hex(digest)?))
}

/// The names an OCI index entry carries: containerd's full name, else the OCI ref name.
fn entry_names(entry: &Descriptor) -> Vec<String> {
    entry
        .annotations
        .get(CONTAINERD_NAME)
        .or_else(|| entry.annotations.get(OCI_REF_NAME))
        .filter(|n| !n.is_empty())
        .cloned()
        .into_iter()
        .collect()
}

/// The names to store an image under; its id when it has none.
fn names_or_id(names: Vec<String>, config_digest: &str) -> Vec<String> {
    if names.is_empty() {
        vec![config_digest.to_string()]
    } else {
        names
    }
}

/// The record for an image made of stored content.
pub(crate) fn image_record(
    reference: String,
    repo_digest: Option<String>,
    manifest_digest: &str,
    config: &Descriptor,
    layers: &[Descriptor],
    image_config: oci::ImageConfig,
) -> Image {
    let layers: Vec<Layer> = layers
        .iter()
        .map(|d| Layer {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
        })
        .collect();
    Image {
        id: config.digest.clone(),
        reference,
        repo_digest,
        manifest_digest: manifest_digest.to_string(),
        config: image_config,
        size: config.size + layers.iter().map(|l| l.size).sum::<u64>(),
        layers,
    }
}
