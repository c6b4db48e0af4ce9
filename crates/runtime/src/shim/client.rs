//! The agent's side of the shim: starting one and talking to it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::{Ready, Request, Response, MODE};
use crate::config::SandboxPaths;
use crate::{Error, Result};

/// Starts the shim of a sandbox (its `shim.json` written) and waits for its ready line.
pub(crate) async fn launch(
    orca_binary: &Path,
    paths: &SandboxPaths,
    timeout: Duration,
) -> Result<Ready> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.shim_log())
        .map_err(|e| Error::Io {
            context: format!("creating {}", paths.shim_log().display()),
            source: e,
        })?;
    let mut child = tokio::process::Command::new(orca_binary)
        .arg(MODE)
        .arg(&paths.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| Error::Shim(format!("starting {} {MODE}: {e}", orca_binary.display())))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    let read = tokio::time::timeout(timeout, BufReader::new(stdout).read_line(&mut line)).await;
    // The direct child exits right after forking the shim; reap it.
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    match read {
        Err(_) => {
            return Err(Error::Shim(format!(
                "no answer from the shim within {timeout:?}; see {}",
                paths.shim_log().display()
            )))
        }
        Ok(Err(e)) => return Err(Error::Shim(format!("reading the shim's ready line: {e}"))),
        Ok(Ok(_)) => {}
    }
    let ready: Ready = serde_json::from_str(line.trim()).map_err(|e| {
        Error::Shim(format!(
            "the shim said {line:?} ({e}); see {}",
            paths.shim_log().display()
        ))
    })?;
    match ready.error {
        Some(e) => Err(Error::Shim(e)),
        None if ready.pid <= 0 => Err(Error::Shim(format!(
            "the shim reported no pid; see {}",
            paths.shim_log().display()
        ))),
        None => Ok(ready),
    }
}

/// Sends one request and reads the response; `timeout` None waits as long as it takes.
pub(crate) async fn call(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<Response> {
    let fut = async {
        let mut stream = UnixStream::connect(socket)
            .await
            .map_err(|e| Error::Shim(format!("connecting to {}: {e}", socket.display())))?;
        let mut line = serde_json::to_vec(req).map_err(|e| Error::Shim(e.to_string()))?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .await
            .map_err(|e| Error::Shim(format!("sending to the shim: {e}")))?;
        let mut reader = BufReader::new(stream);
        let mut resp = String::new();
        let n = reader
            .read_line(&mut resp)
            .await
            .map_err(|e| Error::Shim(format!("reading from the shim: {e}")))?;
        if n == 0 {
            return Err(Error::Shim(
                "the shim closed the connection without answering".into(),
            ));
        }
        serde_json::from_str::<Response>(resp.trim())
            .map_err(|e| Error::Shim(format!("bad answer from the shim: {e}")))
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| Error::Shim(format!("the shim did not answer within {t:?}")))?,
        None => fut.await,
    }
}
