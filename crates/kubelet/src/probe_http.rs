//! HTTP GET probes and hooks (`kube-probe/<version>`): success for a status in 200..400.
//! HTTPS targets are probed without certificate verification, as upstream does.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::probe::Outcome;

/// One GET request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl HttpTarget {
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{host}:{}{}",
            self.scheme.to_lowercase(),
            self.port,
            self.path_and_query()
        )
    }

    fn path_and_query(&self) -> String {
        if self.path.starts_with('/') {
            self.path.clone()
        } else {
            format!("/{}", self.path)
        }
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Accepts any server certificate: probes check liveness, not identity.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    static CONNECTOR: std::sync::OnceLock<tokio_rustls::TlsConnector> = std::sync::OnceLock::new();
    if let Some(c) = CONNECTOR.get() {
        return Ok(c.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(CONNECTOR
        .get_or_init(|| tokio_rustls::TlsConnector::from(Arc::new(config)))
        .clone())
}

async fn send<IO>(io: IO, t: &HttpTarget) -> Result<u16, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let url = t.url();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::get(t.path_and_query());
    let has = |name: &str| t.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    for (k, v) in &t.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if !has("host") {
        req = req.header("Host", t.authority());
    }
    if !has("user-agent") {
        req = req.header("User-Agent", "kube-probe/1.33");
    }
    if !has("accept") {
        req = req.header("Accept", "*/*");
    }
    let req = req
        .header("Connection", "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Ok(status)
}

async fn request(t: &HttpTarget) -> Result<u16, String> {
    let url = t.url();
    let addr = t.authority();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("Get \"{url}\": dial tcp {addr}: connect: {e}"))?;
    if !t.scheme.eq_ignore_ascii_case("HTTPS") {
        return send(tcp, t).await;
    }
    let name = ServerName::try_from(t.host.clone()).map_err(|e| format!("Get \"{url}\": {e}"))?;
    let tls = tls_connector()?
        .connect(name, tcp)
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    send(tls, t).await
}

/// Performs the GET within `timeout`.
pub async fn get(t: &HttpTarget, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, request(t)).await {
        Err(_) => Outcome::Failure(format!(
            "Get \"{}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            t.url()
        )),
        Ok(Err(e)) => Outcome::Failure(e),
        Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
        Ok(Ok(code)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, status: u16) -> String {
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        s.write_all(resp.as_bytes()).await.unwrap();
        let _ = s.shutdown().await;
        req
    }

    async fn serve(status: u16) -> (u16, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            answer(s, status).await
        });
        (port, h)
    }

    fn target(scheme: &str, port: u16, path: &str) -> HttpTarget {
        HttpTarget {
            scheme: scheme.into(),
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
            headers: vec![("X-Custom".into(), "1".into())],
        }
    }

    #[tokio::test]
    async fn http_probes_succeed_below_400_and_send_probe_headers() {
        let (port, h) = serve(204).await;
        assert_eq!(
            get(&target("HTTP", port, "/healthz"), Duration::from_secs(2)).await,
            Outcome::Success
        );
        let req = h.await.unwrap();
        assert!(req.starts_with("GET /healthz HTTP/1.1"));
        assert!(req.to_lowercase().contains("user-agent: kube-probe/1.33"));
        assert!(req.to_lowercase().contains("x-custom: 1"));
        let (port, _) = serve(500).await;
        assert_eq!(
            get(&target("HTTP", port, "/"), Duration::from_secs(2)).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
    }

    #[tokio::test]
    async fn refused_connections_fail_with_the_url() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let Outcome::Failure(msg) =
            get(&target("HTTP", port, "healthz"), Duration::from_secs(2)).await
        else {
            panic!("refused must fail");
        };
        assert!(
            msg.starts_with(&format!(
                "Get \"http://127.0.0.1:{port}/healthz\": dial tcp"
            )),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn https_probes_accept_self_signed_certificates() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = CertificateDer::from(cert.cert.der().to_vec());
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let tls = acceptor.accept(s).await.unwrap();
            answer(tls, 200).await
        });
        assert_eq!(
            get(&target("HTTPS", port, "/ready"), Duration::from_secs(5)).await,
            Outcome::Success
        );
        assert!(server.await.unwrap().starts_with("GET /ready HTTP/1.1"));
    }
}
