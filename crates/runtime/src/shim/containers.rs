//! Containers inside the shim: created and started with libcontainer, their output
//! turned into CRI log lines, their exit recorded (exit code, 128+signal, OOMKilled) in
//! `status.json` the moment they are reaped, so the agent finds it even if it was down.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::executor::CleanSignalsExecutor;
use super::logs::{CriLog, LineSplitter, Stream};
use super::server::{respond, Server};
use super::{error_chain, Response};
use crate::state::{write_json, ProcessStatus};
use crate::{ContainerId, ContainerState};

/// The read end of a container's stdout or stderr.
pub(super) struct Pipe {
    pub(super) file: File,
    split: LineSplitter,
}

/// A container the shim owns.
pub(super) struct Ctr {
    lc: Container,
    pub(super) pid: Pid,
    pub(super) pidfd: Option<OwnedFd>,
    status: ProcessStatus,
    status_path: PathBuf,
    cgroups_path: String,
    log: Option<CriLog>,
    pub(super) stdout: Option<Pipe>,
    pub(super) stderr: Option<Pipe>,
    waiters: Vec<UnixStream>,
}

impl Ctr {
    pub(super) fn exited_at(&self) -> Option<DateTime<Utc>> {
        (self.status.state == ContainerState::Exited)
            .then_some(self.status.finished_at)
            .flatten()
    }

    fn save(&self) {
        if let Err(e) = write_json(&self.status_path, &self.status) {
            tracing::error!(path = %self.status_path.display(), error = %e, "cannot record container status");
        }
    }
}

/// A pipe whose read end does not block (the write end, the container's, does).
pub(super) fn output_pipe() -> Result<(File, OwnedFd), String> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| format!("fcntl: {e}"))?;
    Ok((File::from(r), w))
}

/// Reads what is available from a non-blocking pipe; `Ok(false)` at end of file.
pub(super) fn read_available(
    file: &mut File,
    sink: &mut dyn FnMut(&[u8]),
) -> std::io::Result<bool> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The `cgroupsPath` of a bundle's spec.
pub(super) fn load_spec(bundle: &Path) -> Result<Spec, String> {
    Spec::load(bundle.join("config.json")).map_err(|e| format!("loading the OCI spec: {e}"))
}

/// Pumps one pipe into the log; returns whether it is still open.
fn pump(log: &mut Option<CriLog>, pipe: &mut Pipe, stream: Stream) -> bool {
    let now = Utc::now();
    let mut write = |content: &[u8], partial: bool| {
        if let Some(l) = log.as_mut() {
            if let Err(e) = l.write(now, stream, partial, content) {
                tracing::warn!(error = %e, "cannot write container log");
            }
        }
    };
    let Pipe { file, split } = pipe;
    let open = read_available(file, &mut |data| split.push(data, &mut write)).unwrap_or(false);
    if !open {
        split.finish(&mut write);
    }
    open
}

