//! What the runtime persists per sandbox and container, so a restarted agent can rebuild
//! everything (re-adoption) and clean up what a crash left half done.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cni::NetworkAttachment;
use crate::{ContainerConfig, ContainerId, ContainerState, SandboxConfig, SandboxId};

/// How far a sandbox got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SandboxPhase {
    /// `create_sandbox` is under way (or crashed half way: the sandbox must be removed).
    Creating,
    /// Everything is set up.
    Ready,
    /// `remove_sandbox` started.
    Removing,
}

/// The per-pod shim process, identified by pid and start time (pids get reused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShimProcess {
    pub(crate) pid: i32,
    /// Field 22 of /proc/<pid>/stat.
    pub(crate) start_time: u64,
    /// The pod's PID-namespace init, with `share_pid`.
    #[serde(default)]
    pub(crate) pause_pid: Option<i32>,
}

impl ShimProcess {
    /// Whether this exact process is still running.
    pub(crate) fn alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.start_time)
    }
}

/// The agent's record of a sandbox, rewritten at every step of its creation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SandboxRecord {
    pub(crate) id: SandboxId,
    pub(crate) config: SandboxConfig,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) phase: SandboxPhase,
    /// The pod cgroup, relative to each hierarchy's root (`kubepods/besteffort/pod<uid>`).
    #[serde(default)]
    pub(crate) cgroup: Option<String>,
    #[serde(default)]
    pub(crate) shm_mounted: bool,
    #[serde(default)]
    pub(crate) shim: Option<ShimProcess>,
    /// The pinned network namespace (None with host networking).
    #[serde(default)]
    pub(crate) netns: Option<PathBuf>,
    /// The CNI chain as invoked, kept for DEL.
    #[serde(default)]
    pub(crate) network: Option<NetworkAttachment>,
    #[serde(default)]
    pub(crate) ip: Option<IpAddr>,
}

/// The agent's record of a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub(crate) id: ContainerId,
    pub(crate) sandbox: SandboxId,
    pub(crate) config: ContainerConfig,
    pub(crate) created_at: DateTime<Utc>,
    /// The container's cgroup (the OCI `cgroupsPath`).
    pub(crate) cgroups_path: String,
    /// Whether the overlay rootfs is (or may be) mounted.
    #[serde(default)]
    pub(crate) rootfs_mounted: bool,
}

/// What the shim knows of a container's process, written at every transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProcessStatus {
    pub(crate) state: ContainerState,
    #[serde(default)]
    pub(crate) pid: Option<i32>,
    #[serde(default)]
    pub(crate) started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) exit_code: Option<i32>,
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

impl ProcessStatus {
    pub(crate) fn created(pid: i32) -> Self {
        Self {
            state: ContainerState::Created,
            pid: Some(pid),
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: None,
            message: None,
        }
    }
}

/// Writes `value` as JSON to `path` atomically (temp file + rename), so a reader never
/// sees half a record, even when the writer is killed.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Reads a JSON record; `Ok(None)` when the file does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The start time of a process (clock ticks since boot), None when it does not exist.
pub(crate) fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a /proc/<pid>/stat line; the command in field 2 may contain spaces and
/// parentheses, so fields are counted after the last ')'.
pub(crate) fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards: field 22 is the 20th of them.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_spaces_in_the_command() {
        let stat =
            "1234 (a b) c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_start_time(stat), Some(987654));
    }

    #[test]
    fn zombies_count_as_gone() {
        let stat = "1234 (x) Z 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 0 0";
        assert_eq!(parse_start_time(stat), None);
    }

    #[test]
    fn own_process_is_alive_and_records_round_trip() {
        let me = std::process::id() as i32;
        let shim = ShimProcess {
            pid: me,
            start_time: process_start_time(me).unwrap(),
            pause_pid: None,
        };
        assert!(shim.alive());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_json(&p, &shim).unwrap();
        assert_eq!(read_json::<ShimProcess>(&p).unwrap(), Some(shim));
        assert_eq!(
            read_json::<ShimProcess>(&dir.path().join("nope.json")).unwrap(),
            None
        );
    }
}
