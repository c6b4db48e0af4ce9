//! Making a container's image present per its imagePullPolicy (Always, IfNotPresent,
//! Never), with the pod's imagePullSecrets and upstream's pull back-off: failures show as
//! ErrImagePull, then ImagePullBackOff until the next try; ErrImageNeverPull and
//! InvalidImageName do not pull at all.

use std::time::Duration;

use crate::images::{ImageError, ImageInfo, PullSecret};
use crate::pod_worker::Worker;

/// How long an image that cannot work (invalid name, Never policy) waits before the next
/// look (a spec change looks at once).
const STUCK_RETRY: Duration = Duration::from_secs(300);

/// The default pull policy of an image reference: Always for `:latest` or no tag.
pub fn default_pull_policy(image: &str) -> &'static str {
    let name = image.split('@').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

impl Worker {
    /// The pull secrets of the pod (`kubernetes.io/dockerconfigjson`, and legacy
    /// `kubernetes.io/dockercfg` wrapped as a config.json).
    async fn pull_secrets(&self) -> Vec<PullSecret> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        let refs = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.clone())
            .unwrap_or_default();
        for r in refs {
            match self.deps.api.secret(&self.key.namespace, &r.name).await {
                Ok(Some(s)) => {
                    let data = crate::env::secret_data(&s);
                    match s.type_.as_deref() {
                        Some("kubernetes.io/dockerconfigjson") => {
                            out.extend(data.get(".dockerconfigjson").cloned().map(PullSecret))
                        }
                        Some("kubernetes.io/dockercfg") => {
                            if let Some(cfg) = data.get(".dockercfg") {
                                let mut wrapped = b"{\"auths\":".to_vec();
                                wrapped.extend_from_slice(cfg);
                                wrapped.push(b'}');
                                out.push(PullSecret(wrapped));
                            }
                        }
                        _ => {}
                    }
                }
                _ => missing.push(r.name),
            }
        }
        if !missing.is_empty() {
            self.event(
                String::new(),
                "Warning",
                "FailedToRetrieveImagePullSecret",
                format!("Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.", missing.join(", ")),
            );
        }
        out
    }

    /// The image of container `i`, present on the node; `Err` when the container must wait
    /// (its waiting reason and retry time are set, Events recorded).
    pub(crate) async fn ensure_image(&mut self, i: usize) -> Result<ImageInfo, ()> {
        let rec = &self.records[i];
        let image = rec.spec.image.clone().unwrap_or_default();
        let path = rec.field_path();
        let policy = rec
            .spec
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(&image).to_string());
        let present = match self.deps.images.resolve(&image) {
            Ok(p) => p,
            Err(e) => {
                let message = format!("Failed to apply default image tag {image:?}: {e}");
                self.event(path, "Warning", "InspectFailed", message.clone());
                self.set_image_waiting(i, "InvalidImageName", message, STUCK_RETRY);
                return Err(());
            }
        };
        match (policy.as_str(), present) {
            ("Never", Some(img)) | ("IfNotPresent", Some(img)) => {
                self.event(
                    path,
                    "Normal",
                    "Pulled",
                    format!("Container image {image:?} already present on machine"),
                );
                return Ok(img);
            }
            ("Never", None) => {
                let message =
                    format!("Container image {image:?} is not present with pull policy of Never");
                self.event(path, "Warning", "ErrImageNeverPull", message.clone());
                self.set_image_waiting(i, "ErrImageNeverPull", message, STUCK_RETRY);
                return Err(());
            }
            _ => {}
        }
        let now = self.now();
        if let Some(end) = self.pull_backoff.in_backoff_since_update(&image, now) {
            let message = format!("Back-off pulling image {image:?}");
            self.event(path, "Normal", "BackOff", message.clone());
            let wait = (end - now).to_std().unwrap_or_default();
            self.set_image_waiting(i, "ImagePullBackOff", message, wait);
            return Err(());
        }
        self.event(
            path.clone(),
            "Normal",
            "Pulling",
            format!("Pulling image {image:?}"),
        );
        let secrets = self.pull_secrets().await;
        let began = tokio::time::Instant::now();
        let result = tokio::select! {
            r = self.deps.images.pull(&image, &secrets) => r,
            _ = self.deletion.cancelled() => Err(ImageError::Pull("pull cancelled: the pod is being deleted".into())),
        };
        match result {
            Ok(img) => {
                let took = secs(began.elapsed());
                self.event(
                    path,
                    "Normal",
                    "Pulled",
                    format!("Successfully pulled image {image:?} in {took} ({took} including waiting). Image size: {} bytes.", img.size),
                );
                self.pull_backoff.gc(now);
                Ok(img)
            }
            Err(ImageError::InvalidName(m)) => {
                let message = format!("Failed to apply default image tag {image:?}: {m}");
                self.event(path, "Warning", "InspectFailed", message.clone());
                self.set_image_waiting(i, "InvalidImageName", message, STUCK_RETRY);
                Err(())
            }
            Err(e) => {
                let m = e.to_string();
                self.event(
                    path.clone(),
                    "Warning",
                    "Failed",
                    format!("Failed to pull image {image:?}: {m}"),
                );
                self.event(path, "Warning", "Failed", "Error: ErrImagePull".into());
                let now = self.now();
                self.pull_backoff.next(&image, now, now);
                // Look again shortly: the container then shows ImagePullBackOff until the
                // back-off ends, as upstream's next sync does.
                let wait = self.pull_backoff.get(&image).min(Duration::from_secs(1));
                self.set_image_waiting(i, "ErrImagePull", m, wait);
                Err(())
            }
        }
    }

    fn set_image_waiting(&mut self, i: usize, reason: &str, message: String, retry: Duration) {
        let at = self.now() + chrono::Duration::from_std(retry).unwrap_or_default();
        let rec = &mut self.records[i];
        rec.waiting = Some(crate::containers::Waiting::new(reason, message));
        rec.retry_at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_or_untagged_images_default_to_always() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/app:v2"), "IfNotPresent");
        assert_eq!(default_pull_policy("app@sha256:abcd"), "IfNotPresent");
    }
}
