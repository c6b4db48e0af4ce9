//! Listing sandboxes from disk: what a restarted agent re-adopts (containers keep
//! running without it and their exits are recorded by the shims) and what it must clean
//! up (sandboxes whose creation never finished, pods that no longer exist).

use crate::container_lifecycle::merge_status;
use crate::linux::LinuxRuntime;
use crate::state::{read_json, ContainerRecord, ProcessStatus, SandboxPhase};
use crate::{ContainerId, Result, SandboxId, SandboxState};

impl LinuxRuntime {
    pub(crate) async fn list_sandboxes_impl(&self) -> Result<Vec<SandboxState>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(self.layout.sandboxes()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(crate::Error::Io {
                    context: "listing sandboxes".into(),
                    source: e,
                })
            }
        };
        for entry in entries.flatten() {
            let sid = SandboxId(entry.file_name().to_string_lossy().into_owned());
            let (paths, rec) = match self.load_sandbox(&sid) {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(sandbox = %sid, error = %e, "unreadable sandbox record");
                    continue;
                }
            };
            let shim_alive = rec.shim.as_ref().is_some_and(|s| s.alive());
            let mut containers = Vec::new();
            if let Ok(rd) = std::fs::read_dir(paths.containers()) {
                for c in rd.flatten() {
                    let cid = ContainerId(c.file_name().to_string_lossy().into_owned());
                    let cpaths = paths.container(&cid);
                    let Ok(Some(crec)) = read_json::<ContainerRecord>(&cpaths.record()) else {
                        continue;
                    };
                    let proc = read_json::<ProcessStatus>(&cpaths.status()).ok().flatten();
                    self.remember(&cid, &sid);
                    containers.push(merge_status(&crec, proc.as_ref(), shim_alive));
                }
            }
            containers.sort_by_key(|c| c.created_at);
            out.push(SandboxState {
                sandbox: rec.to_sandbox(),
                ready: shim_alive && rec.phase == SandboxPhase::Ready,
                containers,
            });
        }
        out.sort_by_key(|s| s.sandbox.created_at);
        Ok(out)
    }
}
