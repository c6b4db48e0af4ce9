//! The admin kubeconfig a server writes for its clients.

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine;

/// Writes `path` with one cluster, one admin user (bearer token) and one context.
pub fn write(path: &Path, server_url: &str, ca_pem: &[u8], token: &str) -> Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: orca
  cluster:
    server: {server_url}
    certificate-authority-data: {ca}
users:
- name: orca-admin
  user:
    token: {token}
contexts:
- name: orca
  context:
    cluster: orca
    user: orca-admin
    namespace: default
current-context: orca
preferences: {{}}
"
    );
    std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
