//! TCP socket probes: success when a connection opens within the timeout.

use std::net::SocketAddr;
use std::time::Duration;

use crate::probe::Outcome;

/// Connects to `host:port`.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> Outcome {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(format!("dial tcp {addr}: connect: {e}")),
        Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

/// Parses `host:port` into a socket address when the host is an IP.
pub fn socket_addr(host: &str, port: u16) -> Option<SocketAddr> {
    host.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_ports_succeed_and_closed_ones_fail() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(
            connect("127.0.0.1", port, Duration::from_secs(1)).await,
            Outcome::Success
        );
        drop(l);
        let Outcome::Failure(msg) = connect("127.0.0.1", port, Duration::from_secs(1)).await else {
            panic!("a closed port must fail");
        };
        assert!(msg.starts_with(&format!("dial tcp 127.0.0.1:{port}: connect:")));
        assert_eq!(socket_addr("::1", 80).unwrap().to_string(), "[::1]:80");
    }
}
