//! Starting the shim: detach from the agent, enter the pod's new namespaces, start the
//! PID-namespace holder if needed, listen on the socket, tell the agent, serve.

use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{ForkResult, Pid};

use super::server::Server;
use super::{Ready, ShimConfig};
use crate::config::SandboxPaths;
use crate::state::{process_start_time, read_json};
use crate::sys;

/// The shim's `main`: `args` is `[sandbox-dir]`. Stdout is a pipe to the agent that gets
/// exactly one [`Ready`] line.
pub(super) fn run(args: &[String]) -> i32 {
    let Some(dir) = args.first() else {
        eprintln!("usage: orca {} <sandbox-dir>", super::MODE);
        return 2;
    };
    let paths = SandboxPaths {
        dir: PathBuf::from(dir),
    };
    init_tracing(&paths);
    // Fork once so the agent's direct child exits at once: the shim is reparented
    // (to init or the nearest subreaper) and no longer a child of the agent.
    match sys::fork_single_threaded() {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            report(&Ready {
                error: Some(format!("fork: {e}")),
                ..Default::default()
            });
            return 1;
        }
    }
    match setup(&paths) {
        Ok((server, ready)) => {
            report(&ready);
            detach_stdio();
            server.run();
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "shim setup failed");
            report(&Ready {
                error: Some(e),
                ..Default::default()
            });
            1
        }
    }
}

/// Logs go to `shim.log` through their own descriptor, never fd 2: libcontainer logs
/// from the container's init process after pointing fd 2 at the container's stderr.
fn init_tracing(paths: &SandboxPaths) {
    let filter = std::env::var("ORCA_SHIM_LOG").unwrap_or_else(|_| "warn".into());
    let Ok(file) = File::options()
        .create(true)
        .append(true)
        .open(paths.shim_log())
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}

fn report(ready: &Ready) {
    let mut line = serde_json::to_vec(ready).unwrap_or_default();
    line.push(b'\n');
    let _ = std::io::stdout().write_all(&line);
    let _ = std::io::stdout().flush();
}

/// Points stdin and stdout at /dev/null (closing the agent's pipe); stderr stays the
/// shim's log file.
fn detach_stdio() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
    }
}

fn setup(paths: &SandboxPaths) -> Result<(Server, Ready), String> {
    let cfg: ShimConfig = read_json(&paths.shim_config())
        .map_err(|e| format!("reading {}: {e}", paths.shim_config().display()))?
        .ok_or_else(|| format!("{} is missing", paths.shim_config().display()))?;
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    let _ = nix::sys::prctl::set_name(c"orca-shim");
    // Like kubelet's pause container: the pod's infra process is the last thing the
    // OOM killer should pick.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-998");
    let _ = std::env::set_current_dir("/");

    let mut flags = CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS;
    if !cfg.host_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| format!("unshare({flags:?}): {e}"))?;
    nix::unistd::sethostname(&cfg.hostname)
        .map_err(|e| format!("sethostname {:?}: {e}", cfg.hostname))?;

    let pause_pid = if cfg.share_pid {
        Some(spawn_pause()?.as_raw())
    } else {
        None
    };

    std::fs::create_dir_all(paths.lc_root())
        .map_err(|e| format!("mkdir {}: {e}", paths.lc_root().display()))?;
    let socket = paths.socket();
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|e| format!("listening on {}: {e}", socket.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;

    let pid = std::process::id() as i32;
    let ready = Ready {
        pid,
        start_time: process_start_time(pid).ok_or("cannot read own /proc/self/stat")?,
        pause_pid,
        error: None,
    };
    let server = Server::new(paths.clone(), cfg, listener, pause_pid.map(Pid::from_raw));
    Ok((server, ready))
}

/// Starts the pod's PID-namespace init: a forked child that is PID 1 of a new PID
/// namespace, reaps whatever is reparented to it and dies with the shim. The shim itself
/// stays in its own PID namespace so the containers' init processes are reparented to
/// it (a subreaper is only found within the dying parent's namespace).
fn spawn_pause() -> Result<Pid, String> {
    let own =
        File::open("/proc/self/ns/pid").map_err(|e| format!("open /proc/self/ns/pid: {e}"))?;
    unshare(CloneFlags::CLONE_NEWPID).map_err(|e| format!("unshare(CLONE_NEWPID): {e}"))?;
    let child = match sys::fork_single_threaded() {
        Ok(ForkResult::Child) => pause_main(),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(format!("fork pause: {e}")),
    };
    // Later children (libcontainer's processes) start in the shim's namespace again.
    setns(&own, CloneFlags::CLONE_NEWPID)
        .map_err(|e| format!("setns back to own pid namespace: {e}"))?;
    Ok(child)
}

fn pause_main() -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::prctl::set_name(c"orca-pause");
    let _ = sys::ignore_sigchld();
    detach_stdio();
    // It only ever runs this loop: keep nothing resident but what it shares with the
    // shim it was forked from.
    sys::trim_memory();
    loop {
        nix::unistd::pause();
    }
}
