//! kube clients for components that reach a remote server over HTTPS (in process, they
//! use `ApiServer::client`).

/// A kube client for a remote server at `url` with a bearer token, trusting `ca_pem`
/// (or, without it, any certificate: only for tests and bootstrapping).
pub fn remote(url: &str, token: &str, ca_pem: Option<Vec<u8>>) -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::new(url.parse()?);
    config.auth_info.token = Some(token.to_string().into());
    match ca_pem {
        Some(pem) => {
            let certs =
                rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>()?;
            config.root_cert = Some(certs.into_iter().map(|c| c.to_vec()).collect());
        }
        None => config.accept_invalid_certs = true,
    }
    config.default_namespace = "default".into();
    Ok(kube::Client::try_from(config)?)
}
