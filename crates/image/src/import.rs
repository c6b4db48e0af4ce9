//! Importing a root filesystem tarball as a single-layer image (`docker import`).

use std::io;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::archive::image_record;
use crate::error::{Error, IoContext, Result};
use crate::oci::{self, Descriptor, ImageConfig};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::{open_decompressed, Compression};
use crate::Image;

impl ImageStore {
    /// Stores the root filesystem tarball `tar` (plain, gzip or zstd) as a single-layer image
    /// named `reference` with `config`, replacing any image of that name, and unpacks it.
    /// Importing the same tarball and config again gives the same image id.
    pub fn import_rootfs(&self, tar: &Path, reference: &str, config: ImageConfig) -> Result<Image> {
        let r = Reference::parse(reference)?;
        if r.digest.is_some() {
            return Err(Error::invalid_reference(
                reference,
                "an imported image needs a tag, not a digest",
            ));
        }
        let (layer_digest, layer_size) = self.ingest_copy(tar)?;
        let mut lease = self.lease([layer_digest.clone()]);
        let blob = self.blob_path(&layer_digest)?;
        let (mut stream, compression) =
            open_decompressed(&blob).ctx(|| format!("cannot read {}", tar.display()))?;
        let (media_type, diff_id) = match compression {
            Compression::None => (oci::OCI_LAYER_TAR, layer_digest.clone()),
            Compression::Gzip | Compression::Zstd => {
                let mut hasher = Sha256::new();
                io::copy(&mut stream, &mut hasher)
                    .ctx(|| format!("cannot decompress {}", tar.display()))?;
                let media_type = if compression == Compression::Gzip {
                    oci::OCI_LAYER_GZIP
                } else {
                    oci::OCI_LAYER_ZSTD
                };
                (
                    media_type,
                    format!("sha256:{}", hex::encode(hasher.finalize())),
                )
            }
        };
        let config_json = config.to_oci_config_json(&[diff_id]);
        let config_digest = self.write_blob(&config_json)?;
        let config_desc = Descriptor::new(
            oci::OCI_CONFIG,
            config_digest.clone(),
            config_json.len() as u64,
        );
        let layers = [Descriptor::new(media_type, layer_digest, layer_size)];
        let manifest = oci::oci_manifest_json(&config_desc, &layers);
        let manifest_digest = self.write_blob(&manifest)?;
        lease.add([config_digest, manifest_digest.clone()]);

        let image = image_record(
            r.to_string(),
            None,
            &manifest_digest,
            &config_desc,
            &layers,
            config,
        );
        self.layer_dirs(&image)?;
        self.write_image(&image)?;
        tracing::info!(image = %image.reference, id = %image.id, "root filesystem imported");
        Ok(image)
    }
}
