//! kube clients for orca's own components: in process (through the API router, no
//! sockets) or over HTTPS to a remote server.

use axum::body::Body;
use axum::Router;
use http::{HeaderValue, Request};
use tower::ServiceExt;

/// A kube client whose requests go straight into `router`, authenticated with `token`:
/// the same code path as over the network, without sockets.
pub fn in_process(router: Router, token: &str) -> kube::Client {
    let header =
        HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a valid header value");
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let router = router.clone();
        let header = header.clone();
        async move {
            let (mut parts, body) = req.into_parts();
            parts.headers.insert(http::header::AUTHORIZATION, header);
            router
                .oneshot(Request::from_parts(parts, Body::new(body)))
                .await
        }
    });
    kube::Client::new(service, "default")
}

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
