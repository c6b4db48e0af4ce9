//! OCI images for the node agent: registry pulls (with pull-secret credentials), `docker
//! save` / OCI archive loading, root-filesystem import, a content-addressed blob store, layer
//! unpacking for overlay root filesystems, and garbage collection of unreferenced content.
//! It knows nothing about pods.
//!
//! # On-disk layout
//!
//! Everything lives under the root passed to [`ImageStore::open`] (`<data-dir>/images`):
//!
//! ```text
//! <root>/
//!   blobs/sha256/<hex>        content-addressed blobs, named by the sha256 of their bytes:
//!                             image indexes, manifests, configs and (compressed) layer tars
//!   layers/sha256/<hex>/fs/   a layer unpacked once, keyed by the digest of its layer blob;
//!                             overlay whiteouts are already converted (see below)
//!   refs/<hex>.json           one image record per reference (hex = sha256 of the normalised
//!                             reference): the serialised [`Image`] it resolves to
//!   tmp/                      in-progress downloads, archive extraction and layer unpacks;
//!                             emptied by [`ImageStore::open`]
//! ```
//!
//! Every write is a write to `tmp/` followed by an atomic `rename` into place: a blob is
//! fsynced before its rename, a layer directory is unpacked completely (and its filesystem
//! synced) before it is renamed to `layers/sha256/<hex>`, and an image record is written only
//! after everything it names is in place. A crash therefore leaves at worst garbage in `tmp/`
//! or unreferenced blobs, never a half-written layer that looks complete. Removal runs the
//! other way round: first the record, then [`ImageStore::gc`] deletes blobs and layer
//! directories that no record names (a layer directory is renamed into `tmp/` before it is
//! deleted).
//!
//! Layers are unpacked for overlayfs: a `.wh.<name>` entry becomes a `0/0` character device
//! `<name>` and `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory. Gzip, zstd
//! and uncompressed layers are recognised by their magic bytes.
//!
//! One process owns a store root at a time (the node agent) and opens it once ([`ImageStore::open`]
//! clears `tmp/`); within it, an [`ImageStore`] is cheap to clone and safe to share. Layer directories of an image in use by a container must
//! not be removed: remove an image only when no container uses it (the kubelet's image GC
//! makes the same rule).

mod archive;
mod auth;
mod error;
mod import;
mod oci;
mod pull;
mod reference;
mod store;
mod unpack;

pub use auth::parse_docker_config_json;
pub use error::{Error, Result};
pub use oci::ImageConfig;
pub use oci_client::secrets::RegistryAuth;
pub use reference::{normalize, registry_host, Reference};
pub use store::ImageStore;

use serde::{Deserialize, Serialize};

/// A stored image, as a reference resolves to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:<config digest>`, the image id (`docker images --no-trunc`).
    pub id: String,
    /// The normalised reference this record is stored under (`docker.io/library/busybox:1.36`);
    /// the id itself for an unnamed image loaded from an archive.
    pub reference: String,
    /// `name@sha256:<digest>` of what the registry served (the index for a multi-platform
    /// image), for a pod's `status.containerStatuses[].imageID`; `None` for loaded and
    /// imported images.
    pub repo_digest: Option<String>,
    /// Digest of the platform-specific image manifest.
    pub manifest_digest: String,
    /// What the container runtime needs from the image config.
    pub config: ImageConfig,
    /// Layer blobs, lowest first.
    pub layers: Vec<Layer>,
    /// Stored size in bytes: layer blobs (as stored, usually compressed) plus config.
    pub size: u64,
}

/// One layer blob of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// `sha256:<hex>` of the blob as stored (compressed if it came compressed).
    pub digest: String,
    /// The OCI or docker layer media type.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
}

/// One line of [`ImageStore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// Normalised reference (or the id for an unnamed image).
    pub reference: String,
    /// `sha256:<config digest>`.
    pub id: String,
    /// `name@sha256:<manifest digest>` for pulled images.
    pub repo_digest: Option<String>,
    /// Stored size in bytes.
    pub size: u64,
}
