//! The shim's event loop: one `poll(2)` over the listening socket, request connections,
//! container and exec output pipes and process descriptors (pidfds); children are reaped
//! with `waitpid` after every wake-up. Single-threaded by design (libcontainer forks).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::containers::Ctr;
use super::exec::ExecSession;
use super::logs::Stream;
use super::{Request, Response, ShimConfig};
use crate::cgroups::CgroupHost;
use crate::config::SandboxPaths;

/// The longest a request line may be.
const MAX_REQUEST: usize = 1 << 20;

/// What a polled descriptor belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Token {
    Listener,
    Conn(u64),
    Output(String, Stream),
    /// A process descriptor became readable: that process exited.
    Exited(Pid),
    ExecOutput(u64, Stream),
}

/// A connection whose request line is still being read.
struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// The shim's whole state.
pub(crate) struct Server {
    pub(super) paths: SandboxPaths,
    pub(super) cfg: ShimConfig,
    pub(super) cgroups: Option<CgroupHost>,
    listener: UnixListener,
    conns: BTreeMap<u64, Conn>,
    pub(super) containers: BTreeMap<String, Ctr>,
    pub(super) execs: BTreeMap<u64, ExecSession>,
    pub(super) pause: Option<Pid>,
    pub(super) next_id: u64,
    stop: bool,
    /// Whether memory was trimmed since the last event.
    trimmed: bool,
    /// Trim before the next wait.
    trim_due: bool,
}

impl Server {
    pub(super) fn new(
        paths: SandboxPaths,
        cfg: ShimConfig,
        listener: UnixListener,
        pause: Option<Pid>,
    ) -> Self {
        let cgroups = CgroupHost::detect()
            .map_err(|e| tracing::warn!(error = %e, "no cgroups"))
            .ok();
        Self {
            paths,
            cfg,
            cgroups,
            listener,
            conns: BTreeMap::new(),
            containers: BTreeMap::new(),
            execs: BTreeMap::new(),
            pause,
            next_id: 0,
            stop: false,
            trimmed: false,
            trim_due: false,
        }
    }

    /// Serves until a `Shutdown` request.
    pub(super) fn run(mut self) {
        while !self.stop {
            let ready = self.wait_for_events();
            if ready.is_empty() && !self.trimmed {
                // Idle for a while: trim right before the next wait.
                self.trim_due = true;
            } else if !ready.is_empty() {
                self.trimmed = false;
            }
            for token in ready {
                self.handle(token);
            }
            self.reap();
            self.expire_execs();
        }
        tracing::info!("shim exits");
    }

    fn timeout(&self) -> PollTimeout {
        let now = Instant::now();
        let next = self
            .execs
            .values()
            .filter(|e| !e.timed_out)
            .map(|e| e.deadline.saturating_duration_since(now))
            .min();
        // Wake up now and then anyway to reap orphans nobody holds a pidfd for, and
        // soon after activity to trim memory.
        let idle = if self.trimmed {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(1)
        };
        let d = next.unwrap_or(idle).min(idle);
        PollTimeout::try_from(d.as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX)
    }