impl Server {
    pub(super) fn create(&mut self, id: &str, log_path: &Path) -> Result<i32, String> {
        if self.containers.contains_key(id) {
            return Err(format!("container {id} already exists"));
        }
        let paths = self.paths.container(&ContainerId(id.to_string()));
        let spec = load_spec(&paths.dir)?;
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let log = CriLog::open(log_path, self.cfg.log_max_bytes, self.cfg.log_max_files)
            .map_err(|e| format!("opening log {}: {e}", log_path.display()))?;
        let (out_r, out_w) = output_pipe()?;
        let (err_r, err_w) = output_pipe()?;
        let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        let started = std::time::Instant::now();
        let lc = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(self.paths.lc_root())
            .map_err(|e| error_chain(&e))?
            .with_executor(CleanSignalsExecutor)
            .with_stdin(null)
            .with_stdout(out_w)
            .with_stderr(err_w)
            .as_init(&paths.dir)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| error_chain(&e))?;
        let pid = Pid::from_raw(lc.pid().ok_or("libcontainer returned no pid")?.as_raw());
        let pidfd = crate::sys::pidfd_open(pid)
            .map_err(|e| tracing::warn!(error = %e, "pidfd_open"))
            .ok();
        let ctr = Ctr {
            lc,
            pid,
            pidfd,
            status: ProcessStatus::created(pid.as_raw()),
            status_path: paths.status(),
            cgroups_path,
            log: Some(log),
            stdout: Some(Pipe {
                file: out_r,
                split: LineSplitter::default(),
            }),
            stderr: Some(Pipe {
                file: err_r,
                split: LineSplitter::default(),
            }),
            waiters: Vec::new(),
        };
        ctr.save();
        self.containers.insert(id.to_string(), ctr);
        tracing::info!(container = id, %pid, elapsed = ?started.elapsed(), "created");
        Ok(pid.as_raw())
    }

    pub(super) fn start(&mut self, id: &str) -> Result<ProcessStatus, String> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| format!("container {id} not found"))?;
        if c.status.state != ContainerState::Created {
            return Err(format!(
                "container {id} is {:?}, not created",
                c.status.state
            ));
        }
        c.lc.start().map_err(|e| error_chain(&e))?;
        c.status.state = ContainerState::Running;
        c.status.started_at = Some(Utc::now());
        c.save();
        Ok(c.status.clone())
    }

    pub(super) fn kill(&mut self, id: &str, signal: i32, all: bool) -> Result<(), String> {
        let c = self
            .containers
            .get(id)
            .ok_or_else(|| format!("container {id} not found"))?;
        if c.exited_at().is_some() {
            return Ok(());
        }
        let sig = Signal::try_from(signal).map_err(|e| format!("signal {signal}: {e}"))?;
        let mut pids = vec![c.pid];
        if all {
            if let Some(cg) = &self.cgroups {
                pids.extend(cg.procs(&c.cgroups_path).into_iter().map(Pid::from_raw));
            }
        }
        for pid in pids {
            match kill(pid, sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(format!("kill {pid} with {sig}: {e}")),
            }
        }
        Ok(())
    }

    pub(super) fn wait(&mut self, id: &str, stream: UnixStream) {
        match self.containers.get_mut(id) {
            None => respond(stream, &Response::err(format!("container {id} not found"))),
            Some(c) if c.exited_at().is_some() => respond(
                stream,
                &Response {
                    status: Some(c.status.clone()),
                    ..Response::ok()
                },
            ),
            Some(c) => c.waiters.push(stream),
        }
    }

    pub(super) fn read_output(&mut self, id: &str, stream: Stream) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        let Ctr {
            log,
            stdout,
            stderr,
            ..
        } = c;
        let slot = match stream {
            Stream::Stdout => stdout,
            Stream::Stderr => stderr,
        };
        if let Some(pipe) = slot.as_mut() {
            if !pump(log, pipe, stream) {
                *slot = None;
            }
        }
    }

    /// Records the exit of a container's init process.
    pub(super) fn container_exited(&mut self, id: &str, code: i32) {
        let oom = self
            .containers
            .get(id)
            .and_then(|c| self.cgroups.as_ref()?.oom_kills(&c.cgroups_path))
            .unwrap_or(0)
            > 0;
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        c.pidfd = None;
        // What the container wrote before it exited belongs in the log before the status.
        for stream in [Stream::Stdout, Stream::Stderr] {
            let Ctr {
                log,
                stdout,
                stderr,
                ..
            } = c;
            let slot = if stream == Stream::Stdout {
                stdout
            } else {
                stderr
            };
            if let Some(pipe) = slot.as_mut() {
                if !pump(log, pipe, stream) {
                    *slot = None;
                }
            }
        }
        c.status.state = ContainerState::Exited;
        c.status.exit_code = Some(code);
        c.status.finished_at = Some(Utc::now());
        c.status.reason = Some(
            if oom {
                "OOMKilled"
            } else if code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_string(),
        );
        c.save();
        tracing::info!(container = id, code, oom, "exited");
        for w in c.waiters.drain(..) {
            respond(
                w,
                &Response {
                    status: Some(c.status.clone()),
                    ..Response::ok()
                },
            );
        }
    }

    /// Kills (if still running) and deletes a container; deleting what is gone is fine.
    pub(super) fn delete(&mut self, id: &str) -> Result<(), String> {
        let Some(pid) = self.containers.get(id).map(|c| c.pid) else {
            return Ok(());
        };
        if self
            .containers
            .get(id)
            .is_some_and(|c| c.exited_at().is_none())
        {
            self.kill(id, Signal::SIGKILL as i32, true)?;
            if !self.wait_for(pid, Duration::from_secs(10)) {
                return Err(format!("container {id} survives SIGKILL"));
            }
        }
        let mut c = self.containers.remove(id).expect("checked above");
        for w in c.waiters.drain(..) {
            respond(w, &Response::err(format!("container {id} was deleted")));
        }
        let started = std::time::Instant::now();
        c.lc.delete(true).map_err(|e| error_chain(&e))?;
        tracing::info!(container = id, elapsed = ?started.elapsed(), "deleted");
        Ok(())
    }

    /// Kills and deletes every container and the PID-namespace holder.
    pub(super) fn shutdown(&mut self) {
        let ids: Vec<String> = self.containers.keys().cloned().collect();
        for id in &ids {
            let _ = self.kill(id, Signal::SIGKILL as i32, true);
        }
        for id in &ids {
            if let Err(e) = self.delete(id) {
                tracing::error!(container = %id, error = %e, "delete at shutdown");
            }
        }
        self.abort_execs();
        if let Some(pause) = self.pause.take() {
            let _ = kill(pause, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pause, None);
        }
    }
}
