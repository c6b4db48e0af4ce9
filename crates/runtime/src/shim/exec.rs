//! Exec sessions: a process joined to a running container (libcontainer's tenant
//! builder enters its namespaces and cgroup), run as the container's user in its working
//! directory, output captured, killed at its deadline.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use base64::Engine;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::containers::{load_spec, output_pipe, read_available};
use super::executor::CleanSignalsExecutor;
use super::logs::Stream;
use super::server::{respond, Server};
use super::{error_chain, ExecOutput, Response};
use crate::ContainerId;

/// Output beyond this per stream is dropped.
const MAX_OUTPUT: usize = 16 << 20;

/// A running exec.
pub(super) struct ExecSession {
    pub(super) pid: Pid,
    pub(super) pidfd: Option<OwnedFd>,
    pub(super) stdout: Option<File>,
    pub(super) stderr: Option<File>,
    out: Vec<u8>,
    err: Vec<u8>,
    pub(super) deadline: Instant,
    pub(super) timed_out: bool,
    conn: UnixStream,
}

fn append(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

impl Server {
    pub(super) fn exec(
        &mut self,
        id: &str,
        args: Vec<String>,
        timeout: Duration,
        conn: UnixStream,
    ) {
        match self.start_exec(id, args) {
            Ok((pid, stdout, stderr)) => {
                self.next_id += 1;
                let pidfd = crate::sys::pidfd_open(pid).ok();
                let session = ExecSession {
                    pid,
                    pidfd,
                    stdout: Some(stdout),
                    stderr: Some(stderr),
                    out: Vec::new(),
                    err: Vec::new(),
                    deadline: Instant::now() + timeout,
                    timed_out: false,
                    conn,
                };
                self.execs.insert(self.next_id, session);
            }
            Err(e) => respond(conn, &Response::err(e)),
        }
    }

    fn start_exec(&mut self, id: &str, args: Vec<String>) -> Result<(Pid, File, File), String> {
        let c = self
            .containers
            .get(id)
            .ok_or_else(|| format!("container {id} not found"))?;
        if c.exited_at().is_some() {
            return Err(format!("container {id} is not running"));
        }
        if args.is_empty() {
            return Err("no command to exec".into());
        }
        let spec = load_spec(&self.paths.container(&ContainerId(id.to_string())).dir)?;
        let process = spec
            .process()
            .as_ref()
            .ok_or("the container's spec has no process")?;
        let user = process.user();
        let (out_r, out_w) = output_pipe()?;
        let (err_r, err_w) = output_pipe()?;
        let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        let pid = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(self.paths.lc_root())
            .map_err(|e| error_chain(&e))?
            .with_executor(CleanSignalsExecutor)
            .with_stdin(null)
            .with_stdout(out_w)
            .with_stderr(err_w)
            .as_tenant()
            .with_container_args(args)
            .with_cwd(Some(process.cwd().clone()))
            .with_user(Some(user.uid()))
            .with_group(Some(user.gid()))
            .with_additional_gids(user.additional_gids().clone().unwrap_or_default())
            .with_detach(true)
            .build()
            .map_err(|e| error_chain(&e))?;
        Ok((Pid::from_raw(pid.as_raw()), out_r, err_r))
    }

    pub(super) fn read_exec_output(&mut self, id: u64, stream: Stream) {
        let Some(e) = self.execs.get_mut(&id) else {
            return;
        };
        let ExecSession {
            stdout,
            stderr,
            out,
            err,
            ..
        } = e;
        let (slot, buf) = match stream {
            Stream::Stdout => (stdout, out),
            Stream::Stderr => (stderr, err),
        };
        if let Some(f) = slot.as_mut() {
            if !read_available(f, &mut |d| append(buf, d)).unwrap_or(false) {
                *slot = None;
            }
        }
    }

    pub(super) fn exec_exited(&mut self, id: u64, code: i32) {
        let Some(mut e) = self.execs.remove(&id) else {
            return;
        };
        // The process is gone; take what it wrote (a background child may keep the pipe
        // open — its later output is not waited for).
        if let Some(f) = e.stdout.as_mut() {
            let _ = read_available(f, &mut |d| append(&mut e.out, d));
        }
        if let Some(f) = e.stderr.as_mut() {
            let _ = read_available(f, &mut |d| append(&mut e.err, d));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let output = ExecOutput {
            exit_code: code,
            stdout: b64.encode(&e.out),
            stderr: b64.encode(&e.err),
            timed_out: e.timed_out,
        };
        respond(
            e.conn,
            &Response {
                exec: Some(output),
                ..Response::ok()
            },
        );
    }

    /// SIGKILLs sessions past their deadline (answered once reaped).
    pub(super) fn expire_execs(&mut self) {
        let now = Instant::now();
        for e in self
            .execs
            .values_mut()
            .filter(|e| !e.timed_out && e.deadline <= now)
        {
            tracing::info!(pid = %e.pid, "exec timed out");
            e.timed_out = true;
            let _ = kill(e.pid, Signal::SIGKILL);
        }
    }

    /// Answers every open session with an error (the shim is shutting down).
    pub(super) fn abort_execs(&mut self) {
        for (_, e) in std::mem::take(&mut self.execs) {
            let _ = kill(e.pid, Signal::SIGKILL);
            respond(e.conn, &Response::err("the sandbox is being removed"));
        }
    }
}