    fn wait_for_events(&mut self) -> Vec<Token> {
        let timeout = self.timeout();
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let mut tokens: Vec<Token> = Vec::new();
        fn add<'a>(
            fd: BorrowedFd<'a>,
            t: Token,
            fds: &mut Vec<PollFd<'a>>,
            tokens: &mut Vec<Token>,
        ) {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
            tokens.push(t);
        }
        add(
            self.listener.as_fd(),
            Token::Listener,
            &mut fds,
            &mut tokens,
        );
        for (id, c) in &self.conns {
            add(c.stream.as_fd(), Token::Conn(*id), &mut fds, &mut tokens);
        }
        for (id, c) in &self.containers {
            if let Some(p) = &c.stdout {
                add(
                    p.file.as_fd(),
                    Token::Output(id.clone(), Stream::Stdout),
                    &mut fds,
                    &mut tokens,
                );
            }
            if let Some(p) = &c.stderr {
                add(
                    p.file.as_fd(),
                    Token::Output(id.clone(), Stream::Stderr),
                    &mut fds,
                    &mut tokens,
                );
            }
            if let Some(fd) = &c.pidfd {
                add(fd.as_fd(), Token::Exited(c.pid), &mut fds, &mut tokens);
            }
        }
        for (id, e) in &self.execs {
            if let Some(f) = &e.stdout {
                add(
                    f.as_fd(),
                    Token::ExecOutput(*id, Stream::Stdout),
                    &mut fds,
                    &mut tokens,
                );
            }
            if let Some(f) = &e.stderr {
                add(
                    f.as_fd(),
                    Token::ExecOutput(*id, Stream::Stderr),
                    &mut fds,
                    &mut tokens,
                );
            }
            if let Some(fd) = &e.pidfd {
                add(fd.as_fd(), Token::Exited(e.pid), &mut fds, &mut tokens);
            }
        }
        if self.trim_due {
            // Keep only private memory resident while idle (DESIGN's per-pod budget):
            // code and read-only data fault back in from the page cache when needed.
            crate::sys::trim_memory();
            self.trim_due = false;
            self.trimmed = true;
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Vec::new(),
            Err(e) => {
                tracing::error!(error = %e, "poll failed");
                std::thread::sleep(Duration::from_millis(100));
                return Vec::new();
            }
        }
        let mut ready = Vec::new();
        for (fd, t) in fds.iter().zip(tokens) {
            if fd.revents().is_some_and(|r| !r.is_empty()) && !ready.contains(&t) {
                ready.push(t);
            }
        }
        ready
    }

    fn handle(&mut self, token: Token) {
        match token {
            Token::Listener => self.accept(),
            Token::Conn(id) => self.read_request(id),
            Token::Output(id, stream) => self.read_output(&id, stream),
            Token::ExecOutput(id, stream) => self.read_exec_output(id, stream),
            Token::Exited(pid) => match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) => self.on_exit(p, code),
                Ok(WaitStatus::Signaled(p, sig, _)) => self.on_exit(p, 128 + sig as i32),
                // A process that is not our child (never reparented to us) cannot be
                // reaped and would keep its descriptor readable forever: record it as
                // gone with an unknown status.
                Err(nix::errno::Errno::ECHILD) => {
                    tracing::warn!(%pid, "exited but is not the shim's child: exit status unknown");
                    self.on_exit(pid, 255);
                }
                _ => {}
            },
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.next_id += 1;
                        self.conns.insert(
                            self.next_id,
                            Conn {
                                stream,
                                buf: Vec::new(),
                            },
                        );
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    return;
                }
            }
        }
    }

    fn read_request(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut chunk = [0u8; 8192];
        let line = loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => {
                    self.conns.remove(&id);
                    return;
                }
                Ok(n) => {
                    conn.buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = conn.buf.iter().position(|b| *b == b'\n') {
                        break conn.buf[..i].to_vec();
                    }
                    if conn.buf.len() > MAX_REQUEST {
                        self.conns.remove(&id);
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.conns.remove(&id);
                    return;
                }
            }
        };
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        match serde_json::from_slice::<Request>(&line) {
            Ok(req) => self.dispatch(req, conn.stream),
            Err(e) => respond(conn.stream, &Response::err(format!("bad request: {e}"))),
        }
    }

    fn dispatch(&mut self, req: Request, stream: UnixStream) {
        tracing::debug!(?req, "request");
        let result = match req {
            Request::Ping => Ok(Response::ok()),
            Request::Create { id, log_path } => self.create(&id, &log_path).map(|pid| Response {
                pid: Some(pid),
                ..Response::ok()
            }),
            Request::Start { id } => self.start(&id).map(|status| Response {
                status: Some(status),
                ..Response::ok()
            }),
            Request::Kill { id, signal, all } => {
                self.kill(&id, signal, all).map(|_| Response::ok())
            }
            Request::Wait { id } => return self.wait(&id, stream),
            Request::Exec {
                id,
                args,
                timeout_ms,
            } => return self.exec(&id, args, Duration::from_millis(timeout_ms), stream),
            Request::Delete { id } => self.delete(&id).map(|_| Response::ok()),
            Request::Shutdown => {
                self.shutdown();
                self.stop = true;
                Ok(Response::ok())
            }
        };
        respond(stream, &result.unwrap_or_else(Response::err));
    }

    /// Reaps every exited child and dispatches its status.
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.on_exit(pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }

    /// Waits (blocking, bounded) for one child to exit, dispatching its status.
    pub(super) fn wait_for(&mut self, pid: Pid, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) => {
                    self.on_exit(p, code);
                    return true;
                }
                Ok(WaitStatus::Signaled(p, sig, _)) => {
                    self.on_exit(p, 128 + sig as i32);
                    return true;
                }
                Err(_) => return true,
                Ok(_) if Instant::now() >= deadline => return false,
                Ok(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, code: i32) {
        if let Some(id) = self
            .containers
            .iter()
            .find(|(_, c)| c.pid == pid && c.exited_at().is_none())
            .map(|(id, _)| id.clone())
        {
            self.container_exited(&id, code);
        } else if let Some(id) = self
            .execs
            .iter()
            .find(|(_, e)| e.pid == pid)
            .map(|(id, _)| *id)
        {
            self.exec_exited(id, code);
        } else if Some(pid) == self.pause {
            tracing::error!(%pid, "the pod's PID namespace holder exited");
            self.pause = None;
        } else {
            tracing::debug!(%pid, code, "reaped an orphan");
        }
    }
}

/// Writes a response line and closes the connection.
pub(super) fn respond(mut stream: UnixStream, resp: &Response) {
    let mut line = serde_json::to_vec(resp)
        .unwrap_or_else(|_| b"{\"error\":\"unserialisable response\"}".to_vec());
    line.push(b'\n');
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    if let Err(e) = stream.write_all(&line) {
        tracing::debug!(error = %e, "the agent went away before the response");
    }
}
