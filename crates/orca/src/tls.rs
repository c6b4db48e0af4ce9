//! TLS material of a server's data directory: a CA, a serving certificate signed by it,
//! and the admin bearer token, generated on first start and reused after.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rand::RngCore;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Paths of the material under `DIR/tls/`.
pub struct Material {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub admin_token: String,
}

/// Loads the material under `dir/tls`, generating what is missing. `hosts` are the
/// names and addresses the serving certificate is valid for.
pub fn ensure(dir: &Path, hosts: &[String]) -> Result<Material> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).with_context(|| format!("creating {}", tls.display()))?;
    set_private(&tls, 0o700)?;
    let ca_cert = tls.join("ca.crt");
    let ca_key = tls.join("ca.key");
    let server_cert = tls.join("server.crt");
    let server_key = tls.join("server.key");
    let token_path = tls.join("admin.token");
    if !ca_cert.exists() || !ca_key.exists() || !server_cert.exists() || !server_key.exists() {
        generate(&ca_cert, &ca_key, &server_cert, &server_key, hosts)?;
    }
    if !token_path.exists() {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&token_path, token.as_bytes())?;
    }
    let admin_token = std::fs::read_to_string(&token_path)
        .with_context(|| format!("reading {}", token_path.display()))?
        .trim()
        .to_string();
    Ok(Material {
        ca_cert,
        server_cert,
        server_key,
        admin_token,
    })
}

fn generate(
    ca_cert: &Path,
    ca_key: &Path,
    server_cert: &Path,
    server_key: &Path,
    hosts: &[String],
) -> Result<()> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "orca-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let (not_before, not_after) = validity(10);
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_keypair = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_keypair)?;
    let issuer = Issuer::from_params(&ca_params, &ca_keypair);

    let mut sans: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
    ];
    for h in hosts {
        if !sans.contains(h) {
            sans.push(h.clone());
        }
    }
    let mut params = CertificateParams::new(sans)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "orca-apiserver");
    params.not_before = not_before;
    params.not_after = validity(2).1;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    std::fs::write(ca_cert, ca.pem())?;
    write_private(ca_key, ca_keypair.serialize_pem().as_bytes())?;
    std::fs::write(server_cert, cert.pem())?;
    write_private(server_key, key.serialize_pem().as_bytes())?;
    Ok(())
}

/// From the start of last year to `years` years ahead.
fn validity(years: i32) -> (time::OffsetDateTime, time::OffsetDateTime) {
    use chrono::Datelike;
    let year = chrono::Utc::now().year();
    (
        rcgen::date_time_ymd(year - 1, 1, 1),
        rcgen::date_time_ymd(year + years, 1, 1),
    )
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    set_private(path, 0o600)
}

fn set_private(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", path.display()))
}

/// A rustls server config serving `h2` and `http/1.1` with the given certificate.
pub fn server_config(m: &Material) -> Result<Arc<rustls::ServerConfig>> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(
        &m.server_cert,
    )?))
    .collect::<Result<Vec<_>, _>>()
    .context("reading the serving certificate")?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(
        &m.server_key,
    )?))
    .context("reading the serving key")?
    .context("no private key in the serving key file")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The names and addresses a server listening on `listen` is reached by.
pub fn hosts_for(listen: &std::net::SocketAddr) -> Vec<String> {
    let mut hosts = Vec::new();
    if !listen.ip().is_unspecified() {
        hosts.push(listen.ip().to_string());
    }
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            hosts.push(h.to_string());
        }
    }
    for ip in local_addresses() {
        hosts.push(ip.to_string());
    }
    hosts
}

/// Addresses of this machine's interfaces, from the kernel's routing view.
fn local_addresses() -> Vec<IpAddr> {
    let Ok(s) = std::fs::read_to_string("/proc/net/fib_trie") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in s.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("|-- ").or_else(|| t.strip_prefix("+-- ")) {
            last = addr.split('/').next().and_then(|a| a.parse().ok());
        } else if t.contains("/32 host LOCAL") {
            if let Some(ip) = last {
                if !out.contains(&ip) && !ip.is_loopback() {
                    out.push(ip);
                }
            }
        }
    }
    out
}
