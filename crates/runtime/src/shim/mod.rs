//! The per-pod shim: `orca` re-executed as `orca __runtime-shim <sandbox-dir>`.
//!
//! One small single-threaded process per pod. It is the pod's infra process (it holds
//! the new network, IPC and UTS namespaces; a forked "pause" child holds the PID
//! namespace with `share_pid`), a child subreaper that owns the pod's containers — it
//! creates them with youki's libcontainer, which must never run in a multi-threaded
//! process — writes their stdout/stderr as CRI log lines, records their exit status on
//! disk, and runs exec sessions. It is daemonised (its own session, reparented away from
//! the agent), so killing the agent stops no container; the agent reaches it over
//! `shim.sock` with one JSON line per request and one per response.

mod containers;
mod daemon;
mod exec;
mod executor;
pub(crate) mod logs;
mod server;

pub(crate) mod client;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::state::ProcessStatus;

/// `argv[1]` of the shim mode.
pub(crate) const MODE: &str = "__runtime-shim";

/// What the shim reads from `shim.json` at start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShimConfig {
    pub(crate) hostname: String,
    pub(crate) host_network: bool,
    pub(crate) share_pid: bool,
    pub(crate) log_max_bytes: u64,
    pub(crate) log_max_files: u32,
}

/// The shim's first (and only) line on stdout: it is up, or why not.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Ready {
    #[serde(default)]
    pub(crate) pid: i32,
    #[serde(default)]
    pub(crate) start_time: u64,
    #[serde(default)]
    pub(crate) pause_pid: Option<i32>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// One request to the shim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Is it alive.
    Ping,
    /// Create the container whose bundle is `containers/<id>` (spec and mounted rootfs
    /// prepared by the agent), logging to `log_path`.
    Create {
        id: String,
        log_path: PathBuf,
    },
    Start {
        id: String,
    },
    /// Signal the container's init (`all`: every process in its cgroup).
    Kill {
        id: String,
        signal: i32,
        all: bool,
    },
    /// Answered when the container has exited.
    Wait {
        id: String,
    },
    /// Run a command in the container, killed after `timeout_ms`.
    Exec {
        id: String,
        args: Vec<String>,
        timeout_ms: u64,
    },
    /// Kill (if needed) and delete the container: its cgroup and libcontainer state.
    Delete {
        id: String,
    },
    /// Kill and delete every container, then exit.
    Shutdown,
}

/// The output of an exec session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExecOutput {
    pub(crate) exit_code: i32,
    /// base64.
    pub(crate) stdout: String,
    /// base64.
    pub(crate) stderr: String,
    pub(crate) timed_out: bool,
}

/// The answer to a request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<ProcessStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) exec: Option<ExecOutput>,
}

impl Response {
    pub(crate) fn ok() -> Self {
        Self::default()
    }

    pub(crate) fn err(msg: impl Into<String>) -> Self {
        Self {
            error: Some(msg.into()),
            ..Self::default()
        }
    }
}

/// Entry point of the shim mode (`args` after the mode name).
pub(crate) fn main(args: &[String]) -> i32 {
    daemon::run(args)
}

/// An error and its sources on one line (libcontainer nests them deeply).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::Kill {
            id: "c1".into(),
            signal: 15,
            all: false,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"op":"kill","id":"c1","signal":15,"all":false}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&Request::Shutdown).unwrap(),
            r#"{"op":"shutdown"}"#
        );
    }

    #[test]
    fn empty_responses_are_small() {
        assert_eq!(serde_json::to_string(&Response::ok()).unwrap(), "{}");
        assert_eq!(
            serde_json::from_str::<Response>(r#"{"error":"x"}"#).unwrap(),
            Response::err("x")
        );
    }
}
