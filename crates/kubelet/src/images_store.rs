//! [`ImageService`] over the node's real image store (`image::ImageStore`): references are
//! normalised and validated by the image crate, pull secrets matched to the registry host
//! with `image::parse_docker_config_json`, concurrent pulls of one image shared by the store.

use std::path::PathBuf;

use crate::images::{ImageConfig, ImageError, ImageInfo, ImageService, PullSecret};

fn info(image: image::Image) -> ImageInfo {
    let c = image.config;
    ImageInfo {
        id: image.id,
        reference: image.reference,
        repo_digest: image.repo_digest,
        config: ImageConfig {
            entrypoint: c.entrypoint,
            cmd: c.cmd,
            env: c.env,
            working_dir: c.working_dir,
            user: c.user,
            stop_signal: c.stop_signal,
        },
        size: image.size,
    }
}

fn error(e: image::Error) -> ImageError {
    match e {
        image::Error::InvalidReference { .. } => ImageError::InvalidName(e.to_string()),
        other => ImageError::Pull(other.to_string()),
    }
}

#[async_trait::async_trait]
impl ImageService for image::ImageStore {
    async fn pull(&self, reference: &str, secrets: &[PullSecret]) -> Result<ImageInfo, ImageError> {
        let host = image::registry_host(reference).map_err(error)?;
        let auth = secrets
            .iter()
            .find_map(|s| image::parse_docker_config_json(&s.0, &host));
        image::ImageStore::pull(self, reference, auth)
            .await
            .map(info)
            .map_err(error)
    }

    fn resolve(&self, reference: &str) -> Result<Option<ImageInfo>, ImageError> {
        if !reference.starts_with("sha256:") {
            image::normalize(reference).map_err(error)?;
        }
        Ok(image::ImageStore::resolve(self, reference).map(info))
    }

    fn layer_dirs(&self, image: &ImageInfo) -> Result<Vec<PathBuf>, ImageError> {
        let stored = image::ImageStore::resolve(self, &image.reference)
            .filter(|i| i.id == image.id)
            .or_else(|| image::ImageStore::resolve(self, &image.id))
            .ok_or_else(|| {
                ImageError::Store(format!(
                    "image {} is no longer on this node",
                    image.reference
                ))
            })?;
        image::ImageStore::layer_dirs(self, &stored).map_err(|e| ImageError::Store(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_image_store_serves_the_agent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = image::ImageStore::open(&tmp.path().join("images")).unwrap();
        let tar_path = tmp.path().join("rootfs.tar");
        {
            let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
            let data = b"hello";
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, "hello.txt", &data[..]).unwrap();
            b.finish().unwrap();
        }
        let config = image::ImageConfig {
            cmd: Some(vec!["sh".into()]),
            stop_signal: Some("SIGQUIT".into()),
            ..Default::default()
        };
        store
            .import_rootfs(&tar_path, "busybox:1.36", config)
            .unwrap();
        let svc: &dyn ImageService = &store;
        let found = svc
            .resolve("busybox:1.36")
            .unwrap()
            .expect("the imported image");
        assert_eq!(found.reference, "docker.io/library/busybox:1.36");
        assert!(found.id.starts_with("sha256:"));
        assert_eq!(found.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(found.config.stop_signal.as_deref(), Some("SIGQUIT"));
        let layers = svc.layer_dirs(&found).unwrap();
        assert_eq!(layers.len(), 1);
        assert!(layers[0].join("hello.txt").exists());
        assert_eq!(svc.resolve("other:1").unwrap(), None);
        assert!(matches!(
            svc.resolve("UPPER/Case:x"),
            Err(ImageError::InvalidName(_))
        ));
        assert!(matches!(
            svc.pull("UPPER/Case:x", &[]).await,
            Err(ImageError::InvalidName(_))
        ));
    }
}
